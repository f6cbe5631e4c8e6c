"""The export graphs against the PyTorch networks."""

from __future__ import annotations

import torch

from modelling.encoders import StoredFeatures
from modelling.export_graphs import DecoderStepGraph, EncoderGraph, RecognitionGraph
from modelling.mbart_adapter import cross_keys_values
from modelling.recognition import SignToGloss
from modelling.s3d import S3DBackbone
from modelling.sign_to_text import SignToText
from modelling.visual_head import VisualHead
from tests.conftest import encoder_states, tiny_translator


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


@torch.no_grad()
def test_the_encoder_graph_gives_the_cross_attention_keys_and_values_of_the_encoder_states():
    torch.manual_seed(0)
    network = SignToText(
        SignToGloss(StoredFeatures(12), VisualHead(12, 9, 8, 16)), tiny_translator(), end_ids=(2, 3)
    ).eval()
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
    network = SignToGloss(StoredFeatures(192), VisualHead(192, 9, 8, 16)).eval()
    videos, lengths = torch.randn(2, 3, 12, 16, 16), torch.tensor([12, 9])
    log_probs, features, feature_lengths = RecognitionGraph(backbone, network)(videos, lengths)
    expected = network(*backbone(videos, lengths))
    torch.testing.assert_close(log_probs, expected.log_probs)
    torch.testing.assert_close(features, expected.gloss_features)
    assert torch.equal(feature_lengths, expected.lengths) and backbone.stem_chunk == 2
