"""The Sign2Gloss task: videos, gloss vocabulary, S3D + visual head, CTC loss and WER evaluation."""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from core.config import Config, RecognitionConfig, VideoConfig
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.gloss_text import EncodedSplit
from dataset.sign_video import SignVideoDataset, VideoExample, blank_video_batch, collate_videos, encode_video_samples
from dataset.video_reader import VideoError, VideoSource
from dataset.video_transforms import prepare_videos
from engine.data_preparation import ensure_gloss_vocabulary, ensure_synthetic_videos, load_gloss_vocabulary, read_split
from engine.distributed import DistributedContext, run_on_main
from engine.inference import sharded_inference
from engine.run_logging import get_logger
from evaluation.recognition_metrics import clean_phoenix_2014t, corpus_wer
from evaluation.report import EvaluationResult
from modelling.ctc_decoding import CTCBeamSearch
from modelling.recognition import SignToGloss, ctc_loss
from modelling.s3d import BLOCK_CHANNELS, S3DBackbone, load_kinetics_weights
from modelling.visual_head import VisualHead

CLEANUPS = {"none": lambda glosses: glosses, "phoenix-2014t": clean_phoenix_2014t}
CONVENTION = "corpus WER over space-separated glosses (minimum edit distance), in percent; cleanup: {}"


def video_inputs(frames: torch.Tensor, video: VideoConfig, device: torch.device, training: bool) -> torch.Tensor:
    """Padded uint8 frames -> augmented (training) or centre-cropped, normalised videos on ``device``."""
    frames = frames.to(device, non_blocking=True)
    if not training:
        return prepare_videos(frames, video.img_size, False, centre_crop=video.centre_crop)
    area, ratio = tuple(video.crop_area), tuple(video.crop_ratio)
    return prepare_videos(frames, video.img_size, True, None, area, ratio, video.colour_jitter)


def note_skipped(batch: dict, counts: Counter) -> None:
    """Count (and log) the unreadable videos and padded short ones of a training batch."""
    for name, reason in batch["skipped"]:
        counts["unreadable videos skipped"] += 1
        get_logger().warning(
            "train: skipped %s: %s (%d skipped so far)", name, reason, counts["unreadable videos skipped"]
        )
    counts["short videos padded"] += sum(batch["padded"])


def build_backbone(cfg: RecognitionConfig) -> S3DBackbone:
    """S3D blocks 1..use_block as the config says (random weights)."""
    return S3DBackbone(cfg.use_block, cfg.freeze_block, cfg.bn_momentum)


def build_visual_head(cfg: RecognitionConfig, num_glosses: int) -> VisualHead:
    """The visual head over the backbone's channels, sized by the config."""
    return VisualHead(BLOCK_CHANNELS[cfg.use_block], num_glosses, cfg.hidden_dim, cfg.ff_dim, cfg.dropout)


