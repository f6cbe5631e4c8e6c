import itertools
import math

import pytest
import torch

from modelling.ctc_decoding import CTCBeamSearch, collapse, greedy_decode


def brute_force_best_sequence(log_probs: torch.Tensor) -> list[int]:
    """The label sequence with the highest total probability over all its alignments."""
    frames, classes = log_probs.shape
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(classes), repeat=frames):
        score = sum(log_probs[t, k].item() for t, k in enumerate(path))
        labels = tuple(collapse(list(path)))
        totals[labels] = totals.get(labels, 0.0) + math.exp(score)
    return list(max(totals, key=totals.get))


def test_collapse_merges_repeats_then_drops_blanks():
    assert collapse([0, 3, 3, 0, 3, 1, 1, 0]) == [3, 3, 1]
    assert collapse([0, 0]) == []


@pytest.mark.parametrize("seed", range(8))
def test_beam_search_finds_the_most_probable_label_sequence(seed):
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.log_softmax(torch.randn(5, 3, generator=generator) * 2, dim=-1)
    decoded = CTCBeamSearch(beam_size=200).decode(log_probs[None], torch.tensor([5]))
    assert decoded == [brute_force_best_sequence(log_probs)]


def test_beam_and_best_path_can_differ():
    """Many alignments of [1] outweigh the single most probable path (blank, blank)."""
    probs = torch.tensor([[0.55, 0.45], [0.55, 0.45]])  # frames × classes: P(blank) = 0.55, P(1) = 0.45
    log_probs = probs.log()[None]
    assert greedy_decode(log_probs, torch.tensor([2])) == [[]]
    # P([]) = 0.3025 < P([1]) = 0.45*0.45 + 2*0.55*0.45 = 0.6975
    assert CTCBeamSearch(beam_size=10).decode(log_probs, torch.tensor([2])) == [[1]]


def test_greedy_and_beam_agree_on_peaked_inputs():
    generator = torch.Generator().manual_seed(0)
    paths = torch.randint(0, 6, (3, 12), generator=generator)
    log_probs = torch.full((3, 12, 6), -20.0).scatter_(2, paths[..., None], 0.0).log_softmax(-1)
    lengths = torch.tensor([12, 9, 0])
    beam = CTCBeamSearch(beam_size=5).decode(log_probs, lengths)
    assert beam == greedy_decode(log_probs, lengths)
    assert beam[0] == collapse(paths[0].tolist()) and beam[2] == []
