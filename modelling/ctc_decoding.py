"""CTC decoding of gloss log-probabilities: greedy best path and beam search.

Beam search uses flashlight-text's lexicon-free decoder (the C++ decoder behind torchaudio's CTC
decoder) without a language model; hypotheses that collapse to the same gloss sequence are merged
by log-sum-exp (``log_add``), so it searches over label sequences, not single alignments. Each
frame expands only the glosses that can still reach the beam (:func:`classes_to_expand`), which
gives the result of expanding every gloss.
Both decoders return gloss id sequences with repeats merged and blanks removed.
"""

from __future__ import annotations

import math
from itertools import groupby

import torch
from flashlight.lib.text.decoder import CriterionType, LexiconFreeDecoder, LexiconFreeDecoderOptions, ZeroLM

BLANK = 0
MERGE_MARGIN = math.log(3) + 1e-3  # the most merging adds to a score, and float32 rounding


def collapse(path: list[int], blank: int = BLANK) -> list[int]:
    """Merge repeated ids, then drop blanks (the CTC many-to-one map)."""
    return [token for token, _ in groupby(path) if token != blank]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = BLANK) -> list[list[int]]:
    """Best-path decoding of ``log_probs`` (B×T×K) over the valid ``lengths``."""
    best = log_probs.argmax(dim=-1).tolist()
    return [collapse(path[:length], blank) for path, length in zip(best, lengths.tolist(), strict=True)]


def classes_to_expand(emissions: torch.Tensor, beam_size: int) -> int:
    """How many of each frame's most probable classes the beam search must expand (T×K ``emissions``).

    At most three paths merge into one hypothesis of a frame (from the two states of its prefix, one
    ending in a blank, and from itself repeating its last gloss), so merging raises a score by at
    most log 3. A class more than log 3 below the ``beam_size``-th best class of its frame therefore
    loses, from the best hypothesis it can start from, to ``beam_size`` distinct extensions of that
    hypothesis by better classes: it cannot enter the beam. Expanding only the classes within log 3
    of the ``beam_size``-th best, at the frame that has most of them, finds what expanding all finds
    (the margin has 1e-3 more for the decoder's float32 sums).
    """
    if emissions.shape[1] <= beam_size:
        return emissions.shape[1]
    kth = emissions.topk(beam_size, dim=1).values[:, -1:]
    return int((emissions >= kth - MERGE_MARGIN).sum(dim=1).max())


class CTCBeamSearch:
    """Lexicon-free CTC beam search with ``beam_size`` hypotheses kept per frame.

    Each frame expands only the classes that can reach the beam (:func:`classes_to_expand`), all of
    them where the gloss probabilities are flat: the result is what expanding every class gives, in a
    fraction of the time where the model is confident.
    """

    def __init__(self, beam_size: int, blank: int = BLANK) -> None:
        self.beam_size, self.blank = beam_size, blank

    def _decoder(self, classes: int) -> LexiconFreeDecoder:
        options = LexiconFreeDecoderOptions(
            beam_size=self.beam_size,
            beam_size_token=classes,
            beam_threshold=1e9,  # no score-based pruning beyond the beam size
            lm_weight=0.0,
            sil_score=0.0,
            log_add=True,
            criterion_type=CriterionType.CTC,
        )
        # there is no silence token in gloss vocabularies: the blank stands in, at zero score
        return LexiconFreeDecoder(options, ZeroLM(), self.blank, self.blank, [])

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
            decoder = self._decoder(classes_to_expand(frames, self.beam_size))
            best = decoder.decode(frames.data_ptr(), length, num_classes)[0]
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
