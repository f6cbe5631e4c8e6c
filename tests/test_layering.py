"""The import rules of the layers, read from the source: a violation names the file and the import.

- ``core/`` (errors, atomic file writing, the config schema, the gloss vocabulary) imports nothing of
  the project but itself;
- ``modelling/``, ``dataset/`` and ``evaluation/`` import only ``core`` and their own package;
- ``engine/``'s own modules (the training runtime: trainer, checkpoints, optimisation, device,
  distributed helpers, logging, progress, the evaluation loop, the task protocol) import those
  packages and the runtime, no task, job or deployment module;
- ``engine/tasks/`` (the registry, the stage tasks and their parts) imports the runtime and
  itself, no job or deployment module;
- ``engine/jobs/`` (training run, prediction, feature extraction) imports the runtime and the tasks;
- ``deployment/`` (the video translator, ONNX export and its backend) imports the runtime and the
  tasks, no job;
- ``checkpoint_conversion/`` (foreign checkpoints in) imports the runtime and the tasks, no job;
- ``serving/`` (the HTTP service) imports any package but the jobs, never a script;
- scripts (the top-level ``*.py`` and ``benchmarks/``) import packages, never another script.

Also read from the source: only the run directory spells a run's file names, only the task
registry compares a config's ``task`` with task names, and only the mBART adapter imports from inside
transformers (its top-level names are its public API; ``transformers.models.*.modeling_*`` can change
in any release).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("core", "modelling", "dataset", "evaluation", "engine", "deployment", "checkpoint_conversion", "serving")
SCRIPTS = sorted(path.stem for path in ROOT.glob("*.py"))
LOWER = {"core", "modelling", "dataset", "evaluation"}
ALLOWED = {
    "core": {"core"},
    "modelling": {"core", "modelling"},
    "dataset": {"core", "dataset"},
    "evaluation": {"core", "evaluation"},
    "engine": LOWER | {"engine"},
    "engine.tasks": LOWER | {"engine", "engine.tasks"},
    "engine.jobs": LOWER | {"engine", "engine.tasks", "engine.jobs"},
    "deployment": LOWER | {"engine", "engine.tasks", "deployment"},
    "checkpoint_conversion": LOWER | {"engine", "engine.tasks", "checkpoint_conversion"},
    "serving": LOWER | {"engine", "engine.tasks", "deployment", "serving"},
    "script": LOWER | {"engine", "engine.tasks", "engine.jobs", "deployment", "checkpoint_conversion", "serving"},
}
SUBPACKAGES = ("engine.tasks", "engine.jobs")


def layer_of_module(name: str) -> str:
    """The layer of a module: ``engine.tasks.registry`` -> ``engine.tasks``, ``engine.trainer`` -> ``engine``."""
    return next((sub for sub in SUBPACKAGES if name == sub or name.startswith(sub + ".")), name.split(".")[0])


def project_imports(path: Path) -> list[str]:
    """The modules of this project that ``path`` imports (absolute imports; the project has no relative ones)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.split(".")[0] in (*PACKAGES, *SCRIPTS)]


def layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return layer_of_module(".".join(parts)) if parts[0] in PACKAGES else "script"


def sources() -> list[Path]:
    paths = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    return sorted([*paths, *ROOT.glob("*.py"), *(ROOT / "benchmarks").glob("*.py")])


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path):
    layer = layer_of(path)
    wrong = [name for name in project_imports(path) if layer_of_module(name) not in ALLOWED[layer]]
    assert not wrong, f"{path.relative_to(ROOT)} ({layer}) imports {wrong}"


