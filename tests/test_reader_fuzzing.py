"""The video readers under damaged input: truncated files and flipped bytes in mp4, zip and PNG.

Each damaged input must give frames or one :class:`VideoError` naming it: never another exception,
a crash or a hang. The cases run in a child process with a time limit, so a crash or a hang fails
the test instead of taking pytest down with it.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import pytest
import torch

from dataset.toy_sign_video import render_glosses, signer_style, write_frame_folder
from dataset.video_reader import VideoError, read_frame_folder, read_video_file, read_zip_folder, write_video_file

ROOT = Path(__file__).resolve().parents[1]


def damage(data: bytes, rng: random.Random) -> bytes:
    """``data`` truncated, with a few bytes flipped, or with a run of bytes zeroed."""
    kind = rng.choice(["truncate", "flip", "zero"])
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    damaged = bytearray(data)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    else:
        start = rng.randrange(len(damaged))
        damaged[start : start + rng.randint(1, 64)] = bytes(min(64, len(damaged) - start))
    return bytes(damaged)


def write_originals(folder: Path) -> dict[str, Path]:
    """A short toy video as an mp4, a PNG frame folder and a zip of that folder."""
    frames = render_glosses(["A", "B"], signer_style("fuzz", 0), size=32)
    write_video_file(frames, folder / "clip.mp4", lossless=False)
    write_frame_folder(frames, folder / "frames" / "clip")
    with zipfile.ZipFile(folder / "frames.zip", "w") as archive:
        for path in sorted((folder / "frames" / "clip").iterdir()):
            archive.write(path, f"clip/{path.name}")
    return {"mp4": folder / "clip.mp4", "png": folder / "frames" / "clip", "zip": folder / "frames.zip"}


def read_damaged(kind: str, original: Path, work: Path, rng: random.Random) -> torch.Tensor:
    """Damage one copy of ``original`` (one PNG of a folder) and read it back."""
    if kind == "png":
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(original, work)
        victim = rng.choice(sorted(work.iterdir()))
        victim.write_bytes(damage(victim.read_bytes(), rng))
        return read_frame_folder(work, select=lambda n: list(range(n)))
    work.write_bytes(damage(original.read_bytes(), rng))
    if kind == "zip":
        return read_zip_folder(work, "clip")
    return read_video_file(work, select=lambda n: list(range(0, n, 2)), short_side=16)


def fuzz(folder: str, cases: int, seed: int) -> None:
    """Read ``cases`` damaged copies of each kind; print the outcome counts as JSON (any other exception escapes)."""
    folder, rng = Path(folder), random.Random(seed)
    originals, outcomes = write_originals(folder), Counter()
    for kind, original in originals.items():
        work = folder / f"damaged-{kind}{original.suffix}"
        for _ in range(cases):
            try:
                frames = read_damaged(kind, original, work, rng)
                assert frames.dtype == torch.uint8 and frames.ndim == 4 and len(frames) > 0
                outcomes[f"{kind} read"] += 1
            except VideoError as error:
                assert str(work) in str(error) or str(error).startswith(str(work)), str(error)
                assert "\n" not in str(error), str(error)
                outcomes[f"{kind} refused"] += 1
    print(json.dumps(outcomes))


def test_damaged_mp4_zip_and_png_inputs_give_frames_or_one_clear_error(tmp_path):
    child = f"from tests.test_reader_fuzzing import fuzz; fuzz({str(tmp_path)!r}, 150, 0)"
    run = subprocess.run([sys.executable, "-c", child], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = json.loads(run.stdout.splitlines()[-1])
    for kind in ("mp4", "zip", "png"):  # each kind both survives some damage and refuses some
        assert outcomes.get(f"{kind} refused", 0) > 0, outcomes
    assert sum(outcomes.values()) == 450, outcomes


def _patched(data: bytes, marker: bytes, offset: int, value: bytes) -> bytes:
    at = data.index(marker) + offset
    return data[:at] + value + data[at + len(value) :]


# damage the fuzzing once found escaping as another exception: (what, how the bytes are changed, message)
KNOWN_DAMAGE = [
    ("png", lambda b: _patched(b, b"IDAT", -4, (10).to_bytes(4, "big")), "unreadable image: broken PNG file"),
    ("zip", lambda b: _patched(b, b"PK\x01\x02", 6, b"\x94\x00"), "unreadable zip: zip file version 14.8"),
    ("zip", lambda b: _patched(b, b"PK\x01\x02", 8, b"\x01\x00"), "unreadable zip member: File 'clip/.*encrypted"),
]


@pytest.mark.parametrize(("kind", "change", "message"), KNOWN_DAMAGE)
def test_known_damage_gives_one_clear_error(tmp_path, kind, change, message):
    originals = write_originals(tmp_path)
    if kind == "png":
        victim = sorted(originals["png"].iterdir())[0]
        victim.write_bytes(change(victim.read_bytes()))
        with pytest.raises(VideoError, match=message):
            read_frame_folder(originals["png"])
    else:
        originals["zip"].write_bytes(change(originals["zip"].read_bytes()))
        with pytest.raises(VideoError, match=message):
            read_zip_folder(originals["zip"], "clip")
