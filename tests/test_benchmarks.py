"""The benchmarks run, at toy sizes, and print the figures they promise."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port

sys.path.insert(0, str(ROOT / "benchmarks"))
import ctc_decoding
import g2t_decoding
import s2g_input_pipeline
import s2g_side_by_side
import s3d_inference
import service_load
import training_run
import translate_latency
import video_memory

pytestmark = pytest.mark.slow


def test_g2t_decoding_benchmark_times_both_decoders_with_the_same_ids(pipeline, capsys):
    root, _ = pipeline
    sizes = ["--sentences", "6", "--batch-sizes", "1", "4", "--beams", "1", "3", "--rounds", "1"]
    assert g2t_decoding.main(["--run", str(root / "g2t"), *sizes]) == 0
    out = capsys.readouterr().out
    assert "auto takes transformers on cpu" in out
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s+\d+\s+\d+\s", line)]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(1, 1), (1, 3), (4, 1), (4, 3)]
    assert all(float(r[2]) > 0 and float(r[3]) > 0 and r[-1] == "True" for r in rows), out


def test_the_phases_of_a_training_run_are_read_from_its_log():
    log = (
        "2026-12-01 10:00:00 INFO task g2t, config x\n"
        "2026-12-01 10:02:00 INFO step 200 dev: bleu4=1.00 (30s) new best\n"
        "2026-12-01 10:04:00 INFO step 400 dev: bleu4=2.00 (30s)\n"
        "2026-12-01 10:05:30 INFO wrote hypotheses and report.json\n"
    )
    assert training_run.phases(log) == (
        "phases: training 3.0 min (2.22 steps/s), 2 validations 1.0 min (30, 30 s), final evaluation 1.5 min"
    )


def test_video_memory_benchmark_times_translate_and_s3d_per_video(pipeline, tmp_path, capsys):
    root, _ = pipeline
    sizes = ["--height", "72", "--width", "128", "--img-size", "32", "--decode-size", "36", "--max-frames", "16"]
    video_memory.main(["--frames", "12", "30", *sizes, "--workdir", str(tmp_path), "--run", str(root / "s2t")])
    rows = [line for line in capsys.readouterr().out.splitlines() if " x 128x72 |" in line]
    assert len(rows) == 2
    for row, used in zip(rows, (12, 16), strict=True):  # 30 frames are subsampled to --max-frames
        numbers = re.findall(r"[\d.]+", row.split("|", 1)[1])
        seconds, peak, frames, decoded = float(numbers[0]), float(numbers[1]), int(numbers[2]), row.split()[-4]
        assert seconds > 0 and peak > 100 and frames == used and decoded == "36x64", row


def test_input_pipeline_benchmark_measures_every_layout_with_and_without_workers(tmp_path, capsys):
    sizes = ["--videos", "4", "--height", "48", "--width", "40", "--img-size", "24", "--decode-size", "32"]
    s2g_input_pipeline.main(
        [*sizes, "--workdir", str(tmp_path), "--epochs", "2", "--batch-size", "2", "--workers", "0", "1"]
    )
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"frames", "zip", "file"}
    for row in rows.values():
        rates = [float(x) for x in re.findall(r"(\d+\.\d+) \(", row)]
        assert len(rates) == 3 and min(rates) > 0 and "1w persistent" in row, row


def test_input_pipeline_benchmark_times_training_extraction_and_s2t_end_to_end(tmp_path, capsys):
    sizes = ["--videos", "4", "--height", "48", "--width", "40", "--img-size", "24", "--decode-size", "32"]
    tiny = ["recognition.encoder.use_block=1", "recognition.encoder.freeze_block=0", "training.device=cpu"]
    args = [*sizes, "--workdir", str(tmp_path), "--epochs", "2", "--batch-size", "2", "--workers", "1"]
    g2t = ["model.d_model=16", "model.encoder_layers=1", "model.decoder_layers=1", "model.attention_heads=2"]
    g2t += ["model.ffn_dim=32", "training.device=cpu"]
    overrides = [f"--train-override={o}" for o in tiny] + [f"--g2t-override={o}" for o in g2t]
    overrides += ["--s2t-override=training.device=cpu", "--s2t-override=generation.max_length=8"]
    s2g_input_pipeline.main([*args, "--layouts", "file", "--end-to-end", "--s2t", *overrides])
    (row,) = capsys.readouterr().out.splitlines()[2:]
    assert float(re.search(r"training.py: (\d+\.\d+) clips/s", row)[1]) > 0, row
    assert float(re.search(r"extract_feature.py: (\d+\.\d+) clips/s", row)[1]) > 0, row
    assert float(re.search(r"S2T on video: (\d+\.\d+) clips/s", row)[1]) > 0, row


TINY_SETTINGS = ["--settings", "2x8x32:fp32", "--steps", "1", "--rounds", "2", "--device", "cpu"]


def side_by_side_rows(capsys) -> list[list[str]]:
    return [line.split() for line in capsys.readouterr().out.splitlines()[2:]]


def test_side_by_side_benchmark_times_this_projects_step_alone(capsys):
    s2g_side_by_side.main(TINY_SETTINGS)
    ((label, precision, paper, ours, ratio, *params),) = side_by_side_rows(capsys)
    assert (label, precision, paper, ratio) == ("2x8x32", "fp32", "-", "-")
    assert float(ours) > 0 and int(params[-1]) > 10_000_000  # S3D blocks 1-4 and the head: about 12 M


def test_side_by_side_benchmark_refuses_a_folder_without_the_papers_code(tmp_path):
    with pytest.raises(SystemExit):
        s2g_side_by_side.main([*TINY_SETTINGS, "--paper-code", str(tmp_path)])


@pytest.mark.skipif(
    not os.environ.get("SLRT_TWOSTREAM"), reason="set SLRT_TWOSTREAM to FangyunWei/SLRT's TwoStreamNetwork folder"
)
def test_side_by_side_benchmark_runs_the_papers_code(capsys):
    s2g_side_by_side.main([*TINY_SETTINGS, "--paper-code", str(Path(os.environ["SLRT_TWOSTREAM"]))])
    ((_, _, paper, ours, ratio, theirs, _, mine),) = side_by_side_rows(capsys)
    assert float(paper) > 0 and float(ours) > 0 and float(ratio) > 0
    assert int(theirs) - int(mine) == 1024  # the paper's head has one more LayerNorm (512 weights, 512 biases)


def test_latency_benchmark_times_every_stage(tmp_path, capsys):
    tiny = ["--translator", "tiny", "--vocab", "50", "--size", "32", "--seconds", "0.5", "--tokens", "4"]
    backends = ["torch", "transformers"]
    translate_latency.main([*tiny, "--repeats", "2", "--backends", *backends, "--workdir", str(tmp_path)])
    rows = {tuple(line.split()[:2]): line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    for backend in backends:
        stages = {stage for (name, stage) in rows if name == backend}
        assert {"decode", "s3d", "ctc", "translate", "total", "tokens"} <= stages
        assert float(rows[backend, "total"][2]) > 0 and float(rows[backend, "tokens"][2]) <= 4


def test_load_benchmark_counts_answers_and_bad_uploads(speaking_s2t, pipeline, capsys):
    root, _ = pipeline
    videos = str(root / "data" / "test" / "toy-0000[0-3].mp4")
    args = ["--run", str(speaking_s2t), "--videos", videos, "--clients", "2", "--requests", "6", "--bad-every", "3"]
    service_load.main([*args, "--port", str(free_port()), "--", "--device", "cpu"])
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"first request: [0-9.]+ s, status 200 \(after a [0-9.]+ s warm-up\)", out[1]), out[1]
    clients, rate, p50, p95, batch, bad, errors = out[3].split()
    assert (clients, bad, errors) == ("2", "2/2", "0") and float(rate) > 0 and float(p95) >= float(p50) > 0
    assert float(batch) >= 1
    assert out[-1] == "still answering after the load: True"


def test_ctc_benchmark_times_both_searches_and_finds_the_same(capsys):
    ctc_decoding.main(["--frames", "20", "--glosses", "60", "--scales", "1", "8", "--repeats", "2"])
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert len(rows) == 2 and all(row[-1] == "True" for row in rows), rows
    assert int(rows[1][2]) < 60 and all(float(row[3]) > 0 and float(row[4]) > 0 for row in rows), rows


def test_s3d_inference_benchmark_times_both_variants_and_finds_the_same(capsys):
    s3d_inference.main(["--frames", "12", "--size", "32", "--repeats", "2", "--device", "cpu"])
    out = capsys.readouterr().out.splitlines()
    times = {line[:12].strip(): float(line[12:].split()[0]) for line in out[1:3]}
    assert set(times) == {"batch norm", "folded"} and min(times.values()) > 0
    assert float(out[-1].split()[-1]) < 1e-4  # the largest difference of the log-probabilities
