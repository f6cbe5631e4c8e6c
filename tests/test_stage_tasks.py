"""Each stage task through the task protocol alone: data, loss, evaluation, framing (no training run).

The tiny S2G, G2T and S2T runs of the ``pipeline`` fixture provide vocabularies, features and
checkpoints; every test here builds its task from a config and calls only protocol members.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
import torch

from core.config import load_config
from core.errors import ToolkitError
from dataset.video_reader import VideoError
from engine.distributed import setup_distributed
from engine.task_protocol import Task
from engine.tasks.registry import build_task
from tests.conftest import s2t_config, tiny_config, tiny_s2g_config, write_config


def prepared(path) -> Task:
    task = build_task(load_config(path), setup_distributed("cpu", "fp32"))
    task.prepare(create=False)
    return task


def first_batch(task: Task, split: str = "train", size: int = 4) -> dict:
    dataset = task.dataset(split, training=split == "train")
    dataset.set_epoch(0)
    return task.collator()([dataset[i] for i in range(size)])


def has_gradients(model: torch.nn.Module) -> bool:
    return all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def configs(pipeline, tmp_path_factory):
    root, s2t = pipeline
    tmp = tmp_path_factory.mktemp("stage_tasks")
    video_s2t = s2t_config(root, tmp / "s2t_video")
    video_s2t["s2t"]["features"] = None
    video_s2t["data"]["video"] = tiny_s2g_config(root / "data", root)["data"]["video"]
    return {
        "s2g": root / "s2g.yaml",
        "g2t": root / "g2t.yaml",
        "s2t": s2t,
        "s2t_video": write_config(tmp / "s2t_video.yaml", video_s2t),
    }


@pytest.mark.parametrize("name", ["s2g", "g2t", "s2t", "s2t_video"])
def test_one_training_step_through_the_protocol_gives_a_finite_loss_and_every_gradient(configs, name):
    task = prepared(configs[name])
    torch.manual_seed(0)
    model = task.build_model().train()
    loss = task.loss(model, first_batch(task), torch.device("cpu")).total
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0 and has_gradients(model)


@pytest.mark.parametrize("name", ["s2g", "g2t", "s2t", "s2t_video"])
def test_evaluation_scores_every_example_and_restores_the_training_mode(configs, name):
    task = prepared(configs[name])
    model = task.build_model().train()
    result = task.evaluate(model, "dev")
    assert model.training and task.metric in result.metrics
    assert [row[0] for row in result.rows] == [e.name for e in task.split("dev").examples]
    assert result.counts["samples"] == len(result.rows)


def test_targets_are_built_once_and_framed_only_for_the_translator(configs):
    s2g, g2t, s2t, s2t_video = (prepared(configs[name]) for name in ("s2g", "g2t", "s2t", "s2t_video"))
    vocab = g2t.vocab
    for example in g2t.split("dev").examples:
        assert example.translator_input == vocab.frame(example.ctc_targets) == [*example.ctc_targets, *vocab.end_ids]
    ctc_targets = {e.name: e.ctc_targets for e in s2g.split("dev").examples}
    for task in (s2t, s2t_video):  # CTC targets carry no special id, whatever the input
        assert {e.name: e.ctc_targets for e in task.split("dev").examples} == ctc_targets
    labels = {e.name: e.label_ids for e in g2t.split("dev").examples}
    assert {e.name: e.label_ids for e in s2t_video.split("dev").examples} == labels


def test_sign_to_text_loss_is_the_weighted_sum_of_ctc_and_translation(configs):
    task = prepared(configs["s2t"])
    torch.manual_seed(0)
    model = task.build_model().eval()  # no dropout: the three losses see the same network
    batch = first_batch(task)
    losses = {}
    for weights in ((1.0, 0.0), (0.0, 1.0), (0.5, 2.0)):
        s2t = dataclasses.replace(task.config.s2t, recognition_weight=weights[0], translation_weight=weights[1])
        task.config = task.config.replace(s2t=s2t)
        loss = task.loss(model, batch, torch.device("cpu"))
        losses[weights] = loss.total.item()
        parts = {name: part.item() for name, part in loss.parts.items()}
    assert losses[(0.5, 2.0)] == pytest.approx(0.5 * losses[(1.0, 0.0)] + 2.0 * losses[(0.0, 1.0)], rel=1e-5)
    assert parts == pytest.approx({"ctc": losses[(1.0, 0.0)], "translation": losses[(0.0, 1.0)]}, rel=1e-5)


def test_a_training_batch_without_a_readable_video_is_counted_and_weightless(configs):
    task = prepared(configs["s2g"])
    model = task.build_model().train()
    batch = first_batch(task, size=2)
    unreadable = {**batch, "frames": None, "names": [], "padded": [], "skipped": [("a", "broken"), ("b", "broken")]}
    loss = task.loss(model, unreadable, torch.device("cpu")).total
    loss.backward()
    assert loss.item() == 0.0 and has_gradients(model)  # every rank takes part in DDP's gradient exchange
    assert task.training_counts == Counter({"unreadable videos skipped": 2})


def test_evaluation_names_the_sample_whose_video_cannot_be_read(configs):
    task = prepared(configs["s2g"])
    example = task.split("dev").examples[1]
    video = task.inputs.preprocessing.source.root / example.location
    original = video.read_bytes()
    try:
        video.write_bytes(b"not a video")
        with pytest.raises(VideoError, match=f"dev sample {example.name}: .*not a readable video"):
            task.evaluate(task.build_model(), "dev")
    finally:
        video.write_bytes(original)


def test_only_sign_to_text_compares_with_the_cascade(configs):
    assert prepared(configs["s2g"]).comparisons("dev") == [] == prepared(configs["g2t"]).comparisons("dev")
    (cascade,) = prepared(configs["s2t"]).comparisons("dev")
    assert cascade.split == "dev-cascade" and {"bleu4", "wer"} <= set(cascade.metrics)


def test_a_script_for_one_stage_refuses_another_stages_config(tmp_path, toy_data):
    config = load_config(write_config(tmp_path / "g2t.yaml", tiny_config(toy_data, tmp_path / "m")))
    with pytest.raises(ToolkitError, match="translate.py needs an s2t config, got task 'g2t'"):
        build_task(config, setup_distributed("cpu", "fp32"), "video_front_end", "translate.py")
