import gzip
import pickle

from dataset.video_reader import VideoSource
from engine.config import load_config
from engine.data_preparation import ensure_synthetic_videos
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
