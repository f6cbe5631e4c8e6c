"""Reading a sample's frames from (a) a folder of images, (b) a zip holding that layout, (c) a video file.

Every reader returns a ``T×H×W×3`` uint8 tensor; ``select`` (number of frames -> indices) picks
frames and only the picked ones are converted, and ``short_side`` scales each picked frame down
(aspect kept) as soon as it is decoded, so memory holds the frames the model takes at the working
size, never a whole video at full size. ``resampling`` names the filter: ``toolkit`` (images:
bilinear after a JPEG's reduced-scale decoding; videos: ffmpeg's area average) or ``bicubic`` (the
whole image, then PIL's bicubic filter, as the paper's CSL-Daily reader; videos: ffmpeg's bicubic).
A missing, unreadable or empty source, or frames of differing sizes, raise :class:`VideoError`
naming the source; callers decide whether that ends the run (prediction) or skips the sample with
a count (training).
"""

from __future__ import annotations

import io
import itertools
import os
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import Interpolation, VideoReformatter
from PIL import Image

from core.errors import ToolkitError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
RESAMPLINGS = {  # name: (the filter for images, for video frames)
    "toolkit": (Image.Resampling.BILINEAR, Interpolation.AREA),
    "bicubic": (Image.Resampling.BICUBIC, Interpolation.BICUBIC),
}


FrameSelector = Callable[[int], list[int]]

# what a damaged zip or image raises (zlib.error for bad deflate data, RuntimeError for an "encrypted" member,
# SyntaxError for a broken PNG chunk), as found by tests/test_reader_fuzzing.py
_ZIP_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)
_IMAGE_ERRORS = (OSError, ValueError, SyntaxError, zlib.error, Image.DecompressionBombError)


class VideoError(ToolkitError):
    """A video or frame folder that cannot be turned into frames."""


def _reason(error: BaseException) -> str:
    """The first line of a library's error message, at most 200 characters."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def working_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """``(height, width)`` scaled so the shorter side is ``short_side``; never enlarged."""
    if short_side is None or min(height, width) <= short_side:
        return height, width
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


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


def _decode_image(data: bytes | Path, source: str, short_side: int | None, resampling: str) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            height, width = working_size(image.height, image.width, short_side)
            if (height, width) != (image.height, image.width):
                if resampling == "toolkit":
                    image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale directly
                image = image.resize((width, height), RESAMPLINGS[resampling][0])
            return np.asarray(image.convert("RGB"))
    except _IMAGE_ERRORS as error:
        raise VideoError(f"{source}: unreadable image: {_reason(error)}") from error


def read_frame_folder(
    folder: str | Path, select: FrameSelector | None = None, short_side: int | None = None, resampling: str = "toolkit"
) -> torch.Tensor:
    """Frames from the image files of ``folder``, in file-name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"frame folder not found: {folder}")
    files = _pick(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), select, str(folder))
    return _stack([_decode_image(p, str(p), short_side, resampling) for p in files], str(folder))


def zip_folder_members(handle: zipfile.ZipFile, folder: str) -> list[str]:
    """The image members under ``folder/`` of an open zip, in name order."""
    prefix = folder.rstrip("/") + "/"
    return sorted(n for n in handle.namelist() if n.startswith(prefix) and n.lower().endswith(IMAGE_SUFFIXES))


def read_zip_folder(
    archive: str | Path | zipfile.ZipFile,
    folder: str,
    select: FrameSelector | None = None,
    short_side: int | None = None,
    resampling: str = "toolkit",
) -> torch.Tensor:
    """Frames from the images under ``folder/`` inside the zip ``archive`` (a path or an open zip)."""
    if not isinstance(archive, zipfile.ZipFile):
        try:
            with zipfile.ZipFile(archive) as handle:
                return read_zip_folder(handle, folder, select, short_side, resampling)
        except _ZIP_ERRORS as error:
            raise VideoError(f"{archive}: unreadable zip: {_reason(error)}") from error
    source = f"{archive.filename}:{folder}"
    members = _pick(zip_folder_members(archive, folder), select, source)
    try:
        name = archive.filename
        frames = [_decode_image(archive.read(n), f"{name}:{n}", short_side, resampling) for n in members]
    except _ZIP_ERRORS as error:
        raise VideoError(f"{source}: unreadable zip member: {_reason(error)}") from error
    return _stack(frames, source)


