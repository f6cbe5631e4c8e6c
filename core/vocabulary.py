"""The gloss vocabulary: gloss strings to ids and back, with the special ids every stage shares.

Glosses are whole-word tokens from a vocabulary built on the train split (or read from a file).
Id 0 is padding for sequence models and doubles as the CTC blank, which never occurs as a target.
The vocabulary alone frames gloss sequences: a translator's input ends with ``</s>`` and the
language code (:attr:`GlossVocabulary.end_ids`); CTC targets carry no special id.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from core.errors import ToolkitError

PAD, UNK, EOS = "<pad>", "<unk>", "</s>"
GLOSS_VOCAB_FILE = "gloss_vocab.txt"  # how a vocabulary file is named in a run or a pretrained-model folder


class TokenizerError(ToolkitError):
    """A vocabulary or tokenizer that cannot be loaded or does not fit the data."""


@dataclass
class EncodedGlosses:
    """Gloss ids (ending ``</s> lang`` when framed) and how many glosses were unknown."""

    ids: list[int]
    num_unknown: int


class GlossVocabulary:
    """Maps gloss strings to ids: ``<pad>``, ``<unk>``, ``</s>``, the language code, then glosses."""

    def __init__(self, glosses: list[str], lang: str) -> None:
        specials = [PAD, UNK, EOS, lang]
        clash = sorted(set(specials) & set(glosses))
        if clash:
            raise TokenizerError(f"gloss vocabulary contains reserved tokens {clash}")
        self.lang = lang
        self.itos = specials + list(glosses)
        self.stoi = {token: index for index, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise TokenizerError("gloss vocabulary contains duplicate glosses")
        self.pad_id, self.unk_id, self.eos_id, self.lang_id = range(4)

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def glosses(self) -> list[str]:
        """The gloss tokens, without the special tokens."""
        return self.itos[4:]

    @classmethod
    def build(cls, gloss_sequences: list[str], lang: str) -> GlossVocabulary:
        """Every gloss seen in ``gloss_sequences``, most frequent first (ties alphabetical)."""
        counts = Counter(g for sequence in gloss_sequences for g in sequence.split())
        return cls(sorted(counts, key=lambda g: (-counts[g], g)), lang)

    @classmethod
    def load(cls, path: str | Path, lang: str) -> GlossVocabulary:
        """Read one gloss per line (special tokens, if present, are skipped)."""
        lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
        tokens = [t for t in lines if t and t not in (PAD, UNK, EOS, lang)]
        if not tokens:
            raise TokenizerError(f"{path}: gloss vocabulary file holds no glosses")
        return cls(tokens, lang)

    def save(self, path: str | Path) -> None:
        """Write the glosses, one per line."""
        Path(path).write_text("\n".join(self.glosses) + "\n", encoding="utf-8")

    @property
    def end_ids(self) -> tuple[int, int]:
        """The ids that end a translator's gloss input: ``</s>`` and the language code."""
        return self.eos_id, self.lang_id

    def frame(self, ids: list[int]) -> list[int]:
        """``ids`` as a translator's input: followed by :attr:`end_ids`."""
        return [*ids, *self.end_ids]

    def encode(self, gloss_sequence: str, max_length: int | None = None, framed: bool = True) -> EncodedGlosses:
        """Ids of the glosses (truncated to ``max_length``), framed for a translator unless ``framed`` is off.

        Unframed ids are CTC targets.
        """
        tokens = gloss_sequence.split()[:max_length]
        ids = [self.stoi.get(token, self.unk_id) for token in tokens]
        return EncodedGlosses(self.frame(ids) if framed else ids, ids.count(self.unk_id))

    def decode(self, ids: list[int]) -> str:
        """Gloss string of ``ids``, special tokens dropped."""
        return " ".join(self.itos[i] for i in ids if i >= 4)
