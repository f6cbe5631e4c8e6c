"""Beam search over any next-token function, as Hugging Face ``generate()`` runs it for mBART.

The ONNX backend has no ``generate()``: this is its search, written in NumPy after transformers'
vectorised beam search (``GenerationMixin._beam_search``, transformers 5) with the settings this
toolkit uses: ``early_stopping=True``, one end token, the end token forced at the last position
(mBART's ``forced_eos_token_id``), scores divided by ``generated_length ** length_penalty``. Each
step keeps the ``2 × beams`` best continuations: the best ``beams`` unfinished ones run on, those
that end among the first ``beams`` join the finished hypotheses. ``tests/test_export_graphs.py``
holds it to ``generate()``'s token ids.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# step(last tokens (N,), order (N,) or None) -> log-probabilities (N, vocab): ``order`` says which of
# the previous step's N beams each beam continues, so the caller reorders its cached state first.
StepFunction = Callable[[np.ndarray, np.ndarray | None], np.ndarray]
NEG = np.float32(-1.0e9)


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest entries of each row, largest first."""
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


def beam_search(
    step: StepFunction,
    batch: int,
    beams: int,
    start_id: int,
    end_id: int,
    pad_id: int,
    max_length: int,
    length_penalty: float = 1.0,
) -> np.ndarray:
    """Token ids (batch × length, starting with ``start_id``, padded with ``pad_id``) of the best hypotheses."""
    rows = np.arange(batch)[:, None]
    running = np.full((batch, beams, max_length), pad_id, dtype=np.int64)
    running[:, :, 0] = start_id
    finished, finished_lengths = running.copy(), np.zeros((batch, beams), dtype=np.int64)
    running_scores = np.zeros((batch, beams), dtype=np.float32)
    running_scores[:, 1:] = NEG
    finished_scores = np.full((batch, beams), NEG, dtype=np.float32)
    is_finished = np.zeros((batch, beams), dtype=bool)
    improvable = np.ones((batch, 1), dtype=bool)
    order, length = None, 1
    while True:
        log_probs = step(running[:, :, length - 1].reshape(-1), order).astype(np.float32)
        if length == max_length - 1:  # the end token is forced at the last position
            log_probs = np.full_like(log_probs, -np.inf)
            log_probs[:, end_id] = 0.0
        vocab = log_probs.shape[1]
        totals = (log_probs.reshape(batch, beams, vocab) + running_scores[:, :, None]).reshape(batch, -1)
        top = _top(totals, 2 * beams)
        top_scores, top_beams = totals[rows, top], top // vocab
        candidates = running[rows, top_beams]
        candidates[:, :, length] = top % vocab
        ends = (candidates[:, :, length] == end_id) | (length + 1 >= max_length)

        keep = _top(top_scores + ends * NEG, beams)  # the best unfinished continuations run on
        running, running_scores = candidates[rows, keep], (top_scores + ends * NEG)[rows, keep]
        order = ((top_beams[rows, keep]) + rows * beams).reshape(-1)

        just_finished = ends & (np.arange(2 * beams) < beams)[None, :]
        scores = top_scores / np.float32(length**length_penalty)
        scores = scores + is_finished.all(axis=1, keepdims=True) * NEG + (~improvable) * NEG + (~just_finished) * NEG
        merged = np.concatenate([finished_scores, scores.astype(np.float32)], axis=1)
        best = _top(merged, beams)
        finished = np.concatenate([finished, candidates], axis=1)[rows, best]
        finished_lengths = np.concatenate([finished_lengths, np.full_like(top, length)], axis=1)[rows, best]
        is_finished = np.concatenate([is_finished, just_finished], axis=1)[rows, best]
        finished_scores = merged[rows, best]

        length += 1
        best_running = running_scores[:, :1] / np.float32((length - 1) ** length_penalty)
        worst_finished = np.where(is_finished, finished_scores.min(axis=1, keepdims=True), NEG)
        improvable = improvable & (best_running > worst_finished).any(axis=1, keepdims=True)
        if not (improvable.any() and not is_finished.all() and not ends.all()):
            break
    return finished[:, 0, : 1 + int(finished_lengths[:, 0].max())]
