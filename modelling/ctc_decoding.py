"""CTC decoding of gloss log-probabilities: greedy best path and beam search.

Beam search uses flashlight-text's lexicon-free decoder (the C++ decoder behind torchaudio's CTC
decoder) without a language model; hypotheses that collapse to the same gloss sequence are merged
by log-sum-exp (``log_add``), so it searches over label sequences, not single alignments.
Both decoders return gloss id sequences with repeats merged and blanks removed.
"""

from __future__ import annotations

import math
from itertools import groupby

import torch
from flashlight.lib.text.decoder import CriterionType, LexiconFreeDecoder, LexiconFreeDecoderOptions, ZeroLM

BLANK = 0


def collapse(path: list[int], blank: int = BLANK) -> list[int]:
    """Merge repeated ids, then drop blanks (the CTC many-to-one map)."""
    return [token for token, _ in groupby(path) if token != blank]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = BLANK) -> list[list[int]]:
    """Best-path decoding of ``log_probs`` (B×T×K) over the valid ``lengths``."""
    best = log_probs.argmax(dim=-1).tolist()
    return [collapse(path[:length], blank) for path, length in zip(best, lengths.tolist(), strict=True)]


class CTCBeamSearch:
    """Lexicon-free CTC beam search with ``beam_size`` hypotheses kept per frame."""

    def __init__(self, beam_size: int, blank: int = BLANK) -> None:
        options = LexiconFreeDecoderOptions(
            beam_size=beam_size,
            beam_size_token=1_000_000,  # consider every class at every frame
            beam_threshold=1e9,  # no score-based pruning beyond the beam size
            lm_weight=0.0,
            sil_score=0.0,
            log_add=True,
            criterion_type=CriterionType.CTC,
        )
        # there is no silence token in gloss vocabularies: the blank stands in, at zero score
        self.decoder = LexiconFreeDecoder(options, ZeroLM(), blank, blank, [])
        self.blank = blank

    def decode(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """The best gloss id sequence of every item of ``log_probs`` (B×T×K)."""
        emissions = log_probs.detach().to("cpu", torch.float32).contiguous()
        num_classes = emissions.shape[2]
        sequences = []
        for item, length in zip(emissions, lengths.tolist(), strict=True):
            if length == 0:
                sequences.append([])
                continue
            frames = item[:length].contiguous()
            best = self.decoder.decode(frames.data_ptr(), length, num_classes)[0]
            sequences.append(collapse(list(best.tokens), self.blank))
        return sequences


def align(log_probs: torch.Tensor, targets: list[int], blank: int = BLANK) -> list[tuple[int, int]]:
    """Frames ``[start, end)`` of each of ``targets`` in the best CTC alignment of ``log_probs`` (T×K).

    Viterbi over the blank-interleaved targets (CTC forced alignment): each target holds one run of
    frames, blanks the frames between. ``targets`` must fit in T frames (:func:`min_ctc_frames`),
    as any sequence a decoder read from these log-probabilities does.
    """
    if not targets:
        return []
    emissions = log_probs.detach().to("cpu", torch.float64)
    states = torch.tensor([blank, *(s for target in targets for s in (target, blank))])
    skip = torch.zeros(len(states), dtype=torch.bool)  # a target may follow the previous one without a blank
    skip[2:] = (states[2:] != blank) & (states[2:] != states[:-2])
    none = torch.tensor([-math.inf], dtype=torch.float64)
    score = torch.cat([emissions[0, states[:2]], none.expand(len(states) - 2)])
    back = torch.zeros(len(emissions), len(states), dtype=torch.long)
    for t in range(1, len(emissions)):
        jump = torch.where(skip, torch.cat([none, none, score[:-2]]), -math.inf)
        score, back[t] = torch.stack([score, torch.cat([none, score[:-1]]), jump]).max(dim=0)
        score = score + emissions[t, states]
    state = len(states) - 1 if score[-1] >= score[-2] else len(states) - 2
    if math.isinf(score[state]):
        raise ValueError(f"{len(targets)} targets cannot be aligned to {len(emissions)} frames")
    path = [state]
    for t in range(len(emissions) - 1, 0, -1):
        state -= int(back[t, state])
        path.append(state)
    path.reverse()
    frames = [[t for t, s in enumerate(path) if s == 2 * k + 1] for k in range(len(targets))]
    return [(held[0], held[-1] + 1) for held in frames]
