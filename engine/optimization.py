"""Optimizer with per-module learning rates (frozen modules left out) and a warmup + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from core.config import TrainingConfig
from core.errors import ToolkitError


class OptimizationError(ToolkitError):
    """A learning-rate setting that names no module of the model."""


def freeze_modules(model: nn.Module, config: TrainingConfig) -> int:
    """Stop training the modules ``training.frozen_modules`` names (dotted paths); the number of tensors frozen.

    A path that names no module is one error listing the model's top-level modules.
    """
    frozen = 0
    for path in config.frozen_modules:
        try:
            module = model.get_submodule(path)
        except AttributeError as error:
            children = sorted(name for name, _ in model.named_children())
            raise OptimizationError(
                f"training.frozen_modules: {path!r} names no module of the model (top-level modules: {children})"
            ) from error
        for parameter in module.parameters():
            frozen += parameter.requires_grad
            parameter.requires_grad_(False)
    return frozen


def parameter_groups(model: nn.Module, config: TrainingConfig) -> list[dict]:
    """One group per (top-level module, decay or not); learning rates from the config.

    ``module_learning_rates`` maps top-level module names (e.g. ``gloss_embedding``,
    ``translator``) to learning rates; other modules use ``learning_rate``. A model's
    ``renamed_modules`` (old name -> name) lets configs written before a rename keep working.
    Biases, norms and other 1-d parameters get no weight decay.
    """
    children = dict(model.named_children())
    renamed = getattr(model, "renamed_modules", {})
    rates = {renamed.get(name, name): rate for name, rate in config.module_learning_rates.items()}
    unknown = sorted(set(rates) - set(children))
    if unknown:
        raise OptimizationError(
            f"training.module_learning_rates: no module named {unknown} (modules: {sorted(children)})"
        )
    owners = [(name, list(module.parameters())) for name, module in children.items()]
    owners.append(("(top level)", list(model.parameters(recurse=False))))  # a model's own, outside any module
    groups = []
    for name, owned in owners:
        lr = rates.get(name, config.learning_rate)
        params = [p for p in owned if p.requires_grad]
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]
        for group_params, weight_decay, suffix in ((decay, config.weight_decay, ""), (no_decay, 0.0, ".no_decay")):
            if group_params:
                groups.append({"params": group_params, "lr": lr, "weight_decay": weight_decay, "name": name + suffix})
    return groups


def build_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """Adam or AdamW over :func:`parameter_groups`; on a GPU the fused kernel (one launch for all parameters)."""
    optimizer_class = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    on_gpu = all(parameter.is_cuda for parameter in model.parameters())
    fused = {"fused": True} if on_gpu else {}  # on the CPU PyTorch's default (foreach) implementation
    return optimizer_class(parameter_groups(model, config), betas=tuple(config.betas), **fused)


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainingConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_steps``, then cosine decay to ``min_learning_rate``."""
    warmup = min(config.warmup_steps, max(total_steps - 1, 0))
    floors = [min(config.min_learning_rate / group["lr"], 1.0) for group in optimizer.param_groups]

    def factor(floor: float):
        def schedule(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        return schedule

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(floor) for floor in floors])
