"""The paper code's network weights (FangyunWei/SLRT ``TwoStreamNetwork``, SingleStream) in our names.

The paper's checkpoints hold its model under ``model_state``:

- ``recognition_network.``: S3D, ``visual_backbone.backbone.base.{i}.``: the same layers at the
  same indices as :class:`~modelling.s3d.S3DBackbone`'s ``features.{i}.``, its convolution/batch-norm
  pairs named ``conv``/``bn`` (``conv_s``/``bn_s``, ``conv_t``/``bn_t`` in the separable ones) where
  ours are numbered as torchvision's; the visual head, ``visual_head.``: ``fc1``, ``bn1.norm``,
  ``feedforward.layer_norm``, ``feedforward.pwff_layer.0``/``.3``, ``layer_norm``,
  ``gloss_output_layer``, and the positional table ``pe.pe`` (a buffer of the formula
  :func:`~modelling.visual_head.sinusoidal_positions` computes, checked and left out). It loads into
  :class:`~modelling.visual_head.VisualHead` of variant ``paper``. Released Sign2Text checkpoints
  hold the visual head alone (they run on extracted features).
- ``translation_network.model.``: the Hugging Face mBART, its vocabulary rows in the paper's pruned
  order (:mod:`checkpoint_conversion.slrt_vocabularies` gives ours); ``translation_network.gloss_embedding``.
- ``vl_mapper.mapping.``: the Sign2Text mapper, ``0``/``2`` (an MLP) or one bias-free matrix over
  the gloss probabilities.

TwoStream S2G checkpoints (:func:`two_stream_weights`) hold, under ``recognition_network.``,
``visual_backbone_twostream.``: each stream's S3D (``rgb_stream.backbone.base.``,
``pose_stream.backbone.base.``) and pyramid (``*_stream.pyramid.upsample_layers.{j}.``: ``conv_trans_s``,
``bn_s``, ``conv_trans_t``, ``bn_t``), and the lateral connections (``rgb_stream_lateral.{k}.conv``:
keypoints -> video; ``pose_stream_lateral.{k}.conv``: video -> keypoints); and the visual heads
``visual_head`` (video), ``visual_head_keypoint``, ``visual_head_fuse``, ``visual_head_remain.{j}``
and ``visual_head_keypoint_remain.{j}`` (the auxiliary ones), each laid out as above.

A key that maps to nothing of ours is one :class:`PaperWeightsError` naming it; :func:`load_exactly`
then holds the network to the converted tensors, each at its shape.
"""

from __future__ import annotations

import re

import torch
from torch import nn

from core.errors import ToolkitError
from modelling.visual_head import sinusoidal_positions

RECOGNITION = "recognition_network."
S3D_PREFIX = "visual_backbone.backbone.base."
HEAD_PREFIX = "visual_head."
HEAD_NAMES = {
    "fc1.": "projection.",
    "bn1.norm.": "norm.",
    "feedforward.layer_norm.": "ff_norm.",
    "feedforward.pwff_layer.0.": "conv1.",
    "feedforward.pwff_layer.3.": "conv2.",
    "layer_norm.": "layer_norm.",
    "gloss_output_layer.": "classifier.",
}
S3D_NAMES = [  # (the paper's, ours) inside a layer: separable pairs, plain pairs, then branch 0's lone pair
    (r"\.conv_s\.", ".0.0."),
    (r"\.bn_s\.", ".0.1."),
    (r"\.conv_t\.", ".1.0."),
    (r"\.bn_t\.", ".1.1."),
    (r"\.conv\.", ".0."),
    (r"\.bn\.", ".1."),
    (r"\.branch0\.0\.(\d)\.", r".branch0.\1."),
]
TRANSLATOR = "translation_network.model."
GLOSS_EMBEDDING = "translation_network.gloss_embedding.weight"
MAPPER = "vl_mapper.mapping."
# mBART's vocabulary-sized tensors: one table, tied (a file may hold each name or only some)
TIED_TOKEN_TABLES = ("model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight")
VOCAB_ROWS = (*TIED_TOKEN_TABLES, "lm_head.weight")
CLASSIFIER_ENDS = ("classifier.weight", "classifier.bias")
TWO_STREAM_BACKBONE = "visual_backbone_twostream."
TWO_STREAM_PARTS = {  # the paper's prefix inside visual_backbone_twostream.: ours inside the network's encoder.
    "rgb_stream.backbone.base.": "video.",
    "pose_stream.backbone.base.": "keypoints.backbone.",
    "rgb_stream.pyramid.upsample_layers.": "video_pyramid.steps.",
    "pose_stream.pyramid.upsample_layers.": "keypoint_pyramid.steps.",
    "rgb_stream_lateral.": "to_video.",
    "pose_stream_lateral.": "to_keypoints.",
}
PYRAMID_NAMES = {
    "conv_trans_s.": "spatial.",
    "bn_s.": "spatial_norm.0.",
    "conv_trans_t.": "temporal.",
    "bn_t.": "temporal_norm.0.",
}
TWO_STREAM_HEADS = {  # longest first: the paper's head prefixes share their starts
    "visual_head_keypoint_remain.": "aux_heads.keypoints.",
    "visual_head_remain.": "aux_heads.video.",
    "visual_head_keypoint.": "heads.keypoints.",
    "visual_head_fuse.": "heads.fusion.",
    "visual_head.": "heads.video.",
}


