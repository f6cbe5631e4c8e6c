"""Sign language videos in, glosses (with their times) and sentences out: what ``translate.py`` and the service run.

:class:`VideoTranslator` holds a trained Sign2Text model (or the cascade) with its S3D backbone and
video settings. :meth:`VideoTranslator.read` decodes a file as evaluation does; :meth:`translate`
takes any number of decoded videos at once: S3D runs on each group of equal frame count (so no
video is padded, and its features are exactly its own), and the visual head and the translator run
on all of them as one padded batch. Each gloss gets its time span from the CTC alignment of the
recognised glosses to the gloss probabilities.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch.nn.utils.rnn import pad_sequence

from core.config import Config
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.batching import equal_length_batches
from dataset.video_preprocessing import VideoPreprocessing
from dataset.video_reader import probe_video_file
from engine.checkpoint import load_checkpoint, load_matching_model
from engine.device import place_model
from engine.distributed import DistributedContext
from engine.tasks.decoders import GlossDecoder, TextDecoder
from engine.tasks.registry import build_task
from engine.tasks.sign_to_text import SignToTextTask
from modelling.ctc_decoding import BLANK, align
from modelling.recognition import RecognitionOutput
from modelling.sign_to_text import Cascade


@dataclass
class DecodedVideo:
    """A video file's frames as the model takes them (T×H×W×3 uint8), its own frame count and rate."""

    path: str
    frames: torch.Tensor
    available: int
    fps: float
    decode_seconds: float

    @property
    def seconds(self) -> float:
        return self.available / self.fps


@dataclass
class GlossSpan:
    """One recognised gloss, when it is signed (seconds into the video), and its mean probability there."""

    gloss: str
    start: float
    end: float
    score: float


@dataclass
class Translation:
    """What one video says, where each gloss is, and how long each stage took (seconds)."""

    video: str
    glosses: str
    text: str
    seconds: dict[str, float]
    frames: int  # in the video file
    used: int  # frames the model took: all, subsampled evenly to data.video.max_frames, or repeated up to min_frames
    padded: bool  # fewer frames than the model's minimum: repeated up to it, so the result is unreliable
    duration: float  # of the video, seconds
    spans: list[GlossSpan]
    # per gloss-probability step (duration / len(times) seconds each): its start time, and the
    # probability of the blank and of each recognised gloss at every step
    times: list[float]
    probabilities: dict[str, list[float]]


class Translator(Protocol):
    """Reads and translates videos: :class:`VideoTranslator` (PyTorch) or ``deployment.onnx_backend.OnnxTranslator``."""

    preprocessing: VideoPreprocessing

    def read(self, path: str) -> DecodedVideo: ...

    def translate(self, videos: list[DecodedVideo]) -> list[Translation]: ...


def gloss_spans(probabilities: torch.Tensor, gloss_ids: list[int], glosses: list[str], step: float) -> list[GlossSpan]:
    """Each gloss's span (seconds) in the CTC alignment of ``gloss_ids`` to ``probabilities`` (T×K, ``step`` s each).

    A gloss's score is its mean probability over the steps the alignment gives it.
    """
    spans = align(probabilities.log(), gloss_ids)
    return [
        GlossSpan(
            gloss, round(start * step, 3), round(end * step, 3), round(float(probabilities[start:end, i].mean()), 3)
        )
        for gloss, i, (start, end) in zip(glosses, gloss_ids, spans, strict=True)
    ]


