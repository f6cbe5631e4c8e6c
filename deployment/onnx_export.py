"""Export a trained Sign2Text run to ONNX, and check the export on the spot (what ``export.py`` runs).

Three graphs (:mod:`modelling.export_graphs`) go through ``torch.onnx.export`` with dynamic batch,
frame, feature and decoding lengths; the folder (:class:`~core.run_directory.ExportDirectory`) also
gets the gloss vocabulary, the text tokenizer and ``export.json`` (video settings, beam search
settings, special ids, and the checks below). Each graph is then run by onnxruntime on inputs of
other shapes than the export saw, beside PyTorch: the largest absolute difference of every output
is printed and must stay under :data:`TOLERANCE`, or the export fails.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from torch import nn
from torch.export import Dim

from core.errors import ToolkitError
from core.run_directory import ExportDirectory
from deployment.video_translation import VideoTranslator
from modelling.export_graphs import DecoderStepGraph, EncoderGraph, RecognitionGraph
from modelling.sign_to_text import Cascade, SignToText

TOLERANCE = 1e-3  # on log-probabilities, encoder states and keys/values, in fp32


class ExportError(ToolkitError):
    """A model this exporter does not cover, or an export whose outputs differ from PyTorch's."""


@dataclass
class GraphSpec:
    """One graph to export: its module, example inputs (export) and check inputs (other shapes)."""

    name: str
    module: torch.nn.Module
    inputs: dict[str, torch.Tensor]
    check_inputs: list[dict[str, torch.Tensor]]
    dynamic: dict[str, dict[int, Dim]]
    outputs: list[str]


@dataclass
class GraphCheck:
    """The largest absolute difference of each output between onnxruntime and PyTorch."""

    graph: str
    differences: dict[str, float]

    @property
    def worst(self) -> float:
        return max(self.differences.values())


def _graph_specs(network: SignToText, encoder: nn.Module, size: int) -> list[GraphSpec]:
    """The three graphs; the recognition graph's input is what ``encoder`` takes (its example, its free axes)."""
    mbart = network.translator.mbart
    batch, frames, steps = Dim("batch", min=1, max=256), Dim("frames", min=8, max=8192), Dim("steps", max=4096)
    free_axes = {axis: {"batch": batch, "frames": frames}[name] for axis, name in encoder.export_axes.items()}
    mapper = network.mapper
    hidden = mapper.in_features  # what the encoder graph takes: gloss features or probabilities
    config = mbart.config
    head_dim = config.d_model // config.decoder_attention_heads
    generator = torch.Generator().manual_seed(0)

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    def keys_values(beams: int, length: int) -> torch.Tensor:
        return normal(config.decoder_layers, 2, beams, config.decoder_attention_heads, length, head_dim)

    positions = Dim("positions", min=3, max=8192)
    later = {
        "tokens": torch.tensor([[11], [4], [6]]),
        "cross": keys_values(3, 13),
        "mask": torch.tensor([[1] * 13, [1] * 9 + [0] * 4, [1] * 2 + [0] * 11]),
    }
    return [
        GraphSpec(
            "recognition",
            RecognitionGraph(encoder, network.recognition, mapper),
            {"videos": encoder.example_input([24, 17], size, generator), "lengths": torch.tensor([24, 17])},
            [{"videos": encoder.example_input([37, 30, 12], size, generator), "lengths": torch.tensor([37, 30, 12])}],
            {"videos": free_axes, "lengths": {0: batch}},
            ["log_probs", "gloss_features", "feature_lengths"],
        ),
        GraphSpec(
            "encoder",
            EncoderGraph(network),
            {"gloss_features": normal(2, 6, hidden), "lengths": torch.tensor([6, 4])},
            [{"gloss_features": normal(3, 11, hidden), "lengths": torch.tensor([11, 3, 7])}],
            {"gloss_features": {0: batch, 1: steps}, "lengths": {0: batch}},
            ["cross", "mask"],
        ),
        GraphSpec(
            "decoder",
            DecoderStepGraph(mbart),
            {
                "tokens": torch.tensor([[7], [9]]),
                "cross": keys_values(2, 8),
                "mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
                "past": keys_values(2, 3),
            },
            [{**later, "past": keys_values(3, steps)} for steps in (0, 5)],  # the first step has no past
            {
                "tokens": {0: batch},
                "cross": {2: batch, 4: positions},
                "mask": {0: batch, 1: positions},
                "past": {2: batch, 4: steps},
            },
            ["log_probs", "next_past"],
        ),
    ]


