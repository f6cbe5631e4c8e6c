import random

import pytest
import torch

from dataset.video_transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    prepare_videos,
    random_crop_boxes,
    read_sampled_frames,
    sample_frame_indices,
)


@pytest.mark.parametrize(("frames", "expected"), [(13, 16), (16, 16), (3, 8), (1000, 300), (302, 300)])
def test_evaluation_sampling_lengths(frames, expected):
    indices = sample_frame_indices(frames, max_frames=302)
    assert len(indices) == expected
    assert indices[0] == 0 and indices[-1] == frames - 1
    assert indices == sorted(indices)


def test_training_sampling_rescales_time_within_bounds():
    rng = random.Random(0)
    lengths = {len(sample_frame_indices(100, 400, rng)) for _ in range(50)}
    assert all(n % 4 == 0 and 48 <= n <= 152 for n in lengths)
    assert len(lengths) > 5


@pytest.mark.parametrize(("frames", "expected"), [(13, range(0, 12)), (16, range(16)), (1000, range(350, 650))])
def test_the_papers_evaluation_selection_keeps_every_frame_but_the_last_n_mod_4(frames, expected):
    """Every frame (the central ``max_frames`` of a longer video), then ``len % 4`` dropped from the end."""
    assert sample_frame_indices(frames, max_frames=300, selection="paper") == list(expected)
    assert len(sample_frame_indices(3, max_frames=300, min_frames=8, selection="paper")) == 8  # short: repeated


def test_the_papers_training_selection_draws_frames_without_repeats_up_to_the_videos_own():
    rng = random.Random(0)
    for _ in range(50):
        indices = sample_frame_indices(100, 400, rng, (0.5, 1.5), selection="paper")
        assert len(indices) % 4 == 0 and 48 <= len(indices) <= 152 and indices == sorted(indices)
        assert len(set(indices)) == min(len(indices), 100)  # drawn without repetition; repeats only beyond 100
    with pytest.raises(ValueError, match="frame selection 'other' is not one of"):
        sample_frame_indices(10, 100, selection="other")


def test_the_papers_normalisation_is_bgr_around_one_half():
    frames = torch.zeros(1, 2, 4, 4, 3, dtype=torch.uint8)
    frames[..., 0], frames[..., 2] = 255, 51  # red full, blue 0.2
    videos = prepare_videos(frames, size=4, training=False, normalisation="paper")
    assert torch.allclose(videos[0, :, 0, 0, 0], torch.tensor([0.2 * 2 - 1, -1.0, 1.0]))  # B, G, R
    with pytest.raises(ValueError, match="normalisation 'imagenet' is not one of"):
        prepare_videos(frames, size=4, training=False, normalisation="imagenet")


def test_a_centre_crop_in_pixels_is_torchvisions_center_crop_black_where_the_frame_is_smaller():
    """PHOENIX-2014T's evaluation in the paper: ``CenterCrop(224)`` of 260×210 frames (here 26×12 -> 16)."""
    frames = torch.randint(0, 256, (1, 2, 26, 12, 3), dtype=torch.uint8)
    videos = prepare_videos(frames, size=16, training=False, normalisation="paper", crop_pixels=16)
    pixels = ((videos[:, [2, 1, 0]] * 0.5 + 0.5) * 255).round().to(torch.uint8)  # back to RGB uint8
    expected = torch.zeros(1, 3, 2, 16, 16, dtype=torch.uint8)
    expected[..., :, 2:14] = frames.permute(0, 4, 1, 2, 3)[..., 5:21, :]  # rows 5..20, columns padded by 2
    assert torch.equal(pixels, expected)


def test_a_centre_crop_in_pixels_then_a_resize_is_the_papers_csl_daily_evaluation():
    """CSL-Daily in the paper: ``CenterCrop(270)`` of the 320×320 frames, then ``Resize(224)`` (bilinear, no
    antialiasing, as torchvision 0.10's on tensors): one ``grid_sample`` here (33 -> 27 -> 22)."""
    frames = torch.randint(0, 256, (1, 3, 33, 33, 3), dtype=torch.uint8)
    videos = prepare_videos(frames, size=22, training=False, normalisation="paper", crop_pixels=27)
    crop = frames.permute(0, 1, 4, 2, 3)[0].float()[..., 3:30, 3:30] / 255  # T×3×27×27 (even borders, as 50)
    resized = torch.nn.functional.interpolate(crop, size=(22, 22), mode="bilinear", align_corners=False)
    expected = (resized.permute(1, 0, 2, 3)[[2, 1, 0]] - 0.5) / 0.5
    torch.testing.assert_close(videos[0], expected, atol=1e-5, rtol=0)


def test_zero_length_video_is_an_error():
    with pytest.raises(ValueError, match="at least one frame"):
        sample_frame_indices(0, 100)


def to_pixels(videos: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1)
    return ((videos * std + mean) * 255).round()


def test_evaluation_is_exact_when_sizes_match():
    frames = torch.randint(0, 256, (2, 5, 16, 16, 3), dtype=torch.uint8)
    videos = prepare_videos(frames, size=16, training=False)
    assert videos.shape == (2, 3, 5, 16, 16)
    torch.testing.assert_close(to_pixels(videos), frames.permute(0, 4, 1, 2, 3).float())


def test_centre_crop_keeps_the_centre():
    frames = torch.zeros(1, 2, 8, 8, 3, dtype=torch.uint8)
    frames[:, :, 2:6, 2:6] = 200
    pixels = to_pixels(prepare_videos(frames, size=4, training=False, centre_crop=0.5))
    assert (pixels == 200).all()


def test_training_augmentation_is_random_but_reproducible():
    frames = torch.randint(0, 256, (3, 4, 20, 24, 3), dtype=torch.uint8)
    first = prepare_videos(frames, 12, training=True, generator=torch.Generator().manual_seed(1))
    again = prepare_videos(frames, 12, training=True, generator=torch.Generator().manual_seed(1))
    other = prepare_videos(frames, 12, training=True, generator=torch.Generator().manual_seed(2))
    assert first.shape == (3, 3, 4, 12, 12) and torch.isfinite(first).all()
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_random_crops_stay_inside_the_frame():
    boxes = random_crop_boxes(500, (0.3, 1.0), (0.5, 2.0), torch.Generator().manual_seed(0))
    assert (boxes[:, 0].abs() + boxes[:, 2] / 2 <= 1 + 1e-6).all()
    assert (boxes[:, 1].abs() + boxes[:, 3] / 2 <= 1 + 1e-6).all()
    assert ((boxes[:, 2] / 2) * (boxes[:, 3] / 2) >= 0.3 - 1e-6).all()


def test_read_sampled_frames_gives_the_sampled_frames_and_the_videos_own_count():
    video = torch.arange(30).view(30, 1, 1, 1)
    frames, available, _ = read_sampled_frames(lambda select: video[select(len(video))], max_frames=16, min_frames=8)
    assert available == 30 and len(frames) == 16 and frames[0].item() == 0 and frames[-1].item() == 29
    short, available, _ = read_sampled_frames(lambda select: video[:3][select(3)], max_frames=16, min_frames=8)
    assert available == 3 and len(short) == 8  # repeated up to min_frames: the caller flags it as padded
