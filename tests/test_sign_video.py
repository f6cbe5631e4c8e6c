import pytest
import torch

from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample
from dataset.sign_video import SignVideoDataset, SkippedVideo, collate_videos, encode_video_samples, pad_videos
from dataset.toy_sign_video import render_glosses, signer_style, write_frame_folder
from dataset.video_reader import VideoError, VideoSource, write_video_file


@pytest.fixture()
def videos(tmp_path) -> VideoSource:
    """Three mp4 samples of 20, 5 and 14 frames, and one file that is not a video."""
    signer = signer_style("Signer01", seed=0)
    for name, glosses in (("a", ["BOOK", "BUY"]), ("b", ["CAR"]), ("c", ["APPLE"])):
        frames = render_glosses(glosses, signer, size=16)
        write_video_file(frames[: {"a": 20, "b": 5, "c": 14}[name]], tmp_path / f"{name}.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    return VideoSource(tmp_path, "file", "{name}.mp4")


def samples(*names: str) -> list[Sample]:
    glosses = {"a": "BOOK BUY", "b": "CAR", "c": "APPLE", "broken": "CAR", "absent": "BOOK"}
    return [Sample(name, glosses[name], "text") for name in names]


VOCAB = GlossVocabulary(["BOOK", "BUY", "CAR", "APPLE"], "en_XX")


def test_missing_videos_are_counted_in_training_and_an_error_otherwise(videos):
    encoded = encode_video_samples(samples("a", "absent", "b"), "train", videos, VOCAB, skip_missing=True)
    assert [e.name for e in encoded.examples] == ["a", "b"]
    assert encoded.counts["missing videos"] == 1
    assert encoded.examples[0].ctc_targets == [VOCAB.stoi["BOOK"], VOCAB.stoi["BUY"]]  # CTC targets: no specials
    with pytest.raises(VideoError, match=r"1 dev video\(s\) not found .* absent.mp4"):
        encode_video_samples(samples("a", "absent"), "dev", videos, VOCAB, skip_missing=False)


def test_unknown_glosses_are_counted(videos):
    encoded = encode_video_samples(samples("a"), "train", videos, VOCAB, skip_missing=True)
    assert encoded.counts["unknown glosses"] == 0
    odd = encode_video_samples([Sample("a", "BOOK ZEBRA", "t")], "train", videos, VOCAB, skip_missing=True)
    assert odd.counts["unknown glosses"] == 1 and odd.examples[0].ctc_targets == [VOCAB.stoi["BOOK"], VOCAB.unk_id]


def test_loading_samples_lengths_pads_short_videos_and_skips_unreadable_ones(videos):
    examples = encode_video_samples(samples("a", "b", "broken"), "test", videos, VOCAB, skip_missing=False).examples
    dataset = SignVideoDataset(examples, videos, max_frames=64, min_frames=8)
    first, short, broken = dataset[0], dataset[1], dataset[2]
    assert first.frames.shape == (20, 16, 16, 3) and not first.padded
    assert len(short.frames) == 8 and short.padded  # 5 frames repeated up to min_frames
    assert isinstance(broken, SkippedVideo) and "broken.mp4: not a readable video" in broken.reason
    batch = collate_videos([first, broken, short])
    assert batch["frames"].shape == (2, 20, 16, 16, 3) and batch["lengths"].tolist() == [20, 8]
    assert batch["frames"][1, 8:].abs().sum() == 0
    assert batch["skipped"] == [("broken", broken.reason)] and batch["padded"] == [False, True]
    assert collate_videos([broken])["frames"] is None


def test_training_rescale_depends_on_seed_epoch_and_index_only(videos):
    examples = encode_video_samples(samples("a", "c"), "train", videos, VOCAB, skip_missing=True).examples
    dataset = SignVideoDataset(examples, videos, max_frames=64, min_frames=8, rescale=(0.5, 1.5), seed=1)
    lengths = {}
    for epoch in range(6):
        dataset.set_epoch(epoch)
        lengths[epoch] = len(dataset[0].frames)
        assert lengths[epoch] % 4 == 0
    assert len(set(lengths.values())) > 1
    again = SignVideoDataset(examples, videos, max_frames=64, min_frames=8, rescale=(0.5, 1.5), seed=1)
    again.set_epoch(3)
    dataset.set_epoch(3)
    assert torch.equal(again[0].frames, dataset[0].frames)


def test_videos_of_another_size_are_resized_to_the_batch_size():
    big = torch.full((4, 8, 8, 3), 200, dtype=torch.uint8)
    small = torch.full((6, 4, 4, 3), 100, dtype=torch.uint8)
    batch = pad_videos([big, small])
    assert batch.shape == (2, 6, 8, 8, 3)
    assert (batch[1] == 100).all() and (batch[0, 4:] == 0).all()


def test_frame_folders_with_differing_sizes_are_skipped(tmp_path):
    write_frame_folder(torch.zeros(3, 8, 8, 3, dtype=torch.uint8), tmp_path / "mixed")
    write_frame_folder(torch.zeros(1, 6, 8, 3, dtype=torch.uint8), tmp_path / "mixed-extra")
    (tmp_path / "mixed-extra" / "images0000.png").rename(tmp_path / "mixed" / "images9999.png")
    source = VideoSource(tmp_path, "frames")
    examples = encode_video_samples([Sample("mixed", "BOOK", "t")], "train", source, VOCAB, skip_missing=True).examples
    item = SignVideoDataset(examples, source, max_frames=16, min_frames=4)[0]
    assert isinstance(item, SkippedVideo) and "frames of differing size" in item.reason


def test_persistent_workers_see_each_epoch_and_load_what_the_main_process_would(videos):
    examples = encode_video_samples(samples("a", "c"), "train", videos, VOCAB, skip_missing=True).examples
    dataset = SignVideoDataset(examples * 3, videos, max_frames=64, min_frames=8, rescale=(0.5, 1.5), seed=1)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=None, num_workers=2, persistent_workers=True, collate_fn=lambda item: item
    )
    seen = {}
    for epoch in range(4):
        dataset.set_epoch(epoch)
        seen[epoch] = [len(item.frames) for item in loader]
    assert len({tuple(lengths) for lengths in seen.values()}) > 1  # the workers' rescales follow the epoch
    dataset.set_epoch(2)
    assert seen[2] == [len(dataset[i].frames) for i in range(len(dataset))]