def _check(spec: GraphSpec, path: Path) -> GraphCheck:
    """onnxruntime against PyTorch on the check inputs."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    differences: dict[str, float] = {}
    for inputs in spec.check_inputs:
        with torch.no_grad():
            expected = spec.module(**inputs)
        found = session.run(spec.outputs, {name: value.numpy() for name, value in inputs.items()})
        for name, ours, theirs in zip(spec.outputs, found, expected, strict=True):
            difference = float(np.abs(ours - theirs.numpy()).max()) if ours.size else 0.0
            differences[name] = max(differences.get(name, 0.0), difference)
    return GraphCheck(spec.name, differences)


def _export(spec: GraphSpec, path: Path) -> None:
    """``torch.onnx.export`` (the dynamo exporter) of one graph, without its progress lines and warnings."""
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                spec.module,
                (),
                str(path),
                kwargs=spec.inputs,
                input_names=list(spec.inputs),
                output_names=spec.outputs,
                dynamic_shapes=spec.dynamic,
                dynamo=True,
                optimize=True,
                verbose=False,
            )
    finally:
        exporter_log.setLevel(level)


def export_run(
    translator: VideoTranslator, output: ExportDirectory, report: Callable[[str], None] = print
) -> list[GraphCheck]:
    """Write ``translator``'s joint model as ONNX to ``output``, check every graph, write the settings."""
    if isinstance(translator.model, Cascade):
        raise ExportError("export.py exports the joint Sign2Text model; the cascade is not exported")
    checks = export_network(
        translator.model, translator.encoder, translator.preprocessing.config.img_size, output, report
    )
    _write_settings(translator, output, checks)
    return checks


def export_network(
    network: SignToText, encoder: nn.Module, size: int, output: ExportDirectory, report: Callable[[str], None]
) -> list[GraphCheck]:
    """The three graphs of ``network`` (with ``encoder``, for ``size`` px videos) in ``output``, each checked."""
    mbart = network.translator.mbart
    if mbart.generation_config.forced_eos_token_id != mbart.config.eos_token_id:
        raise ExportError("the translator does not force </s> at the last position, which the ONNX search assumes")
    output.root.mkdir(parents=True, exist_ok=True)
    checks = []
    for spec in _graph_specs(network, encoder, size):
        report(f"exporting {spec.name} ...")
        path = output.graph(spec.name)
        _export(spec, path)
        checks.append(_check(spec, path))
        figures = ", ".join(f"{name} {value:.2e}" for name, value in checks[-1].differences.items())
        report(f"  {path.name}: largest |onnxruntime - PyTorch|: {figures}")
        if checks[-1].worst > TOLERANCE:
            raise ExportError(f"{path}: outputs differ from PyTorch's by {checks[-1].worst:.2e} > {TOLERANCE}")
    return checks


def _write_settings(translator: VideoTranslator, output: ExportDirectory, checks: list[GraphCheck]) -> None:
    task, mbart = translator.task, translator.model.translator.mbart
    task.vocab.save(output.gloss_vocab)
    task.tokenizer.save_pretrained(str(output.text_tokenizer))
    settings = {
        "video": dataclasses.asdict(translator.preprocessing.config),
        "ctc_beam_size": task.config.recognition.beam_size,
        "generation": dataclasses.asdict(task.config.generation),
        "languages": {"src": task.config.data.src_lang, "tgt": task.config.data.tgt_lang},
        "decoder": {
            "start_id": translator.model.translator.tgt_lang_id,
            "end_id": mbart.config.eos_token_id,
            "pad_id": mbart.config.pad_token_id,
        },
        "checks": {check.graph: check.differences for check in checks},
        "tolerance": TOLERANCE,
    }
    output.settings.write_text(json.dumps(settings, indent=2), encoding="utf-8")
