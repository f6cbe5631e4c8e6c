"""Every registered task satisfies the task protocol the trainer and prediction rely on."""

from __future__ import annotations

from core.config import load_config
from engine.distributed import setup_distributed
from engine.task_protocol import Task
from engine.tasks.registry import TASKS, build_task
from tests.conftest import tiny_config, tiny_s2g_config, write_config


def test_each_registered_task_is_a_task(tmp_path, toy_data, pipeline):
    root, s2t = pipeline
    configs = {
        "g2t": write_config(tmp_path / "g2t.yaml", tiny_config(toy_data, tmp_path / "g2t")),
        "s2g": write_config(tmp_path / "s2g.yaml", tiny_s2g_config(root / "data", tmp_path / "s2g")),
        "s2t": s2t,
    }
    assert set(configs) <= set(TASKS)  # the built-in tasks (a test may register more)
    context = setup_distributed("cpu", "fp32")
    for name, path in configs.items():
        task = build_task(load_config(path), context)
        assert isinstance(task, Task) and task.config.task == name, name
        assert isinstance(task.metric, str) and isinstance(task.higher_is_better, bool), name
        assert not task.training_counts and task.name == name, name


def test_only_sign_to_text_adds_comparison_rows(tmp_path, toy_data):
    config = load_config(write_config(tmp_path / "g2t.yaml", tiny_config(toy_data, tmp_path / "m")))
    task = build_task(config, setup_distributed("cpu", "fp32"))
    assert task.comparisons("dev") == []
