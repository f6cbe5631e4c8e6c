"""Every stage under autocast on the CPU: CPU bf16/fp16 autocast takes the dtype paths of CUDA autocast.

Module tests compare one forward/backward and generation under autocast with fp32; the command
tests run training (a step, validation, prediction), extraction and translation of each task with
``--precision bf16`` on the tiny pipeline's data and checkpoints.
"""

from __future__ import annotations

import gzip
import json
import pickle
import shutil

import pytest
import torch
import yaml

import translate
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.feature_store import load_store
from dataset.toy_sign_language import write_records
from engine.device import Precision
from engine.jobs import feature_extraction as extract_feature
from engine.jobs import training_run as training
from modelling.recognition import SignToGloss, ctc_loss
from modelling.s3d import S3DBackbone
from modelling.sign_to_text import Cascade, SignToText
from modelling.translation import GlossToText
from modelling.translator_config import GenerationConfig
from modelling.visual_head import VisualHead
from tests.conftest import json_lines, s2t_config, tiny_config, tiny_s2g_config, tiny_translator, write_config

AUTOCAST = [Precision("bf16", "cpu"), Precision("fp16", "cpu")]
GENERATION = GenerationConfig(num_beams=2, max_length=8)
TARGETS = [[1, 2, 3], [4]]


def recognition() -> SignToGloss:
    """S3D block 1 and a visual head: video in, gloss log-probabilities out."""
    return SignToGloss(S3DBackbone(1, 0, 0.1), VisualHead(64, 10, hidden_dim=16, ff_dim=24, dropout=0.0))


def videos() -> tuple[torch.Tensor, torch.Tensor]:
    """Two clips of 8 and 6 frames (the second padded), and labels ``X </s> lang`` for them."""
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([8, 6])


LABELS = torch.tensor([[7, 8, 2, 5], [9, 2, 5, 1]])


def s2t_loss(model: SignToText) -> torch.Tensor:
    output = model(*videos(), LABELS)
    recognised = output.recognition
    return ctc_loss(recognised.log_probs, recognised.lengths, TARGETS).loss + output.translation_loss


def losses_and_gradients(model: torch.nn.Module, loss_fn, precision: Precision | None):
    """The loss and the gradient of every parameter, computed in fp32 or under ``precision``'s autocast."""
    model.zero_grad()
    with precision.autocast() if precision else torch.autocast("cpu", enabled=False):
        loss = loss_fn(model)
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("precision", AUTOCAST, ids=lambda p: p.name)
def test_sign_to_text_trains_under_autocast_like_fp32(precision):
    """The S2T step that stopped on a GPU (index put of fp32 end embeddings into bf16 features)."""
    torch.manual_seed(0)
    model = SignToText(recognition(), tiny_translator(label_smoothing=0.1), end_ids=(2, 3)).train()
    model.recognition.encoder.eval()  # batch statistics identical in both runs
    reference, reference_grads = losses_and_gradients(model, s2t_loss, None)
    loss, grads = losses_and_gradients(model, s2t_loss, precision)
    assert loss == pytest.approx(reference, rel=0.03)
    assert grads.keys() == reference_grads.keys()  # every module, the end embeddings too, gets a gradient
    assert grads["gloss_embedding.weight"][2:4].abs().sum() > 0


@pytest.mark.parametrize("precision", AUTOCAST, ids=lambda p: p.name)
def test_encoder_inputs_under_autocast_hold_the_end_embeddings_in_the_features_dtype(precision):
    torch.manual_seed(0)
    model = SignToText(recognition(), tiny_translator(label_smoothing=0.1), end_ids=(2, 3)).eval()
    with torch.no_grad():
        output = model.recognition(*videos())
        reference, reference_mask = model.encoder_inputs(output.gloss_features, output.lengths)
        with precision.autocast():
            output = model.recognition(*videos())
            embeds, mask = model.encoder_inputs(output.gloss_features, output.lengths)
    assert embeds.dtype == precision.dtype and torch.equal(mask, reference_mask)
    ends = model.gloss_embedding.weight[[2, 3]] * model.translator.embed_scale
    assert torch.equal(embeds[1, 3:5], ends.to(precision.dtype))  # clip 2: 6 frames -> 3 valid features
    torch.testing.assert_close(embeds.float(), reference, rtol=0.05, atol=0.05 * reference.abs().max().item())


