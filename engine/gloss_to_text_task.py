"""The Gloss2Text task: data, vocabularies, model, loss and evaluation for the trainer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import torch
from torch import nn

from dataset.annotations import normalise_text, prepare_samples, read_annotations
from dataset.gloss_text import EncodedSplit, GlossTextCollator, encode_samples
from dataset.toy_sign_language import write_toy_dataset
from engine.config import Config
from engine.distributed import DistributedContext, barrier
from engine.inference import sharded_inference
from engine.run_logging import get_logger
from evaluation.report import EvaluationResult
from evaluation.translation_metrics import CONVENTION, translation_scores
from modelling.tokenizers import (
    GlossVocabulary,
    load_text_tokenizer,
    train_text_tokenizer,
)
from modelling.translation import GlossToText, TextTranslator, build_mbart

GLOSS_VOCAB_FILE = "gloss_vocab.txt"
TEXT_TOKENIZER_DIR = "text_tokenizer"


class GlossToTextTask:
    """Everything the trainer and prediction need to know about Gloss2Text."""

    metric = "bleu4"
    higher_is_better = True

    def __init__(self, config: Config, context: DistributedContext) -> None:
        self.config, self.context = config, context
        self.model_dir = Path(config.training.model_dir)
        self.vocab: GlossVocabulary | None = None
        self.tokenizer = None
        self._splits: dict[str, EncodedSplit] = {}

    # ----- preparation -------------------------------------------------------------------
    def prepare(self, create: bool) -> None:
        """Generate the toy data and build vocabularies if needed (rank 0, when ``create``), then load them."""
        if create and self.context.is_main:
            self._ensure_synthetic_data()
            self._build_vocabularies()
        barrier()
        data = self.config.data
        vocab_path = self.config.tokenizer.gloss_vocab or self.model_dir / GLOSS_VOCAB_FILE
        if not Path(vocab_path).is_file():
            raise FileNotFoundError(f"gloss vocabulary not found: {vocab_path} (train a model first)")
        self.vocab = GlossVocabulary.load(vocab_path, data.src_lang)
        self.tokenizer = load_text_tokenizer(self._tokenizer_dir(), data.src_lang, data.tgt_lang)

    def _tokenizer_dir(self) -> Path:
        return Path(self.config.model.pretrained or self.model_dir / TEXT_TOKENIZER_DIR)

    def _ensure_synthetic_data(self) -> None:
        synthetic, data = self.config.data.synthetic, self.config.data
        splits = ("train", "dev", "test")
        if synthetic is None or all(Path(data.split_path(s)).is_file() for s in splits):
            return
        get_logger().info("generating the toy sign language (seed %d)", synthetic.seed)
        write_toy_dataset(
            {s: data.split_path(s) for s in splits},
            {"train": synthetic.num_train, "dev": synthetic.num_dev, "test": synthetic.num_test},
            synthetic.seed,
        )

    def _build_vocabularies(self) -> None:
        self.model_dir.mkdir(parents=True, exist_ok=True)
        data, tok = self.config.data, self.config.tokenizer
        train = prepare_samples(read_annotations(data.train, data.format), data.level, data.lowercase_text).samples
        if tok.gloss_vocab is None and not (self.model_dir / GLOSS_VOCAB_FILE).is_file():
            vocab = GlossVocabulary.build([s.gloss for s in train], data.src_lang)
            vocab.save(self.model_dir / GLOSS_VOCAB_FILE)
            get_logger().info("gloss vocabulary: %d glosses from %s", len(vocab.glosses), data.train)
        tokenizer_dir = self.model_dir / TEXT_TOKENIZER_DIR
        if self.config.model.pretrained is None and not tokenizer_dir.is_dir():
            train_text_tokenizer(
                [s.text for s in train],
                tokenizer_dir,
                tok.text_vocab_size,
                tok.text_model_type,
                data.src_lang,
                data.tgt_lang,
            )
            get_logger().info("trained a sentencepiece text tokenizer on %d train texts", len(train))

    # ----- data ----------------------------------------------------------------------------
    def split(self, split: str) -> EncodedSplit:
        """The encoded examples of ``split`` (cached), with skipped and unknown counts logged."""
        if split not in self._splits:
            data = self.config.data
            prepared = prepare_samples(
                read_annotations(data.split_path(split), data.format), data.level, data.lowercase_text
            )
            encoded = encode_samples(
                prepared.samples,
                self.vocab,
                self.tokenizer,
                data.max_gloss_length,
                data.max_text_length,
                drop_too_long=split == "train",
            )
            encoded.counts = Counter({"samples": len(encoded.examples)}) + prepared.skipped + encoded.counts
            if prepared.skipped:
                get_logger().warning(
                    "%s: skipped %s (first: %s)", split, dict(prepared.skipped), ", ".join(prepared.skipped_names[:3])
                )
            self._splits[split] = encoded
        return self._splits[split]

    def collator(self) -> GlossTextCollator:
        return GlossTextCollator(self.vocab.pad_id, self.tokenizer.pad_token_id)

    @staticmethod
    def example_length(example) -> int:
        return len(example.gloss_ids) + len(example.label_ids)

    # ----- model ---------------------------------------------------------------------------
    def build_model(self) -> GlossToText:
        cfg, tokenizer = self.config.model, self.tokenizer
        mbart = build_mbart(cfg, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id)
        tgt_lang_id = tokenizer.convert_tokens_to_ids(self.config.data.tgt_lang)
        model = GlossToText(len(self.vocab), self.vocab.pad_id, TextTranslator(mbart, tgt_lang_id, cfg.label_smoothing))
        if cfg.pretrained:
            pieces = {
                self.vocab.stoi[g]: tokenizer(g.lower(), add_special_tokens=False)["input_ids"]
                for g in self.vocab.glosses
            }
            model.init_gloss_embedding(pieces)
        return model

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must agree on to be loaded into this task's model."""
        return {"task": "g2t", "glosses": self.vocab.glosses, "text_vocab_size": len(self.tokenizer)}

    @staticmethod
    def loss(model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        return model(batch["gloss_ids"].to(device), batch["gloss_mask"].to(device), batch["labels"].to(device))

    # ----- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: GlossToText, split: str) -> EvaluationResult:
        """Translate every example of ``split`` (sharded over ranks) and score the result."""
        encoded, collate, generation = self.split(split), self.collator(), self.config.generation
        device, level = self.context.device, self.config.data.level
        was_training = model.training
        model.eval()

        def translate(indices: list[int]) -> list[str]:
            batch = collate([encoded.examples[i] for i in indices])
            ids = model.generate(batch["gloss_ids"].to(device), batch["gloss_mask"].to(device), generation)
            texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            return [normalise_text(t, level, lowercase=False) for t in texts]

        lengths = [len(e.gloss_ids) for e in encoded.examples]
        hypotheses = sharded_inference(lengths, generation.batch_size, translate, self.context, f"translate {split}")
        model.train(was_training)
        references = [e.reference for e in encoded.examples]
        rows = [(e.name, h, e.reference) for e, h in zip(encoded.examples, hypotheses, strict=True)]
        return EvaluationResult(
            split, translation_scores(hypotheses, references, level), rows, dict(encoded.counts), CONVENTION
        )
