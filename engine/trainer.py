"""The training loop: DDP, bucketed batches, schedule, validation, checkpoints and exact resume."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from core.atomic_files import save_atomic
from core.config import Config, config_to_dict
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from engine.checkpoint import load_checkpoint, load_model_weights, restore_best_checkpoint, save_step_checkpoint
from engine.device import place_model
from engine.distributed import DistributedContext, barrier, gather_objects, replicas_identical
from engine.optimization import build_optimizer, build_scheduler, freeze_modules
from engine.progress import progress_bar
from engine.run_logging import get_logger, summary_writer
from engine.task_protocol import Task, TrainingLoss
from evaluation.report import EvaluationResult

TEXT_SAMPLES_SHOWN = 5


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass(frozen=True)
class StepReport:
    """What is shown and logged of a training step once its loss has been read."""

    step: int
    epoch: int
    loss: torch.Tensor  # on the device until read
    parts: dict[str, torch.Tensor]  # the loss's named parts, on the device until read
    names: list[str]  # the batch's first samples, to name in an error
    learning_rates: dict[str, float]  # per parameter group, in the optimizer's order


class Trainer:
    """Trains a task's model; validates by the task's metric; keeps ``best.ckpt`` and the last K."""

    def __init__(self, config: Config, task: Task, context: DistributedContext) -> None:
        self.config, self.task, self.context = config, task, context
        self.cfg = config.training
        self.run = RunDirectory.of(config)
        self.log = get_logger()
        seed_everything(self.cfg.seed)
        self.model = place_model(task.build_model(), context.device)
        train = task.split("train")
        if not train.examples:
            raise ToolkitError(f"{config.data.train}: no usable training samples ({dict(train.counts)})")
        self.sampler = task.batch_sampler("train", training=True)
        self.dataset = task.dataset("train")
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            collate_fn=task.collator(),
            num_workers=self.cfg.num_workers,
            pin_memory=context.device.type == "cuda",
            persistent_workers=self.cfg.num_workers > 0,  # no worker start-up stall at each epoch
            prefetch_factor=self.cfg.prefetch_batches if self.cfg.num_workers > 0 else None,
            # worker seeds from a generator of its own: starting an epoch's iterator must not draw from
            # the global RNG, or a run resumed mid-epoch would see other dropout masks than the original
            generator=torch.Generator().manual_seed(self.cfg.seed),
        )
        self.steps_per_epoch = len(self.sampler)
        self.total_steps = self.cfg.max_steps or self.cfg.epochs * self.steps_per_epoch
        if self.cfg.frozen_modules:
            frozen = freeze_modules(self.model, self.cfg)
            self.log.info("frozen: %s (%d tensors)", ", ".join(self.cfg.frozen_modules), frozen)
        self.optimizer = build_optimizer(self.model, self.cfg)
        self.scheduler = build_scheduler(self.optimizer, self.cfg, self.total_steps)
        self.scaler = context.precision.grad_scaler()
        self.ddp = DistributedDataParallel(self.model) if context.is_distributed else None
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_score: float | None = None
        self.validation_pending = False  # resumed from a checkpoint whose validation failed
        self.writer = summary_writer(self.run.tensorboard, context.is_main)
        self.log.info(
            "model: %.2fM parameters; %d train samples (%s); %d steps/epoch on %d rank(s); %d steps in total",
            sum(p.numel() for p in self.model.parameters()) / 1e6,
            len(train.examples),
            dict(train.counts),
            self.steps_per_epoch,
            context.world_size,
            self.total_steps,
        )

    # ----- checkpoints -----------------------------------------------------------------------
    def _state(self, rng: list[dict], score: float | None) -> dict:
        return {
            "validated": score is not None,
            "score": score,  # this step's dev score
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_score": self.best_score,
            "rng": rng,  # every rank's: their dropout draws differ once their batches do
            "config": config_to_dict(self.config),
            "metadata": self.task.checkpoint_metadata(),
        }

    def resume(self, path: str | Path) -> None:
        """Continue exactly where the checkpoint at ``path`` left off."""
        state = load_checkpoint(path)
        load_model_weights(self.model, state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # fp16 runs; bf16 and fp32 have no loss scale
            self.scaler.load_state_dict(state["scaler"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_score = state["best_score"]
        self.validation_pending = not state.get("validated", True)
        rng = state["rng"]  # one per rank (older checkpoints: rank 0's alone)
        set_rng_state(rng[self.context.rank % len(rng)] if isinstance(rng, list) else rng)
        self.log.info(
            "resumed from %s at step %d (epoch %d, batch %d)", path, self.step, self.epoch, self.batch_in_epoch
        )
        if self.best_score is not None and not self.run.best_checkpoint.exists():
            self._restore_best(Path(path), state)

    def _restore_best(self, path: Path, state: dict) -> None:
        """A kill (or a hand) took ``best.ckpt`` that ``state``'s best score refers to: copy it back from the
        kept checkpoint that has that score, or let the next validation choose the best afresh."""
        restored = restore_best_checkpoint(self.run, path, state) if self.context.is_main else None
        name = self.run.best_checkpoint.name
        if restored is not None:
            self.log.info("%s was missing: restored from %s (dev %.2f)", name, restored.name, self.best_score)
        elif self.context.is_main:
            self.log.warning(
                "%s (dev %.2f) is missing and no kept checkpoint has that score: the next validation sets the best",
                name,
                self.best_score,
            )
        barrier()
        if not self.run.best_checkpoint.exists():
            self.best_score = None

    def _save(self, improved: bool, score: float | None = None) -> None:
        """Write this step's checkpoint; when ``improved``, ``best.ckpt`` first, so that no kill can leave a
        step checkpoint that records a best score without the best checkpoint it refers to."""
        rng = gather_objects(rng_state())  # on every rank
        if not self.context.is_main:
            return
        state = self._state(rng, score)
        if improved:
            save_atomic(state, self.run.best_checkpoint)
        path = save_step_checkpoint(state, self.run, self.step, self.cfg.keep_last)
        self.log.info("saved %s%s", path.name, f" and {self.run.best_checkpoint.name}" if improved else "")

    # ----- validation --------------------------------------------------------------------------
    def validate(self) -> EvaluationResult:
        """Evaluate on dev, log to TensorBoard, save checkpoints (best by the task's metric)."""
        started = time.perf_counter()
        try:
            result = self.task.evaluate(self.model, "dev")
        except ToolkitError as error:  # bad dev data: keep the training done so far, then stop
            self._save(improved=False)
            saved = self.run.step_checkpoint(self.step).name
            raise type(error)(
                f"{error} (validation at step {self.step}; the training so far is in {saved}: "
                "fix the dev data, then continue with --resume, which validates first)"
            ) from error
        self.validation_pending = False
        if self.task.metric not in result.metrics:
            raise ToolkitError(
                f"task {self.task.name}: its metric '{self.task.metric}' is not among its evaluation's "
                f"{sorted(result.metrics)}"
            )
        score = result.metrics[self.task.metric]
        better = self.best_score is None or (
            score > self.best_score if self.task.higher_is_better else score < self.best_score
        )
        if better:
            self.best_score = score
        self.log.info(
            "step %d dev: %s (%.0fs)%s",
            self.step,
            " ".join(f"{k}={v:.2f}" for k, v in result.metrics.items()),
            time.perf_counter() - started,
            " new best" if better else "",
        )
        if self.writer:
            for name, value in result.metrics.items():
                self.writer.add_scalar(f"dev/{name}", value, self.step)
            samples = "\n\n".join(f"HYP: {h}  \nREF: {r}" for _, h, r in result.rows[:TEXT_SAMPLES_SHOWN])
            self.writer.add_text("dev/samples", samples, self.step)
        self._save(better, score)
        barrier()
        return result

    def _due(self, finished_epoch: bool) -> bool:
        """Whether validation is due now (called before ``epoch`` moves past a finished epoch)."""
        if self.cfg.validate_unit == "steps":
            return self.step % self.cfg.validate_every == 0
        return finished_epoch and (self.epoch + 1) % self.cfg.validate_every == 0

    # ----- training ------------------------------------------------------------------------------
    def _train_step(self, batch: dict) -> TrainingLoss:
        """Forward under the configured precision, backward (loss-scaled for fp16), clip, step: all queued.

        The loss and its parts come back as device tensors, read one step later (:meth:`_report`),
        so that the host never waits for the device inside a step.
        """
        network = self.ddp or self.model
        with self.context.precision.autocast():
            loss = self.task.loss(network, batch, self.context.device)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss.total).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip_grad_norm)
        self.scaler.step(self.optimizer)  # skipped (fp16) when the gradients overflowed
        self.scaler.update()
        self.scheduler.step()
        return TrainingLoss(loss.total.detach(), {name: part.detach() for name, part in loss.parts.items()})

    def _report(self, step: StepReport, progress: tqdm) -> None:
        """A finished step's loss: stop on a non-finite one, else show and log it."""
        loss = step.loss.item()
        if not math.isfinite(loss):
            raise FloatingPointError(f"loss is {loss} at step {step.step} (batch {step.names}...)")
        progress.update(1)
        progress.set_postfix(epoch=step.epoch, loss=f"{loss:.3f}", refresh=False)
        if step.step % self.cfg.log_every == 0:
            self._log_step(step, loss)

    def _log_step(self, step: StepReport, loss: float) -> None:
        first_group = next(iter(step.learning_rates.values()))
        parts = {name: float(part) for name, part in step.parts.items()}
        shown = "".join(f" {name} {value:.4f}" for name, value in parts.items())
        self.log.info("step %d epoch %d loss %.4f%s lr %.3g", step.step, step.epoch, loss, shown, first_group)
        if self.writer:
            self.writer.add_scalar("train/loss", loss, step.step)
            for name, value in parts.items():
                self.writer.add_scalar(f"train/{name}", value, step.step)
            for name, learning_rate in step.learning_rates.items():
                self.writer.add_scalar(f"lr/{name}", learning_rate, step.step)

    def _train_epoch(self, progress: tqdm) -> None:
        """Train the rest of the current epoch (or up to ``total_steps``), validating when due.

        Each step's loss is read once the next step is queued (or before validating, at the end of
        the epoch and of training), so the device is never left idle waiting for the host.
        """
        self.sampler.set_epoch(self.epoch, start_batch=self.batch_in_epoch)
        self.dataset.set_epoch(self.epoch)  # per-epoch randomness of the data (video frame sampling)
        pending: StepReport | None = None
        for batch in self.loader:
            loss = self._train_step(batch)
            if pending is not None:
                self._report(pending, progress)
            self.step, self.batch_in_epoch = self.step + 1, self.batch_in_epoch + 1
            groups = {group["name"]: group["lr"] for group in self.optimizer.param_groups}
            pending = StepReport(self.step, self.epoch, loss.total, loss.parts, batch.get("names", [])[:3], groups)
            finished_epoch = self.batch_in_epoch == self.steps_per_epoch
            validate_now = self._due(finished_epoch) or self.step == self.total_steps
            if finished_epoch:
                self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            if validate_now or finished_epoch:  # validate_now covers the last step
                self._report(pending, progress)
                pending = None
            if validate_now:
                self.validate()
            if self.step >= self.total_steps:
                return
        if pending is not None:
            self._report(pending, progress)

    def train(self) -> None:
        """Run until ``max_steps`` or ``epochs``; validate on schedule and at the last step."""
        with progress_bar(
            total=self.total_steps, initial=self.step, desc="train", enabled=self.context.is_main
        ) as progress:  # closed however training ends, so no stale bar is left behind
            if self.validation_pending:
                self.validate()
            while self.step < self.total_steps:
                self._train_epoch(progress)
        if self.task.training_counts:
            self.log.info("training input: %s", dict(self.task.training_counts))
        if self.context.is_distributed:
            identical = replicas_identical(self.model)
            self.log.info("weights identical on %d ranks: %s", self.context.world_size, identical)
            if not identical:
                raise RuntimeError("model replicas diverged across ranks")
        if self.writer:
            self.writer.close()
