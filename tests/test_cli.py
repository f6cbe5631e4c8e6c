"""engine.cli: ``--run RUN_DIR`` read the same way by every script, and ``--plugin`` modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from core.errors import ToolkitError
from core.run_directory import RunDirectory
from engine.cli import import_plugins, use_run_directory


def test_a_run_directory_gives_its_config_best_checkpoint_and_export(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.root.mkdir()
    run.config.write_text("task: s2t\n")
    args = argparse.Namespace(run=str(run.root), ckpt=None, onnx=None, device=None, precision="fp32")
    assert use_run_directory(argparse.ArgumentParser(), args).root == run.root
    assert (args.config, args.ckpt, args.onnx) == (str(run.config), str(run.best_checkpoint), run.onnx)
    assert (args.device, args.precision, args.override) == ("auto", "fp32", [])  # what the command line named stays
    given = argparse.Namespace(run=str(run.root), ckpt="mine.ckpt", onnx="export", override=["a.b=1"])
    use_run_directory(argparse.ArgumentParser(), given, device="cpu")
    assert (given.ckpt, given.onnx, given.override, given.device) == ("mine.ckpt", Path("export"), ["a.b=1"], "cpu")


def test_a_folder_that_is_no_run_is_a_usage_error_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        use_run_directory(argparse.ArgumentParser(), argparse.Namespace(run=str(tmp_path)))
    assert stopped.value.code == 2
    assert f"--run {tmp_path}: no config.yaml there (not a trained run directory)" in capsys.readouterr().err


def test_a_plugin_that_cannot_be_imported_is_named():
    import_plugins(["json"])
    with pytest.raises(ToolkitError, match="--plugin no_such_plugin_module: cannot import it"):
        import_plugins(["no_such_plugin_module"])
