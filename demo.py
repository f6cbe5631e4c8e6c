"""The whole pipeline on the built-in toy sign language, end to end on a CPU: ``python demo.py``.

Renders the toy videos, trains Sign2Gloss, extracts its S3D features, trains Gloss2Text on the same
annotations and gloss vocabulary, trains Sign2Text from both, and prints the final report: WER,
BLEU-4 and ROUGE-L of the joint model and of the cascade (S2G -> G2T). Everything goes under
``--workdir`` (default ``runs/demo``); a stage that finished in an earlier run is not repeated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.run_directory import RunDirectory
from dataset.feature_store import store_path
from engine.cli import add_device_arguments, device_overrides
from engine.jobs import feature_extraction, training_run

CONFIGS = Path(__file__).resolve().parent / "experiments" / "configs"
DATA = "data/synthetic/video"
# the demo trains S2G for 200 steps of 8 videos (about 4 minutes here) instead of the config's
# 6 epochs of 16 (about 17 minutes, test WER 0.0: benchmarks/s2g_toy.py)
S2G_DEMO = {
    "training.batch_size": 8,
    "training.max_steps": 200,
    "training.warmup_steps": 20,
    "training.validate_every": 200,
    "training.validate_unit": "steps",
}


def overrides(pairs: dict[str, str]) -> list[str]:
    return [item for key, value in pairs.items() for item in ("-o", f"{key}={value}")]


def runs(workdir: Path) -> tuple[RunDirectory, RunDirectory, RunDirectory]:
    """The demo's S2G, G2T and S2T run directories."""
    return RunDirectory(workdir / "s2g"), RunDirectory(workdir / "g2t"), RunDirectory(workdir / "s2t")


def stages(workdir: Path, device: list[str]) -> list[tuple[str, Path, Callable[[], int]]]:
    """(name, file that marks it done, how to run it) for each stage, in order; ``device``: overrides for all."""
    s2g, g2t, s2t = runs(workdir)
    s2g_args = ["--config", str(CONFIGS / "synthetic_s2g.yaml"), *device]
    s2g_args += overrides({**S2G_DEMO, "training.model_dir": s2g.root})
    g2t_data = {f"data.{split}": f"{DATA}/toy.{split}" for split in ("train", "dev", "test")}
    g2t_args = overrides({**g2t_data, "tokenizer.gloss_vocab": s2g.gloss_vocab, "training.model_dir": g2t.root})
    g2t_args += device
    s2t_args = overrides(
        {
            "s2t.s2g_run": s2g.root,
            "s2t.g2t_run": g2t.root,
            "s2t.features": s2g.features,
            "training.model_dir": s2t.root,
        }
    )
    s2t_args += device
    return [
        (
            "Sign2Gloss: render the toy videos, train S3D + visual head with CTC",
            s2g.predictions.report,
            lambda: training_run.main(s2g_args),
        ),
        (
            "extract S3D features for Sign2Text",
            store_path(s2g.features, "test"),
            lambda: feature_extraction.main(s2g_args),
        ),
        (
            "Gloss2Text: train the translator on the same annotations",
            g2t.predictions.report,
            lambda: training_run.main(["--config", str(CONFIGS / "synthetic_g2t.yaml"), *g2t_args]),
        ),
        (
            "Sign2Text: joint fine-tuning from the S2G and G2T checkpoints",
            s2t.predictions.report,
            lambda: training_run.main(["--config", str(CONFIGS / "synthetic_s2t.yaml"), *s2t_args]),
        ),
    ]


def final_report(workdir: Path, seconds: dict[str, float]) -> str:
    """The test scores of S2G, G2T, the joint S2T model and the cascade, and the time per stage."""
    s2g, g2t, s2t = (json.loads(run.predictions.report.read_text()) for run in runs(workdir))
    s2g, g2t = s2g["test"]["metrics"], g2t["test"]["metrics"]
    rows = [
        ("Sign2Gloss (S2G)", s2g["wer"], None, None),
        ("Gloss2Text on reference glosses", None, g2t["bleu4"], g2t["rouge_l"]),
        (
            "Sign2Text, joint (S2T)",
            s2t["test"]["metrics"]["wer"],
            s2t["test"]["metrics"]["bleu4"],
            s2t["test"]["metrics"]["rouge_l"],
        ),
        (
            "Sign2Gloss2Text, cascade",
            s2t["test-cascade"]["metrics"]["wer"],
            s2t["test-cascade"]["metrics"]["bleu4"],
            s2t["test-cascade"]["metrics"]["rouge_l"],
        ),
    ]

    def cell(value: float | None) -> str:
        return f"{value:9.2f}" if value is not None else f"{'-':>9}"

    lines = [f"{'test split':34}{'WER':>9}{'BLEU-4':>9}{'ROUGE-L':>9}"]
    lines += [f"{name:34}{cell(wer)}{cell(bleu)}{cell(rouge)}" for name, wer, bleu, rouge in rows]
    lines.append("time: " + ", ".join(f"{name.split(':')[0]} {value / 60:.1f} min" for name, value in seconds.items()))
    lines.append(f"total {sum(seconds.values()) / 60:.1f} min; runs and reports in {workdir}")
    return "\n".join(lines)


def translate_hint(workdir: Path) -> str:
    """The command that translates one's own video with the Sign2Text model the demo trained."""
    return (
        "\nTranslate a video of your own (glosses and sentence) with the model just trained:\n"
        f"  python translate.py --run {workdir / 's2t'} YOUR_VIDEO.mp4\n"
        f"e.g. python translate.py --run {workdir / 's2t'} {DATA}/test/toy-00000.mp4"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="runs/demo", help="where the four runs go")
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    seconds: dict[str, float] = {}
    plan = stages(workdir, [item for override in device_overrides(args) for item in ("-o", override)])
    for number, (name, done, run) in enumerate(plan, start=1):
        print(f"\n=== [{number}/{len(plan)}] {name}", flush=True)
        if done.is_file():
            print(f"done in an earlier run ({done})", flush=True)
            continue
        started = time.perf_counter()
        status = run()
        seconds[name] = time.perf_counter() - started
        if status:
            print(f"stage failed: {name}", file=sys.stderr)
            return status
    print("\n" + final_report(workdir, seconds), flush=True)
    print(translate_hint(workdir), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
