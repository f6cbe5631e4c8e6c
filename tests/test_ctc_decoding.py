import itertools
import math

import pytest
import torch

from modelling.ctc_decoding import CTCBeamSearch, align, classes_to_expand, collapse, greedy_decode


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


def one_hot_log_probs(path: list[int], classes: int = 5) -> torch.Tensor:
    """Log-probabilities that put almost all mass on ``path``'s class at each frame."""
    scores = torch.full((len(path), classes), -6.0)
    scores[torch.arange(len(path)), torch.tensor(path)] = 0.0
    return scores.log_softmax(dim=-1)


@pytest.mark.parametrize(
    ("path", "targets", "spans"),
    [
        ([1, 1, 0, 2, 2, 0], [1, 2], [(0, 2), (3, 5)]),
        ([0, 0, 1, 2, 0], [1, 2], [(2, 3), (3, 4)]),  # no blank between different glosses
        ([3, 0, 3], [3, 3], [(0, 1), (2, 3)]),  # a repeated gloss needs the blank between
        ([0, 4, 4, 4, 0, 0], [4], [(1, 4)]),
    ],
)
def test_alignment_gives_each_gloss_its_frames(path, targets, spans):
    assert align(one_hot_log_probs(path), targets) == spans


def test_alignment_follows_the_targets_where_the_best_path_disagrees():
    """Forced to [1, 2] on frames whose best path reads [1]: gloss 2 takes the frame it is likeliest on."""
    log_probs = one_hot_log_probs([1, 1, 0, 0])
    log_probs[3] = torch.tensor([-0.1, -9.0, -2.5, -9.0, -9.0]).log_softmax(dim=-1)
    assert align(log_probs, [1, 2]) == [(0, 2), (3, 4)]


def test_alignment_of_glosses_the_frames_cannot_hold_is_an_error():
    assert align(one_hot_log_probs([1, 2]), []) == []
    with pytest.raises(ValueError, match="2 targets cannot be aligned to 2 frames"):
        align(one_hot_log_probs([1, 1]), [1, 1])


@pytest.mark.parametrize("seed", range(4))
def test_alignment_of_the_beam_search_result_matches_brute_force(seed):
    """The Viterbi path equals the best single path that collapses to the decoded sequence."""
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.log_softmax(torch.randn(6, 3, generator=generator) * 2, dim=-1)
    (decoded,) = CTCBeamSearch(beam_size=50).decode(log_probs[None], torch.tensor([6]))
    paths = [p for p in itertools.product(range(3), repeat=6) if collapse(list(p)) == decoded]
    best = max(paths, key=lambda p: sum(log_probs[t, k].item() for t, k in enumerate(p)))
    spans = align(log_probs, decoded)
    labels = [0] * 6
    for gloss, (start, end) in zip(decoded, spans, strict=True):
        labels[start:end] = [gloss] * (end - start)
    assert list(best) == labels


def test_classes_to_expand_counts_those_within_log_3_of_the_beams_last():
    probs = torch.tensor([[0.5, 0.3, 0.11, 0.09], [0.97, 0.01, 0.01, 0.01]])
    # frame 0: the 2nd best is 0.3, so 0.11 (> 0.3 / 3) is kept and 0.09 (< 0.1) is not; frame 1: all
    assert classes_to_expand(probs.log(), beam_size=2) == 4
    assert classes_to_expand(probs[:1].log(), beam_size=2) == 3
    assert classes_to_expand(probs[:1].log(), beam_size=1) == 2  # 0.3 > 0.5 / 3
    assert classes_to_expand(torch.tensor([[0.8, 0.2]]).log(), beam_size=1) == 1  # 0.2 < 0.8 / 3
    assert classes_to_expand(probs.log(), beam_size=5) == 4  # no more than there are


def expanding(search: CTCBeamSearch, log_probs: torch.Tensor, classes: int) -> list[int]:
    """The best sequence of a beam search that expands each frame's ``classes`` most probable classes."""
    frames, total = log_probs.shape
    return collapse(list(search._decoder(classes).decode(log_probs.data_ptr(), frames, total)[0].tokens))


def test_expanding_only_the_classes_that_can_reach_the_beam_finds_what_expanding_all_finds():
    generator, tighter_differs = torch.Generator().manual_seed(0), 0
    for case in range(400):
        classes, frames = (5, 12, 40, 300)[case % 4], int(torch.randint(1, 30, (1,), generator=generator))
        beam = (1, 2, 3, 5, 8)[(case // 4) % 5]
        scale = (0.3, 1.0, 3.0, 8.0)[(case // 20) % 4]
        log_probs = (torch.randn(frames, classes, generator=generator) * scale).log_softmax(-1).contiguous()
        search = CTCBeamSearch(beam)
        full, tighter = (expanding(search, log_probs, n) for n in (classes, min(beam, classes)))
        assert search.decode(log_probs[None], torch.tensor([frames]))[0] == full, case
        tighter_differs += tighter != full
    assert tighter_differs > 5  # these cases do tell a cut at the beam size from the full search
