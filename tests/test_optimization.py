import itertools
import math

import pytest
import torch
from torch import nn

from core.config import TrainingConfig
from engine.optimization import OptimizationError, build_optimizer, build_scheduler, freeze_modules


class TwoPart(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.LayerNorm(2))


def test_per_module_learning_rates_and_no_decay_for_1d_parameters():
    config = TrainingConfig(model_dir="x", learning_rate=1e-3, module_learning_rates={"head": 1e-5}, weight_decay=0.1)
    optimizer = build_optimizer(TwoPart(), config)
    groups = {g["name"]: g for g in optimizer.param_groups}
    assert groups["encoder"]["lr"] == 1e-3 and groups["encoder"]["weight_decay"] == 0.1
    assert groups["head"]["lr"] == 1e-5
    assert groups["head.no_decay"]["weight_decay"] == 0.0
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 6
    assert isinstance(optimizer, torch.optim.AdamW)


def test_a_module_under_its_old_name_gets_its_learning_rate():
    model = TwoPart()
    model.renamed_modules = {"backbone": "encoder"}
    config = TrainingConfig(model_dir="x", learning_rate=1e-3, module_learning_rates={"backbone": 1e-4})
    groups = {g["name"]: g for g in build_optimizer(model, config).param_groups}
    assert groups["encoder"]["lr"] == 1e-4 and groups["head"]["lr"] == 1e-3


def test_unknown_module_is_named():
    config = TrainingConfig(model_dir="x", module_learning_rates={"translater": 1e-5})
    with pytest.raises(OptimizationError, match=r"no module named \['translater'\]"):
        build_optimizer(TwoPart(), config)


def test_frozen_modules_leave_the_optimizer_and_stay_as_they_were():
    model = TwoPart()
    config = TrainingConfig(model_dir="x", frozen_modules=["head.0"])
    assert freeze_modules(model, config) == 2  # the head's Linear: weight and bias
    before = model.head[0].weight.clone()
    optimizer = build_optimizer(model, config)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 4  # encoder 2, the LayerNorm 2
    model.head(model.encoder(torch.ones(3, 4))).sum().backward()
    optimizer.step()
    assert torch.equal(model.head[0].weight, before) and model.head[0].weight.grad is None
    with pytest.raises(
        OptimizationError, match=r"'head.5' names no module of the model \(top-level modules: \['encoder', 'head'\]\)"
    ):
        freeze_modules(TwoPart(), TrainingConfig(model_dir="x", frozen_modules=["head.5"]))


def test_warmup_then_cosine_to_the_floor():
    config = TrainingConfig(model_dir="x", learning_rate=1e-3, warmup_steps=10, min_learning_rate=1e-5)
    optimizer = build_optimizer(TwoPart(), config)
    scheduler = build_scheduler(optimizer, config, total_steps=110)
    rates = []
    for _ in range(110):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert rates[60] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-5)
    assert all(a >= b for a, b in itertools.pairwise(rates[9:]))


def test_a_models_own_parameters_are_optimised_too():
    """Parameters outside any submodule (here a bare linear layer's) were left out of every group."""
    model = nn.Linear(2, 1)
    groups = build_optimizer(model, TrainingConfig(model_dir="m")).param_groups
    assert sorted(p.numel() for group in groups for p in group["params"]) == [1, 2]


def test_the_fused_kernel_is_used_on_a_gpu_only():
    assert not build_optimizer(TwoPart(), TrainingConfig(model_dir="m")).defaults["fused"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_fused_kernel_on_a_gpu():
    assert build_optimizer(TwoPart().cuda(), TrainingConfig(model_dir="m")).defaults["fused"]