@pytest.mark.parametrize("precision", AUTOCAST, ids=lambda p: p.name)
def test_generation_and_the_cascade_run_under_autocast(precision):
    torch.manual_seed(0)
    s2t = SignToText(recognition(), tiny_translator(label_smoothing=0.1), end_ids=(2, 3)).eval()
    vocab = GlossVocabulary([f"G{i}" for i in range(6)], "de_DE")  # 10 ids: </s> 2 and language 3 end inputs
    translator = GlossToText(len(vocab), vocab.pad_id, tiny_translator(label_smoothing=0.1)).eval()
    cascade = Cascade(recognition().eval(), translator, beam_size=3, vocab=vocab)
    with precision.autocast():
        ids, recognised = s2t.generate(*videos(), GENERATION)
        cascade_ids, glosses = cascade.generate(*videos(), GENERATION)
    for tokens in (ids, cascade_ids):
        assert tokens.dtype == torch.long and (tokens[:, 0] == 5).all()  # decoding starts with the language code
    assert torch.isfinite(recognised.log_probs).all() and len(glosses) == 2


@pytest.mark.parametrize("precision", AUTOCAST, ids=lambda p: p.name)
def test_recognition_keeps_padded_frames_zero_under_autocast(precision):
    torch.manual_seed(0)
    model = recognition().eval()
    with torch.no_grad():
        reference = model(*videos())
        with precision.autocast():
            output = model(*videos())
    assert not output.gloss_features[1, 3:].any()  # clip 2: 6 frames -> 3 valid features of 4
    assert torch.isfinite(output.log_probs).all()
    torch.testing.assert_close(output.log_probs.float(), reference.log_probs, rtol=0.05, atol=0.05)


# ----- the commands with --precision bf16, on the tiny pipeline's data and checkpoints -----------------------
# On the CPU, and on the GPU too where there is one. S3D in bf16 is slow on CPUs without bf16 units:
# the video runs take few samples (8 train, 2 dev, 2 test).

DEVICES = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
FEW = {"train": 8, "dev": 2, "test": 2}


def few_samples(root, directory) -> dict[str, str]:
    """The first few samples of each split of the pipeline's toy data, as annotation files in ``directory``."""
    paths = {}
    for split, size in FEW.items():
        records = pickle.loads(gzip.decompress((root / "data" / f"toy.{split}").read_bytes()))
        paths[split] = str(directory / f"few.{split}")
        write_records(records[:size], paths[split])
    return paths


def on_few_videos(config: dict, root, directory) -> dict:
    """``config`` on the pipeline's rendered toy videos, a few samples per split, 4 videos a batch."""
    config["data"] = {**config["data"], **few_samples(root, directory), "synthetic": None}
    config["data"]["video"] = tiny_s2g_config(root / "data", root)["data"]["video"]
    config["training"] = {**config["training"], "batch_size": 4, "max_steps": 2}
    return config


def bf16(device: str) -> list[str]:
    return ["--device", device, "--precision", "bf16"]


