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

import torch
from torch import nn

from core.config import Config
from core.host_transfer import to_device
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.feature_store import load_store
from dataset.gloss_text import EncodedSplit, pad
from dataset.sign_text import FeatureTextExample, attach_features
from dataset.sign_video import VideoExample, attach_videos
from dataset.video_preprocessing import VideoPreprocessing
from dataset.video_reader import VideoSource
from engine.checkpoint import load_model_weights, load_submodule, load_task_checkpoint
from engine.data_preparation import encode_text_split
from engine.decoders import GlossDecoder, TextDecoder
from engine.device import place_model
from engine.distributed import DistributedContext
from engine.gloss_to_text_task import text_tokenizer_dir
from engine.inference import infer_split
from engine.input_sources import FeatureInput, InputSource, VideoInput
from engine.run_logging import get_logger
from evaluation.report import EvaluationResult
from evaluation.scoring import score_translation
from modelling.builders import build_cascade, build_sign_to_text
from modelling.recognition import SignToGloss, ctc_loss
from modelling.sign_to_text import Cascade, SignToText
from modelling.tokenizers import load_text_tokenizer


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
        self.inputs: InputSource = FeatureInput(context.device)
        self.videos: VideoSource | None = None
        if self.end_to_end:
            preprocessing = VideoPreprocessing(config.data.video, config.training.seed)
            self.inputs = VideoInput(preprocessing, context.device, config.training.num_workers)
            self.videos = preprocessing.source
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
                frames = {s.name: s.num_frames for s in prepared.samples}
                encoded = attach_videos(encoded, frames, split, self.videos, split == "train")
            else:
                store = load_store(self.config.s2t.features, split)
                encoded = attach_features(encoded, store["features"], split, skip_missing=split == "train")
            for reason in ("samples without features", "missing videos"):
                if encoded.counts[reason]:
                    get_logger().warning("%s: skipped %d sample(s): %s", split, encoded.counts[reason], reason)
            encoded.counts = Counter({"samples": len(encoded.examples)}) + prepared.skipped + encoded.counts
            self._splits[split] = encoded
        return self._splits[split]

    def dataset(self, split: str, training: bool = True):
        """What the DataLoader iterates over: feature examples, or videos (time rescaled when ``training``)."""
        return self.inputs.dataset(self.split(split).examples, training)

    def collator(self):
        return self.inputs.collator()

    def example_length(self, example: FeatureTextExample | VideoExample) -> int:
        return self.inputs.length(example)

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> SignToText:
        """The S2T network; in a new run initialised from the configured S2G and G2T checkpoints."""
        model = build_sign_to_text(self.config, self.vocab, self.tokenizer, on_video=self.end_to_end)
        if self.new_run:
            self._initialise(model)
        return model

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
                rows = len(model.gloss_embedding.weight)  # up to the end ids
                model.gloss_embedding.weight.copy_(state["model"]["gloss_embedding.weight"][:rows])
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
        if not self.inputs.readable(batch, "train", self.training_counts):
            # no readable video: a weightless pass through every module, since DDP needs every rank to run
            labels = [self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids(self.config.data.tgt_lang)]
            return 0.0 * self.loss(model, self.inputs.blank_batch(labels), device)
        inputs, lengths = self.inputs.network_input(batch, training=True)
        output = model(inputs, lengths, to_device(pad(batch["label_ids"], self.tokenizer.pad_token_id), device))
        recognition = ctc_loss(output.recognition.log_probs, output.recognition.lengths, batch["targets"]).loss
        weights = self.config.s2t
        return weights.recognition_weight * recognition + weights.translation_weight * output.translation_loss

    # ----- evaluation ----------------------------------------------------------------------
    def evaluate(self, model: SignToText, split: str) -> EvaluationResult:
        """Translate and recognise every example of ``split`` (sharded over ranks); BLEU, ROUGE-L and WER."""
        decode_glosses = GlossDecoder(self.vocab, self.config.recognition.beam_size)

        def run(inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[list[int]]]:
            ids, recognition = model.generate(inputs, lengths, self.config.generation)
            return ids, decode_glosses.ids(recognition)

        return self._evaluate(model, run, split, split)

    def cascade_model(self) -> Cascade:
        """S2G (the configured checkpoint's recognition network) -> G2T (the configured checkpoint), on the device."""
        s2t = self.config.s2t
        cascade = build_cascade(self.config, self.vocab, self.tokenizer, on_video=self.end_to_end)
        s2g = load_task_checkpoint(s2t.s2g_checkpoint, "s2g", self.vocab.glosses)
        _load_recognition(cascade.recognition, s2g, s2t.s2g_checkpoint)
        g2t = load_task_checkpoint(s2t.g2t_checkpoint, "g2t", self.vocab.glosses)
        load_model_weights(cascade.translator, g2t, s2t.g2t_checkpoint)
        return place_model(cascade, self.context.device).eval()

    def evaluate_cascade(self, cascade: Cascade, split: str) -> EvaluationResult:
        """The cascade S2G (beam search) -> G2T (beam search) of :meth:`cascade_model` on ``split``."""

        def run(inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, list[list[int]]]:
            return cascade.generate(inputs, lengths, self.config.generation)

        return self._evaluate(cascade, run, split, f"{split}-cascade")

    def comparisons(self, split: str) -> list[EvaluationResult]:
        """The cascade S2G -> G2T on ``split`` (built once), when the config names both checkpoints."""
        if not (self.config.s2t.s2g_checkpoint and self.config.s2t.g2t_checkpoint):
            return []
        if self._cascade is None:
            self._cascade = self.cascade_model()
        return [self.evaluate_cascade(self._cascade, split)]

    def _evaluate(self, model: nn.Module, run, split: str, name: str) -> EvaluationResult:
        """Score ``run(inputs, lengths) -> (token ids, gloss ids)`` over ``split`` as result ``name``."""
        encoded, level = self.split(split), self.config.data.level
        decode_text = TextDecoder(self.tokenizer, level)

        def translate(batch: dict, inputs: torch.Tensor, lengths: torch.Tensor) -> list[tuple[str, str]]:
            ids, glosses = run(inputs, lengths)
            return list(zip(decode_text(ids), [self.vocab.decode(g) for g in glosses], strict=True))

        examples = encoded.examples
        batch_size = self.config.generation.batch_size
        outputs = infer_split(
            model, self.inputs, examples, split, batch_size, translate, self.context, f"translate {name}"
        )
        texts, glosses = [t for t, _ in outputs], [g for _, g in outputs]
        references = [e.text for e in examples]
        gloss_references = [e.reference for e in examples]
        names = [e.name for e in examples]
        cleanup = self.config.recognition.wer_cleanup
        pairs = (glosses, gloss_references)
        return score_translation(name, names, texts, references, level, encoded.counts, pairs, cleanup)


def _load_recognition(recognition: SignToGloss, state: dict, source: str) -> None:
    """The visual head (and S3D, when ``recognition`` has one) from an S2G checkpoint."""
    load_submodule(recognition.head, state, "head.", source)
    if recognition.backbone is not None:
        load_submodule(recognition.backbone, state, "backbone.", source)