class SignToGlossTask:
    """Everything the trainer and prediction need to know about Sign2Gloss."""

    metric = "wer"
    higher_is_better = False

    def __init__(self, config: Config, context: DistributedContext) -> None:
        self.config, self.context = config, context
        self.run = RunDirectory.of(config)
        video = config.data.video
        self.source = VideoSource(video.root, video.format, video.path, video.decode_size)
        self.vocab: GlossVocabulary | None = None
        self._splits: dict[str, EncodedSplit] = {}
        self.training_counts: Counter = Counter()

    # ----- preparation -------------------------------------------------------------------
    def prepare(self, create: bool) -> None:
        """Render the toy videos and build the gloss vocabulary if needed (rank 0, when ``create``), then load it."""
        if create:
            run_on_main(self._create)
        self.vocab = load_gloss_vocabulary(self.config, self.run)

    def _create(self) -> None:
        """The toy videos and the gloss vocabulary, where they are missing."""
        ensure_synthetic_videos(self.config, self.source)
        ensure_gloss_vocabulary(self.config, self.run, read_split(self.config, "train"))

    # ----- data ----------------------------------------------------------------------------
    def split(self, split: str) -> EncodedSplit:
        """The video examples of ``split`` (cached); missing videos are skipped in train, an error otherwise."""
        if split not in self._splits:
            prepared = read_split(self.config, split)
            encoded = encode_video_samples(
                prepared.samples, split, self.source, self.vocab, skip_missing=split == "train"
            )
            encoded.counts = Counter({"samples": len(encoded.examples)}) + prepared.skipped + encoded.counts
            if encoded.counts["missing videos"]:
                get_logger().warning(
                    "%s: skipped %d sample(s) whose video is missing", split, encoded.counts["missing videos"]
                )
            if encoded.counts["unknown glosses"]:
                get_logger().warning(
                    "%s: %d gloss(es) not in the vocabulary (mapped to <unk>)", split, encoded.counts["unknown glosses"]
                )
            self._splits[split] = encoded
        return self._splits[split]

    def dataset(self, split: str, training: bool = True) -> SignVideoDataset:
        """The frames of ``split``, randomly rescaled in time when ``training``."""
        video = self.config.data.video
        rescale = tuple(video.temporal_rescale) if training else None
        return SignVideoDataset(
            self.split(split).examples,
            self.source,
            video.max_frames,
            video.min_frames,
            rescale,
            self.config.training.seed,
        )

    @staticmethod
    def collator():
        return collate_videos

    @staticmethod
    def example_length(example: VideoExample) -> int:
        return example.length

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> SignToGloss:
        cfg = self.config.recognition
        backbone = build_backbone(cfg)
        if cfg.s3d_weights:
            load_kinetics_weights(backbone, cfg.s3d_weights)
        return SignToGloss(build_visual_head(cfg, len(self.vocab)), backbone)

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        cfg = self.config.recognition
        return {"task": "s2g", "glosses": self.vocab.glosses, "use_block": cfg.use_block}

    def videos(self, frames: torch.Tensor, training: bool) -> torch.Tensor:
        return video_inputs(frames, self.config.data.video, self.context.device, training)

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        """Mean CTC loss of the batch; unreadable videos are skipped and counted."""
        note_skipped(batch, self.training_counts)
        if batch["frames"] is None:  # no readable video: a weightless pass, since DDP needs every rank to run
            return 0.0 * self.loss(model, blank_video_batch(), device)
        output = model(self.videos(batch["frames"], training=True), batch["lengths"].to(device))
        result = ctc_loss(output.log_probs, output.lengths, batch["targets"])
        if result.num_infeasible:
            self.training_counts["too short for their glosses"] += result.num_infeasible
        return result.loss

    # ----- evaluation ----------------------------------------------------------------------
    @staticmethod
    def comparisons(split: str) -> list[EvaluationResult]:
        """No further rows beside the model's."""
        return []

    @torch.no_grad()
    def evaluate(self, model: SignToGloss, split: str) -> EvaluationResult:
        """Recognise every example of ``split`` (sharded over ranks) with CTC beam search and score WER."""
        encoded, cfg = self.split(split), self.config.recognition
        decoder = CTCBeamSearch(cfg.beam_size)
        was_training = model.training
        model.eval()

        def recognise(batch: dict) -> list[tuple[str, bool]]:
            if batch["skipped"]:
                name, reason = batch["skipped"][0]
                raise VideoError(f"{split} sample {name}: {reason}")
            output = model(self.videos(batch["frames"], training=False), batch["lengths"].to(self.context.device))
            sequences = decoder.decode(output.log_probs, output.lengths)
            return [(self.vocab.decode(ids), padded) for ids, padded in zip(sequences, batch["padded"], strict=True)]

        outputs = sharded_inference(
            self.dataset(split, training=False),
            [self.example_length(e) for e in encoded.examples],
            cfg.batch_size,
            collate_videos,
            recognise,
            self.context,
            f"recognise {split}",
            self.config.training.num_workers,
        )
        model.train(was_training)
        padded = sum(p for _, p in outputs)
        return self._score(split, encoded, [hyp for hyp, _ in outputs], {"short videos padded": padded})

    def _score(
        self, split: str, encoded: EncodedSplit, hypotheses: list[str], extra_counts: dict[str, int]
    ) -> EvaluationResult:
        cleanup = CLEANUPS[self.config.recognition.wer_cleanup]
        references = [cleanup(e.reference) for e in encoded.examples]
        hypotheses = [cleanup(h) for h in hypotheses]
        errors = corpus_wer(hypotheses, references)
        total = max(errors.reference_length, 1)
        metrics = {
            "wer": errors.wer,
            "sub": 100.0 * errors.substitutions / total,
            "del": 100.0 * errors.deletions / total,
            "ins": 100.0 * errors.insertions / total,
        }
        counts = {
            **encoded.counts,
            "substitutions": errors.substitutions,
            "deletions": errors.deletions,
            "insertions": errors.insertions,
            "reference glosses": errors.reference_length,
            **extra_counts,
        }
        rows = [(e.name, h, r) for e, h, r in zip(encoded.examples, hypotheses, references, strict=True)]
        return EvaluationResult(split, metrics, rows, counts, CONVENTION.format(self.config.recognition.wer_cleanup))
