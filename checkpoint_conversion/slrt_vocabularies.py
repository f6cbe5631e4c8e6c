"""The paper code's vocabularies (FangyunWei/SLRT ``TwoStreamNetwork``) as this toolkit's, and the row maps between.

- Recognition, ``gloss2ids.pkl`` (SingleStream; PHOENIX-2014T: 1,094 entries): ``<si>`` = 0, the CTC
  blank, then ``<unk>``, ``<pad>``, ``</s>`` and the glosses (lower-case). Ours: ``<pad>`` = 0 (the
  blank), ``<unk>``, ``</s>``, the language code, then the same glosses in the same order; the
  paper's ``<pad>`` class (never a target) takes our language code's row.
- Translation, the pruned mBART folder's ``gloss2ids.pkl`` (PHOENIX-2014T: 1,124 entries): ``<s>``,
  ``<pad>``, ``</s>``, ``<unk>``, ``<mask>``, four language codes (``zh_CN``, ``de_DE``,
  ``zh_CSL``, ``de_DGS``), then the glosses. Ours keeps ``<pad>``, ``<unk>``, ``</s>``, the paper's
  source-language code (``de_DGS``, ``zh_CSL``) as our language code, and the glosses; the other
  specials are never a translator input and are left out.
- Text, ``map_ids.pkl`` (CSL-Daily: ``old2new_vocab.pkl``): full mBART id -> pruned id, the pruned
  order ``<s> <pad> </s> <unk>``, the 25 language codes, ``<mask>``, then the pieces as first met.
  Ours is mBART's sentencepiece model pruned to the same pieces (:func:`write_pruned_spm`), which
  numbers them in mBART's order with the language codes after them.

Each conversion returns ``rows``: for each of our ids, the paper's id of the same token, so that a
paper table indexed ``[rows]`` is ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from checkpoint_conversion.foreign_files import ForeignFileError
from core.vocabulary import EOS, PAD, UNK, GlossVocabulary
from modelling.mbart_pruning import write_pruned_spm
from modelling.tokenizers import SPM_FILE, load_text_tokenizer

RECOGNITION_BLANK = "<si>"
TRANSLATION_SPECIALS = ("<s>", PAD, EOS, UNK, "<mask>")
LANGUAGE_CODE = re.compile(r"^[a-z]{2}_[A-Z]{2,3}$")  # de_DE, de_DGS, zh_CSL: never a (lower-case) gloss
PAPER_GLOSS_LANGUAGES = {"de_DE": "de_DGS", "zh_CN": "zh_CSL"}  # by the text's language


@dataclass
class ConvertedGlosses:
    """Our gloss vocabulary, for each of its ids the paper's id of the same entry, and the paper's size."""

    vocab: GlossVocabulary
    rows: list[int]
    paper_size: int


def _id_order(table: dict, source: str) -> list[str]:
    """The entries of a token -> id table by id, which must be 0..n-1, each once."""
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in table.items()):
        raise ForeignFileError(f"{source}: not a gloss -> id table (a dict of strings to integers)")
    by_id = {index: token for token, index in table.items()}
    if sorted(by_id) != list(range(len(table))):
        raise ForeignFileError(f"{source}: its ids are not 0..{len(table) - 1}, each once")
    return [by_id[index] for index in range(len(table))]


def recognition_glosses(gloss2ids: dict, lang: str, source: str) -> ConvertedGlosses:
    """The SingleStream recognition vocabulary ``gloss2ids`` as ours (``lang``: our language code)."""
    tokens = _id_order(gloss2ids, source)
    if tokens[0] != RECOGNITION_BLANK:
        raise ForeignFileError(
            f"{source}: id 0 is {tokens[0]!r}, not the SingleStream recognition blank {RECOGNITION_BLANK!r} "
            "(a TwoStream or translation gloss2ids.pkl?)"
        )
    missing = [token for token in (UNK, PAD, EOS) if token not in gloss2ids]
    others = [t for t in tokens[1:] if t.startswith("<") and t.endswith(">") and t not in (UNK, PAD, EOS)]
    if missing or others:
        raise ForeignFileError(
            f"{source}: not a SingleStream recognition vocabulary: "
            + (f"no {missing[0]}" if missing else f"it has {others[0]} (a TwoStream or translation gloss2ids.pkl?)")
        )
    glosses = [t for t in tokens[1:] if t not in (UNK, PAD, EOS)]
    rows = [0, gloss2ids[UNK], gloss2ids[EOS], gloss2ids[PAD]] + [gloss2ids[g] for g in glosses]
    return ConvertedGlosses(GlossVocabulary(glosses, lang), rows, len(tokens))


def translation_glosses(gloss2ids: dict, lang: str, paper_lang: str, source: str) -> ConvertedGlosses:
    """The translator's gloss vocabulary ``gloss2ids`` as ours; ``paper_lang`` (``de_DGS``) becomes ``lang``."""
    tokens = _id_order(gloss2ids, source)
    if paper_lang not in gloss2ids:
        raise ForeignFileError(f"{source}: no gloss-language entry {paper_lang!r}")
    missing = [token for token in (PAD, UNK, EOS) if token not in gloss2ids]
    if missing:
        raise ForeignFileError(f"{source}: not a translation gloss vocabulary: no {missing[0]}")
    glosses = [t for t in tokens if t not in TRANSLATION_SPECIALS and not LANGUAGE_CODE.match(t)]
    rows = [gloss2ids[PAD], gloss2ids[UNK], gloss2ids[EOS], gloss2ids[paper_lang]] + [gloss2ids[g] for g in glosses]
    return ConvertedGlosses(GlossVocabulary(glosses, lang), rows, len(tokens))