def test_the_rules_catch_an_upward_import(tmp_path):
    """The check itself: a dataset module importing the engine, or a script importing a script, is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from engine.config_missing import x\nimport training\nfrom core.errors import ToolkitError\n")
    assert project_imports(bad) == ["engine.config_missing", "training", "core.errors"]
    assert [n for n in project_imports(bad) if layer_of_module(n) not in ALLOWED["dataset"]] == [
        "engine.config_missing",
        "training",
    ]


def test_the_rules_catch_the_runtime_importing_a_task_and_a_task_a_job():
    assert layer_of(ROOT / "engine" / "trainer.py") == "engine"
    assert layer_of(ROOT / "engine" / "tasks" / "registry.py") == "engine.tasks"
    assert "engine.tasks" not in ALLOWED[layer_of_module("engine.trainer")]
    assert "engine.jobs" not in ALLOWED[layer_of_module("engine.tasks.sign_to_gloss")]
    assert "engine.jobs" not in ALLOWED[layer_of_module("deployment.onnx_export")]


RUN_LAYOUT_NAMES = {
    "config.yaml",
    "train.log",
    "tensorboard",
    "gloss_vocab.txt",
    "text_tokenizer",
    "best.ckpt",
    ".ckpt",
    "predictions",
    "report.json",
    ".hyp.tsv",
}
LAYOUT_OWNERS = {"core/run_directory.py", "core/vocabulary.py"}  # the vocabulary names its own file


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_run_directory_spells_the_run_layout(path):
    if str(path.relative_to(ROOT)) in LAYOUT_OWNERS:
        return
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    spelled = sorted({s for s in strings if s in RUN_LAYOUT_NAMES or s.endswith((".ckpt", ".hyp.tsv"))})
    assert not spelled, f"{path.relative_to(ROOT)} spells {spelled}: use core.run_directory.RunDirectory"


def names_a_task(node: ast.AST) -> bool:
    """A string literal, or a tuple, list or set of them (``"s2g"``, ``("s2g", "s2t")``)."""
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return bool(node.elts) and all(names_a_task(item) for item in node.elts)
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def task_comparisons(tree: ast.AST) -> list[str]:
    """Each comparison of a ``task`` attribute with task names (``config.task == "s2g"``) in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(isinstance(side, ast.Attribute) and side.attr == "task" for side in sides) and any(
                names_a_task(side) for side in sides
            ):
                found.append(ast.unparse(node))
    return found


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_branches_on_the_task_name_outside_the_registry(path):
    """A stage's behaviour lives in its task class; ``engine/tasks/registry.py`` alone maps names to classes."""
    if str(path.relative_to(ROOT)) == "engine/tasks/registry.py":
        return
    branches = task_comparisons(ast.parse(path.read_text(encoding="utf-8")))
    assert not branches, f"{path.relative_to(ROOT)} branches on the task name: {branches}"


def test_the_task_branch_finder_finds_one():
    code = 'if config.task == "s2g" or config.task in ("s2t",) or saved.task != task:\n    pass'
    assert task_comparisons(ast.parse(code)) == ["config.task == 's2g'", "config.task in ('s2t',)"]


BUILT_IN_TASKS = ("s2g", "g2t", "s2t")


@pytest.mark.parametrize("path", sorted((ROOT / "core").glob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_ground_floor_names_no_task(path):
    """``core/`` validates any registered task's config: no task name is written in it, not even in a comment."""
    words = set(re.findall(r"[a-z0-9]+", path.read_text(encoding="utf-8").lower()))
    assert not words & set(BUILT_IN_TASKS), f"{path.relative_to(ROOT)} names {sorted(words & set(BUILT_IN_TASKS))}"


MBART_ADAPTER = "modelling/mbart_adapter.py"


def transformers_submodules(tree: ast.AST) -> list[str]:
    """The modules inside transformers (``transformers.x.y``, not the top-level package) that ``tree`` imports."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [name for name in names if name.startswith("transformers.")]


@pytest.mark.parametrize(
    "path", [*sources(), *sorted((ROOT / "tests").glob("*.py"))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_only_the_mbart_adapter_imports_from_inside_transformers(path):
    if str(path.relative_to(ROOT)) == MBART_ADAPTER:
        return
    private = transformers_submodules(ast.parse(path.read_text(encoding="utf-8")))
    assert not private, f"{path.relative_to(ROOT)} imports {private}: go through {MBART_ADAPTER}"


def test_the_private_import_finder_finds_them():
    code = (
        "import transformers\nfrom transformers import MBartConfig\n"
        "from transformers.models.mbart.modeling_mbart import shift_tokens_right\nimport transformers.cache_utils\n"
    )
    found = transformers_submodules(ast.parse(code))
    assert found == ["transformers.models.mbart.modeling_mbart", "transformers.cache_utils"]


def test_the_pytorch_entry_points_leave_onnxruntime_unloaded():
    """onnxruntime is imported for ``--backend onnx`` only: serving and translating in PyTorch never load it."""
    check = "import sys, serve, translate; print('onnxruntime' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False", loaded.stderr[-2000:]
