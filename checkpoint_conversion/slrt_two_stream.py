"""The paper's TwoStream S2G checkpoints (FangyunWei/SLRT ``TwoStreamNetwork``, TwoStream-SLT) to run folders.

    python import_checkpoint.py --format slrt-two-stream --stage s2g --checkpoint PAPER/s2g.ckpt \\
        --glosses PAPER/gloss2ids.pkl --config experiments/configs/phoenix-2014t_s2g_two_stream_paper.yaml \\
        --output runs/paper_two_stream_s2g

The checkpoint is the one its ``training.py`` writes for ``configs/TwoStream/*_s2g.yaml``
(``fuse_method: triplehead_cat_bilateral``, the version-1 pyramid with three levels on both
streams): its tensors are renamed as :func:`~checkpoint_conversion.slrt_weights.two_stream_weights`
says, every gloss classifier's rows put in our vocabulary's order, and the architecture keys of the
config (this toolkit's, for the paper's setup) filled from them: the joints (the keypoint stream's
input channels), the lateral connections (which directions, their kernel) and the heads' sizes. Its
Sign2Text checkpoints are not read yet: Sign2Text over the two-stream network is still to come.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from pathlib import Path

import torch

from checkpoint_conversion import register_converter
from checkpoint_conversion.foreign_files import ForeignFileError
from checkpoint_conversion.imported_runs import ImportedRun, set_architecture, write_run
from checkpoint_conversion.slrt_single_stream import (
    head_architecture,
    provenance,
    read_paper_checkpoint,
    recognition_vocabulary,
)
from checkpoint_conversion.slrt_weights import (
    RECOGNITION,
    TWO_STREAM_BACKBONE,
    classifier_in_our_order,
    two_stream_weights,
)
from core.config import Config, read_config_file
from core.run_directory import RunDirectory

FORMAT = "slrt-two-stream"
POSE_INPUT = "encoder.keypoints.backbone.features.0.0.0.weight"  # the keypoint stream's first convolution


@register_converter(FORMAT)
class TwoStreamConverter:
    """``import_checkpoint.py --format slrt-two-stream --stage s2g ...``."""

    @staticmethod
    def add_arguments(parser: ArgumentParser) -> None:
        parser.add_argument("--stage", required=True, choices=["s2g"])
        parser.add_argument("--checkpoint", required=True, type=Path, help="the paper's TwoStream S2G checkpoint")
        parser.add_argument("--glosses", required=True, type=Path, help="the recognition gloss2ids.pkl")

    @staticmethod
    def convert(args: Namespace) -> Path:
        if args.config is None:
            raise ForeignFileError(
                "--format slrt-two-stream needs --config (this toolkit's config of the paper's setup)"
            )
        raw = read_config_file(args.config, args.override)
        if raw.get("task") != "s2g":
            raise ForeignFileError(f"{args.config}: a '{raw.get('task')}' config, not one for --stage s2g")
        state, training = read_paper_checkpoint(args.checkpoint)
        run = _sign_to_gloss(args, raw, state)
        run.training_state = training
        run.imported_from = {"format": FORMAT, "stage": "s2g", **provenance(args.checkpoint)}
        return write_run(run, Path(args.output), str(args.checkpoint))


def _sign_to_gloss(args: Namespace, raw: dict, state: dict) -> ImportedRun:
    source = str(args.checkpoint)
    if not any(key.startswith(RECOGNITION + TWO_STREAM_BACKBONE) for key in state):
        raise ForeignFileError(
            f"{source}: no {RECOGNITION}{TWO_STREAM_BACKBONE} tensors: not a TwoStream S2G checkpoint "
            "(a SingleStream one imports with --format slrt-single-stream)"
        )
    glosses = recognition_vocabulary(args, raw)
    weights = classifier_in_our_order(two_stream_weights(state, source), glosses.rows, source)
    two_stream_architecture(raw, weights, source)
    head_architecture(raw, weights, source, head="heads.video.")
    raw.setdefault("tokenizer", {})["gloss_vocab"] = None  # the run's own

    def vocabularies(run: RunDirectory, config: Config) -> None:
        glosses.vocab.save(run.gloss_vocab)

    return ImportedRun(raw, weights, vocabularies)


def two_stream_architecture(raw: dict, weights: dict[str, torch.Tensor], source: str) -> None:
    """The two-stream encoder's settings that its tensors fix: the joints and the lateral connections."""
    if POSE_INPUT not in weights:
        raise ForeignFileError(f"{source}: no keypoint stream (pose_stream.backbone.base.0): not a TwoStream S2G file")
    encoder = "recognition.encoder."
    set_architecture(raw, encoder + "type", "two_stream", source)
    set_architecture(raw, encoder + "joints", int(weights[POSE_INPUT].shape[1]), source)
    laterals = {d: weights.get(f"encoder.to_{d}.0.weight") for d in ("video", "keypoints")}
    for direction, tensor in laterals.items():
        set_architecture(raw, f"{encoder}lateral_to_{direction}", tensor is not None, source)
    kernels = {tuple(tensor.shape[2:]) for tensor in laterals.values() if tensor is not None}
    if len(kernels) > 1:
        raise ForeignFileError(
            f"{source}: lateral connections of two kernel sizes ({sorted(kernels)}): not ours to hold"
        )
    if kernels:
        set_architecture(raw, encoder + "lateral_kernel", [int(k) for k in kernels.pop()], source)
    raw["recognition"]["encoder"]["weights"] = None  # all weights come from the checkpoint
