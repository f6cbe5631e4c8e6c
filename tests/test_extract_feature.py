"""extract_feature.py: stores per split, resume, and 2-process torchrun equal to one process."""

from __future__ import annotations

import pytest
import torch

from dataset.feature_store import load_store, parts_dir, write_part
from engine.jobs import feature_extraction as extract_feature
from engine.jobs import training_run as training
from tests.conftest import tiny_config, tiny_s2g_config, torchrun, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s2g_run(tmp_path_factory):
    """A tiny S2G checkpoint (3 steps) on 48 toy videos, and one single-process extraction of it."""
    root = tmp_path_factory.mktemp("extract")
    config = tiny_s2g_config(root / "data", root / "model", training={"max_steps": 3})
    path = write_config(root / "run.yaml", config)
    assert training.main(["--config", str(path)]) == 0
    assert extract_feature.main(["--config", str(path), "--output-dir", str(root / "single")]) == 0
    return path, root


def test_stores_hold_every_sample_with_the_backbone_length(s2g_run):
    _, root = s2g_run
    for split, size in (("train", 48), ("dev", 12), ("test", 12)):
        store = load_store(root / "single", split)
        assert len(store["features"]) == size and not store["skipped"]
        assert store["metadata"]["use_block"] == 1
    features = load_store(root / "single", "dev")["features"]
    assert all(f.ndim == 2 and f.shape[1] == 64 and f.dtype == torch.float32 for f in features.values())
    assert not parts_dir(root / "single", "dev").exists()


def test_resume_keeps_finished_samples_and_extracts_the_rest(s2g_run, tmp_path):
    path, root = s2g_run
    reference = load_store(root / "single", "dev")["features"]
    first = sorted(reference)[0]
    marker = torch.full((3, 64), 7.0)
    write_part(tmp_path, "dev", 0, {first: marker}, {})  # as if a run had stopped after one sample
    argv = ["--config", str(path), "--splits", "dev", "--output-dir", str(tmp_path)]
    assert extract_feature.main(argv) == 0
    resumed = load_store(tmp_path, "dev")["features"]
    assert torch.equal(resumed[first], marker)  # taken over, not recomputed
    assert all(torch.equal(resumed[n], reference[n]) for n in reference if n != first)
    before = (tmp_path / "dev.pt").stat().st_mtime_ns
    assert extract_feature.main(argv) == 0  # finished split: nothing to do
    assert (tmp_path / "dev.pt").stat().st_mtime_ns == before


def test_two_process_torchrun_extraction_equals_one_process(s2g_run, tmp_path):
    path, root = s2g_run
    args = ["--config", str(path), "--output-dir", str(tmp_path), "--save-every", "5"]
    result = torchrun("extract_feature.py", args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    for split in ("train", "dev", "test"):
        single = load_store(root / "single", split)["features"]
        double = load_store(tmp_path, split)["features"]
        assert single.keys() == double.keys()
        for name, tensor in single.items():
            torch.testing.assert_close(double[name], tensor, rtol=0, atol=1e-6)


def test_a_g2t_config_is_refused(tmp_path, toy_data, capsys):
    path = write_config(tmp_path / "g2t.yaml", tiny_config(toy_data, tmp_path / "model"))
    assert extract_feature.main(["--config", str(path)]) == 2
    assert "extract_feature.py needs an s2g config" in capsys.readouterr().err


def test_batches_hold_equal_lengths_only():
    batches = extract_feature.equal_length_batches([5, 3, 5, 5, 3, 9], batch_size=2)
    assert batches == [[1, 4], [0, 2], [3], [5]]


def test_batched_extraction_equals_one_video_at_a_time(s2g_run, tmp_path):
    path, root = s2g_run
    argv = ["--config", str(path), "--splits", "dev", "--output-dir", str(tmp_path), "--batch-size", "1"]
    assert extract_feature.main(argv) == 0
    alone = load_store(tmp_path, "dev")["features"]
    batched = load_store(root / "single", "dev")["features"]
    for name, tensor in alone.items():
        torch.testing.assert_close(batched[name], tensor, rtol=0, atol=1e-5)
