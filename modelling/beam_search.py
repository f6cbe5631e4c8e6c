"""Beam search over any next-token function, as Hugging Face ``generate()`` runs it for mBART.

The ONNX backend and the static-cache decoder (:mod:`modelling.cached_generation`) have no
``generate()``: this is their search, written after transformers' vectorised beam search
(``GenerationMixin._beam_search``, transformers 5) with the settings this toolkit uses:
``early_stopping`` True (a batch item is done once it holds ``beams`` finished hypotheses) or
False (the paper's: done once no running beam can beat the worst finished one at its current
length), one end token, a token forced at the last position where the model's
generation config names one (mBART's ``forced_eos_token_id``: the end token), scores divided by
``generated_length ** length_penalty``. Each step keeps
the ``2 × beams`` best continuations: the best ``beams`` unfinished ones run on, those that end
among the first ``beams`` join the finished hypotheses. Every tensor stays on the step's device;
the one host sync per step is the test whether to go on. ``tests/test_beam_search.py`` holds it
to ``generate()``'s token ids."""

from __future__ import annotations

from collections.abc import Callable

import torch

# step(last tokens (N,), order (N,) or None) -> log-probabilities (N, vocab): ``order`` says which of
# the previous step's N beams each beam continues, so the caller reorders its cached state first.
StepFunction = Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
NEG = -1.0e9


def beam_search(
    step: StepFunction,
    batch: int,
    beams: int,
    start_id: int,
    end_id: int,
    pad_id: int,
    max_length: int,
    length_penalty: float = 1.0,
    device: torch.device | str = "cpu",
    *,
    forced_last_id: int | None,
    early_stopping: bool = True,
) -> torch.Tensor:
    """Token ids (batch × length, starting with ``start_id``, padded with ``pad_id``) of the best hypotheses.

    ``forced_last_id``: the token every hypothesis takes at position ``max_length - 1``, or None;
    ``early_stopping``: as ``generate()``'s (see the module docstring).
    """
    rows = torch.arange(batch, device=device)[:, None]
    running = torch.full((batch, beams, max_length), pad_id, dtype=torch.long, device=device)
    running[:, :, 0] = start_id
    finished, finished_lengths = running.clone(), torch.zeros((batch, beams), dtype=torch.long, device=device)
    running_scores = torch.zeros((batch, beams), device=device)
    running_scores[:, 1:] = NEG
    finished_scores = torch.full((batch, beams), NEG, device=device)
    is_finished = torch.zeros((batch, beams), dtype=torch.bool, device=device)
    improvable = torch.ones((batch, 1), dtype=torch.bool, device=device)
    first_beams = (torch.arange(2 * beams, device=device) < beams)[None, :]
    order, length = None, 1
    while True:
        log_probs = step(running[:, :, length - 1].reshape(-1), order).float()
        if length == max_length - 1 and forced_last_id is not None:
            log_probs = torch.full_like(log_probs, -torch.inf)
            log_probs[:, forced_last_id] = 0.0
        vocab = log_probs.shape[1]
        totals = (log_probs.view(batch, beams, vocab) + running_scores[:, :, None]).view(batch, -1)
        top_scores, top = torch.topk(totals, 2 * beams)
        top_beams = top // vocab
        candidates = running[rows, top_beams]
        candidates[:, :, length] = top % vocab
        ends = (candidates[:, :, length] == end_id) | (length + 1 >= max_length)

        unfinished_scores = top_scores + ends * NEG
        keep = torch.topk(unfinished_scores, beams).indices  # the best unfinished continuations run on
        running, running_scores = candidates[rows, keep], unfinished_scores[rows, keep]
        order = (top_beams[rows, keep] + rows * beams).view(-1)

        just_finished = ends & first_beams
        scores = top_scores / (length**length_penalty)
        full = is_finished.all(dim=1, keepdim=True) & early_stopping  # no more hypotheses join a full item
        scores = scores + full * NEG + (~improvable) * NEG + (~just_finished) * NEG
        merged = torch.cat([finished_scores, scores], dim=1)
        best = torch.topk(merged, beams).indices
        finished = torch.cat([finished, candidates], dim=1)[rows, best]
        finished_lengths = torch.cat([finished_lengths, torch.full_like(top, length)], dim=1)[rows, best]
        is_finished = torch.cat([is_finished, just_finished], dim=1)[rows, best]
        finished_scores = merged[rows, best]

        length += 1
        best_running = running_scores[:, :1] / ((length - 1) ** length_penalty)
        worst_finished = torch.where(is_finished, finished_scores.min(dim=1, keepdim=True).values, NEG)
        improvable = improvable & (best_running > worst_finished).any(dim=1, keepdim=True)
        open_beam = ~(is_finished.all() & early_stopping)
        if not bool(improvable.any() & open_beam & ~ends.all()):
            break
    return finished[:, 0, : 1 + int(finished_lengths[:, 0].max())]
