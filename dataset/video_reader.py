"""Reading a sample's frames from (a) a folder of images, (b) a zip holding that layout, (c) a video file.

Every reader returns a ``T×H×W×3`` uint8 tensor; ``select`` (number of frames -> indices) picks
frames, and the image readers decode only the picked ones. A missing, unreadable or empty source, or frames
of differing sizes, raise :class:`VideoError` naming the source; callers decide whether that ends
the run (prediction) or skips the sample with a count (training).
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from PIL import Image

from engine.errors import ToolkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


FrameSelector = Callable[[int], list[int]]


class VideoError(ToolkitError):
    """A video or frame folder that cannot be turned into frames."""


def _pick(items: list, select: FrameSelector | None, source: str) -> list:
    if not items:
        raise VideoError(f"{source}: no frames")
    return items if select is None else [items[i] for i in select(len(items))]


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


def read_frame_folder(folder: str | Path, select: FrameSelector | None = None) -> torch.Tensor:
    """Frames from the image files of ``folder``, in file-name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"frame folder not found: {folder}")
    files = _pick(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), select, str(folder))
    return _stack([_decode_image(p, str(p)) for p in files], str(folder))


def zip_folder_members(handle: zipfile.ZipFile, folder: str) -> list[str]:
    """The image members under ``folder/`` of an open zip, in name order."""
    prefix = folder.rstrip("/") + "/"
    return sorted(n for n in handle.namelist() if n.startswith(prefix) and n.lower().endswith(IMAGE_SUFFIXES))


def read_zip_folder(
    archive: str | Path | zipfile.ZipFile, folder: str, select: FrameSelector | None = None
) -> torch.Tensor:
    """Frames from the images under ``folder/`` inside the zip ``archive`` (a path or an open zip)."""
    if not isinstance(archive, zipfile.ZipFile):
        try:
            with zipfile.ZipFile(archive) as handle:
                return read_zip_folder(handle, folder, select)
        except (OSError, zipfile.BadZipFile) as error:
            raise VideoError(f"{archive}: unreadable zip: {error}") from error
    source = f"{archive.filename}:{folder}"
    members = _pick(zip_folder_members(archive, folder), select, source)
    try:
        frames = [_decode_image(archive.read(n), f"{archive.filename}:{n}") for n in members]
    except (OSError, zipfile.BadZipFile) as error:
        raise VideoError(f"{source}: unreadable zip member: {error}") from error
    return _stack(frames, source)


def read_video_file(path: str | Path, select: FrameSelector | None = None) -> torch.Tensor:
    """The frames of a video file (mp4, avi, ...), decoded with PyAV."""
    if not Path(path).is_file():
        raise VideoError(f"video file not found: {path}")
    reformatter = VideoReformatter()  # one scaler for all frames: ~15x faster than frame.to_ndarray(format=...)
    try:
        with av.open(str(path)) as container:
            frames = [reformatter.reformat(f, format="rgb24").to_ndarray() for f in container.decode(video=0)]
    except (av.FFmpegError, IndexError, ValueError) as error:
        raise VideoError(f"{path}: not a readable video: {error}") from error
    return _stack(_pick(frames, select, str(path)), str(path))


def write_video_file(frames: torch.Tensor, path: str | Path, fps: int = 25) -> None:
    """Write ``T×H×W×3`` uint8 frames as an H.264 mp4 (lossless, so tests can compare frames)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264rgb", rate=fps, options={"crf": "0", "preset": "ultrafast"})
        stream.height, stream.width = frames.shape[1], frames.shape[2]
        stream.pix_fmt = "rgb24"
        for frame in frames.numpy():
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


class VideoSource:
    """Samples' videos under one ``root`` in one layout: ``frames``, ``zip`` or ``file``.

    A sample's location is ``template`` filled with its ``name`` and ``split``. The zip is opened
    once per process (DataLoader workers each open their own).
    """

    def __init__(self, root: str | Path, layout: str, template: str = "{name}") -> None:
        if layout not in ("frames", "zip", "file"):
            raise ValueError(f"unknown video layout '{layout}'")
        self.root, self.layout, self.template = Path(root), layout, template
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None

    def location(self, split: str, name: str) -> str:
        """Where the sample ``name`` of ``split`` is, relative to the root (or inside the zip)."""
        return self.template.format(name=name, split=split)

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            try:
                self._zip, self._zip_pid = zipfile.ZipFile(self.root), os.getpid()
            except (OSError, zipfile.BadZipFile) as error:
                raise VideoError(f"{self.root}: unreadable zip: {error}") from error
        return self._zip

    def missing(self, locations: list[str]) -> list[str]:
        """The locations that do not exist (checked without decoding anything)."""
        if self.layout == "zip":
            folders = {name.rsplit("/", 1)[0] for name in self._archive().namelist()}
            return [loc for loc in locations if loc.rstrip("/") not in folders]
        exists = Path.is_dir if self.layout == "frames" else Path.is_file
        return [loc for loc in locations if not exists(self.root / loc)]

    def read(self, location: str, select: FrameSelector | None = None) -> torch.Tensor:
        """The (selected) frames at ``location``."""
        if self.layout == "zip":
            return read_zip_folder(self._archive(), location, select)
        if self.layout == "frames":
            return read_frame_folder(self.root / location, select)
        return read_video_file(self.root / location, select)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None, "_zip_pid": None}  # open zips do not pickle
