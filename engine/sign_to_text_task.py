"""The Sign2Text task: S3D features -> visual head -> VL mapper -> mBART, with CTC beside it.

The input is the features extract_feature.py stored (``s2t.features``) or, without them, the videos
of ``data.video`` through S3D, trained end to end. The model starts from the best S2G checkpoint
(visual head, and S3D end to end) and the best G2T checkpoint (translator and the
``</s>``/language embeddings); the loss is ``recognition_weight * CTC +
translation_weight * CE``. Evaluation reports BLEU-1..4 and ROUGE-L of the translations and the
WER of the recognition branch (CTC beam search).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import torch
from torch import nn

from core.config import Config
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.annotations import normalise_text
from dataset.feature_store import load_store
from dataset.gloss_text import EncodedSplit, pad
from dataset.sign_text import FeatureTextExample, attach_features, collate_features
from dataset.sign_video import SignVideoDataset, VideoExample, blank_video_batch, collate_videos, encode_video_samples
from dataset.video_reader import VideoError, VideoSource
from engine.checkpoint import load_model_weights, load_submodule, load_task_checkpoint
from engine.data_preparation import encode_text_split
from engine.distributed import DistributedContext
from engine.gloss_to_text_task import build_translator, text_tokenizer_dir
from engine.inference import sharded_inference
from engine.run_logging import get_logger
from engine.sign_to_gloss_task import build_backbone, build_visual_head, note_skipped, video_inputs
from evaluation.recognition_metrics import corpus_wer
from evaluation.report import EvaluationResult
from evaluation.translation_metrics import CONVENTION, translation_scores
from modelling.ctc_decoding import CTCBeamSearch
from modelling.recognition import SignToGloss, ctc_loss
from modelling.sign_to_text import Cascade, SignToText
from modelling.tokenizers import load_text_tokenizer
from modelling.translation import GlossToText


class SignToTextTask:
    """Everything the trainer and prediction need to know about Sign2Text."""

    metric = "bleu4"
    higher_is_better = True

    def __init__(self, config: Config, context: DistributedContext) -> None:
        self.config, self.context = config, context
        self.run = RunDirectory.of(config)
        self.vocab: GlossVocabulary | None = None
        self.tokenizer = None
        self._splits: dict[str, EncodedSplit] = {}
        self.new_run = False
        self.end_to_end = config.s2t.features is None
        video = config.data.video
        self.source = VideoSource(video.root, video.format, video.path, video.decode_size) if self.end_to_end else None
        self.training_counts: Counter = Counter()
        self._cascade: Cascade | None = None

    # ----- preparation -------------------------------------------------------------------
    def prepare(self, create: bool) -> None:
        """Load the gloss vocabulary and text tokenizer the S2G and G2T runs used.

        ``create`` (a new training run) also makes :meth:`build_model` start from the S2G and G2T
        checkpoints; otherwise the model's weights come from an S2T checkpoint.
        """
        self.new_run = create
        data = self.config.data
        self.vocab = GlossVocabulary.load(self.config.tokenizer.gloss_vocab, data.src_lang)
        self.tokenizer = load_text_tokenizer(text_tokenizer_dir(self.config), data.src_lang, data.tgt_lang)

    # ----- data ----------------------------------------------------------------------------
    def split(self, split: str) -> EncodedSplit:
        """Examples of ``split`` with their features (cached); samples without features are counted."""
        if split not in self._splits:
            prepared, encoded = encode_text_split(self.config, split, self.vocab, self.tokenizer)
            if self.end_to_end:
                encoded = self._attach_videos(encoded, prepared.samples, split)
            else:
                store = load_store(self.config.s2t.features, split)
                glosses = {s.name: s.gloss for s in prepared.samples}
                encoded = attach_features(encoded, glosses, store["features"], split, skip_missing=split == "train")
            for reason in ("samples without features", "missing videos"):
                if encoded.counts[reason]:
                    get_logger().warning("%s: skipped %d sample(s): %s", split, encoded.counts[reason], reason)
            encoded.counts = Counter({"samples": len(encoded.examples)}) + prepared.skipped + encoded.counts
            self._splits[split] = encoded
        return self._splits[split]

    def _attach_videos(self, encoded: EncodedSplit, samples: list, split: str) -> EncodedSplit:
        """Video examples carrying the text labels of the encoded gloss-text examples."""
        texts = {e.name: e for e in encoded.examples}
        kept = [s for s in samples if s.name in texts]
        videos = encode_video_samples(kept, split, self.source, self.vocab, skip_missing=split == "train")
        examples = [
            replace(v, label_ids=texts[v.name].label_ids, text=texts[v.name].reference) for v in videos.examples
        ]
        return EncodedSplit(examples, encoded.counts + Counter({"missing videos": videos.counts["missing videos"]}))

    def dataset(self, split: str, training: bool = True) -> list[FeatureTextExample] | SignVideoDataset:
        """What the DataLoader iterates over: feature examples, or videos (time rescaled when ``training``)."""
        examples = self.split(split).examples
        if not self.end_to_end:
            return examples
        video = self.config.data.video
        rescale = tuple(video.temporal_rescale) if training else None
        seed = self.config.training.seed
        return SignVideoDataset(examples, self.source, video.max_frames, video.min_frames, rescale, seed)

    def collator(self):
        return collate_videos if self.end_to_end else collate_features

    @staticmethod
    def example_length(example: FeatureTextExample | VideoExample) -> int:
        return example.length if isinstance(example, VideoExample) else len(example.features)

    def inputs(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's features, or its videos prepared for S3D, and their lengths, on the device."""
        device = self.context.device
        if self.end_to_end:
            return video_inputs(batch["frames"], self.config.data.video, device, training), batch["lengths"].to(device)
        return batch["features"].to(device), batch["lengths"].to(device)

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> SignToText:
        """The S2T network; in a new run initialised from the configured S2G and G2T checkpoints."""
        recognition = self._recognition()  # built before the translator, as before: same random draws
        translator = build_translator(self.config, self.tokenizer)
        model = SignToText(recognition, translator, self.vocab.eos_id, self.vocab.lang_id)
        if self.new_run:
            self._initialise(model)
        return model

    def _recognition(self) -> SignToGloss:
        """The visual head, with S3D in front when training end to end on video."""
        cfg = self.config.recognition
        return SignToGloss(build_visual_head(cfg, len(self.vocab)), build_backbone(cfg) if self.end_to_end else None)

    def _initialise(self, model: SignToText) -> None:
        s2t = self.config.s2t
        if s2t.s2g_checkpoint:
            state = load_task_checkpoint(s2t.s2g_checkpoint, "s2g", self.vocab.glosses)
            _load_recognition(model.recognition, state, s2t.s2g_checkpoint)
            get_logger().info("visual head%s initialised from %s", " and S3D" * self.end_to_end, s2t.s2g_checkpoint)
        if s2t.g2t_checkpoint:
            state = load_task_checkpoint(s2t.g2t_checkpoint, "g2t", self.vocab.glosses)
            load_submodule(model.translator, state, "translator.", s2t.g2t_checkpoint)
            with torch.no_grad():
                model.gloss_embedding.weight.copy_(state["model"]["gloss_embedding.weight"][: model.lang_id + 1])
            get_logger().info("translator and </s>/language embeddings initialised from %s", s2t.g2t_checkpoint)

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        return {
            "task": "s2t",
            "glosses": self.vocab.glosses,
            "text_vocab_size": len(self.tokenizer),
            "input": "video" if self.end_to_end else "features",
        }

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        """``recognition_weight`` * CTC + ``translation_weight`` * label-smoothed CE."""
        if self.end_to_end:
            note_skipped(batch, self.training_counts)
            if batch["frames"] is None:  # no readable video: a weightless pass through every module (DDP)
                labels = [self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids(self.config.data.tgt_lang)]
                return 0.0 * self.loss(model, blank_video_batch(labels), device)
        inputs, lengths = self.inputs(batch, training=True)
        output = model(inputs, lengths, pad(batch["label_ids"], self.tokenizer.pad_token_id).to(device))
        recognition = ctc_loss(output.recognition.log_probs, output.recognition.lengths, batch["targets"]).loss
        weights = self.config.s2t
        return weights.recognition_weight * recognition + weights.translation_weight * output.translation_loss

    # ----- evaluation ----------------------------------------------------------------------
    def evaluate(self, model: SignToText, split: str) -> EvaluationResult:
        """Translate and recognise every example of ``split`` (sharded over ranks); BLEU, ROUGE-L and WER."""
        decoder = CTCBeamSearch(self.config.recognition.beam_size)

        def run(features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[list[int]]]:
            ids, recognition = model.generate(features, lengths, self.config.generation)
            return ids, decoder.decode(recognition.log_probs, recognition.lengths)

        return self._evaluate(model, run, split, split)

    def cascade_model(self) -> Cascade:
        """S2G (the configured checkpoint's visual head) -> G2T (the configured checkpoint), on the device."""
        s2t = self.config.s2t
        recognition = self._recognition()
        s2g = load_task_checkpoint(s2t.s2g_checkpoint, "s2g", self.vocab.glosses)
        _load_recognition(recognition, s2g, s2t.s2g_checkpoint)
        g2t = load_task_checkpoint(s2t.g2t_checkpoint, "g2t", self.vocab.glosses)
        translator = GlossToText(len(self.vocab), self.vocab.pad_id, build_translator(self.config, self.tokenizer))
        load_model_weights(translator, g2t, s2t.g2t_checkpoint)
        cascade = Cascade(recognition, translator, self.config.recognition.beam_size, self.vocab.pad_id)
        return cascade.to(self.context.device).eval()

    def evaluate_cascade(self, cascade: Cascade, split: str) -> EvaluationResult:
        """The cascade S2G (beam search) -> G2T (beam search) of :meth:`cascade_model` on ``split``."""

        def run(features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[list[int]]]:
            return cascade.generate(features, lengths, self.config.generation, self.vocab.eos_id, self.vocab.lang_id)

        return self._evaluate(cascade, run, split, f"{split}-cascade")

    def comparisons(self, split: str) -> list[EvaluationResult]:
        """The cascade S2G -> G2T on ``split`` (built once), when the config names both checkpoints."""
        if not (self.config.s2t.s2g_checkpoint and self.config.s2t.g2t_checkpoint):
            return []
        if self._cascade is None:
            self._cascade = self.cascade_model()
        return [self.evaluate_cascade(self._cascade, split)]

    @torch.no_grad()
    def _evaluate(self, model: nn.Module, run, split: str, name: str) -> EvaluationResult:
        """Score ``run(features, lengths) -> (token ids, gloss ids)`` over ``split`` as result ``name``."""
        encoded, level = self.split(split), self.config.data.level
        was_training = model.training
        model.eval()

        def translate(batch: dict) -> list[tuple[str, str]]:
            if self.end_to_end and batch["skipped"]:
                name, reason = batch["skipped"][0]
                raise VideoError(f"{split} sample {name}: {reason}")
            ids, glosses = run(*self.inputs(batch, training=False))
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            return [
                (normalise_text(t, level, lowercase=False), self.vocab.decode(g))
                for t, g in zip(texts, glosses, strict=True)
            ]

        outputs = sharded_inference(
            self.dataset(split, training=False),
            [self.example_length(e) for e in encoded.examples],
            self.config.generation.batch_size,
            self.collator(),
            translate,
            self.context,
            f"translate {name}",
            self.config.training.num_workers,
        )
        model.train(was_training)
        texts = [text for text, _ in outputs]
        metrics = translation_scores(texts, [e.text for e in encoded.examples], level)
        metrics["wer"] = corpus_wer([g for _, g in outputs], [e.reference for e in encoded.examples]).wer
        rows = [(e.name, t, e.text) for e, t in zip(encoded.examples, texts, strict=True)]
        return EvaluationResult(name, metrics, rows, dict(encoded.counts), CONVENTION + "; WER: CTC recognition")


def _load_recognition(recognition: SignToGloss, state: dict, source: str) -> None:
    """The visual head (and S3D, when ``recognition`` has one) from an S2G checkpoint."""
    load_submodule(recognition.head, state, "head.", source)
    if recognition.backbone is not None:
        load_submodule(recognition.backbone, state, "backbone.", source)
