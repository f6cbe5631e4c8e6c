import torch

from dataset.toy_sign_language import glossary
from dataset.toy_sign_video import REST_FRAMES, gloss_motion, render_glosses, signer_style


def test_rendering_is_deterministic_with_the_expected_length():
    signer = signer_style("Signer01", seed=0)
    video = render_glosses(["IX-1", "BOOK", "BUY"], signer, size=32)
    assert video.dtype == torch.uint8
    assert video.shape == (3 * signer.frames_per_gloss + 2 * REST_FRAMES, 32, 32, 3)
    assert torch.equal(video, render_glosses(["IX-1", "BOOK", "BUY"], signer_style("Signer01", seed=0), size=32))


def test_every_gloss_has_its_own_motion():
    motions = {gloss_motion(g) for g in glossary()}
    assert len(motions) == len(glossary())
    signer = signer_style("Signer01", seed=0)
    clips = [render_glosses([g], signer, size=32) for g in ("BOOK", "APPLE", "CAR")]
    assert not torch.equal(clips[0], clips[1]) and not torch.equal(clips[1], clips[2])


def test_signers_differ_in_position_speed_or_colour():
    styles = {signer_style(f"Signer{i:02d}", seed=0) for i in range(1, 9)}
    assert len(styles) == 8
    assert len({s.frames_per_gloss for s in styles}) > 1
    assert signer_style("Signer01", seed=0) != signer_style("Signer01", seed=1)


def test_written_videos_and_frame_folders_hold_the_same_frames(tmp_path):
    from dataset.toy_sign_language import generate_split
    from dataset.toy_sign_video import write_toy_videos
    from dataset.video_reader import read_frame_folder, read_video_file

    records = write_toy_videos(
        generate_split("dev", 2, seed=0),
        seed=0,
        size=32,
        video_file=lambda name: tmp_path / "videos" / f"{name}.mp4",
        frame_folder=lambda name: tmp_path / "frames" / name,
    )
    for record in records:
        folder = read_frame_folder(tmp_path / "frames" / record["name"])
        video = read_video_file(tmp_path / "videos" / f"{record['name']}.mp4")
        assert len(folder) == len(video) == record["num_frames"]
        assert (folder.int() - video.int()).abs().max() <= 1
