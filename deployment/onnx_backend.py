"""Translate videos with an ONNX export through onnxruntime: ``translate.py --backend onnx``.

:class:`OnnxTranslator` reads an :class:`~core.run_directory.ExportDirectory` and does what
:class:`~deployment.video_translation.VideoTranslator` does with the PyTorch networks: the same video
decoding and preprocessing, S3D and the visual head per group of equal frame count, CTC beam search
for the glosses, the encoder on the whole batch, and beam search (:mod:`modelling.beam_search`)
over the decoder step with its keys and values carried between steps.
"""

from __future__ import annotations

import json
import time

import numpy as np
import onnxruntime
import torch

from core.config import VideoConfig
from core.errors import ToolkitError
from core.run_directory import ExportDirectory
from core.vocabulary import GlossVocabulary
from dataset.batching import equal_length_batches
from dataset.video_preprocessing import VideoPreprocessing
from deployment.video_translation import DecodedVideo, Translation, decode_video, describe
from engine.tasks.decoders import TextDecoder
from modelling.beam_search import beam_search
from modelling.ctc_decoding import CTCBeamSearch
from modelling.tokenizers import load_text_tokenizer
from modelling.translator_config import GenerationConfig

CPU, CUDA = "CPUExecutionProvider", "CUDAExecutionProvider"


def execution_providers(device: str) -> list[str]:
    """onnxruntime's providers for ``--device`` (auto, cpu, cuda): CUDA where asked or available, then the CPU."""
    available = onnxruntime.get_available_providers()
    if device == "cuda" and CUDA not in available:
        raise ToolkitError(
            f"--device cuda: this onnxruntime has no CUDA provider (it has {', '.join(available)}); "
            "install onnxruntime-gpu instead of onnxruntime, or use --device cpu"
        )
    return [CUDA, CPU] if device != "cpu" and CUDA in available else [CPU]


class OnnxNetworks:
    """The three exported graphs on onnxruntime: recognition per batch of equal-length clips, then text."""

    def __init__(self, export: ExportDirectory, providers: list[str] | None = None) -> None:
        providers = providers or [CPU]
        self.sessions = {
            name: onnxruntime.InferenceSession(str(export.graph(name)), providers=providers)
            for name in ("recognition", "encoder", "decoder")
        }

    def recognise(self, clips: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """Gloss log-probabilities, gloss features and feature counts of preprocessed clips (B×3×T×H×W)."""
        return self.sessions["recognition"].run(None, {"videos": clips, "lengths": lengths})

    def generate(self, features: list[np.ndarray], generation: GenerationConfig, ids: dict[str, int]) -> torch.Tensor:
        """Token ids of each video's gloss features (T'×hidden): the encoder, then beam search over decoder steps."""
        lengths = np.array([len(f) for f in features], dtype=np.int64)
        padded = np.zeros((len(features), lengths.max(), features[0].shape[1]), dtype=np.float32)
        for row, feature in enumerate(features):
            padded[row, : len(feature)] = feature
        cross, mask = self.sessions["encoder"].run(None, {"gloss_features": padded, "lengths": lengths})
        beams = generation.num_beams
        cross, mask = np.repeat(cross, beams, axis=2), np.repeat(mask, beams, axis=0)
        held = {"past": np.zeros_like(cross[:, :, :, :, :0])}  # layers×2×beams×heads×0×head_dim

        def step(tokens: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
            past = held["past"] if order is None else held["past"][:, :, order.numpy()]
            inputs = {"tokens": tokens.numpy()[:, None], "cross": cross, "mask": mask, "past": past}
            log_probs, held["past"] = self.sessions["decoder"].run(None, inputs)
            return torch.from_numpy(log_probs)

        return beam_search(
            step,
            len(features),
            beams,
            ids["start_id"],
            ids["end_id"],
            ids["pad_id"],
            generation.max_length,
            generation.length_penalty,
            forced_last_id=ids["end_id"],  # the export checks that the translator forces </s> last
            early_stopping=generation.early_stopping,
        )


class OnnxTranslator:
    """An ONNX export of a joint Sign2Text model, on onnxruntime's CPU (or given) execution providers.

    On CUDA the graphs run on the GPU; the decoder's inputs still come from the host at every step.
    """

    def __init__(self, export: ExportDirectory, providers: list[str] | None = None) -> None:
        if not export.settings.is_file():
            raise ToolkitError(f"{export.root}: not an ONNX export (no {export.settings.name}); run export.py first")
        settings = json.loads(export.settings.read_text(encoding="utf-8"))
        self.preprocessing = VideoPreprocessing(VideoConfig(**settings["video"]))
        self.generation = GenerationConfig(**settings["generation"])
        self.ids = settings["decoder"]
        languages = settings["languages"]
        self.vocab = GlossVocabulary.load(export.gloss_vocab, languages["src"])
        tokenizer = load_text_tokenizer(export.text_tokenizer, languages["src"], languages["tgt"])
        self.decode_text = TextDecoder(tokenizer, "word")
        self.ctc = CTCBeamSearch(settings["ctc_beam_size"])
        self.networks = OnnxNetworks(export, providers)

    def read(self, path: str) -> DecodedVideo:
        return decode_video(self.preprocessing, path)

    def __call__(self, path: str) -> Translation:
        return self.translate([self.read(path)])[0]

    def translate(self, videos: list[DecodedVideo]) -> list[Translation]:
        """Glosses, gloss times and sentences of ``videos``, computed as one batch."""
        started = time.perf_counter()
        log_probs, features = self._recognise(videos)
        gloss_ids = [self.ctc.decode(lp[None], torch.tensor([len(lp)]))[0] for lp in log_probs]
        recognised = time.perf_counter()
        texts = self._translate(features)
        seconds = {"s3d": recognised - started, "translate": time.perf_counter() - recognised}
        min_frames = self.preprocessing.config.min_frames
        return [
            describe(video, lp, ids, text, seconds, self.vocab, min_frames)
            for video, lp, ids, text in zip(videos, log_probs, gloss_ids, texts, strict=True)
        ]

    def _recognise(self, videos: list[DecodedVideo]) -> tuple[list[torch.Tensor], list[np.ndarray]]:
        """Each video's gloss log-probabilities and gloss features over its valid steps."""
        log_probs: list = [None] * len(videos)
        features: list = [None] * len(videos)
        for members in equal_length_batches([len(video.frames) for video in videos]):
            frames = torch.stack([videos[i].frames for i in members])
            length = len(frames[0])
            clips = self.preprocessing.network_input(frames, torch.device("cpu"), training=False).contiguous()
            lengths = np.full(len(members), length, dtype=np.int64)
            out = self.networks.recognise(clips.numpy(), lengths)
            for row, index in enumerate(members):
                valid = int(out[2][row])
                log_probs[index] = torch.from_numpy(out[0][row, :valid].copy())
                features[index] = out[1][row, :valid]
        return log_probs, features

    def _translate(self, features: list[np.ndarray]) -> list[str]:
        """The sentences of a batch of gloss features."""
        return self.decode_text(self.networks.generate(features, self.generation, self.ids))
