"""The mBART adapter's contract, held to ``MBartForConditionalGeneration``'s own forward pass and ``generate()``.

When a transformers release changes how mBART embeds, attends or shifts its labels, one of these
tests names what changed (the decoder steps, the ONNX export and the beam search all rest on it).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import MBartConfig, MBartForConditionalGeneration

from modelling.beam_search import beam_search
from modelling.mbart_adapter import (
    cross_keys_values,
    decoder_inputs,
    decoder_step,
    embed_scale,
    shift_tokens_right,
)

PAD, END, START = 1, 2, 5
VARIANTS = [(False, "gelu"), (True, "relu")]  # scale_embedding, activation_function


def random_mbart(seed: int, scale_embedding: bool = True, activation: str = "gelu") -> MBartForConditionalGeneration:
    """A random 2-layer mBART whose output leans on the encoder, with a non-zero ``final_logits_bias``."""
    torch.manual_seed(seed)
    config = MBartConfig(
        vocab_size=40,
        d_model=16,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=4,
        encoder_ffn_dim=32,
        decoder_ffn_dim=24,
        max_position_embeddings=64,
        scale_embedding=scale_embedding,
        activation_function=activation,
        pad_token_id=PAD,
        eos_token_id=END,
        bos_token_id=0,
        forced_eos_token_id=END,
        dropout=0.0,
    )
    mbart = MBartForConditionalGeneration(config).eval()
    with torch.no_grad():
        for layer in mbart.get_decoder().layers:
            layer.encoder_attn.out_proj.weight.mul_(10)
        mbart.final_logits_bias[0, END] = 0.25
    return mbart


def sources(mbart: MBartForConditionalGeneration, seed: int, lengths: list[int]):
    """Random input embeddings, their mask (padding after ``lengths``) and the encoder states."""
    generator = torch.Generator().manual_seed(seed)
    embeds = torch.randn(len(lengths), max(lengths), mbart.config.d_model, generator=generator)
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long()
    states = mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return embeds, mask, states


def growing_step(mbart: MBartForConditionalGeneration, states: torch.Tensor, mask: torch.Tensor):
    """Next-token log-probabilities of one token per row, the self-attention keys and values grown by each call."""
    cross, held = cross_keys_values(mbart, states), {}

    def step(tokens: torch.Tensor, order: torch.Tensor | None = None) -> torch.Tensor:
        if order is not None:
            for index, (keys, values) in held.items():
                held[index] = keys[order], values[order]
        position = torch.tensor([held[0][0].shape[2] if held else 0])  # the steps before: the keys' length

        def grow(index: int, keys: torch.Tensor, values: torch.Tensor):
            if index in held:
                keys, values = torch.cat([held[index][0], keys], 2), torch.cat([held[index][1], values], 2)
            held[index] = keys, values
            return keys, values, None

        return decoder_step(mbart, decoder_inputs(mbart, tokens[:, None], position), cross, mask, grow)

    return step


@pytest.mark.parametrize(("scale", "activation"), VARIANTS)
@torch.no_grad()
def test_token_embeddings_are_scaled_as_the_model_scales_its_own_ids(scale, activation):
    mbart = random_mbart(0, scale, activation)
    ids = torch.tensor([[7, 9, 11, END], [8, 3, END, PAD]])
    mask = ids.ne(PAD).long()
    own = mbart.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    embeds = F.embedding(ids, mbart.get_input_embeddings().weight) * embed_scale(mbart.config)
    ours = mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(ours, own, atol=1e-6, rtol=1e-6)
    assert embed_scale(mbart.config) == (4.0 if scale else 1.0)


@pytest.mark.parametrize(("scale", "activation"), VARIANTS)
@torch.no_grad()
def test_decoder_inputs_are_what_the_decoder_embeds_at_each_position(scale, activation):
    mbart = random_mbart(1, scale, activation)
    embeds, mask, _ = sources(mbart, 1, [5, 3])
    tokens = torch.tensor([[START, 7, 9, 11, 13, 8], [START, 8, 8, END, PAD, PAD]])
    out = mbart(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=tokens, output_hidden_states=True)
    norm = mbart.get_decoder().layernorm_embedding
    whole = norm(decoder_inputs(mbart, tokens, torch.arange(6)))
    torch.testing.assert_close(whole, out.decoder_hidden_states[0], atol=1e-6, rtol=1e-6)
    later = norm(decoder_inputs(mbart, tokens[:, 4:], torch.arange(4, 6)))  # positions count on after a past
    torch.testing.assert_close(later, out.decoder_hidden_states[0][:, 4:], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize(("scale", "activation"), VARIANTS)
@torch.no_grad()
def test_the_decoder_step_gives_the_models_log_probabilities_at_every_position(scale, activation):
    mbart = random_mbart(2, scale, activation)
    embeds, mask, states = sources(mbart, 2, [5, 2, 4])
    tokens = torch.tensor([[START, 7, 9, 11, 13], [START, 8, 8, END, PAD], [START, 3, 4, 5, 6]])
    full = mbart(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=tokens).logits.log_softmax(-1)
    step = growing_step(mbart, states, mask)
    for position in range(tokens.shape[1]):
        torch.testing.assert_close(step(tokens[:, position]), full[:, position], atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_shifted_labels_are_the_models_own_decoder_inputs():
    labels = torch.tensor([[7, 8, END, START, PAD, PAD], [9, 10, 11, 12, END, START]])
    assert shift_tokens_right(labels, PAD).tolist() == [[START, 7, 8, END, START, PAD], [START, 9, 10, 11, 12, END]]
    mbart = random_mbart(3)
    embeds, mask, _ = sources(mbart, 3, [4, 3])
    own = mbart(inputs_embeds=embeds, attention_mask=mask, labels=labels).logits  # the model shifts them itself
    ours = mbart(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=shift_tokens_right(labels, PAD)).logits
    torch.testing.assert_close(ours, own, atol=1e-6, rtol=1e-6)


def generated(mbart: MBartForConditionalGeneration, embeds: torch.Tensor, mask: torch.Tensor, beams: int):
    options = {"early_stopping": True} if beams > 1 else {}
    return mbart.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        decoder_start_token_id=START,
        num_beams=beams,
        max_length=9,
        **options,
    )


@torch.no_grad()
def test_the_search_cases_end_at_different_steps():
    lengths = set()
    for seed in range(6):
        mbart = random_mbart(10 + seed, scale_embedding=bool(seed % 2))
        embeds, mask, _ = sources(mbart, seed, [6, 2, 4])
        lengths.update(generated(mbart, embeds, mask, beams=4).ne(PAD).sum(dim=1).tolist())
    assert len(lengths) >= 3 and min(lengths) <= 3 and max(lengths) == 9, lengths


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("beams", [1, 4])
@torch.no_grad()
def test_a_search_over_the_adapters_step_gives_generates_token_ids(seed, beams):
    mbart = random_mbart(10 + seed, scale_embedding=bool(seed % 2))
    embeds, mask, states = sources(mbart, seed, [6, 2, 4])
    expected = generated(mbart, embeds, mask, beams)
    step = growing_step(mbart, states.repeat_interleave(beams, 0), mask.repeat_interleave(beams, 0))
    found = beam_search(step, 3, beams, START, END, PAD, 9, 1.0, forced_last_id=END)
    assert torch.equal(found, expected)
