"""Benchmark: CTC beam search expanding every gloss at every frame, or only those that can reach the beam.

    python benchmarks/ctc_decoding.py [--frames 62] [--glosses 1100] [--beam 5] [--scales 1 3 5 10] [--repeats 7]

Gloss log-probabilities of one clip (``--frames`` steps: 62 for a 10 s clip at 25 fps) over
``--glosses`` classes, random logits times each ``--scale`` (larger: a more confident model; the
table gives the mean probability of each frame's best gloss). For each, the median time of
flashlight-text's decoder expanding all classes and of :class:`~modelling.ctc_decoding.CTCBeamSearch`
(only the classes :func:`~modelling.ctc_decoding.classes_to_expand` counts), and whether both
found the same gloss sequence.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from modelling.ctc_decoding import CTCBeamSearch, classes_to_expand, collapse  # noqa: E402


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=62)
    parser.add_argument("--glosses", type=int, default=1100)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    search, generator = CTCBeamSearch(args.beam), torch.Generator().manual_seed(0)
    full, lengths = search._decoder(args.glosses), torch.tensor([args.frames])
    shape = f"{args.frames} frames, {args.glosses} glosses, beam {args.beam}"
    print(f"CTC beam search | {shape} | median of {args.repeats}, {torch.get_num_threads()} threads")
    print(f"{'scale':>6}{'best p':>8}{'expanded':>10}{'all ms':>9}{'ours ms':>9}{'speed-up':>10}  same")
    for scale in args.scales:
        logits = torch.randn(args.frames, args.glosses, generator=generator) * scale
        log_probs = logits.log_softmax(-1).contiguous()
        every = median_ms(lambda lp=log_probs: full.decode(lp.data_ptr(), args.frames, args.glosses), args.repeats)
        ours = median_ms(lambda lp=log_probs: search.decode(lp[None], lengths), args.repeats)
        expected = collapse(list(full.decode(log_probs.data_ptr(), args.frames, args.glosses)[0].tokens))
        same = search.decode(log_probs[None], lengths)[0] == expected
        best = log_probs.exp().max(dim=1).values.mean()
        expanded = classes_to_expand(log_probs, args.beam)
        print(f"{scale:>6g}{best:>8.2f}{expanded:>10}{every:>9.1f}{ours:>9.1f}{every / ours:>9.1f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