def assert_ran_in_bf16(model_dir, device: str) -> dict:
    """The run's resolved config names bf16 on ``device``; returns its report."""
    resolved = yaml.safe_load((model_dir / "config.yaml").read_text())["training"]
    assert (resolved["device"], resolved["precision"]) == (device, "bf16")
    assert f"device {device}{':0' * (device == 'cuda')}, precision bf16" in (model_dir / "train.log").read_text()
    return json.loads((model_dir / "predictions" / "report.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_g2t_trains_validates_and_predicts_in_bf16(device, pipeline, tmp_path):
    root, _ = pipeline
    data = {split: str(root / "data" / f"toy.{split}") for split in ("train", "dev", "test")}
    config = tiny_config(data, tmp_path / "g2t", training={"max_steps": 2})
    config["tokenizer"]["gloss_vocab"] = str(root / "s2g" / "gloss_vocab.txt")
    assert training.main(["--config", str(write_config(tmp_path / "g2t.yaml", config)), *bf16(device)]) == 0
    report = assert_ran_in_bf16(tmp_path / "g2t", device)
    assert report["test"]["counts"]["samples"] == 12 and "bleu4" in report["test"]["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_s2g_on_video_trains_validates_and_predicts_in_bf16(device, pipeline, tmp_path):
    root, _ = pipeline
    config = on_few_videos(tiny_s2g_config(root / "data", tmp_path / "s2g"), root, tmp_path)
    assert training.main(["--config", str(write_config(tmp_path / "s2g.yaml", config)), *bf16(device)]) == 0
    report = assert_ran_in_bf16(tmp_path / "s2g", device)
    assert report["test"]["counts"]["samples"] == 2 and "wer" in report["test"]["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_extraction_in_bf16_stays_close_to_fp32(device, pipeline, tmp_path):
    root, _ = pipeline
    argv = ["--config", str(root / "s2g.yaml"), "--splits", "dev", "--output-dir", str(tmp_path), *bf16(device)]
    assert extract_feature.main(argv) == 0
    store = load_store(tmp_path, "dev")
    assert store["metadata"]["precision"] == "bf16"
    reference = load_store(root / "s2g" / "features", "dev")["features"]
    assert store["features"].keys() == reference.keys()
    for name, features in store["features"].items():
        assert features.dtype == torch.float32 and features.shape == reference[name].shape
        scale = reference[name].abs().max().item()
        torch.testing.assert_close(features, reference[name], rtol=0.05, atol=0.02 * scale)


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_s2t_on_features_and_the_cascade_in_bf16(device, pipeline, tmp_path):
    root, _ = pipeline
    config = s2t_config(root, tmp_path / "s2t", max_steps=2)
    assert training.main(["--config", str(write_config(tmp_path / "s2t.yaml", config)), *bf16(device)]) == 0
    report = assert_ran_in_bf16(tmp_path / "s2t", device)
    for row in ("test", "test-cascade"):
        assert report[row]["counts"]["samples"] == 12 and {"bleu4", "wer"} <= set(report[row]["metrics"])


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_s2t_end_to_end_on_video_and_translate_in_bf16(device, pipeline, tmp_path, capsys):
    root, features_config = pipeline
    config = on_few_videos(s2t_config(root, tmp_path / "s2t"), root, tmp_path)
    config["s2t"]["features"] = None
    path = write_config(tmp_path / "s2t_video.yaml", config)
    assert training.main(["--config", str(path), *bf16(device)]) == 0
    assert "test-cascade" in assert_ran_in_bf16(tmp_path / "s2t", device)
    video = str(root / "data" / "test" / "toy-00001.mp4")
    capsys.readouterr()
    for mode in ([], ["--cascade"]):
        assert translate.main(["--config", str(path), video, "--json", *mode, *bf16(device)]) == 0
        (result,) = json_lines(capsys.readouterr().out)
        assert result["video"] == video and isinstance(result["text"], str)
    assert (
        translate.main(["--config", str(features_config), video, "--json", *bf16(device)]) == 0
    )  # S3D outside the model
    assert set(json_lines(capsys.readouterr().out)[0]["seconds"]) == {"decode", "s3d", "translate"}


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_a_run_resumed_mid_epoch_ends_like_the_uninterrupted_one(toy_data, tmp_path, precision):
    """Checkpoints within an epoch resume exactly; in fp16 the gradient scaler's state is checkpointed too."""
    config = tiny_config(toy_data, tmp_path / "model", training={"max_steps": 6, "validate_every": 3})
    config["training"]["validate_unit"] = "steps"
    path = write_config(tmp_path / "run.yaml", config)
    flags = ["--device", "cpu", "--precision", precision]
    assert training.main(["--config", str(path), *flags]) == 0
    first, last = RunDirectory(tmp_path / "model").step_checkpoints()
    assert torch.load(first, weights_only=False)["step"] == 3
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "model", resumed)
    (resumed / last.name).unlink()
    assert training.main(["--config", str(path), "-o", f"training.model_dir={resumed}", "--resume", *flags]) == 0
    expected = torch.load(last, weights_only=False)
    got = torch.load(resumed / last.name, weights_only=False)
    assert got["scaler"] == expected["scaler"] and bool(expected["scaler"]) == (precision == "fp16")
    for key, tensor in expected["model"].items():
        assert torch.equal(got["model"][key], tensor), key
