"""Benchmark: Gloss2Text beam search on this machine, the toolkit's static cache against ``generate()``.

    python benchmarks/g2t_decoding.py [--run RUN] [--sentences 96] [--batch-sizes 1 16 64] [--beams 1 5]
                                      [--rounds 3] [--device cpu]

Loads a trained G2T run (default: the PHOENIX-2014T benchmark's, ``runs/benchmark_phoenix_g2t``)
and translates dev sentences spread over the split's lengths with each decoder
(``generation.decoding``: ``static_cache``, ``transformers``), for every batch size and beam size,
the decoders alternating within each round; prints the median seconds, their ratio, whether the
token ids are identical, and which decoder ``auto`` takes on the device.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.run_directory import RunDirectory  # noqa: E402
from engine.checkpoint import load_checkpoint, load_model_weights  # noqa: E402
from engine.distributed import setup_distributed  # noqa: E402
from engine.tasks.registry import build_task  # noqa: E402
from modelling.translation import decoder_for  # noqa: E402
from modelling.translator_config import GenerationConfig  # noqa: E402

DECODERS = ("static_cache", "transformers")


def spread(examples: list, count: int) -> list:
    """``count`` examples evenly spread over ``examples`` sorted by source length (short to long)."""
    ordered = sorted(examples, key=lambda e: len(e.translator_input))
    step = max(1, len(ordered) // count)
    return ordered[::step][:count]


def translate(model, task, examples: list, generation: GenerationConfig) -> tuple[float, list[list[int]]]:
    """Seconds to translate ``examples`` in batches of ``generation.batch_size``, and the token ids."""
    collate, ids = task.collator(), []
    started = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(examples), generation.batch_size):
            batch = collate(examples[first : first + generation.batch_size])
            out = model.generate(*task.inputs.network_input(batch, training=False), generation)
            ids.extend(row[row != model.translator.pad_id].tolist() for row in out)
    return time.perf_counter() - started, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=str(ROOT / "runs" / "benchmark_phoenix_g2t"))
    parser.add_argument("--sentences", type=int, default=96)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args(argv)
    run = RunDirectory(Path(args.run))
    if not run.best_checkpoint.is_file():
        print(f"{run.best_checkpoint} not found: train a G2T run first (benchmarks/g2t_phoenix.py)", file=sys.stderr)
        return 2
    config = load_config(run.config, [f"training.device={args.device}", "training.precision=fp32"])
    context = setup_distributed(config.training.device, config.training.precision)
    task = build_task(config, context)
    task.prepare(create=False)
    model = task.build_model()
    load_model_weights(model, load_checkpoint(run.best_checkpoint), run.best_checkpoint)
    model.to(context.device).eval()
    examples = spread(task.split("dev").examples, args.sentences)
    print(
        f"G2T decoding | {run.root} | {len(examples)} dev sentences | {platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__} | auto takes "
        f"{decoder_for('auto', context.device)} on {context.device.type}"
    )
    print(f"{'batch':>5} {'beam':>4} {'static_cache s':>15} {'generate() s':>13} {'ratio':>6}  same ids")
    for batch_size in args.batch_sizes:
        for beams in args.beams:
            base = dataclasses.replace(config.generation, num_beams=beams, batch_size=batch_size)
            times, ids = {d: [] for d in DECODERS}, {}
            for index in range(args.rounds):
                for decoder in DECODERS if index % 2 == 0 else DECODERS[::-1]:
                    seconds, ids[decoder] = translate(
                        model, task, examples, dataclasses.replace(base, decoding=decoder)
                    )
                    times[decoder].append(seconds)
            static, hf = (statistics.median(times[d]) for d in DECODERS)
            same = ids["static_cache"] == ids["transformers"]
            print(f"{batch_size:5d} {beams:4d} {static:15.2f} {hf:13.2f} {static / hf:6.2f}  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