@dataclass(frozen=True)
class VideoInfo:
    """A video file's frame count and frame rate, read without decoding a frame."""

    frames: int
    fps: float

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


DEFAULT_FPS = 25.0  # for a stream that declares no rate (PHOENIX and CSL-Daily are 25 fps)


def _probe(path: str) -> VideoInfo:
    """Frames in the first video stream (from the container's header, else by reading the packets) and its rate."""
    with av.open(path) as container:
        if not container.streams.video:
            raise VideoError(f"{path}: no video stream")
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(frames, float(rate) if rate else DEFAULT_FPS)


def probe_video_file(path: str | Path) -> VideoInfo:
    """The frame count and rate of a video file; :class:`VideoError` for a missing or unreadable one."""
    if Path(path).is_dir():
        raise VideoError(f"{path}: a directory, not a video file (name the video files in it)")
    if not Path(path).is_file():
        raise VideoError(f"video file not found: {path}")
    try:
        info = _probe(str(path))
    except (av.FFmpegError, IndexError, ValueError, OverflowError) as error:
        raise VideoError(f"{path}: not a readable video: {_reason(error)}") from error
    if info.frames < 1:
        raise VideoError(f"{path}: no frames")
    return info


def _decode_selected(path: str, wanted: list[int], short_side: int | None, resampling: str) -> np.ndarray:
    """The frames at the sorted indices ``wanted`` (repeats allowed), each scaled down as it is decoded.

    A stream that ends before its declared length gives its last frame for the indices past the end.
    """
    counts, out, filled, filter_ = Counter(wanted), None, 0, RESAMPLINGS[resampling][1]
    reformatter, last = VideoReformatter(), None  # one scaler for all frames: far faster than to_ndarray(format=)
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding is the cost for large videos
        for index, frame in enumerate(container.decode(stream)):
            if index > wanted[-1]:
                break
            if index not in counts:
                continue
            if out is None:
                height, width = working_size(frame.height, frame.width, short_side)
                out = np.empty((len(wanted), height, width, 3), dtype=np.uint8)
            last = reformatter.reformat(
                frame, width=out.shape[2], height=out.shape[1], format="rgb24", interpolation=filter_
            ).to_ndarray()
            out[filled : filled + counts[index]] = last
            filled += counts[index]
    if out is None:
        raise VideoError(f"{path}: no frames")
    out[filled:] = last
    return out


def read_video_file(
    path: str | Path, select: FrameSelector | None = None, short_side: int | None = None, resampling: str = "toolkit"
) -> torch.Tensor:
    """The (selected) frames of a video file (mp4, avi, ...), decoded with PyAV."""
    total = probe_video_file(path).frames
    try:
        wanted = sorted(range(total) if select is None else select(total))
        return torch.from_numpy(_decode_selected(str(path), wanted, short_side, resampling))
    except VideoError:
        raise
    except (av.FFmpegError, IndexError, ValueError, OverflowError) as error:
        raise VideoError(f"{path}: not a readable video: {_reason(error)}") from error