class PaperWeightsError(ToolkitError):
    """A tensor of the paper's checkpoint that has no place in this toolkit's network, or of another size."""


def _two_stream_name(key: str) -> str | None:
    """Our name of the paper's ``visual_backbone_twostream.`` tensor ``key`` (inside it); None if it has none."""
    for theirs, ours in TWO_STREAM_PARTS.items():
        if not key.startswith(theirs):
            continue
        rest = key[len(theirs) :]
        if ours.endswith("steps."):
            step, _, inner = rest.partition(".")
            name = next((o + inner[len(t) :] for t, o in PYRAMID_NAMES.items() if inner.startswith(t)), None)
            return None if name is None else f"encoder.{ours}{step}.{name}"
        if ours.startswith("to_"):
            return f"encoder.{ours}{rest.replace('.conv.', '.')}"
        return "encoder." + ours + _s3d_name(rest)
    return None


def _two_stream_head_name(key: str, source: str) -> str | None:
    """Our name of the paper's two-stream head tensor ``key``; None for its positional buffers (checked)."""
    for theirs, ours in TWO_STREAM_HEADS.items():
        if not key.startswith(theirs):
            continue
        rest = key[len(theirs) :]
        index, _, inner = rest.partition(".") if ours.startswith("aux") else ("", "", rest)
        if inner == "pe.pe":
            return None
        name = _head_name(inner)
        if name is not None:
            return f"{ours}{index}.{name}" if index else ours + name
    raise PaperWeightsError(f"{source}: {RECOGNITION}{key}: not a tensor of the paper's two-stream network")


