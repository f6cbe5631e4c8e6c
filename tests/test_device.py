"""engine.device: device and precision choices, on simulated GPU counts (no GPU needed)."""

from __future__ import annotations

import pytest
import torch

from engine.device import DeviceError, Precision, place_model, resolve_device, resolve_precision
from engine.jobs import training_run as training
from modelling.s3d import S3DBackbone
from tests.conftest import tiny_config, write_config


@pytest.fixture
def gpus(monkeypatch):
    """Pretend this machine has ``n`` CUDA GPUs (bf16-capable unless told otherwise)."""

    def simulate(n: int, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Simulated V100")

    return simulate


def test_auto_takes_the_ranks_gpu_when_there_is_one(gpus):
    gpus(2)
    assert resolve_device("auto", local_rank=1, local_world_size=2) == torch.device("cuda", 1)
    gpus(0)
    assert resolve_device("auto", local_rank=0, local_world_size=4) == torch.device("cpu")


def test_cpu_is_always_possible_even_with_more_ranks_than_gpus(gpus):
    gpus(1)
    assert resolve_device("cpu", local_rank=3, local_world_size=4) == torch.device("cpu")


@pytest.mark.parametrize("choice", ["auto", "cuda"])
def test_more_local_ranks_than_gpus_is_one_clear_message(gpus, choice):
    gpus(1)
    with pytest.raises(DeviceError) as error:
        resolve_device(choice, local_rank=1, local_world_size=2)
    message = str(error.value)
    assert "2 processes per node but 1 visible GPU(s)" in message
    assert "--nproc_per_node 1" in message and "--device cpu" in message


def test_cuda_without_cuda_is_refused(gpus):
    gpus(0)
    with pytest.raises(DeviceError, match="CUDA is not available here: use --device cpu"):
        resolve_device("cuda", local_rank=0, local_world_size=1)


def test_auto_precision_is_bf16_on_a_capable_gpu_and_fp32_elsewhere(gpus):
    gpus(1)
    assert resolve_precision("auto", torch.device("cuda", 0)).name == "bf16"
    assert resolve_precision("auto", torch.device("cpu")).name == "fp32"
    gpus(1, bf16=False)
    assert resolve_precision("auto", torch.device("cuda", 0)).name == "fp32"
    with pytest.raises(DeviceError, match="Simulated V100 does not support bfloat16"):
        resolve_precision("bf16", torch.device("cuda", 0))


def test_autocast_and_loss_scaling_follow_the_precision():
    layer = torch.nn.Linear(4, 4)
    with Precision("bf16", "cpu").autocast():
        assert layer(torch.randn(2, 4)).dtype == torch.bfloat16
    with Precision("fp32", "cpu").autocast():
        assert layer(torch.randn(2, 4)).dtype == torch.float32
    assert Precision("fp16", "cpu").grad_scaler().is_enabled()
    assert not Precision("bf16", "cpu").grad_scaler().is_enabled()


def test_torchrun_with_more_ranks_than_gpus_stops_before_any_work(gpus, monkeypatch, tmp_path, toy_data, capsys):
    """As torchrun's second process on a 1-GPU machine: one line, no process group, nothing written."""
    gpus(1)
    for name, value in {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(name, value)
    path = write_config(tmp_path / "run.yaml", tiny_config(toy_data, tmp_path / "model"))
    assert training.main(["--config", str(path), "--device", "auto"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "error: 2 processes per node but 1 visible GPU(s): start at most 1 (torchrun --nproc_per_node 1), "
        "or run on the CPU with --device cpu"
    ]
    assert not torch.distributed.is_initialized() and not (tmp_path / "model").exists()


def test_asking_for_cuda_where_there_is_none_is_one_line_before_any_work(gpus, tmp_path, toy_data, capsys):
    gpus(0)
    path = write_config(tmp_path / "run.yaml", tiny_config(toy_data, tmp_path / "model"))
    assert training.main(["--config", str(path), "--device", "cuda"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: device 'cuda' was asked for, but CUDA is not available here: use --device cpu"]
    assert not (tmp_path / "model").exists()


def test_channels_last_s3d_gives_the_features_of_the_contiguous_one():
    """What place_model does on a GPU and for inference on the CPU: the same features, channels-last weights."""
    torch.manual_seed(0)
    model = S3DBackbone(use_block=2).eval()
    videos, lengths = torch.randn(2, 3, 8, 32, 32), torch.tensor([8, 6])
    reference, _ = model(videos, lengths)
    assert place_model(model, torch.device("cpu")) is model  # training on the CPU keeps the default layout
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    place_model(model, torch.device("cpu"), inference=True)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last_3d) for c in convs)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in model.modules())  # folded into the convolutions
    for layout in (torch.contiguous_format, torch.channels_last_3d):  # the input as the preprocessing gives it
        features, _ = model(videos.contiguous(memory_format=layout), lengths)
        torch.testing.assert_close(features, reference, rtol=1e-4, atol=1e-4)
