"""The spoken-language text tokenizer and the ``tokenizer`` config section (glosses: :mod:`core.vocabulary`).

Text uses mBART's sentencepiece tokenizer: from a local pretrained mBART directory, or, without
one, from a sentencepiece model trained on the train texts and wrapped in the same
``MBartTokenizer`` class, so both cases take one code path (``X </s> lang`` sequences).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sentencepiece
from transformers import MBartTokenizer

from core.config import in_range, input_path, one_of
from core.vocabulary import TokenizerError

SPM_FILE = "sentencepiece.bpe.model"


@dataclass
class TokenizerConfig:
    """Gloss vocabulary and text tokenizer sources; unset means build from the train split."""

    gloss_vocab: str | None = input_path()
    text_tokenizer: str | None = input_path()
    text_vocab_size: int = in_range(3000, low=8)
    text_model_type: str = one_of("unigram", ("unigram", "bpe"))


def load_text_tokenizer(directory: str | Path, src_lang: str, tgt_lang: str) -> MBartTokenizer:
    """The mBART tokenizer saved in ``directory`` (a pretrained mBART or one written by us)."""
    directory = Path(directory)
    if not any((directory / name).is_file() for name in (SPM_FILE, "tokenizer.json")):
        raise TokenizerError(f"{directory}: no tokenizer found (expected {SPM_FILE} or tokenizer.json)")
    tokenizer = MBartTokenizer.from_pretrained(str(directory), src_lang=src_lang, tgt_lang=tgt_lang)
    if tgt_lang not in tokenizer.get_vocab():
        raise TokenizerError(f"{directory}: tokenizer has no language code '{tgt_lang}'")
    return tokenizer


def train_text_tokenizer(
    texts: list[str], directory: str | Path, vocab_size: int, model_type: str, src_lang: str, tgt_lang: str
) -> MBartTokenizer:
    """Train a sentencepiece model on ``texts`` and save it as an mBART tokenizer in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        prefix = Path(scratch) / "spm"
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts),
            model_prefix=str(prefix),
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            hard_vocab_limit=False,
            num_threads=1,
            minloglevel=2,
        )
        shutil.copy(f"{prefix}.model", directory / SPM_FILE)
    tokenizer = load_text_tokenizer(directory, src_lang, tgt_lang)
    tokenizer.save_pretrained(str(directory))
    return tokenizer