class VideoTranslator:
    """The S2T model (or the cascade) with the encoder and video preprocessing its features come from.

    What turns a video into features the task says (:meth:`SignToTextTask.video_front_end`): a model
    trained end to end runs its own encoder on the task's video preprocessing; one trained on
    features gets the encoder and the video preprocessing of the S2G run that extracted them.
    """

    def __init__(self, task: SignToTextTask, ckpt: str | Path | None, cascade: bool) -> None:
        self.task, self.device = task, task.context.device
        if task.config.s2t.s2g_checkpoint is None:
            raise ToolkitError("translating videos needs s2t.s2g_checkpoint in the config (its S3D and video settings)")
        if cascade:
            self.model = task.cascade_model()
        else:
            ckpt = ckpt or RunDirectory.of(task.config).best_checkpoint
            model = load_matching_model(task, load_checkpoint(ckpt), ckpt)
            self.model = place_model(model, self.device, inference=True).eval()
        self.preprocessing, encoder = task.video_front_end(self.model)
        self.encoder = place_model(encoder, self.device, inference=True).eval()
        self.decode_glosses = GlossDecoder(task.vocab, task.config.recognition.beam_size)
        self.decode_text = TextDecoder(task.tokenizer, "word")  # what a reader sees: whitespace normalised

    @classmethod
    def build(cls, config: Config, context: DistributedContext, ckpt: str | Path | None, cascade: bool, user: str):
        """The translator of an S2T ``config`` (``user``: who asks, named if the config is another stage's)."""
        task = build_task(config, context, "video_front_end", user)
        task.prepare(create=False)
        return cls(task, ckpt, cascade)

    def read(self, path: str) -> DecodedVideo:
        """Decode ``path`` as evaluation does; :class:`~core.errors.ToolkitError` naming it if it cannot."""
        return decode_video(self.preprocessing, path)

    def __call__(self, path: str) -> Translation:
        """One video file, read and translated."""
        return self.translate([self.read(path)])[0]

    @torch.no_grad()
    def translate(self, videos: list[DecodedVideo]) -> list[Translation]:
        """Glosses, gloss times and sentences of ``videos``, computed as one batch."""
        started = time.perf_counter()
        with self.task.context.precision.autocast():
            features = self._features(videos)
            self._wait()
            extracted = time.perf_counter()
            lengths = torch.tensor([len(f) for f in features])  # on the host, as the networks want them
            recognition = self.model.recognition.recognise(pad_sequence(features, batch_first=True), lengths)
            if isinstance(self.model, Cascade):
                ids, gloss_ids = self.model.translate(recognition, self.task.config.generation)
            else:
                ids = self.model.translate(recognition, self.task.config.generation)
                gloss_ids = self.decode_glosses.ids(recognition)
        texts = self.decode_text(ids)
        seconds = {"s3d": extracted - started, "translate": time.perf_counter() - extracted}
        min_frames = self.preprocessing.config.min_frames
        return [
            describe(video, log_probs, gloss_ids[i], texts[i], seconds, self.task.vocab, min_frames)
            for i, (video, log_probs) in enumerate(zip(videos, valid_log_probs(recognition), strict=True))
        ]

    def _features(self, videos: list[DecodedVideo]) -> list[torch.Tensor]:
        """The encoder's features (T'×C) of each video, computed per group of equal frame count (none padded)."""
        features: list[torch.Tensor | None] = [None] * len(videos)
        for members in equal_length_batches([len(video.frames) for video in videos]):
            frames = torch.stack([videos[i].frames for i in members])
            clips = self.preprocessing.network_input(frames, self.device, training=False)
            output, output_lengths = self.encoder(clips, torch.full((len(members),), len(frames[0])))
            for row, index in enumerate(members):
                features[index] = output[row, : output_lengths[row]]
        return features

    def _wait(self) -> None:
        """Let the GPU finish, so the stage times are the stages' own."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def decode_video(preprocessing: VideoPreprocessing, path: str) -> DecodedVideo:
    """``path``'s frames sampled as in evaluation, with its frame count and rate, timed."""
    started = time.perf_counter()
    fps = probe_video_file(path).fps
    frames, available = preprocessing.read_file(path)
    return DecodedVideo(path, frames, available, fps, time.perf_counter() - started)


def valid_log_probs(recognition: RecognitionOutput) -> list[torch.Tensor]:
    """Each video's gloss log-probabilities over its valid steps (T'×K, fp32, on the host)."""
    log_probs = recognition.log_probs.float().cpu()
    return [log_probs[i, : int(length)] for i, length in enumerate(recognition.lengths)]


def describe(
    video: DecodedVideo,
    log_probs: torch.Tensor,
    gloss_ids: list[int],
    text: str,
    seconds: dict[str, float],
    vocab: GlossVocabulary,
    min_frames: int,
) -> Translation:
    """One video's :class:`Translation` from its gloss log-probabilities (T'×K), recognised glosses and text."""
    step = video.seconds / len(log_probs)  # the gloss steps cover the video evenly
    probabilities = log_probs.exp()
    glosses = vocab.decode(gloss_ids)
    curves = {"<blank>": BLANK, **{vocab.decode([i]): i for i in gloss_ids}}
    timing = {"decode": video.decode_seconds, **seconds}
    return Translation(
        video=video.path,
        glosses=glosses,
        text=text,
        seconds={stage: round(value, 3) for stage, value in timing.items()},
        frames=video.available,
        used=len(video.frames),
        padded=video.available < min_frames,
        duration=round(video.seconds, 3),
        spans=gloss_spans(probabilities, gloss_ids, glosses.split(), step),
        times=[round(t * step, 3) for t in range(len(log_probs))],
        probabilities={name: [round(float(p), 3) for p in probabilities[:, i]] for name, i in curves.items()},
    )
