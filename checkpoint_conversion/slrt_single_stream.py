"""The paper's SingleStream files (FangyunWei/SLRT ``TwoStreamNetwork``): S2G, G2T, S2T checkpoints to run folders.

What each stage reads (besides the checkpoint and a config of this toolkit for the paper's setup,
``experiments/configs/*_paper.yaml``, whose architecture keys are filled from the files):

- ``s2g``: the recognition ``gloss2ids.pkl`` (``--glosses``);
- ``g2t``: the pruned mBART folder (``--mbart``: ``config.json``, the full ``sentencepiece.bpe.model``,
  ``map_ids.pkl`` or ``old2new_vocab.pkl``, its ``gloss2ids.pkl``);
- ``s2t``: both, and the config's ``s2t.s2g_run`` and ``s2t.g2t_run``: the S2G and G2T runs imported
  before it, whose vocabularies and tokenizer it shares.

and ``s3d`` converts the paper's S3D start (``pretrained_models/s3ds_glosscls_ckpt``, or
``s3ds_actioncls_ckpt``) to an S3D weights file in torchvision's layout, for
``recognition.encoder.weights`` when training in the paper's setup (no config; ``--output`` a file).

The checkpoints load with ``weights_only=True`` (numpy scalars allowed, nothing that runs); a
TwoStream checkpoint is refused by name (its keypoint stream has no place in this network).
"""

from __future__ import annotations

import hashlib
import json
from argparse import ArgumentParser, Namespace
from pathlib import Path

import torch

from checkpoint_conversion import register_converter
from checkpoint_conversion.foreign_files import ForeignFileError, read_foreign_checkpoint, read_plain_pickle
from checkpoint_conversion.imported_runs import ImportedRun, set_architecture, write_run
from checkpoint_conversion.slrt_vocabularies import (
    PAPER_GLOSS_LANGUAGES,
    ConvertedGlosses,
    recognition_glosses,
    text_rows,
    translation_glosses,
    write_text_tokenizer,
)
from checkpoint_conversion.slrt_weights import (
    MAPPER,
    RECOGNITION,
    TIED_TOKEN_TABLES,
    classifier_in_our_order,
    gloss_embedding_rows,
    mapper_weights,
    recognition_weights,
    translator_weights,
)
from core.atomic_files import save_atomic
from core.config import Config, read_config_file
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from modelling.s3d import BLOCK_CHANNELS, S3DBackbone

FORMAT = "slrt-single-stream"
TWO_STREAM_KEYS = ("visual_backbone_keypoint", "visual_backbone_twostream", "visual_head_keypoint", "visual_head_fuse")
TEXT_MAPS = ("map_ids.pkl", "old2new_vocab.pkl")  # PHOENIX-2014T's name, CSL-Daily's
MBART_ARCHITECTURE = {  # our model key: the Hugging Face config's
    "d_model": "d_model",
    "encoder_layers": "encoder_layers",
    "decoder_layers": "decoder_layers",
    "attention_heads": "encoder_attention_heads",
    "ffn_dim": "encoder_ffn_dim",
    "max_position_embeddings": "max_position_embeddings",
}
MBART_FIXED = {  # what this toolkit's translator builds; a config.json with another value is refused
    "decoder_attention_heads": "encoder_attention_heads",
    "decoder_ffn_dim": "encoder_ffn_dim",
    "activation_function": "gelu",
    "scale_embedding": True,
}


