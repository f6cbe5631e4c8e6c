"""The paper code's recognition network weights (FangyunWei/SLRT ``TwoStreamNetwork``, SingleStream) in our names.

The paper's checkpoints hold its model under ``model_state``; its recognition network (S3D and
the visual head) is under ``recognition_network.``:

- S3D, ``visual_backbone.backbone.base.{i}.``: the same layers at the same indices as
  :class:`~modelling.s3d.S3DBackbone`'s ``features.{i}.``, its convolution/batch-norm pairs named
  ``conv``/``bn`` (``conv_s``/``bn_s``, ``conv_t``/``bn_t`` in the separable ones) where ours are
  numbered as torchvision's;
- the visual head, ``visual_head.``: ``fc1``, ``bn1.norm``, ``feedforward.layer_norm``,
  ``feedforward.pwff_layer.0``/``.3``, ``layer_norm``, ``gloss_output_layer``, and the positional
  table ``pe.pe`` (a buffer of the formula :func:`~modelling.visual_head.sinusoidal_positions`
  computes, checked and left out). It loads into :class:`~modelling.visual_head.VisualHead` of
  variant ``paper``.

A key of neither part, or one that maps to no tensor of ours, is one :class:`PaperWeightsError`
naming it; shapes are checked by the strict load that follows.
"""

from __future__ import annotations

import re

import torch

from core.errors import ToolkitError
from modelling.visual_head import sinusoidal_positions

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


class PaperWeightsError(ToolkitError):
    """A tensor of the paper's checkpoint that has no place in this toolkit's network."""


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


def load_recognition_weights(model: torch.nn.Module, paper_state: dict[str, torch.Tensor], source: str) -> None:
    """Load the paper's recognition network (its checkpoint's ``model_state``) into ``model`` (a ``SignToGloss``).

    Every tensor of ``model`` must come from the file at its shape: a missing one, or one of another
    size (another vocabulary, another ``use_block``), is one error naming the file, the tensor and
    both sizes, and ``model`` is left as it was.
    """
    prefix = "recognition_network."
    weights, ours = recognition_weights(paper_state, source, prefix), model.state_dict()
    for name, tensor in ours.items():
        if name not in weights:
            raise PaperWeightsError(f"{source}: no tensor for this network's {name} (a {tuple(tensor.shape)} tensor)")
        if weights[name].shape != tensor.shape:
            raise PaperWeightsError(
                f"{source}: {name}: {tuple(weights[name].shape)} in the file, {tuple(tensor.shape)} in this network"
            )
    unused = sorted(set(weights) - set(ours))
    if unused:
        raise PaperWeightsError(f"{source}: {unused[0]}: the file has it, this network does not ({len(unused)} such)")
    model.load_state_dict(weights)