def _check_map_ids(map_ids: dict, source: str) -> None:
    if not isinstance(map_ids, dict) or not all(isinstance(k, int) and isinstance(v, int) for k, v in map_ids.items()):
        raise ForeignFileError(f"{source}: not an id -> id table (a dict of integers to integers)")
    if sorted(map_ids.values()) != list(range(len(map_ids))):
        raise ForeignFileError(f"{source}: its new ids are not 0..{len(map_ids) - 1}, each once")


def _full_tokenizer(mbart_dir: Path, map_ids: dict, src_lang: str, tgt_lang: str, source: str):
    if not (mbart_dir / SPM_FILE).is_file():
        raise ForeignFileError(f"{mbart_dir}: no {SPM_FILE} (the full mBART sentencepiece model its code prunes)")
    full = load_text_tokenizer(mbart_dir, src_lang, tgt_lang)
    unknown = sorted(i for i in map_ids if not 0 <= i < len(full))
    if unknown:
        raise ForeignFileError(f"{source}: id {unknown[0]} is not in the tokenizer of {mbart_dir} ({len(full)} ids)")
    return full


def write_text_tokenizer(mbart_dir: Path, map_ids: dict, output: Path, src_lang: str, tgt_lang: str) -> list[int]:
    """Write our tokenizer of the paper's pruned vocabulary ``map_ids`` into ``output``; its :func:`text_rows`.

    ``mbart_dir``: the paper's pruned mBART folder (it holds the full sentencepiece model, which its
    code prunes through ``map_ids``).
    """
    source = f"{mbart_dir}: its id map"
    _check_map_ids(map_ids, source)
    full = _full_tokenizer(mbart_dir, map_ids, src_lang, tgt_lang, source)
    output.mkdir(parents=True, exist_ok=True)
    write_pruned_spm(mbart_dir / SPM_FILE, output / SPM_FILE, set(full.convert_ids_to_tokens(list(map_ids))))
    ours = load_text_tokenizer(output, src_lang, tgt_lang)
    ours.save_pretrained(str(output))
    return _rows(full, ours, map_ids, source)


def text_rows(mbart_dir: Path, map_ids: dict, ours_dir: Path, src_lang: str, tgt_lang: str) -> list[int]:
    """For each id of our tokenizer in ``ours_dir`` (:func:`write_text_tokenizer`), the paper's pruned id."""
    source = f"{mbart_dir}: its id map"
    _check_map_ids(map_ids, source)
    full = _full_tokenizer(mbart_dir, map_ids, src_lang, tgt_lang, source)
    return _rows(full, load_text_tokenizer(ours_dir, src_lang, tgt_lang), map_ids, source)


def _rows(full, ours, map_ids: dict, source: str) -> list[int]:
    """For each id of tokenizer ``ours``, the pruned id ``map_ids`` gives its token's id in ``full``."""
    full_ids = full.convert_tokens_to_ids(ours.convert_ids_to_tokens(list(range(len(ours)))))
    rows = [map_ids.get(i) for i in full_ids]
    if len(ours) != len(map_ids) or None in rows:
        raise ForeignFileError(f"{source}: {len(map_ids)} tokens, but the tokenizer of its pieces has {len(ours)}")
    return rows