@register_converter(FORMAT)
class SingleStreamConverter:
    """``import_checkpoint.py --format slrt-single-stream --stage {s2g,g2t,s2t} ...``."""

    @staticmethod
    def add_arguments(parser: ArgumentParser) -> None:
        parser.add_argument("--stage", required=True, choices=["s2g", "g2t", "s2t", "s3d"])
        parser.add_argument("--checkpoint", required=True, type=Path, help="the paper's checkpoint of that stage")
        parser.add_argument("--glosses", type=Path, help="the recognition gloss2ids.pkl (s2g, s2t)")
        parser.add_argument("--mbart", type=Path, help="the pruned mBART folder, e.g. mBart_de (g2t, s2t)")
        parser.add_argument(
            "--gloss-language", help="the gloss language token of its mBART gloss2ids (default: de_DGS, zh_CSL)"
        )

    @staticmethod
    def convert(args: Namespace) -> Path:
        if args.stage == "s3d":
            return write_s3d_weights(args.checkpoint, Path(args.output))
        if args.config is None:
            raise ForeignFileError(f"--stage {args.stage} needs --config (this toolkit's config of the paper's setup)")
        raw = read_config_file(args.config, args.override)
        if raw.get("task") != args.stage:
            raise ForeignFileError(f"{args.config}: a '{raw.get('task')}' config, not one for --stage {args.stage}")
        state, training = read_paper_checkpoint(args.checkpoint)
        _refuse_two_stream(state, args.checkpoint)
        needs = {"s2g": ["glosses"], "g2t": ["mbart"], "s2t": ["glosses", "mbart"]}[args.stage]
        missing = [name for name in needs if getattr(args, name) is None]
        if missing:
            raise ForeignFileError(f"--stage {args.stage} needs --{missing[0]}")
        build = {"s2g": _sign_to_gloss, "g2t": _gloss_to_text, "s2t": _sign_to_text}[args.stage]
        run = build(args, raw, state)
        run.training_state = training
        run.imported_from = {"format": FORMAT, "stage": args.stage, **provenance(args.checkpoint)}
        return write_run(run, Path(args.output), str(args.checkpoint))


def read_paper_checkpoint(path: Path) -> tuple[dict, dict]:
    """The checkpoint's ``model_state`` (a ``module.`` prefix of a DDP save dropped), and its step, epoch and best
    score as plain numbers."""
    checkpoint = read_foreign_checkpoint(path, "the paper's")
    if not isinstance(checkpoint.get("model_state"), dict):
        raise ForeignFileError(f"{path}: no 'model_state': not a checkpoint of the paper's code")
    state = checkpoint["model_state"]
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    counts = {"step": checkpoint.get("global_step"), "epoch": checkpoint.get("epoch")}
    training = {name: int(value) for name, value in counts.items() if value is not None}
    if checkpoint.get("best_score") is not None:
        training["best_score"] = float(checkpoint["best_score"])
    return state, training


def _refuse_two_stream(state: dict, path: Path) -> None:
    two_stream = next((key for key in state if any(part in key for part in TWO_STREAM_KEYS)), None)
    if two_stream is not None:
        raise ForeignFileError(
            f"{path}: a TwoStream checkpoint ({two_stream}), not the SingleStream format: "
            "import it with --format slrt-two-stream"
        )


def write_s3d_weights(source: Path, output: Path) -> Path:
    """The paper's S3D start (a file, or its folder of one ``*.pth.tar``/``*.pt``) as torchvision-layout weights."""
    if output.exists():
        raise ForeignFileError(f"{output} exists: choose a new file for the S3D weights")
    if source.is_dir():
        found = sorted([*source.glob("*.pth.tar"), *source.glob("*.pt")])
        if len(found) != 1:
            raise ForeignFileError(f"{source}: expected one *.pth.tar or *.pt file in it, found {len(found)}")
        source = found[0]
    checkpoint = read_foreign_checkpoint(source, "the paper's")
    state = checkpoint.get("state_dict") or checkpoint.get("model_state") or checkpoint  # or a trained S2G's
    layers = {key[key.index("base.") :]: value for key, value in state.items() if "base." in key}
    if not layers:
        raise ForeignFileError(f"{source}: no S3D tensors (base.<i>.*): not the paper's S3D weights")
    weights = recognition_weights({f"visual_backbone.backbone.{k}": v for k, v in layers.items()}, str(source))
    weights = {name[len("encoder.") :]: tensor for name, tensor in weights.items()}
    backbone = S3DBackbone(_use_block(set(weights), str(source)), 0)
    try:
        backbone.load_state_dict(weights)  # every tensor of those blocks, at its shape
    except RuntimeError as error:
        raise ForeignFileError(f"{source}: its S3D tensors do not fit S3D: {str(error).splitlines()[1]}") from error
    output.parent.mkdir(parents=True, exist_ok=True)
    save_atomic(weights, output)
    return output


