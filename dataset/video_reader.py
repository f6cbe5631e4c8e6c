"""Reading a sample's frames from (a) a folder of images, (b) a zip holding that layout, (c) a video file.

Every reader returns a ``T×H×W×3`` uint8 tensor. A missing, unreadable or empty source, or frames
of differing sizes, raise :class:`VideoError` naming the source; callers decide whether that ends
the run (prediction) or skips the sample with a count (training).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from engine.errors import ToolkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


class VideoError(ToolkitError):
    """A video or frame folder that cannot be turned into frames."""


def _stack(frames: list[np.ndarray], source: str) -> torch.Tensor:
    if not frames:
        raise VideoError(f"{source}: no frames")
    sizes = {frame.shape for frame in frames}
    if len(sizes) > 1:
        raise VideoError(f"{source}: frames of differing size {sorted(sizes)}")
    return torch.from_numpy(np.stack(frames))


def _decode_image(data: bytes | Path, source: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError) as error:
        raise VideoError(f"{source}: unreadable image: {error}") from error


def read_frame_folder(folder: str | Path) -> torch.Tensor:
    """Frames from the image files of ``folder``, in file-name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"frame folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return _stack([_decode_image(p, str(p)) for p in files], str(folder))


def read_zip_folder(archive: str | Path, folder: str) -> torch.Tensor:
    """Frames from the images under ``folder/`` inside the zip ``archive``, in name order."""
    try:
        with zipfile.ZipFile(archive) as handle:
            prefix = folder.rstrip("/") + "/"
            names = sorted(n for n in handle.namelist() if n.startswith(prefix) and n.lower().endswith(IMAGE_SUFFIXES))
            frames = [_decode_image(handle.read(n), f"{archive}:{n}") for n in names]
    except (OSError, zipfile.BadZipFile) as error:
        raise VideoError(f"{archive}: unreadable zip: {error}") from error
    return _stack(frames, f"{archive}:{folder}")


def read_video_file(path: str | Path) -> torch.Tensor:
    """Every frame of a video file (mp4, avi, ...), decoded with PyAV."""
    if not Path(path).is_file():
        raise VideoError(f"video file not found: {path}")
    try:
        with av.open(str(path)) as container:
            frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    except (av.FFmpegError, IndexError, ValueError) as error:
        raise VideoError(f"{path}: not a readable video: {error}") from error
    return _stack(frames, str(path))


def write_video_file(frames: torch.Tensor, path: str | Path, fps: int = 25) -> None:
    """Write ``T×H×W×3`` uint8 frames as an H.264 mp4 (lossless, so tests can compare frames)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264rgb", rate=fps, options={"crf": "0", "preset": "ultrafast"})
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "rgb24"
        for frame in frames.numpy():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
