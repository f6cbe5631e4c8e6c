"""A new encoder, input source and task, registered from this module alone: the toolkit runs them unchanged.

Nothing here edits a project module. The task classifies whole samples of per-frame "keypoints"
(``T×J×C``) into one of a few classes, scored by accuracy; its batches hold P classes × K samples
each (as a triplet loss needs) and its loss has two named parts. ``training.py`` (with
``--resume``), ``prediction.py`` and the config's strict validation take it as they take the
built-in stages. Running ``training.py`` with ``--plugin tests.test_extension`` imports this
module, as a user's plug-in module would be imported.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn

import prediction
import training
from core.config import ConfigError, load_config, positive, registered
from core.run_directory import RunDirectory
from dataset.annotations import PreparedSplit
from dataset.gloss_text import EncodedSplit
from engine.checkpoint import load_checkpoint
from engine.inference import infer_split
from engine.task_protocol import TrainingLoss
from engine.tasks.base import StageTask
from engine.tasks.input_sources import InMemoryInput
from engine.tasks.registry import register_task
from evaluation.report import EvaluationResult
from modelling.encoders import ENCODERS, register_encoder
from tests.conftest import torchrun, write_config

JOINTS, CHANNELS, CLASSES = 5, 3, 4


class FrameMLP(nn.Module):
    """Each frame's ``J×C`` keypoints through a two-layer MLP: ``B×T×J×C`` -> ``B×T×width``."""

    temporal_stride = 1

    def __init__(self, joints: int, channels: int, width: int) -> None:
        super().__init__()
        self.output_width = width
        self.layers = nn.Sequential(nn.Linear(joints * channels, width), nn.ReLU(), nn.Linear(width, width))

    def forward(self, keypoints: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.layers(keypoints.flatten(2)), lengths


@register_encoder("frame_mlp")
@dataclass
class FrameMLPConfig:
    """``encoder`` of type ``frame_mlp``."""

    type: str = "frame_mlp"
    joints: int = positive(JOINTS, architecture=True)
    channels: int = positive(CHANNELS, architecture=True)
    width: int = positive(16, architecture=True)

    def build(self, pretrained: bool) -> FrameMLP:
        return FrameMLP(self.joints, self.channels, self.width)

    def output_width(self) -> int:
        return self.width

    def checkpoint_metadata(self) -> dict:
        return {"encoder": "frame_mlp", "width": self.width}


@dataclass
class ClassificationConfig:
    """The ``classification`` section: the encoder, P classes × K samples per batch, the parts' weight."""

    encoder: Any = registered(ENCODERS, default=FrameMLPConfig)
    classes_per_batch: int = positive(2)
    samples_per_class: int = positive(3)
    compactness_weight: float = 0.1


@dataclass(frozen=True)
class KeypointExample:
    name: str
    keypoints: torch.Tensor  # T×J×C
    label: int


class KeypointInput(InMemoryInput):
    """Keypoint sequences held in memory (nothing to skip or look for), padded into ``B×T×J×C`` batches."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @staticmethod
    def collator():
        def collate(examples: list[KeypointExample]) -> dict:
            lengths = torch.tensor([len(e.keypoints) for e in examples])
            padded = torch.zeros(len(examples), int(lengths.max()), JOINTS, CHANNELS)
            for row, example in enumerate(examples):
                padded[row, : len(example.keypoints)] = example.keypoints
            labels = torch.tensor([e.label for e in examples])
            return {"names": [e.name for e in examples], "keypoints": padded, "lengths": lengths, "labels": labels}

        return collate

    @staticmethod
    def length(example: KeypointExample) -> int:
        return len(example.keypoints)

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return batch["keypoints"].to(self.device), batch["lengths"]

    def blank_batch(self, label_ids: list[int]) -> dict:
        raise NotImplementedError("keypoints in memory are always readable")


class ClassBalancedBatches:
    """Each batch: ``classes`` classes × ``per_class`` of their samples, drawn anew each epoch; ranks share them."""

    def __init__(self, labels: list[int], classes: int, per_class: int, seed: int, rank: int, world_size: int) -> None:
        self.labels, self.classes, self.per_class = labels, classes, per_class
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def _batches(self) -> list[list[int]]:
        rng = random.Random(self.seed * 1000 + self.epoch)
        by_class: dict[int, list[int]] = {}
        for index, label in enumerate(self.labels):
            by_class.setdefault(label, []).append(index)
        batches = []
        for _ in range(math.ceil(len(self.labels) / (self.classes * self.per_class))):
            chosen = rng.sample(sorted(by_class), self.classes)
            batches.append([i for label in chosen for i in rng.sample(by_class[label], self.per_class)])
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()[self.rank :: self.world_size][self.start_batch :]

    def __len__(self) -> int:
        total = math.ceil(len(self.labels) / (self.classes * self.per_class))
        return len(range(self.rank, total, self.world_size))


class Classifier(nn.Module):
    """The encoder, a mean over valid frames, a linear classifier; also returns the pooled embedding."""

    def __init__(self, encoder: nn.Module, classes: int) -> None:
        super().__init__()
        self.encoder, self.classifier = encoder, nn.Linear(encoder.output_width, classes)

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, lengths = self.encoder(inputs, lengths)
        mask = (torch.arange(features.shape[1])[None, :] < lengths[:, None]).to(features)
        pooled = (features * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.classifier(pooled), pooled


@register_task("keypoint_classes", sections={"classification": ClassificationConfig})
class KeypointClassificationTask(StageTask):
    """Whole samples of keypoints -> one of ``CLASSES`` classes; accuracy picks the best checkpoint."""

    metric, higher_is_better = "accuracy", True

    def __init__(self, config, context) -> None:
        super().__init__(config, context)
        self.inputs = KeypointInput(context.device)

    @staticmethod
    def check_config(config, source: str) -> None:
        cfg = config.classification
        if cfg.classes_per_batch > CLASSES:
            raise ConfigError(f"{source}: classification.classes_per_batch: at most {CLASSES}")

    def check_training_data(self) -> None:
        if not self.split("train").examples:
            raise ConfigError(f"{self.config.data.train}: no samples to train on")

    def prepare(self, create: bool) -> None:
        pass

    def encode(self, split: str) -> tuple[PreparedSplit, EncodedSplit]:
        """The samples of the split's JSON file: each class is a fixed keypoint pattern, moved a little."""
        records = json.loads(open(self.config.data.split_path(split), encoding="utf-8").read())
        examples = [KeypointExample(r["name"], torch.tensor(r["keypoints"]), r["label"]) for r in records]
        return PreparedSplit([], Counter(), []), EncodedSplit(examples, Counter())

    def batch_sampler(self, split: str, training: bool) -> ClassBalancedBatches:
        cfg, labels = self.config.classification, [e.label for e in self.split(split).examples]
        seed, rank, world = self.config.training.seed, self.context.rank, self.context.world_size
        return ClassBalancedBatches(labels, cfg.classes_per_batch, cfg.samples_per_class, seed, rank, world)

    def build_model(self) -> Classifier:
        return Classifier(self.config.classification.encoder.build(pretrained=False), CLASSES)

    def checkpoint_metadata(self) -> dict:
        return {"task": self.name, **self.config.classification.encoder.checkpoint_metadata()}

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        """Cross-entropy plus the spread of each class's embeddings around their batch mean."""
        logits, embeddings = model(*self.inputs.network_input(batch, training=True))
        labels = batch["labels"].to(device)
        cfg = self.config.classification
        per_class = Counter(labels.tolist()).values()
        if len(per_class) == cfg.classes_per_batch and set(per_class) == {cfg.samples_per_class}:
            self.training_counts["P x K batches"] += 1  # the trainer iterated over this task's sampler
        cross_entropy = nn.functional.cross_entropy(logits, labels)
        centres = torch.stack([embeddings[labels == label].mean(0) for label in labels])  # of each one's class
        spread = ((embeddings - centres) ** 2).sum(1).mean()
        total = cross_entropy + cfg.compactness_weight * spread
        return TrainingLoss(total, {"cross_entropy": cross_entropy, "spread": spread})

    def evaluate(self, model: nn.Module, split: str) -> EvaluationResult:
        examples = self.split(split).examples

        def classify(batch: dict, inputs: torch.Tensor, lengths: torch.Tensor) -> list[int]:
            return model(inputs, lengths)[0].argmax(-1).tolist()

        result = infer_split(model, self.inputs, examples, split, 8, classify, self.context, f"classify {split}")
        rows = [(e.name, str(p), str(e.label)) for e, p in zip(examples, result.outputs, strict=True)]
        accuracy = 100 * sum(p == e.label for e, p in zip(examples, result.outputs, strict=True)) / len(examples)
        return EvaluationResult(split, {"accuracy": accuracy}, rows, {"samples": len(examples)})


def write_split(path, count: int, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    patterns = torch.randn(CLASSES, JOINTS, CHANNELS, generator=torch.Generator().manual_seed(0))
    records = []
    for index in range(count):
        label, frames = index % CLASSES, 4 + index % 5
        keypoints = patterns[label] + 0.3 * torch.randn(frames, JOINTS, CHANNELS, generator=generator)
        records.append({"name": f"s{index}", "label": label, "keypoints": keypoints.tolist()})
    path.write_text(json.dumps(records), encoding="utf-8")


@pytest.fixture()
def plugin_config(tmp_path):
    for split, count, seed in (("train", 48, 1), ("dev", 16, 2), ("test", 16, 3)):
        write_split(tmp_path / f"{split}.json", count, seed)
    config = {
        "task": "keypoint_classes",
        "data": {split: str(tmp_path / f"{split}.json") for split in ("train", "dev", "test")},
        "classification": {"encoder": {"type": "frame_mlp", "width": 12}, "classes_per_batch": 2},
        "training": {
            "model_dir": str(tmp_path / "model"),
            "epochs": 6,
            "learning_rate": 0.02,
            "warmup_steps": 0,
            "log_every": 4,
            "device": "cpu",
        },
    }
    return write_config(tmp_path / "keypoints.yaml", config), tmp_path / "model"


def test_a_registered_task_trains_resumes_and_predicts_through_the_scripts(plugin_config, tmp_path):
    path, model_dir = plugin_config
    assert training.main(["--config", str(path), "--plugin", "tests.test_extension"]) == 0
    run = RunDirectory(model_dir)
    report = json.loads(run.predictions.report.read_text())
    assert report["test"]["metrics"]["accuracy"] >= 75  # four well-separated classes: learnt
    log = (run.root / "train.log").read_text()
    assert " cross_entropy " in log and " spread " in log  # both parts of the loss are logged
    assert "training input: {'P x K batches': 48}" in log  # every step's batch came from the task's sampler
    events = sorted(run.tensorboard.iterdir())
    assert events and events[0].stat().st_size > 0
    best = load_checkpoint(run.best_checkpoint)
    assert best["metadata"] == {"task": "keypoint_classes", "encoder": "frame_mlp", "width": 12}

    # resumed from the middle of training, the run ends with the uninterrupted run's weights
    middle = run.step_checkpoints()[0]
    again = RunDirectory(tmp_path / "again")
    again.root.mkdir()
    config = path.read_text().replace(str(model_dir), str(again.root))
    resumed_path = tmp_path / "again.yaml"
    resumed_path.write_text(config)
    (again.root / middle.name).write_bytes(middle.read_bytes())
    assert training.main(["--config", str(resumed_path), "--resume", str(again.root / middle.name)]) == 0
    final = load_checkpoint(run.step_checkpoints()[-1])["model"]
    resumed = load_checkpoint(again.step_checkpoints()[-1])["model"]
    assert all(torch.equal(final[key], resumed[key]) for key in final)

    assert prediction.main(["--config", str(path), "--splits", "test"]) == 0
    report = json.loads(run.predictions.report.read_text())
    assert "dev" not in report and report["test"]["counts"] == {"samples": 16}


def test_the_batches_hold_p_classes_of_k_samples(plugin_config):
    path, _ = plugin_config
    config = load_config(path)
    task = KeypointClassificationTask(config, type("Context", (), {"rank": 0, "world_size": 1, "device": None})())
    labels = [e.label for e in task.split("train").examples]
    sampler = task.batch_sampler("train", training=True)
    sampler.set_epoch(3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 8
    for batch in batches:
        counts = Counter(labels[i] for i in batch)
        assert len(counts) == 2 and set(counts.values()) == {3}


def test_the_plugin_config_is_validated_like_any_other(plugin_config, tmp_path):
    path, _ = plugin_config
    text = path.read_text()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("classes_per_batch: 2", "classes_per_batch: 2\n  clases: 3"))
    with pytest.raises(ConfigError, match=r"unknown key 'classification.clases' \(known keys: encoder, "):
        load_config(wrong)
    wrong.write_text(text.replace("width: 12", "width: 12\n    depth: 2"))
    with pytest.raises(ConfigError, match="unknown key 'classification.encoder.depth'"):
        load_config(wrong)
    wrong.write_text(text.replace("width: 12", "width: 0"))
    with pytest.raises(ConfigError, match="classification.encoder.width: 0 is out of range"):
        load_config(wrong)
    wrong.write_text(text.replace("classes_per_batch: 2", "classes_per_batch: 9"))
    with pytest.raises(ConfigError, match="classification.classes_per_batch: at most 4"):
        load_config(wrong)
    assert training.main(["--config", str(wrong)]) == 2  # the scripts stop with the same message


def test_a_plugin_task_trains_on_two_torchrun_ranks_from_the_command_line(plugin_config, tmp_path):
    """A fresh process, as a user runs it: ``--plugin`` registers the task before the config is read."""
    path, model_dir = plugin_config
    done = torchrun("training.py", ["--config", str(path), "--plugin", "tests.test_extension"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    log = (model_dir / "train.log").read_text()
    assert "steps/epoch on 2 rank(s)" in log and " spread " in log
    report = json.loads(RunDirectory(model_dir).predictions.report.read_text())
    assert set(report["test"]["metrics"]) == {"accuracy"} and report["test"]["counts"] == {"samples": 16}
