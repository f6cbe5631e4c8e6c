import gzip
import pickle

import pytest

from core.config import load_config
from core.errors import ToolkitError
from dataset.video_reader import VideoSource
from engine.tasks.data_preparation import check_training_data, ensure_synthetic_videos
from tests.conftest import tiny_s2g_config, write_config


def records(path) -> list[dict]:
    return pickle.loads(gzip.decompress(path.read_bytes()))


def test_toy_videos_are_rendered_once_and_again_when_the_recipe_changes(tmp_path):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    config["data"]["synthetic"].update(num_train=3, num_dev=2, num_test=2)
    path = write_config(tmp_path / "run.yaml", config)
    source = VideoSource(tmp_path / "data", "file", "{name}.mp4")
    ensure_synthetic_videos(load_config(path), source)
    train = records(tmp_path / "data" / "toy.train")
    assert len(train) == 3 and all((tmp_path / "data" / f"{r['name']}.mp4").is_file() for r in train)
    assert all(r["num_frames"] > 0 for r in train)
    stamp = (tmp_path / "data" / "toy.train").stat().st_mtime_ns
    ensure_synthetic_videos(load_config(path), source)
    assert (tmp_path / "data" / "toy.train").stat().st_mtime_ns == stamp  # nothing to do
    ensure_synthetic_videos(load_config(path, ["data.synthetic.num_train=4"]), source)
    assert len(records(tmp_path / "data" / "toy.train")) == 4


def test_toy_videos_never_overwrite_an_annotation_file_they_did_not_write(tmp_path):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    config["data"]["synthetic"].update(num_train=3, num_dev=2, num_test=2)
    path = write_config(tmp_path / "run.yaml", config)
    source = VideoSource(tmp_path / "data", "file", "{name}.mp4")
    mine = tmp_path / "data" / "toy.dev"
    mine.parent.mkdir()
    mine.write_bytes(b"my own annotations")
    with pytest.raises(ToolkitError, match=f"data.dev: {mine} exists but was not written by the toy video generator"):
        check_training_data(load_config(path), source)
    with pytest.raises(ToolkitError, match="exists but was not written by the toy video generator"):
        ensure_synthetic_videos(load_config(path), source)
    assert mine.read_bytes() == b"my own annotations"
    mine.unlink()
    ensure_synthetic_videos(load_config(path), source)  # the generator's own files: re-rendered when the recipe changes
    ensure_synthetic_videos(load_config(path, ["data.synthetic.num_dev=3"]), source)
    assert len(records(mine)) == 3
    mine.write_bytes(b"replaced by the user")  # no longer the generator's: kept, even for a new recipe
    with pytest.raises(ToolkitError, match="exists but was not written by the toy video generator"):
        ensure_synthetic_videos(load_config(path, ["data.synthetic.num_dev=4"]), source)
    assert mine.read_bytes() == b"replaced by the user"
