"""The export graphs and the NumPy beam search against the PyTorch networks and ``generate()``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modelling.beam_search import beam_search
from modelling.export_graphs import DecoderStepGraph, EncoderGraph, RecognitionGraph, cross_keys_values
from modelling.recognition import SignToGloss
from modelling.s3d import S3DBackbone
from modelling.sign_to_text import SignToText
from modelling.visual_head import VisualHead
from tests.conftest import tiny_translator


def encoder_states(translator, seed: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Random input embeddings through the translator's encoder, with padding after ``lengths``."""
    generator = torch.Generator().manual_seed(seed)
    embeds = torch.randn(len(lengths), max(lengths), translator.d_model, generator=generator)
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    states = translator.mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return embeds, mask, states


@torch.no_grad()
def test_a_decoder_step_over_its_past_gives_the_full_decoders_log_probabilities():
    torch.manual_seed(0)
    translator = tiny_translator().eval()
    _, mask, states = encoder_states(translator, 1, [5, 3])
    tokens = torch.tensor([[5, 7, 9, 11, 13], [5, 8, 8, 2, 1]])
    full = translator.mbart(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=tokens).logits
    step, cross = DecoderStepGraph(translator.mbart), cross_keys_values(translator.mbart, states)
    past = step.empty_past(2)
    for position in range(tokens.shape[1]):
        log_probs, past = step(tokens[:, position : position + 1], cross, mask, past)
        torch.testing.assert_close(log_probs, full[:, position].log_softmax(-1), atol=1e-5, rtol=1e-5)
    assert past.shape == (1, 2, 2, 2, 5, 8)  # layers, keys/values, batch, heads, steps, head size


def torch_step(step: DecoderStepGraph, states: torch.Tensor, mask: torch.Tensor, beams: int):
    """The beam search's step function over the PyTorch decoder step, holding the past."""
    cross = cross_keys_values(step.mbart, states.repeat_interleave(beams, 0))
    mask = mask.repeat_interleave(beams, 0)
    held = {"past": step.empty_past(len(mask))}

    def run(tokens: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        past = held["past"] if order is None else held["past"][:, :, torch.from_numpy(order)]
        log_probs, held["past"] = step(torch.from_numpy(tokens)[:, None], cross, mask, past)
        return log_probs.numpy()

    return run


def varied_translator(seed: int):
    """A tiny translator whose sentences end at different steps for different inputs.

    Its output leans on the encoder (cross-attention output ×10) and a small bias on </s> makes the
    end likely but not certain: over the seeds, generate() ends after 1 to 8 tokens.
    """
    torch.manual_seed(seed)
    translator = tiny_translator().eval()
    with torch.no_grad():
        translator.mbart.model.decoder.layers[0].encoder_attn.out_proj.weight.mul_(10)
        translator.mbart.final_logits_bias[0, 2] = 0.2
    return translator


def generate(translator, embeds, mask, beams: int, length_penalty: float = 1.0) -> torch.Tensor:
    options = {"early_stopping": True} if beams > 1 else {}
    return translator.mbart.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        decoder_start_token_id=5,
        num_beams=beams,
        length_penalty=length_penalty,
        max_length=9,
        do_sample=False,
        **options,
    )


@torch.no_grad()
def test_the_beam_search_cases_end_at_different_steps():
    lengths = set()
    for seed in range(6):
        translator = varied_translator(seed)
        embeds, mask, _ = encoder_states(translator, seed, [6, 2, 4])
        lengths.update((generate(translator, embeds, mask, beams=4) != 1).sum(dim=1).tolist())
    assert len(lengths) >= 4 and min(lengths) <= 3 and max(lengths) == 9, lengths


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("beams", "length_penalty"), [(1, 1.0), (4, 1.0), (3, 0.6), (4, 2.0)])
@torch.no_grad()
def test_beam_search_gives_generates_token_ids(seed, beams, length_penalty):
    translator = varied_translator(seed)
    embeds, mask, states = encoder_states(translator, seed, [6, 2, 4])
    expected = generate(translator, embeds, mask, beams, length_penalty)
    step = torch_step(DecoderStepGraph(translator.mbart), states, mask, beams)
    found = beam_search(step, 3, beams, start_id=5, end_id=2, pad_id=1, max_length=9, length_penalty=length_penalty)
    np.testing.assert_array_equal(found, expected.numpy())


@torch.no_grad()
def test_the_encoder_graph_gives_the_cross_attention_keys_and_values_of_the_encoder_states():
    torch.manual_seed(0)
    network = SignToText(SignToGloss(VisualHead(12, 9, 8, 16)), tiny_translator(), end_ids=(2, 3)).eval()
    features, lengths = torch.randn(2, 4, 8), torch.tensor([4, 2])
    cross, mask = EncoderGraph(network)(features, lengths)
    embeds, expected_mask = network.encoder_inputs(features, lengths)
    mbart = network.translator.mbart
    states = mbart.get_encoder()(inputs_embeds=embeds, attention_mask=expected_mask).last_hidden_state
    assert torch.equal(mask, expected_mask) and mask.shape == (2, 6)
    assert cross.shape == (1, 2, 2, 2, 6, 8)  # layers, keys/values, batch, heads, positions, head size
    layer = mbart.get_decoder().layers[0].encoder_attn
    torch.testing.assert_close(cross[0, 1, :, 1], layer.v_proj(states)[..., 8:])  # the second head's values


@torch.no_grad()
def test_the_recognition_graph_runs_s3d_whole_and_gives_the_chunked_results():
    torch.manual_seed(0)
    backbone = S3DBackbone(use_block=2).eval()
    backbone.stem_chunk = 2  # a long video in the networks runs block 1 in chunks of 2 output frames
    network = SignToGloss(VisualHead(192, 9, 8, 16)).eval()
    videos, lengths = torch.randn(2, 3, 12, 16, 16), torch.tensor([12, 9])
    log_probs, features, feature_lengths = RecognitionGraph(backbone, network)(videos, lengths)
    expected = network(*backbone(videos, lengths))
    torch.testing.assert_close(log_probs, expected.log_probs)
    torch.testing.assert_close(features, expected.gloss_features)
    assert torch.equal(feature_lengths, expected.lengths) and backbone.stem_chunk == 2
