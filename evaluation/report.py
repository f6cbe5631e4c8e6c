"""Evaluation results: hypothesis files, JSON reports and the printed score table."""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class EvaluationResult:
    """Scores, per-sample outputs and input counts of one split."""

    split: str
    metrics: dict[str, float]
    rows: list[tuple[str, str, str]]  # (name, hypothesis, reference)
    counts: dict[str, int] = field(default_factory=dict)
    convention: str = ""


def write_hypotheses(result: EvaluationResult, path: str | Path) -> None:
    """A tab-separated file with a header: name, hypothesis, reference."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("name", "hypothesis", "reference"))
        writer.writerows(result.rows)


def write_report(results: list[EvaluationResult], path: str | Path, extra: dict | None = None) -> None:
    """A JSON report of every split's metrics and counts (per-sample rows left out)."""
    report = {r.split: {k: v for k, v in asdict(r).items() if k not in ("rows", "split")} for r in results}
    Path(path).write_text(
        json.dumps({**(extra or {}), **report}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def format_table(results: list[EvaluationResult]) -> str:
    """Metrics as an aligned text table, one row per split, then the counts and the convention."""
    names = list(results[0].metrics)
    widths = [max(10, len(n) + 2) for n in names]
    lines = ["split".ljust(8) + "".join(n.rjust(w) for n, w in zip(names, widths, strict=True))]
    lines += [
        r.split.ljust(8) + "".join(f"{r.metrics[n]:{w}.2f}" for n, w in zip(names, widths, strict=True))
        for r in results
    ]
    for r in results:
        counts = ", ".join(f"{k}: {v}" for k, v in r.counts.items())
        lines.append(f"{r.split}: {counts}")
    if results[0].convention:
        lines.append(f"scoring: {results[0].convention}")
    return "\n".join(lines)
