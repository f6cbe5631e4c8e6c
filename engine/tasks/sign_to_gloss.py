"""The Sign2Gloss task: video (or keypoint) input, an encoder (S3D, the pose encoder) + visual head, CTC loss,
CTC beam search and WER."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from core.config import Config, ConfigError
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.gloss_text import EncodedSplit
from dataset.sign_video import encode_video_samples
from dataset.video_preprocessing import VideoPreprocessing
from engine.checkpoint import load_submodule, load_task_checkpoint
from engine.distributed import DistributedContext, run_on_main
from engine.inference import infer_split
from engine.run_logging import get_logger
from engine.task_protocol import TrainingLoss
from engine.tasks.base import StageTask
from engine.tasks.data_preparation import (
    ensure_gloss_vocabulary,
    ensure_synthetic_keypoints,
    ensure_synthetic_videos,
    load_gloss_vocabulary,
    read_split,
)
from engine.tasks.decoders import GlossDecoder
from engine.tasks.input_sources import VideoInput
from engine.tasks.keypoint_input import KeypointInput
from engine.tasks.registry import register_task
from engine.tasks.two_stream_input import TwoStreamInput, check_two_stream_config
from evaluation.report import EvaluationResult
from evaluation.scoring import score_recognition
from modelling.builders import build_recognition
from modelling.recognition import RecognitionConfig, SignToGloss, legacy_to_current
from modelling.tokenizers import TokenizerConfig
from modelling.two_stream import TwoStreamConfig, TwoStreamSignToGloss


def encoder_reads(config: Config) -> str:
    """What the configured encoder reads (its config's ``reads``: ``video`` when it says nothing, ``keypoints``,
    ``video+keypoints``)."""
    return getattr(config.recognition.encoder, "reads", "video")


def reads_keypoints(config: Config) -> bool:
    """Whether the configured encoder reads keypoints alone."""
    return encoder_reads(config) == "keypoints"


def keypoint_input(config: Config, context: DistributedContext) -> KeypointInput:
    """The keypoints of ``data.keypoints`` in the coordinates the encoder reads (the toy signer's frame: its size)."""
    coordinates = config.recognition.encoder.coordinates
    toy = config.data.synthetic
    frame = (toy.render_size, toy.render_size) if toy else None
    return KeypointInput(config.data.keypoints, context.device, config.training.seed, coordinates, frame)


@register_task("s2g", sections={"tokenizer": TokenizerConfig, "recognition": RecognitionConfig})
class SignToGlossTask(StageTask):
    """Everything the trainer and prediction need to know about Sign2Gloss."""

    metric = "wer"
    higher_is_better = False

    def __init__(self, config: Config, context: DistributedContext) -> None:
        super().__init__(config, context)
        self.inputs: VideoInput | KeypointInput | TwoStreamInput
        reads = encoder_reads(config)
        if reads == "keypoints":
            self.inputs = keypoint_input(config, context)
        else:
            preprocessing = VideoPreprocessing(config.data.video, config.training.seed)
            self.inputs = VideoInput(preprocessing, context.device, config.training.num_workers)
            if reads == "video+keypoints":
                self.inputs = TwoStreamInput(self.inputs, keypoint_input(config, context))
        self.vocab: GlossVocabulary | None = None
        self.new_run = False

    @staticmethod
    def check_config(config: Config, source: str) -> None:
        for section in encoder_reads(config).split("+"):
            if getattr(config.data, section) is None:
                kind = config.recognition.encoder.type
                raise ConfigError(f"{source}: task s2g with encoder {kind!r} needs a 'data.{section}' section")
        if isinstance(config.recognition.encoder, TwoStreamConfig):
            check_two_stream_config(config, source)

    # ----- preparation -------------------------------------------------------------------
    def prepare(self, create: bool) -> None:
        """Render the toy videos and build the gloss vocabulary if needed (rank 0, when ``create``), then load it."""
        self.new_run = create
        if create:
            run_on_main(self._create)
        self.vocab = load_gloss_vocabulary(self.config, self.run)

    def _create(self) -> None:
        """The toy videos (or keypoints) and the gloss vocabulary, where they are missing."""
        if not isinstance(self.inputs, KeypointInput):
            video = self.inputs.video if isinstance(self.inputs, TwoStreamInput) else self.inputs
            ensure_synthetic_videos(self.config, video.preprocessing.source)
        if not isinstance(self.inputs, VideoInput):
            ensure_synthetic_keypoints(self.config)
        ensure_gloss_vocabulary(self.config, self.run, read_split(self.config, "train"))

    # ----- data ----------------------------------------------------------------------------
    def encode(self, split: str) -> tuple[PreparedSplit, EncodedSplit]:
        """The video (or keypoint) examples of ``split``; missing ones are skipped in train, an error otherwise."""
        prepared = read_split(self.config, split)
        if isinstance(self.inputs, KeypointInput | TwoStreamInput):
            encoded = self.inputs.encode(prepared, split, self.vocab)
        else:
            videos = self.inputs.preprocessing.source
            encoded = encode_video_samples(prepared.samples, split, videos, self.vocab, skip_missing=split == "train")
        for reason in ("missing videos", "samples without keypoints"):
            if encoded.counts[reason]:
                get_logger().warning("%s: skipped %d sample(s): %s", split, encoded.counts[reason], reason)
        if encoded.counts["unknown glosses"]:
            get_logger().warning(
                "%s: %d gloss(es) not in the vocabulary (mapped to <unk>)", split, encoded.counts["unknown glosses"]
            )
        return prepared, encoded

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> SignToGloss | TwoStreamSignToGloss:
        """The encoder (S3D: Kinetics-400 weights when the config names them) and a random visual head; the
        two-stream network's streams and heads from single-stream runs where its config names them (a new run)."""
        cfg = self.config.recognition
        model = build_recognition(cfg, self.inputs.encoder(cfg.encoder, pretrained=True), len(self.vocab))
        if isinstance(model, TwoStreamSignToGloss) and self.new_run:
            self._start_streams(model)
        return model

    def _start_streams(self, model: TwoStreamSignToGloss) -> None:
        encoder = self.config.recognition.encoder
        starts = [
            (encoder.video_run, "video", model.encoder.video),
            (encoder.keypoint_run, "keypoints", model.encoder.keypoints),
        ]
        for run, stream, module in starts:
            if run is None:
                continue
            path = RunDirectory(Path(run)).best_checkpoint
            state = load_task_checkpoint(path, self.name, self.vocab.glosses)
            load_encoder(module, state, str(path))
            load_submodule(model.heads[stream], state, "head.", str(path))
            get_logger().info("%s stream and its head initialised from %s", stream, path)

    @staticmethod
    def encoder_of(model: SignToGloss | TwoStreamSignToGloss) -> nn.Module:
        """The network's encoder, which extract_feature.py runs apart."""
        if isinstance(model, TwoStreamSignToGloss):
            raise ToolkitError("extract_feature.py: the two-stream network's features are not stored yet")
        return model.encoder

    def encoder_metadata(self) -> dict:
        """What the encoder's architecture is (recorded with the features it computes)."""
        return self.config.recognition.encoder.checkpoint_metadata()

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model (keypoints: their selection too)."""
        inputs = self.inputs.metadata() if not isinstance(self.inputs, VideoInput) else {}
        return {"task": self.name, "glosses": self.vocab.glosses, **self.encoder_metadata(), **inputs}

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        """Mean CTC loss of the batch; unreadable videos are skipped and counted."""
        if not self.inputs.readable(batch, "train", self.training_counts):
            # no readable video: a weightless pass, since DDP needs every rank to run
            return TrainingLoss(0.0 * self.loss(model, self.inputs.blank_batch([]), device).total, {})
        output = model(*self.inputs.network_input(batch, training=True))
        result, parts = output.training_loss(batch["ctc_targets"])
        if result.num_infeasible:
            self.training_counts["too short for their glosses"] += result.num_infeasible
        return TrainingLoss(result.loss, parts)

    # ----- evaluation ----------------------------------------------------------------------
    def evaluate(self, model: SignToGloss, split: str) -> EvaluationResult:
        """Recognise every example of ``split`` (sharded over ranks) with CTC beam search and score WER."""
        encoded, cfg = self.split(split), self.config.recognition
        decode = GlossDecoder(self.vocab, cfg.beam_size)

        def recognise(batch: dict, inputs: torch.Tensor, lengths: torch.Tensor) -> list[dict[str, str]]:
            output = model(inputs, lengths)
            heads = {"": output.log_probs, **getattr(output, "heads", {})}  # the two-stream network's too
            decoded = {name: decode(replace(output, log_probs=log_probs)) for name, log_probs in heads.items()}
            return [dict(zip(decoded, row, strict=True)) for row in zip(*decoded.values(), strict=True)]

        result = infer_split(
            model, self.inputs, encoded.examples, split, cfg.batch_size, recognise, self.context, f"recognise {split}"
        )
        names, references = [e.name for e in encoded.examples], [e.glosses for e in encoded.examples]
        counts = {**encoded.counts, **result.input_counts}
        scored = score_recognition(split, names, [h[""] for h in result.outputs], references, cfg.wer_cleanup, counts)
        for head in list(result.outputs[0])[1:] if result.outputs else []:
            own = score_recognition(split, names, [h[head] for h in result.outputs], references, cfg.wer_cleanup, {})
            scored.metrics[f"wer_{head}"] = own.metrics["wer"]
        return scored


def load_encoder(encoder: nn.Module, state: dict, source: str) -> None:
    """The encoder's weights of an S2G checkpoint (``encoder.``; ``backbone.`` in older ones) into ``encoder``."""
    load_submodule(encoder, {**state, "model": legacy_to_current(state["model"])}, "encoder.", source)
