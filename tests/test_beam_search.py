"""The beam search against ``generate()``'s token ids, over the ONNX decoder step's PyTorch module."""

from __future__ import annotations

import pytest
import torch

from modelling.beam_search import beam_search
from modelling.export_graphs import DecoderStepGraph
from modelling.mbart_adapter import cross_keys_values
from tests.conftest import encoder_states, hf_generate, varied_translator


def graph_step(step: DecoderStepGraph, states: torch.Tensor, mask: torch.Tensor, beams: int):
    """The beam search's step function over the decoder step graph, holding the past."""
    cross = cross_keys_values(step.mbart, states.repeat_interleave(beams, 0))
    mask = mask.repeat_interleave(beams, 0)
    held = {"past": step.empty_past(len(mask))}

    def run(tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        past = held["past"] if order is None else held["past"][:, :, order]
        log_probs, held["past"] = step(tokens[:, None], cross, mask, past)
        return log_probs

    return run


@torch.no_grad()
def test_the_beam_search_cases_end_at_different_steps():
    lengths = set()
    for seed in range(6):
        translator = varied_translator(seed)
        embeds, mask, _ = encoder_states(translator, seed, [6, 2, 4])
        lengths.update((hf_generate(translator, embeds, mask, beams=4) != 1).sum(dim=1).tolist())
    assert len(lengths) >= 4 and min(lengths) <= 3 and max(lengths) == 9, lengths


@pytest.mark.parametrize("early_stopping", [True, False])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("beams", "length_penalty"), [(1, 1.0), (4, 1.0), (3, 0.6), (4, 2.0)])
@torch.no_grad()
def test_beam_search_gives_generates_token_ids(seed, beams, length_penalty, early_stopping):
    translator = varied_translator(seed)
    embeds, mask, states = encoder_states(translator, seed, [6, 2, 4])
    expected = hf_generate(translator, embeds, mask, beams, length_penalty, early_stopping=early_stopping)
    step = graph_step(DecoderStepGraph(translator.mbart), states, mask, beams)
    ids = {"start_id": 5, "end_id": 2, "pad_id": 1, "forced_last_id": 2}
    found = beam_search(
        step, 3, beams, **ids, max_length=9, length_penalty=length_penalty, early_stopping=early_stopping
    )
    assert torch.equal(found, expected)


@torch.no_grad()
def test_without_early_stopping_some_cases_find_other_sentences():
    """The paper's setting matters: going on after ``beams`` finished hypotheses finds better ones."""
    differing = 0
    for seed in range(6):
        translator = varied_translator(seed)
        embeds, mask, _ = encoder_states(translator, seed, [6, 2, 4])
        for penalty in (1.0, 2.0):
            early, late = (hf_generate(translator, embeds, mask, 4, penalty, early_stopping=e) for e in (True, False))
            differing += early.shape != late.shape or not torch.equal(early, late)
    assert differing > 0


def test_a_step_that_always_ends_gives_start_and_end_only():
    def step(tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
        log_probs = torch.full((len(tokens), 6), -10.0)
        log_probs[:, 2] = 0.0
        return log_probs

    found = beam_search(step, 2, 3, start_id=5, end_id=2, pad_id=1, max_length=9, forced_last_id=2)
    assert found.tolist() == [[5, 2], [5, 2]]
