"""export.py and translate.py --backend onnx on a trained toy run: checked export, same answers as PyTorch."""

from __future__ import annotations

import json

import pytest

import export
import translate
from core.errors import ToolkitError
from core.run_directory import ExportDirectory
from tests.conftest import json_lines

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(speaking_s2t, tmp_path_factory):
    output = tmp_path_factory.mktemp("onnx")
    assert export.main(["--run", str(speaking_s2t), "--output", str(output)]) == 0
    return ExportDirectory(output)


def test_the_export_holds_three_checked_graphs_and_what_runs_them(exported, capsys):
    for name in ("recognition", "encoder", "decoder"):
        assert exported.graph(name).is_file()
    assert exported.gloss_vocab.is_file() and exported.text_tokenizer.is_dir()
    settings = json.loads(exported.settings.read_text())
    differences = [value for graph in settings["checks"].values() for value in graph.values()]
    assert len(differences) == 7 and max(differences) < settings["tolerance"] == 1e-3


def test_onnx_translations_equal_pytorchs(exported, speaking_s2t, pipeline, capsys):
    root, _ = pipeline
    videos = [str(root / "data" / "test" / f"toy-{i:05d}.mp4") for i in range(6)]
    common = ["--run", str(speaking_s2t), "--device", "cpu", "--precision", "fp32", *videos, "--json"]
    assert translate.main(common) == 0
    expected = json_lines(capsys.readouterr().out)
    assert translate.main([*common, "--backend", "onnx", "--onnx", str(exported.root)]) == 0
    found = json_lines(capsys.readouterr().out)
    assert any(result["glosses"] for result in expected)  # the run says something to compare
    for ours, theirs in zip(found, expected, strict=True):
        assert (ours["glosses"], ours["text"]) == (theirs["glosses"], theirs["text"])
        assert [(s["gloss"], s["start"], s["end"]) for s in ours["spans"]] == [
            (s["gloss"], s["start"], s["end"]) for s in theirs["spans"]
        ]
        assert [s["score"] for s in ours["spans"]] == pytest.approx([s["score"] for s in theirs["spans"]], abs=2e-3)


def test_the_onnx_backend_batches_videos_as_pytorch_does(exported, pipeline):
    from deployment.onnx_backend import OnnxTranslator

    root, _ = pipeline
    translator = OnnxTranslator(exported)
    decoded = [translator.read(str(root / "data" / "test" / f"toy-{i:05d}.mp4")) for i in range(4)]
    assert len({len(video.frames) for video in decoded}) > 1
    for video, batched in zip(decoded, translator.translate(decoded), strict=True):
        (alone,) = translator.translate([video])
        assert (batched.glosses, batched.text) == (alone.glosses, alone.text)


def test_a_missing_export_is_named(speaking_s2t, pipeline, tmp_path, capsys):
    root, _ = pipeline
    video = str(root / "data" / "test" / "toy-00000.mp4")
    args = ["--run", str(speaking_s2t), "--backend", "onnx", "--onnx", str(tmp_path), video]
    assert translate.main(args) == 2
    assert f"{tmp_path}: not an ONNX export (no export.json); run export.py first" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        translate.main(["--run", str(speaking_s2t), "--backend", "onnx", "--cascade", video])


def test_onnxruntime_providers_follow_the_device(monkeypatch):
    from deployment import onnx_backend
    from deployment.onnx_backend import execution_providers

    cpu, cuda = ["CPUExecutionProvider"], ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(onnx_backend.onnxruntime, "get_available_providers", lambda: cpu)
    assert execution_providers("auto") == cpu and execution_providers("cpu") == cpu
    with pytest.raises(ToolkitError, match="no CUDA provider .* install onnxruntime-gpu"):
        execution_providers("cuda")
    monkeypatch.setattr(onnx_backend.onnxruntime, "get_available_providers", lambda: cuda)
    assert execution_providers("auto") == cuda and execution_providers("cuda") == cuda
    assert execution_providers("cpu") == cpu
