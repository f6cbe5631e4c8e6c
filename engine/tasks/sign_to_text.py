"""The Sign2Text task: encoder features -> visual head -> VL mapper -> mBART, with CTC beside it.

The input is the features extract_feature.py stored (``s2t.features``) or, without them, the videos
of ``data.video`` through the encoder (S3D), trained end to end. The model starts from the best S2G
checkpoint (visual head, and the encoder end to end) and the best G2T checkpoint (translator and
the ``</s>``/language embeddings); the loss is ``recognition_weight * CTC + translation_weight *
CE``. Evaluation reports BLEU-1..4 and ROUGE-L of the translations and the WER of the recognition
branch (CTC beam search).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.config import Config, ConfigError, config_from_dict, in_range, input_path, one_of
from core.errors import ToolkitError
from core.host_transfer import to_device
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.gloss_text import EncodedSplit, pad
from dataset.video_preprocessing import VideoPreprocessing
from engine.checkpoint import load_model_weights, load_submodule, load_task_checkpoint
from engine.device import place_model
from engine.distributed import DistributedContext
from engine.inference import infer_split
from engine.run_logging import get_logger
from engine.task_protocol import TrainingLoss
from engine.tasks.base import TranslationTask
from engine.tasks.data_preparation import encode_text_split
from engine.tasks.decoders import GlossDecoder, TextDecoder
from engine.tasks.gloss_to_text import GlossToTextTask, text_tokenizer_dir
from engine.tasks.input_sources import FeatureInput, VideoInput
from engine.tasks.registry import register_task
from engine.tasks.sign_to_gloss import SignToGlossTask, load_encoder
from engine.tasks.upstream_runs import Upstream, inherit_from_upstream_runs
from evaluation.report import EvaluationResult
from evaluation.scoring import score_translation
from modelling.builders import build_cascade, build_sign_to_text
from modelling.recognition import RecognitionConfig, SignToGloss, ctc_loss
from modelling.sign_to_text import MAPPERS, Cascade, GlossProbabilityMapper, SignToText
from modelling.tokenizers import TokenizerConfig, load_text_tokenizer
from modelling.translator_config import GenerationConfig, ModelConfig


@dataclass
class SignToTextConfig:
    """How Sign2Text starts (the S2G and G2T runs, or their checkpoints), its input and its loss weights.

    ``s2g_run`` and ``g2t_run`` name the upstream run directories: their saved configs give the
    visual head's and the translator's architecture, their vocabularies and best checkpoints the
    defaults of ``tokenizer`` and of ``s2g_checkpoint``/``g2t_checkpoint`` (see
    :mod:`engine.tasks.upstream_runs`). ``features`` is the directory of ``<split>.pt`` stores
    written by extract_feature.py; without it the model runs the encoder (from the S2G checkpoint)
    on the videos of ``data.video``, trained end to end.
    """

    s2g_run: str | None = input_path()
    g2t_run: str | None = input_path()
    s2g_checkpoint: str | None = input_path()
    g2t_checkpoint: str | None = input_path()
    features: str | None = None
    # the VL mapper: mlp over the gloss features; gloss_probabilities: a bias-free linear map of the gloss
    # probabilities, its columns the G2T gloss embeddings at the start (the paper's CSL-Daily mapper)
    mapper: str = one_of("mlp", MAPPERS)
    recognition_weight: float = in_range(1.0, low=0)
    translation_weight: float = in_range(1.0, low=0)


def _s2g_tokenizer(saved: Config, run: RunDirectory) -> TokenizerConfig:
    return TokenizerConfig(gloss_vocab=saved.tokenizer.gloss_vocab or str(run.gloss_vocab))


def _g2t_tokenizer(saved: Config, run: RunDirectory) -> TokenizerConfig:
    return TokenizerConfig(text_tokenizer=text_tokenizer_dir(saved) or str(run.text_tokenizer))


UPSTREAM_RUNS = {
    "s2g_run": Upstream(SignToGlossTask.name, "recognition", _s2g_tokenizer),
    "g2t_run": Upstream(GlossToTextTask.name, "model", _g2t_tokenizer),
}

SECTIONS = {
    "tokenizer": TokenizerConfig,
    "model": ModelConfig,
    "generation": GenerationConfig,
    "recognition": RecognitionConfig,
    "s2t": SignToTextConfig,
}


@register_task("s2t", sections=SECTIONS)
class SignToTextTask(TranslationTask):
    """Everything the trainer and prediction need to know about Sign2Text."""

    def __init__(self, config: Config, context: DistributedContext) -> None:
        super().__init__(config, context)
        self.new_run = False
        self.inputs: FeatureInput | VideoInput
        if config.s2t.features is not None:
            self.inputs = FeatureInput(config.s2t.features, context.device)
        else:  # end to end
            preprocessing = VideoPreprocessing(config.data.video, config.training.seed)
            self.inputs = VideoInput(preprocessing, context.device, config.training.num_workers)
        self._cascade: Cascade | None = None

    @staticmethod
    def resolve_config(raw: dict, source: str) -> None:
        """Architecture, vocabularies and checkpoints from the runs ``s2t.s2g_run`` and ``s2t.g2t_run`` name."""
        inherit_from_upstream_runs(raw, source, UPSTREAM_RUNS)

    @staticmethod
    def check_config(config: Config, source: str) -> None:
        reads, kind = getattr(config.recognition.encoder, "reads", "video"), config.recognition.encoder.type
        if reads == "video+keypoints":
            raise ConfigError(f"{source}: Sign2Text over the two-stream network ({kind!r}) is not there yet")
        if reads != "video" and config.s2t.features is None:
            raise ConfigError(
                f"{source}: Sign2Text end to end reads videos, and the S2G encoder {kind!r} reads {reads}: "
                "extract its features (extract_feature.py) and set s2t.features"
            )
        if config.s2t.features is None and config.data.video is None:
            raise ConfigError(
                f"{source}: task s2t needs s2t.features (what extract_feature.py wrote) or, end to end, 'data.video'"
            )
        if config.tokenizer.gloss_vocab is None:
            raise ConfigError(f"{source}: task s2t needs tokenizer.gloss_vocab (the G2T/S2G run's gloss_vocab.txt)")
        if config.tokenizer.text_tokenizer is None and config.model.pretrained is None:
            raise ConfigError(f"{source}: task s2t needs tokenizer.text_tokenizer or model.pretrained")

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
    def encode(self, split: str) -> tuple[PreparedSplit, EncodedSplit]:
        """Text examples of ``split`` with their input (features or videos); samples without it are counted."""
        prepared, encoded = encode_text_split(self.config, split, self.vocab, self.tokenizer)
        encoded = self.inputs.attach(encoded, prepared, split)
        for reason in ("samples without features", "missing videos"):
            if encoded.counts[reason]:
                get_logger().warning("%s: skipped %d sample(s): %s", split, encoded.counts[reason], reason)
        return prepared, encoded

    # ----- model ---------------------------------------------------------------------------
    def encoder(self) -> nn.Module:
        """The recognition network's encoder on this task's input (a pass-through on stored features)."""
        return self.inputs.encoder(self.config.recognition.encoder)

    def video_front_end(self, model: SignToText | Cascade) -> tuple[VideoPreprocessing, nn.Module]:
        """How a video becomes the features ``model`` recognises from: the video preprocessing and the encoder.

        End to end: this task's video input and the model's own encoder; on stored features: the
        video settings and the encoder of the S2G run that computed them (``s2t.s2g_checkpoint``).
        """
        if isinstance(self.inputs, VideoInput):
            return self.inputs.preprocessing, model.recognition.encoder
        path = self.config.s2t.s2g_checkpoint
        s2g = load_task_checkpoint(path, SignToGlossTask.name, self.vocab.glosses)
        s2g_config = config_from_dict(s2g["config"], f"{path} (its config)")
        if s2g_config.data.video is None:
            raise ToolkitError(
                f"{path}: its S2G run reads keypoints, not video: translating a video with it needs landmark "
                "extraction from video, which this toolkit does not do yet"
            )
        encoder = s2g_config.recognition.encoder.build(pretrained=False)
        load_encoder(encoder, s2g, path)
        return VideoPreprocessing(s2g_config.data.video), encoder

    def build_model(self) -> SignToText:
        """The S2T network; in a new run initialised from the configured S2G and G2T checkpoints."""
        model = build_sign_to_text(self.config, self.vocab, self.tokenizer, self.encoder(), self.config.s2t.mapper)
        if self.new_run:
            self._initialise(model)
        return model

    def _initialise(self, model: SignToText) -> None:
        s2t = self.config.s2t
        if s2t.s2g_checkpoint:
            state = load_task_checkpoint(s2t.s2g_checkpoint, SignToGlossTask.name, self.vocab.glosses)
            encoder = load_recognition(model.recognition, state, s2t.s2g_checkpoint)
            get_logger().info("visual head%s initialised from %s", " and encoder" * encoder, s2t.s2g_checkpoint)
        if s2t.g2t_checkpoint:
            state = load_task_checkpoint(s2t.g2t_checkpoint, GlossToTextTask.name, None)  # a vocabulary of its own
            load_submodule(model.translator, state, "translator.", s2t.g2t_checkpoint)
            table = state["model"]["gloss_embedding.weight"]
            with torch.no_grad():  # the special rows (up to the end ids) are the same in every gloss vocabulary
                model.gloss_embedding.weight.copy_(table[: len(model.gloss_embedding.weight)])
            if isinstance(model.mapper, GlossProbabilityMapper):
                model.mapper.init_from(self._by_our_ids(table, self._translation_vocab(state)))
            get_logger().info("translator and </s>/language embeddings initialised from %s", s2t.g2t_checkpoint)

    def _translation_vocab(self, g2t: dict) -> GlossVocabulary:
        """The gloss vocabulary of a G2T checkpoint (its own, or the S2G run's)."""
        return GlossVocabulary(g2t["metadata"]["glosses"], self.config.data.src_lang)

    def _by_our_ids(self, table: torch.Tensor, theirs: GlossVocabulary) -> torch.Tensor:
        """The rows of ``table`` (in the ids of ``theirs``) of this task's glosses, by name; zero where it has none."""
        rows = table.new_zeros(len(self.vocab), table.shape[1])
        for index, token in enumerate(self.vocab.itos):
            if token in theirs.stoi:
                rows[index] = table[theirs.stoi[token]]
        return rows

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        return {
            "task": self.name,
            "glosses": self.vocab.glosses,
            "text_vocab_size": len(self.tokenizer),
            **self.inputs.metadata(),
        }

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        """``recognition_weight`` * CTC + ``translation_weight`` * label-smoothed CE; the two as its parts."""
        if not self.inputs.readable(batch, "train", self.training_counts):
            # no readable video: a weightless pass through every module, since DDP needs every rank to run
            labels = [self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids(self.config.data.tgt_lang)]
            return TrainingLoss(0.0 * self.loss(model, self.inputs.blank_batch(labels), device).total, {})
        inputs, lengths = self.inputs.network_input(batch, training=True)
        output = model(inputs, lengths, to_device(pad(batch["label_ids"], self.tokenizer.pad_token_id), device))
        recognition = ctc_loss(output.recognition.log_probs, output.recognition.lengths, batch["ctc_targets"]).loss
        weights = self.config.s2t
        total = weights.recognition_weight * recognition + weights.translation_weight * output.translation_loss
        return TrainingLoss(total, {"ctc": recognition, "translation": output.translation_loss})

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
        g2t = load_task_checkpoint(s2t.g2t_checkpoint, GlossToTextTask.name, None)  # a vocabulary of its own
        vocab = self._translation_vocab(g2t)
        cascade = build_cascade(self.config, self.vocab, self.tokenizer, self.encoder(), vocab)
        s2g = load_task_checkpoint(s2t.s2g_checkpoint, SignToGlossTask.name, self.vocab.glosses)
        load_recognition(cascade.recognition, s2g, s2t.s2g_checkpoint)
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
        decode_text = TextDecoder(self.tokenizer, level, self.config.generation.split_final_stop)

        def translate(batch: dict, inputs: torch.Tensor, lengths: torch.Tensor) -> list[tuple[str, str]]:
            ids, glosses = run(inputs, lengths)
            return list(zip(decode_text(ids), [self.vocab.decode(g) for g in glosses], strict=True))

        examples = encoded.examples
        batch_size = self.config.generation.batch_size
        result = infer_split(
            model, self.inputs, examples, split, batch_size, translate, self.context, f"translate {name}"
        )
        texts, glosses = [t for t, _ in result.outputs], [g for _, g in result.outputs]
        names = [e.name for e in examples]
        pairs = (glosses, [e.glosses for e in examples])
        counts = {**encoded.counts, **result.input_counts}
        cleanup = self.config.recognition.wer_cleanup
        return score_translation(name, names, texts, [e.text for e in examples], level, counts, pairs, cleanup)


def load_recognition(recognition: SignToGloss, state: dict, source: str) -> bool:
    """The visual head, and the encoder where it has weights, from an S2G checkpoint; whether the encoder was loaded."""
    load_submodule(recognition.head, state, "head.", source)
    if next(recognition.encoder.parameters(), None) is None:
        return False  # a pass-through of stored features
    load_encoder(recognition.encoder, state, source)
    return True