def provenance(path: Path) -> dict:
    """The file and its SHA-256, recorded with the imported run."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return {"file": str(path), "sha256": digest.hexdigest()}


def recognition_vocabulary(args: Namespace, raw: dict) -> ConvertedGlosses:
    """The recognition vocabulary of ``--glosses`` in our order (and the row map from the paper's)."""
    source = str(args.glosses)
    return recognition_glosses(read_plain_pickle(args.glosses, "a gloss vocabulary"), _src_lang(raw), source)


def _src_lang(raw: dict) -> str:
    return raw.get("data", {}).get("src_lang", "de_DE")


def _use_block(names: set[str], source: str) -> int:
    """The number of S3D blocks whose tensors are exactly those ``names`` (an S3D backbone's own)."""
    for use_block in range(1, 6):
        if set(S3DBackbone(use_block, 0).state_dict()) == names:
            return use_block
    raise ForeignFileError(f"{source}: its S3D tensors are those of no number of S3D blocks (1-5)")


def head_architecture(raw: dict, weights: dict[str, torch.Tensor], source: str, head: str = "head.") -> None:
    """The visual head's settings in ``raw`` from the converted ``weights`` (of the head under ``head``)."""
    set_architecture(raw, "recognition.head_variant", "paper", source)
    set_architecture(raw, "recognition.hidden_dim", int(weights[f"{head}projection.weight"].shape[0]), source)
    set_architecture(raw, "recognition.ff_dim", int(weights[f"{head}conv1.weight"].shape[0]), source)
    set_architecture(raw, "data.lowercase_glosses", True, source)


def _sign_to_gloss(args: Namespace, raw: dict, state: dict) -> ImportedRun:
    source = str(args.checkpoint)
    glosses = recognition_vocabulary(args, raw)
    weights = classifier_in_our_order(recognition_weights(state, source, RECOGNITION), glosses.rows, source)
    encoder = {name: tensor for name, tensor in weights.items() if name.startswith("encoder.")}
    if not encoder:
        raise ForeignFileError(f"{source}: no S3D tensors ({RECOGNITION}visual_backbone.): not an S2G checkpoint")
    head_architecture(raw, weights, source)
    set_architecture(raw, "recognition.encoder.type", "s3d", source)
    use_block = _use_block({name[len("encoder.") :] for name in encoder}, source)
    set_architecture(raw, "recognition.encoder.use_block", use_block, source)
    raw["recognition"]["encoder"]["weights"] = None  # all weights come from the checkpoint
    raw.setdefault("tokenizer", {})["gloss_vocab"] = None  # the run's own

    def vocabularies(run: RunDirectory, config: Config) -> None:
        glosses.vocab.save(run.gloss_vocab)

    return ImportedRun(raw, weights, vocabularies)


def _mbart_files(args: Namespace, raw: dict) -> tuple[dict, dict, ConvertedGlosses]:
    """The pruned mBART folder's architecture (config.json), its id map and its translation glosses, as ours."""
    folder: Path = args.mbart
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ForeignFileError(f"{folder}: no config.json (the pruned mBART folder, e.g. mBart_de)")
    mbart = json.loads(config_path.read_text(encoding="utf-8"))
    id_map = next((folder / name for name in TEXT_MAPS if (folder / name).is_file()), None)
    if id_map is None:
        raise ForeignFileError(f"{folder}: neither {' nor '.join(TEXT_MAPS)} (its text vocabulary)")
    map_ids = read_plain_pickle(id_map, "an mBART id map")
    data = raw.get("data", {})
    paper_lang = args.gloss_language or PAPER_GLOSS_LANGUAGES.get(data.get("tgt_lang", "de_DE"))
    if paper_lang is None:
        known = ", ".join(f"{text} -> {gloss}" for text, gloss in PAPER_GLOSS_LANGUAGES.items())
        raise ForeignFileError(
            f"--gloss-language: none given, and none known for data.tgt_lang {data.get('tgt_lang')} ({known})"
        )
    gloss2ids = read_plain_pickle(folder / "gloss2ids.pkl", "a gloss vocabulary")
    glosses = translation_glosses(gloss2ids, _src_lang(raw), paper_lang, str(folder / "gloss2ids.pkl"))
    return mbart, map_ids, glosses


def _translator_architecture(raw: dict, mbart: dict, source: str) -> None:
    for ours, theirs in MBART_ARCHITECTURE.items():
        set_architecture(raw, f"model.{ours}", mbart[theirs], source)
    for key, expected in MBART_FIXED.items():
        wanted = mbart[expected] if expected in mbart else expected
        if mbart.get(key) != wanted:
            raise ForeignFileError(f"{source}: {key} {mbart.get(key)!r}: this toolkit's translator has {wanted!r}")
    set_architecture(raw, "model.input_scale", "paper", source)
    set_architecture(raw, "data.lowercase_glosses", True, source)
    raw["model"]["pretrained"] = None  # all weights come from the checkpoint


def _gloss_to_text(args: Namespace, raw: dict, state: dict) -> ImportedRun:
    source = str(args.checkpoint)
    mbart, map_ids, glosses = _mbart_files(args, raw)
    _translator_architecture(raw, mbart, str(args.mbart / "config.json"))
    raw.setdefault("tokenizer", {}).update(gloss_vocab=None, text_tokenizer=None)  # the run's own
    data = raw.get("data", {})
    src_lang, tgt_lang = _src_lang(raw), data.get("tgt_lang", "de_DE")
    weights: dict = {}

    def vocabularies(run: RunDirectory, config: Config) -> None:
        glosses.vocab.save(run.gloss_vocab)
        rows = write_text_tokenizer(args.mbart, map_ids, run.text_tokenizer, src_lang, tgt_lang)
        weights.update(translator_weights(state, rows, source))
        weights["gloss_embedding.weight"] = gloss_embedding_rows(state, glosses.rows, glosses.paper_size, source)

    return ImportedRun(raw, weights, vocabularies, _aliases())


def _aliases() -> tuple[str, ...]:
    return tuple(f"translator.mbart.{name}" for name in (*TIED_TOKEN_TABLES, "lm_head.weight"))


def _sign_to_text(args: Namespace, raw: dict, state: dict) -> ImportedRun:
    source = str(args.checkpoint)
    recognition = recognition_vocabulary(args, raw)
    mbart, map_ids, translation = _mbart_files(args, raw)
    _translator_architecture(raw, mbart, str(args.mbart / "config.json"))
    weights = classifier_in_our_order(recognition_weights(state, source, RECOGNITION), recognition.rows, source)
    if any(name.startswith("encoder.") for name in weights):
        raise ForeignFileError(f"{source}: it holds S3D weights: the paper's S2T checkpoints run on features")
    head_architecture(raw, weights, source)
    width = int(weights["head.projection.weight"].shape[1])
    blocks = {channels: block for block, channels in BLOCK_CHANNELS.items()}
    if width not in blocks:
        raise ForeignFileError(f"{source}: its visual head reads {width} features, what no number of S3D blocks gives")
    set_architecture(raw, "recognition.encoder.use_block", blocks[width], source)  # the S2G run's features
    weights = {f"recognition.{name}": tensor for name, tensor in weights.items()}
    if not any(key.startswith(MAPPER) for key in state):
        raise ForeignFileError(f"{source}: no {MAPPER} tensors: not an S2T checkpoint")
    mapper = mapper_weights(state, recognition.rows, source)
    kind = "gloss_probabilities" if "mapper.embeddings.weight" in mapper else "mlp"
    set_architecture(raw, "s2t.mapper", kind, source)
    weights |= mapper
    ends = translation.rows[:4]  # pad, unk, </s> and the language code: the rows S2T uses
    weights["gloss_embedding.weight"] = gloss_embedding_rows(state, ends, translation.paper_size, source)

    def vocabularies(run: RunDirectory, config: Config) -> None:
        """Nothing to write: the S2G run's vocabulary (the same glosses) and the G2T run's tokenizer serve."""
        shared = config.tokenizer.gloss_vocab
        if GlossVocabulary.load(shared, config.data.src_lang).glosses != recognition.vocab.glosses:
            raise ForeignFileError(
                f"{args.glosses}: its glosses differ from those of {shared}, the S2T run's "
                "(import the S2G checkpoint with it, and name that run s2t.s2g_run)"
            )
        tokenizer, data = config.tokenizer.text_tokenizer, config.data
        rows = text_rows(args.mbart, map_ids, Path(tokenizer), data.src_lang, data.tgt_lang)
        weights.update(translator_weights(state, rows, source))

    return ImportedRun(raw, weights, vocabularies, _aliases())
