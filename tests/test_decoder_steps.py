"""The static-cache decoder step against the full decoder and the growing-past step."""

from __future__ import annotations

import torch

from modelling.decoder_steps import StaticCacheStep
from modelling.export_graphs import DecoderStepGraph
from modelling.mbart_adapter import cross_keys_values
from tests.conftest import encoder_states, tiny_translator

TOKENS = torch.tensor([[5, 7, 9, 11, 13], [5, 8, 8, 2, 1]])


def static_step(translator, states: torch.Tensor, mask: torch.Tensor, source: int, max_length: int = 8):
    """A :class:`StaticCacheStep` whose buffers hold ``source`` encoder positions (at least the states')."""
    cross = cross_keys_values(translator.mbart, states)
    padded = cross.new_zeros(*cross.shape[:4], source, cross.shape[5])
    step = StaticCacheStep(translator.mbart, padded, max_length)
    step.start(cross, mask)
    return step


def run_steps(step: StaticCacheStep, tokens: torch.Tensor) -> list[torch.Tensor]:
    out = []
    for position in range(tokens.shape[1]):
        step.tokens.copy_(tokens[:, position])
        step.position.fill_(position)
        out.append(step().clone())
    return out


@torch.no_grad()
def test_static_cache_steps_give_the_full_decoders_log_probabilities_with_padded_sources():
    torch.manual_seed(0)
    translator = tiny_translator(decoder_layers=2).eval()
    _, mask, states = encoder_states(translator, 1, [5, 3])
    full = translator.mbart(encoder_outputs=(states,), attention_mask=mask, decoder_input_ids=TOKENS).logits
    for source in (5, 32):  # the encoder length itself, and padded as for a CUDA graph
        for position, log_probs in enumerate(run_steps(static_step(translator, states, mask, source), TOKENS)):
            torch.testing.assert_close(log_probs, full[:, position].log_softmax(-1), atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_the_order_reorders_the_cache_like_the_growing_past():
    torch.manual_seed(0)
    translator = tiny_translator(decoder_layers=2).eval()
    _, mask, states = encoder_states(translator, 2, [4, 4, 4])
    mask[2, 3] = 0
    graph, cross = DecoderStepGraph(translator.mbart), cross_keys_values(translator.mbart, states)
    step = static_step(translator, states, mask, source=4)
    past = graph.empty_past(3)
    orders = [torch.tensor([0, 1, 2]), torch.tensor([2, 2, 0]), torch.tensor([1, 0, 0]), torch.tensor([2, 1, 1])]
    for position, order in enumerate(orders):
        tokens = torch.tensor([5, 9, 3]) + position
        expected, past = graph(tokens[:, None], cross, mask, past[:, :, order])
        step.tokens.copy_(tokens)
        step.order.copy_(order)
        step.position.fill_(position)
        torch.testing.assert_close(step(), expected, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_start_forgets_the_previous_search():
    torch.manual_seed(0)
    translator = tiny_translator(decoder_layers=2).eval()
    _, mask, states = encoder_states(translator, 3, [5, 3])
    step = static_step(translator, states, mask, source=8)
    first = run_steps(step, TOKENS)
    run_steps(step, TOKENS.flip(1))
    _, other_mask, other_states = encoder_states(translator, 4, [2, 6])
    step.start(cross_keys_values(translator.mbart, other_states), other_mask)
    run_steps(step, TOKENS)
    step.start(cross_keys_values(translator.mbart, states), mask)
    for before, again in zip(first, run_steps(step, TOKENS), strict=True):
        assert torch.equal(before, again)


@torch.no_grad()
def test_bf16_autocast_steps_stay_close_to_fp32():
    torch.manual_seed(0)
    translator = tiny_translator(decoder_layers=2).eval()
    _, mask, states = encoder_states(translator, 1, [5, 3])
    expected = run_steps(static_step(translator, states, mask, source=5), TOKENS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        step = static_step(translator, states, mask, source=5)
        assert step.keys_values.dtype == torch.bfloat16
        found = run_steps(step, TOKENS)
    for low, high in zip(found, expected, strict=True):
        assert low.dtype == torch.float32
        torch.testing.assert_close(low, high, atol=0.1, rtol=0.05)
