"""The Sign2Gloss task: video input, S3D + visual head, CTC loss, CTC beam search and WER."""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn

from core.config import Config
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.gloss_text import EncodedSplit
from dataset.sign_video import SignVideoDataset, VideoExample, encode_video_samples
from dataset.video_preprocessing import VideoPreprocessing
from engine.data_preparation import ensure_gloss_vocabulary, ensure_synthetic_videos, load_gloss_vocabulary, read_split
from engine.decoders import GlossDecoder
from engine.distributed import DistributedContext, run_on_main
from engine.inference import infer_split
from engine.input_sources import VideoInput
from engine.run_logging import get_logger
from evaluation.report import EvaluationResult
from evaluation.scoring import score_recognition
from modelling.builders import build_recognition
from modelling.recognition import SignToGloss, ctc_loss


class SignToGlossTask:
    """Everything the trainer and prediction need to know about Sign2Gloss."""

    metric = "wer"
    higher_is_better = False

    def __init__(self, config: Config, context: DistributedContext) -> None:
        self.config, self.context = config, context
        self.run = RunDirectory.of(config)
        preprocessing = VideoPreprocessing(config.data.video, config.training.seed)
        self.inputs = VideoInput(preprocessing, context.device, config.training.num_workers)
        self.videos = preprocessing.source
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
        ensure_synthetic_videos(self.config, self.videos)
        ensure_gloss_vocabulary(self.config, self.run, read_split(self.config, "train"))

    # ----- data ----------------------------------------------------------------------------
    def split(self, split: str) -> EncodedSplit:
        """The video examples of ``split`` (cached); missing videos are skipped in train, an error otherwise."""
        if split not in self._splits:
            prepared = read_split(self.config, split)
            encoded = encode_video_samples(
                prepared.samples, split, self.videos, self.vocab, skip_missing=split == "train"
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
        return self.inputs.dataset(self.split(split).examples, training)

    def collator(self):
        return self.inputs.collator()

    def example_length(self, example: VideoExample) -> int:
        return self.inputs.length(example)

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> SignToGloss:
        """S3D (Kinetics-400 weights when the config names them) and a random visual head."""
        return build_recognition(self.config.recognition, len(self.vocab), on_video=True, kinetics=True)

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        cfg = self.config.recognition
        return {"task": "s2g", "glosses": self.vocab.glosses, "use_block": cfg.use_block}

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        """Mean CTC loss of the batch; unreadable videos are skipped and counted."""
        if not self.inputs.readable(batch, "train", self.training_counts):
            # no readable video: a weightless pass, since DDP needs every rank to run
            return 0.0 * self.loss(model, self.inputs.blank_batch(), device)
        output = model(*self.inputs.network_input(batch, training=True))
        result = ctc_loss(output.log_probs, output.lengths, batch["targets"])
        if result.num_infeasible:
            self.training_counts["too short for their glosses"] += result.num_infeasible
        return result.loss

    # ----- evaluation ----------------------------------------------------------------------
    @staticmethod
    def comparisons(split: str) -> list[EvaluationResult]:
        """No further rows beside the model's."""
        return []

    def evaluate(self, model: SignToGloss, split: str) -> EvaluationResult:
        """Recognise every example of ``split`` (sharded over ranks) with CTC beam search and score WER."""
        encoded, cfg = self.split(split), self.config.recognition
        decode = GlossDecoder(self.vocab, cfg.beam_size)

        def recognise(batch: dict, videos: torch.Tensor, lengths: torch.Tensor) -> list[tuple[str, bool]]:
            return list(zip(decode(model(videos, lengths)), batch["padded"], strict=True))

        outputs = infer_split(
            model, self.inputs, encoded.examples, split, cfg.batch_size, recognise, self.context, f"recognise {split}"
        )
        counts = {**encoded.counts, "short videos padded": sum(padded for _, padded in outputs)}
        examples = encoded.examples
        return score_recognition(
            split,
            [e.name for e in examples],
            [h for h, _ in outputs],
            [e.reference for e in examples],
            cfg.wer_cleanup,
            counts,
        )
