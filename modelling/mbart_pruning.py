"""A compact mBART for one dataset: the vocabulary pruned to the pieces its texts use, plus gloss embeddings.

mbart-large-cc25 has 250k sentencepiece pieces; one dataset's texts use a few thousand. Pruning
keeps mBART's special tokens, every language code and the pieces of the train texts, writes a
sentencepiece model holding only those pieces (so the tokenizer's ids are contiguous again) and
slices the embedding, output and bias rows to match: over the kept tokens the pruned model computes
exactly what the full one does. The gloss embedding table is made before pruning, from the full
vocabulary: each gloss's row is the mean of mBART's embeddings of its (lower-cased) pieces.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from sentencepiece import sentencepiece_model_pb2
from transformers import MBartForConditionalGeneration

from core.errors import ToolkitError
from core.vocabulary import GLOSS_VOCAB_FILE, GlossVocabulary, TokenizerError
from modelling.tokenizers import SPM_FILE, load_text_tokenizer

GLOSS_EMBEDDINGS_FILE = "gloss_embeddings.pt"
NORMAL_PIECE = sentencepiece_model_pb2.ModelProto.SentencePiece.NORMAL
VOCAB_SIZED = ("model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight")


@dataclass
class PruneSummary:
    """Sizes before and after, and where the result went."""

    vocab_before: int
    vocab_after: int
    glosses: int
    output_dir: str


def kept_token_ids(tokenizer, texts: list[str]) -> list[int]:
    """Ids to keep, ascending: the special tokens (language codes, ``<mask>``) and the pieces of ``texts``."""
    used = {i for ids in tokenizer(texts, add_special_tokens=False)["input_ids"] for i in ids}
    return sorted(used | set(tokenizer.convert_tokens_to_ids(tokenizer.all_special_tokens)))


def write_pruned_spm(source: Path, target: Path, keep_pieces: set[str]) -> None:
    """Copy the sentencepiece model at ``source`` keeping control/unknown pieces and ``keep_pieces``."""
    model = sentencepiece_model_pb2.ModelProto()
    model.ParseFromString(source.read_bytes())
    kept = [p for p in model.pieces if p.type != NORMAL_PIECE or p.piece in keep_pieces]
    del model.pieces[:]
    model.pieces.extend(kept)
    target.write_bytes(model.SerializeToString())


def gloss_embedding_table(model: MBartForConditionalGeneration, tokenizer, vocab: GlossVocabulary) -> torch.Tensor:
    """Rows for the gloss vocabulary: pad 0, unk/eos/language from mBART's tokens, glosses = mean of pieces."""
    table = model.get_input_embeddings().weight.detach()
    rows = torch.zeros(len(vocab), table.shape[1])
    for index, token in ((vocab.unk_id, tokenizer.unk_token), (vocab.eos_id, tokenizer.eos_token)):
        rows[index] = table[tokenizer.convert_tokens_to_ids(token)]
    rows[vocab.lang_id] = table[tokenizer.convert_tokens_to_ids(vocab.lang)]
    for gloss in vocab.glosses:
        pieces = tokenizer(gloss.lower(), add_special_tokens=False)["input_ids"]
        rows[vocab.stoi[gloss]] = table[pieces].mean(dim=0) if pieces else table[tokenizer.unk_token_id]
    return rows


def prune_mbart(
    source_dir: str | Path,
    output_dir: str | Path,
    texts: list[str],
    glosses: list[str],
    src_lang: str,
    tgt_lang: str,
) -> PruneSummary:
    """Write the pruned model, its tokenizer, ``gloss_vocab.txt`` and ``gloss_embeddings.pt`` to ``output_dir``."""
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    if output_dir.exists():
        raise ToolkitError(f"{output_dir} exists: choose a new output directory")
    if not (source_dir / SPM_FILE).is_file():
        raise TokenizerError(f"{source_dir}: no sentencepiece model ({SPM_FILE}) to prune")
    tokenizer = load_text_tokenizer(source_dir, src_lang, tgt_lang)
    model = MBartForConditionalGeneration.from_pretrained(str(source_dir))
    vocab = GlossVocabulary.build(glosses, src_lang)
    keep = kept_token_ids(tokenizer, texts)
    partial = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        pieces = {tokenizer.convert_ids_to_tokens(i) for i in keep}
        write_pruned_spm(source_dir / SPM_FILE, partial / SPM_FILE, pieces)
        pruned_tokenizer = load_text_tokenizer(partial, src_lang, tgt_lang)
        _check_same_pieces(tokenizer, pruned_tokenizer, keep, texts, source_dir)
        _prune_model(model, torch.tensor(keep)).save_pretrained(str(partial))
        pruned_tokenizer.save_pretrained(str(partial))
        vocab.save(partial / GLOSS_VOCAB_FILE)
        table = gloss_embedding_table(model, tokenizer, vocab)
        torch.save({"glosses": vocab.glosses, "lang": vocab.lang, "weight": table}, partial / GLOSS_EMBEDDINGS_FILE)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(output_dir)
    return PruneSummary(len(tokenizer), len(keep), len(vocab.glosses), str(output_dir))


def _check_same_pieces(full, pruned, keep: list[int], texts: list[str], source: Path) -> None:
    """The pruned tokenizer must number the kept pieces 0..n-1 in order and split ``texts`` the same way."""
    new_ids = [pruned.convert_tokens_to_ids(full.convert_ids_to_tokens(i)) for i in keep]
    old_to_new = dict(zip(keep, new_ids, strict=True))
    before = full(texts, add_special_tokens=False)["input_ids"]
    after = pruned(texts, add_special_tokens=False)["input_ids"]
    if new_ids != list(range(len(keep))) or after != [[old_to_new[i] for i in ids] for ids in before]:
        raise TokenizerError(f"{source}: the pruned tokenizer does not reproduce the full one's pieces")


def _prune_model(model: MBartForConditionalGeneration, keep: torch.Tensor) -> MBartForConditionalGeneration:
    """A copy of ``model`` whose vocabulary is the rows ``keep`` of the original one."""
    state = model.state_dict()
    for key in VOCAB_SIZED:
        state[key] = state[key][keep].clone()
    state["lm_head.weight"] = state["model.shared.weight"]
    state["final_logits_bias"] = state["final_logits_bias"][:, keep].clone()
    config = model.config.to_dict()
    config["vocab_size"] = len(keep)
    pruned = MBartForConditionalGeneration(type(model.config).from_dict(config))
    pruned.load_state_dict(state)
    return pruned


def load_gloss_embeddings(directory: str | Path, vocab: GlossVocabulary) -> torch.Tensor | None:
    """The prepared gloss embedding table of ``directory`` if it was made for ``vocab``, else None."""
    path = Path(directory) / GLOSS_EMBEDDINGS_FILE
    if not path.is_file():
        return None
    content = torch.load(path, map_location="cpu", weights_only=True)
    return content["weight"] if content["glosses"] == vocab.glosses and content["lang"] == vocab.lang else None
