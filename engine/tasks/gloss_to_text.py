"""The Gloss2Text task: gloss input, the mBART translator, label-smoothed cross-entropy, beam search, BLEU and ROUGE."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.config import Config
from core.host_transfer import to_device
from dataset.annotations import PreparedSplit
from dataset.gloss_text import EncodedSplit, GlossTextExample
from engine.distributed import DistributedContext, run_on_main
from engine.inference import infer_split
from engine.run_logging import get_logger
from engine.task_protocol import TrainingLoss
from engine.tasks.base import TranslationTask
from engine.tasks.data_preparation import (
    encode_text_split,
    ensure_gloss_vocabulary,
    ensure_synthetic_annotations,
    load_gloss_vocabulary,
    read_split,
)
from engine.tasks.decoders import TextDecoder
from engine.tasks.input_sources import GlossInput
from engine.tasks.registry import register_task
from evaluation.report import EvaluationResult
from evaluation.scoring import score_translation
from modelling.builders import build_gloss_to_text
from modelling.mbart_pruning import load_gloss_embeddings
from modelling.tokenizers import TokenizerConfig, load_text_tokenizer, train_text_tokenizer
from modelling.translation import GlossToText
from modelling.translator_config import GenerationConfig, ModelConfig


def text_tokenizer_dir(config: Config) -> str | None:
    """The configured text tokenizer: its own directory, else the pretrained mBART's; None: train one."""
    return config.tokenizer.text_tokenizer or config.model.pretrained


@register_task("g2t", sections={"tokenizer": TokenizerConfig, "model": ModelConfig, "generation": GenerationConfig})
class GlossToTextTask(TranslationTask):
    """Everything the trainer and prediction need to know about Gloss2Text."""

    def __init__(self, config: Config, context: DistributedContext) -> None:
        super().__init__(config, context)
        self.inputs = GlossInput(context.device)  # text input has nothing to skip while training

    # ----- preparation -------------------------------------------------------------------
    def prepare(self, create: bool) -> None:
        """Generate the toy data and build vocabularies if needed (rank 0, when ``create``), then load them."""
        if create:
            run_on_main(self._create)
        data = self.config.data
        self.vocab = load_gloss_vocabulary(self.config, self.run)
        self.tokenizer = load_text_tokenizer(self._tokenizer_dir(), data.src_lang, data.tgt_lang)
        self.inputs.use_vocabularies(self.vocab, self.tokenizer.pad_token_id)

    def _tokenizer_dir(self) -> Path:
        return Path(text_tokenizer_dir(self.config) or self.run.text_tokenizer)

    def _create(self) -> None:
        """The toy annotations, the gloss vocabulary and the text tokenizer, where they are missing."""
        ensure_synthetic_annotations(self.config)
        data, tok = self.config.data, self.config.tokenizer
        train = read_split(self.config, "train")
        ensure_gloss_vocabulary(self.config, self.run, train)
        tokenizer_dir = self.run.text_tokenizer
        if text_tokenizer_dir(self.config) is None and not tokenizer_dir.is_dir():
            texts = [s.text for s in train.samples]
            train_text_tokenizer(
                texts, tokenizer_dir, tok.text_vocab_size, tok.text_model_type, data.src_lang, data.tgt_lang
            )
            get_logger().info("trained a sentencepiece text tokenizer on %d train texts", len(texts))

    # ----- data ----------------------------------------------------------------------------
    def encode(self, split: str) -> tuple[PreparedSplit, EncodedSplit]:
        """The samples of ``split`` with their gloss and label ids."""
        return encode_text_split(self.config, split, self.vocab, self.tokenizer)

    @staticmethod
    def example_length(example: GlossTextExample) -> int:
        """Training batches balance source and target lengths (evaluation sorts by the source alone)."""
        return len(example.translator_input) + len(example.label_ids)

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> GlossToText:
        model = build_gloss_to_text(self.config, self.vocab, self.tokenizer)
        if self.config.model.pretrained:
            self._init_gloss_embedding(model)
        return model

    def _init_gloss_embedding(self, model: GlossToText) -> None:
        """From the table prepare_mbart.py wrote, else from the mean of each gloss's piece embeddings."""
        table = load_gloss_embeddings(self.config.model.pretrained, self.vocab)
        if table is not None:
            with torch.no_grad():
                model.gloss_embedding.weight.copy_(table)
            get_logger().info("gloss embedding from %s", self.config.model.pretrained)
            return
        tokenizer = self.tokenizer
        pieces = {
            self.vocab.stoi[g]: tokenizer(g.lower(), add_special_tokens=False)["input_ids"] for g in self.vocab.glosses
        }
        model.init_gloss_embedding(pieces)

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        return {"task": self.name, "glosses": self.vocab.glosses, "text_vocab_size": len(self.tokenizer)}

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        """Label-smoothed cross-entropy of the text labels."""
        inputs = self.inputs.network_input(batch, training=True)
        return TrainingLoss(model(*inputs, to_device(batch["labels"], device)), {})

    # ----- evaluation ----------------------------------------------------------------------
    def evaluate(self, model: GlossToText, split: str) -> EvaluationResult:
        """Translate every example of ``split`` (sharded over ranks) and score the result."""
        encoded, generation = self.split(split), self.config.generation
        decode = TextDecoder(self.tokenizer, self.config.data.level, generation.split_final_stop)

        def translate(batch: dict, gloss_ids: torch.Tensor, gloss_mask: torch.Tensor) -> list[str]:
            return decode(model.generate(gloss_ids, gloss_mask, generation))

        examples = encoded.examples
        result = infer_split(
            model, self.inputs, examples, split, generation.batch_size, translate, self.context, f"translate {split}"
        )
        names, references = [e.name for e in examples], [e.text for e in examples]
        counts = {**encoded.counts, **result.input_counts}
        return score_translation(split, names, result.outputs, references, self.config.data.level, counts)