def two_stream_weights(paper_state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """The ``recognition_network.`` entries of a TwoStream S2G checkpoint as a two-stream network's state dict."""
    ours: dict[str, torch.Tensor] = {}
    for key, tensor in paper_state.items():
        if not key.startswith(RECOGNITION):
            continue
        key = key[len(RECOGNITION) :]
        if key.startswith(TWO_STREAM_BACKBONE):
            name = _two_stream_name(key[len(TWO_STREAM_BACKBONE) :])
            if name is None:
                raise PaperWeightsError(f"{source}: {RECOGNITION}{key}: not a tensor of the paper's two-stream network")
            ours[name] = tensor
            continue
        name = _two_stream_head_name(key, source)
        if name is None:
            _check_positions(tensor, source)
        else:
            ours[name] = tensor
    return ours


def _s3d_name(key: str) -> str:
    name = "features." + key
    for pattern, replacement in S3D_NAMES:
        name = re.sub(pattern, replacement, "." + name)[1:]
    return name


def _head_name(key: str) -> str | None:
    """Our name of the paper's visual head tensor ``key``; None for one this toolkit does not know."""
    for theirs, ours in HEAD_NAMES.items():
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return None


def recognition_weights(paper_state: dict[str, torch.Tensor], source: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """The recognition network entries of ``paper_state`` (under ``prefix``) as a :class:`SignToGloss` state dict.

    ``encoder.`` takes the S3D entries, ``head.`` the visual head's; ``source`` names the file in errors.
    """
    ours: dict[str, torch.Tensor] = {}
    for key, tensor in paper_state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if key.startswith(S3D_PREFIX):
            ours["encoder." + _s3d_name(key[len(S3D_PREFIX) :])] = tensor
        elif key == HEAD_PREFIX + "pe.pe":
            _check_positions(tensor, source)
        else:
            name = _head_name(key[len(HEAD_PREFIX) :]) if key.startswith(HEAD_PREFIX) else None
            if name is None:
                raise PaperWeightsError(f"{source}: {prefix}{key}: not a tensor of the paper's recognition network")
            ours["head." + name] = tensor
    return ours


def _check_positions(table: torch.Tensor, source: str) -> None:
    """The paper's positional buffer must be the formula's table (1×length×dim), or its head is another one."""
    _, length, dim = table.shape
    expected = sinusoidal_positions(length, dim)
    difference = float((table[0].float() - expected).abs().max())
    if difference > 1e-5:
        raise PaperWeightsError(f"{source}: visual_head.pe.pe differs from sinusoidal positions by {difference:.2e}")


def _take_rows(tensor: torch.Tensor, rows: list[int], dim: int, name: str, source: str, size: int | None = None):
    """``tensor``'s entries ``rows`` along ``dim``: our order of a vocabulary of ``size`` (``len(rows)`` if None)
    entries that the file holds in the paper's order."""
    size = len(rows) if size is None else size
    if tensor.shape[dim] != size:
        raise PaperWeightsError(f"{source}: {name}: {tensor.shape[dim]} entries in the file, {size} in its vocabulary")
    return tensor.index_select(dim, torch.tensor(rows))


def classifier_in_our_order(weights: dict[str, torch.Tensor], rows: list[int], source: str) -> dict[str, torch.Tensor]:
    """``weights`` (a recognition state dict of ours) with every gloss classifier's rows in our vocabulary's order."""
    return {
        name: _take_rows(tensor, rows, 0, _paper_classifier(name), source) if name.endswith(CLASSIFIER_ENDS) else tensor
        for name, tensor in weights.items()
    }


def _paper_classifier(name: str) -> str:
    """The paper's name of the gloss classifier our tensor ``name`` belongs to (for errors)."""
    heads = {"head.": "visual_head.", **{ours: theirs for theirs, ours in TWO_STREAM_HEADS.items()}}
    for ours, theirs in heads.items():
        if name.startswith(ours):
            index = name[len(ours) :].split(".")[0] + "." if ours.startswith("aux_") else ""
            return f"{RECOGNITION}{theirs}{index}gloss_output_layer"
    return name


def translator_weights(paper_state: dict[str, torch.Tensor], text_rows: list[int], source: str) -> dict:
    """The paper's mBART as our ``translator.mbart.`` entries, its vocabulary rows in our tokenizer's order."""
    ours = {}
    for key, tensor in paper_state.items():
        if not key.startswith(TRANSLATOR):
            continue
        name = key[len(TRANSLATOR) :]
        if name in VOCAB_ROWS:
            tensor = _take_rows(tensor, text_rows, 0, key, source)
        elif name == "final_logits_bias":
            tensor = _take_rows(tensor, text_rows, 1, key, source)
        ours["translator.mbart." + name] = tensor
    if not ours:
        raise PaperWeightsError(f"{source}: no {TRANSLATOR} tensors: not a checkpoint of the paper's translator")
    table = next(ours[f"translator.mbart.{name}"] for name in TIED_TOKEN_TABLES if f"translator.mbart.{name}" in ours)
    for name in TIED_TOKEN_TABLES:  # a file of another transformers release may hold fewer of the tied names
        ours.setdefault(f"translator.mbart.{name}", table)
    return ours


def gloss_embedding_rows(paper_state: dict[str, torch.Tensor], rows: list[int], size: int, source: str) -> torch.Tensor:
    """The rows ``rows`` (ours, in the paper's ids) of the paper's translator gloss embedding (``size`` glosses)."""
    if GLOSS_EMBEDDING not in paper_state:
        raise PaperWeightsError(f"{source}: no {GLOSS_EMBEDDING}")
    return _take_rows(paper_state[GLOSS_EMBEDDING], rows, 0, GLOSS_EMBEDDING, source, size)


def mapper_weights(paper_state: dict[str, torch.Tensor], recognition_rows: list[int], source: str) -> dict:
    """The paper's VL mapper as ours: the MLP's two layers, or the probability map with its columns in our order."""
    mapping = {key[len(MAPPER) :]: tensor for key, tensor in paper_state.items() if key.startswith(MAPPER)}
    if set(mapping) == {"weight"}:
        return {
            "mapper.embeddings.weight": _take_rows(mapping["weight"], recognition_rows, 1, MAPPER + "weight", source)
        }
    layers = {"0.weight", "0.bias", "2.weight", "2.bias"}
    if set(mapping) != layers:
        found = ", ".join(sorted(mapping)) or "none"
        raise PaperWeightsError(f"{source}: {MAPPER}: neither the MLP's {sorted(layers)} nor one weight (has {found})")
    return {f"mapper.layers.{name}": tensor for name, tensor in mapping.items()}


def load_exactly(model: nn.Module, weights: dict[str, torch.Tensor], source: str, spare: tuple[str, ...] = ()) -> None:
    """Load ``weights`` into ``model``: every tensor of ``model`` from them at its shape, no other but ``spare``.

    A missing one, or one of another size (another vocabulary, another ``use_block``), is one error
    naming the file, the tensor and both sizes, and ``model`` is left as it was.
    """
    ours = model.state_dict()
    for name, tensor in ours.items():
        if name not in weights:
            raise PaperWeightsError(f"{source}: no tensor for this network's {name} (a {tuple(tensor.shape)} tensor)")
        if weights[name].shape != tensor.shape:
            raise PaperWeightsError(
                f"{source}: {name}: {tuple(weights[name].shape)} in the file, {tuple(tensor.shape)} in this network"
            )
    unused = sorted(set(weights) - set(ours) - set(spare))
    if unused:
        raise PaperWeightsError(f"{source}: {unused[0]}: the file has it, this network does not ({len(unused)} such)")
    model.load_state_dict({name: weights[name] for name in ours})