def iter_video_file(path: str | Path, chunk: int, short_side: int | None = None) -> Iterator[torch.Tensor]:
    """Every frame of a video file, decoded in order, ``chunk`` frames (``n×H×W×3`` uint8) at a time: memory
    holds one chunk whatever the video's length. A decoding error part-way is a :class:`VideoError`."""
    probe_video_file(path)
    filter_, reformatter, frames = RESAMPLINGS["toolkit"][1], VideoReformatter(), []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                height, width = working_size(frame.height, frame.width, short_side)
                frames.append(
                    reformatter.reformat(
                        frame, width=width, height=height, format="rgb24", interpolation=filter_
                    ).to_ndarray()
                )
                if len(frames) == chunk:
                    yield torch.from_numpy(np.stack(frames))
                    frames = []
    except (av.FFmpegError, IndexError, ValueError, OverflowError) as error:
        raise VideoError(f"{path}: not a readable video: {_reason(error)}") from error
    if frames:
        yield torch.from_numpy(np.stack(frames))


def write_video_file(
    frames: torch.Tensor | Iterable[np.ndarray], path: str | Path, fps: int = 25, lossless: bool = True
) -> None:
    """Write ``T×H×W×3`` uint8 frames (a tensor or any iterable of arrays) as an H.264 mp4.

    ``lossless`` (RGB, so tests can compare frames), or as a phone or camera writes it (YUV 4:2:0).
    """
    frames = iter(frames.numpy() if isinstance(frames, torch.Tensor) else frames)
    first = next(frames)
    codec, options = ("libx264rgb", {"crf": "0"}) if lossless else ("libx264", {"crf": "23"})
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps, options={**options, "preset": "ultrafast"})
        stream.pix_fmt = "rgb24" if lossless else "yuv420p"
        stream.height, stream.width = first.shape[:2]
        for frame in itertools.chain([first], frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


class VideoSource:
    """Samples' videos under one ``root`` in one layout: ``frames``, ``zip`` or ``file``.

    A sample's location is ``template`` filled with its ``name`` and ``split``; frames whose shorter
    side exceeds ``short_side`` are scaled down as they are decoded (with the filter ``resampling``
    names). The zip is opened once per process (DataLoader workers each open their own).
    """

    def __init__(
        self,
        root: str | Path,
        layout: str,
        template: str = "{name}",
        short_side: int | None = None,
        resampling: str = "toolkit",
    ) -> None:
        if layout not in ("frames", "zip", "file"):
            raise ValueError(f"unknown video layout '{layout}'")
        self.root, self.layout, self.template, self.short_side = Path(root), layout, template, short_side
        self.resampling = resampling
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None

    def location(self, split: str, name: str) -> str:
        """Where the sample ``name`` of ``split`` is, relative to the root (or inside the zip)."""
        return self.template.format(name=name, split=split)

    def _archive(self) -> zipfile.ZipFile:
        if self._zip is None or self._zip_pid != os.getpid():
            try:
                self._zip, self._zip_pid = zipfile.ZipFile(self.root), os.getpid()
            except _ZIP_ERRORS as error:
                raise VideoError(f"{self.root}: unreadable zip: {_reason(error)}") from error
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
            return read_zip_folder(self._archive(), location, select, self.short_side, self.resampling)
        if self.layout == "frames":
            return read_frame_folder(self.root / location, select, self.short_side, self.resampling)
        return read_video_file(self.root / location, select, self.short_side, self.resampling)

    def chunks(self, location: str, chunk: int) -> Iterator[torch.Tensor]:
        """Every frame at ``location``, in order, ``chunk`` at a time (memory holds one chunk, not the video)."""
        if self.layout == "file":
            yield from iter_video_file(self.root / location, chunk, self.short_side)
            return
        if self.layout == "zip":
            total = len(zip_folder_members(self._archive(), location))
        elif (self.root / location).is_dir():
            total = sum(p.suffix.lower() in IMAGE_SUFFIXES for p in (self.root / location).iterdir())
        else:
            raise VideoError(f"frame folder not found: {self.root / location}")
        if total == 0:
            raise VideoError(f"{self.root / location}: no frames")
        for start in range(0, total, chunk):
            yield self.read(location, lambda count, first=start: list(range(first, min(first + chunk, count))))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_zip": None, "_zip_pid": None}  # open zips do not pickle
