"""The trainer through the task protocol alone: a tiny regression task, no stage of the toolkit."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

from core.config import load_config
from core.run_directory import RunDirectory
from dataset.batching import BucketBatchSampler, InMemoryExamples
from dataset.gloss_text import EncodedSplit
from engine.checkpoint import load_checkpoint
from engine.distributed import setup_distributed
from engine.run_logging import setup_logger
from engine.task_protocol import Task, TrainingLoss
from engine.trainer import Trainer
from evaluation.report import EvaluationResult
from tests.conftest import tiny_config, write_config


class LineTask:
    """Fit y = 3x - 1 with one linear unit; the metric is the dev mean squared error."""

    name, metric, higher_is_better = "line", "mse", False

    def __init__(self, config, context) -> None:
        self.config, self.context = config, context
        self.training_counts: Counter = Counter()
        generator = torch.Generator().manual_seed(0)
        xs = {split: torch.rand(n, generator=generator) * 2 - 1 for split, n in (("train", 96), ("dev", 32))}
        self.data = {split: [(float(x), 3 * float(x) - 1) for x in values] for split, values in xs.items()}

    def check_training_data(self) -> None:
        pass

    def prepare(self, create: bool) -> None:
        pass

    def split(self, split: str) -> EncodedSplit:
        return EncodedSplit(self.data[split], Counter(samples=len(self.data[split])))

    def dataset(self, split: str, training: bool = True) -> InMemoryExamples:
        return InMemoryExamples(self.data[split])

    def collator(self):
        return lambda items: {"x": torch.tensor([[x] for x, _ in items]), "y": torch.tensor([y for _, y in items])}

    def batch_sampler(self, split: str, training: bool) -> BucketBatchSampler:
        cfg = self.config.training
        return BucketBatchSampler([1] * len(self.data[split]), cfg.batch_size, shuffle=training, seed=cfg.seed)

    def build_model(self) -> nn.Module:
        return nn.Linear(1, 1)

    def checkpoint_metadata(self) -> dict:
        return {"task": "line"}

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        return TrainingLoss(nn.functional.mse_loss(model(batch["x"]).squeeze(1), batch["y"]), {})

    @torch.no_grad()
    def evaluate(self, model: nn.Module, split: str) -> EvaluationResult:
        batch = self.collator()(self.data[split])
        mse = float(nn.functional.mse_loss(model(batch["x"]).squeeze(1), batch["y"]))
        return EvaluationResult(split, {"mse": mse}, [("line", f"{mse:.4f}", "0")])

    def comparisons(self, split: str) -> list[EvaluationResult]:
        return []


@pytest.fixture()
def line_trainer(tmp_path, toy_data):
    def build(**training) -> Trainer:
        schedule = {"epochs": 8, "batch_size": 8, "learning_rate": 0.05, "warmup_steps": 0, "keep_last": 2, **training}
        config = tiny_config(toy_data, tmp_path / "model", training=schedule)
        config = load_config(write_config(tmp_path / "run.yaml", config))
        setup_logger(None, True)
        context = setup_distributed("cpu", "fp32")
        return Trainer(config, LineTask(config, context), context)

    return build


def test_the_task_satisfies_the_protocol(line_trainer):
    assert isinstance(line_trainer().task, Task)


def test_the_trainer_learns_validates_on_schedule_and_keeps_the_best(line_trainer, tmp_path):
    trainer = line_trainer()
    before = trainer.task.evaluate(trainer.model, "dev").metrics["mse"]
    trainer.train()
    run = RunDirectory(tmp_path / "model")
    assert [p.name for p in run.step_checkpoints()] == ["step_84.ckpt", "step_96.ckpt"]  # 12 steps/epoch, keep_last 2
    best = load_checkpoint(run.best_checkpoint)
    weight, bias = best["model"]["weight"].item(), best["model"]["bias"].item()
    assert best["best_score"] < before / 20
    assert weight == pytest.approx(3, abs=0.3) and bias == pytest.approx(-1, abs=0.2)
    assert best["metadata"] == {"task": "line"} and best["validated"] is True


def test_resuming_mid_run_ends_with_the_same_weights(line_trainer, tmp_path):
    line_trainer().train()
    finished = load_checkpoint(RunDirectory(tmp_path / "model").step_checkpoint(96))
    resumed = line_trainer()
    resumed.resume(RunDirectory(tmp_path / "model").step_checkpoint(84))
    resumed.train()
    again = load_checkpoint(RunDirectory(tmp_path / "model").step_checkpoint(96))
    for key, tensor in finished["model"].items():
        assert torch.equal(again["model"][key], tensor), key


def test_each_loss_is_read_only_after_the_next_step_is_queued(line_trainer, monkeypatch):
    """On a GPU, reading a tensor (``.item()``) makes the host wait: the trainer reads each loss one step late."""
    trainer = line_trainer(epochs=1)
    events, losses = [], []
    real_item, real_train_step = torch.Tensor.item, trainer._train_step

    def item(tensor):
        events.extend(f"read {i}" for i, loss in enumerate(losses) if tensor is loss)
        return real_item(tensor)

    def train_step(batch):
        events.append(f"step {len(losses)}")
        step = real_train_step(batch)
        losses.append(step.total)
        return step

    monkeypatch.setattr(torch.Tensor, "item", item)
    monkeypatch.setattr(trainer, "_train_step", train_step)
    monkeypatch.setattr(trainer, "validate", lambda: None)
    trainer.train()
    expected = ["step 0", *[event for i in range(1, 12) for event in (f"step {i}", f"read {i - 1}")], "read 11"]
    assert events == expected  # the last one is read when the epoch ends


def test_a_non_finite_loss_stops_training_naming_the_step_before_any_checkpoint_holds_it(line_trainer, tmp_path):
    trainer = line_trainer(epochs=2)
    loss = trainer.task.loss
    trainer.task.loss = lambda model, batch, device: TrainingLoss(
        loss(model, batch, device).total * (float("nan") if trainer.step == 14 else 1.0), {}
    )
    with pytest.raises(FloatingPointError, match="loss is nan at step 15"):
        trainer.train()
    run = RunDirectory(tmp_path / "model")
    assert [p.name for p in run.step_checkpoints()] == ["step_12.ckpt"]
    assert all(torch.isfinite(t).all() for t in load_checkpoint(run.best_checkpoint)["model"].values())
