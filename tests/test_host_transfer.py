"""Host-to-device copies that never make the host wait, and a GPU training step without a host sync."""

from __future__ import annotations

import pytest
import torch

from core.config import TrainingConfig, VideoConfig
from core.host_transfer import to_device
from dataset.video_preprocessing import VideoPreprocessing
from engine.device import place_model
from engine.optimization import build_optimizer
from modelling.builders import build_recognition
from modelling.recognition import RecognitionConfig, ctc_loss
from modelling.s3d import S3DEncoderConfig


def test_a_host_tensor_arrives_unchanged_and_lengths_stay_on_the_host():
    lengths = torch.tensor([5, 3])
    assert torch.equal(to_device(lengths, "cpu"), lengths)
    cfg = RecognitionConfig(S3DEncoderConfig(use_block=1, freeze_block=0), hidden_dim=8, ff_dim=16)
    output = build_recognition(cfg, cfg.encoder.build(pretrained=False), 6)(torch.randn(2, 3, 5, 16, 16), lengths)
    assert output.lengths.device.type == "cpu" and output.lengths.tolist() == [3, 2]  # S3D halves time


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_sign_to_gloss_training_step_on_a_gpu_never_waits_for_the_device():
    """Every copy to the GPU is asynchronous and nothing is read back: CUDA's sync debug mode raises otherwise."""
    device = torch.device("cuda")
    cfg = RecognitionConfig(S3DEncoderConfig(use_block=2, freeze_block=1), hidden_dim=32, ff_dim=64)
    model = place_model(build_recognition(cfg, cfg.encoder.build(False), 12), device).train()  # channels-last S3D
    optimizer = build_optimizer(model, TrainingConfig(model_dir="unused"))
    preprocessing = VideoPreprocessing(VideoConfig(root="unused", img_size=64, decode_size=None))
    frames = torch.randint(0, 256, (2, 24, 80, 80, 3), dtype=torch.uint8).pin_memory()
    lengths, targets = torch.tensor([24, 17]), [[1, 2, 3], [4, 5]]
    for step in range(3):  # the first step warms up (allocations, kernel selection); the others are checked
        torch.cuda.set_sync_debug_mode("error" if step else "default")
        try:
            with torch.autocast("cuda", dtype=torch.bfloat16):
                output = model(preprocessing.network_input(frames, device, training=True), lengths)
                loss = ctc_loss(output.log_probs, output.lengths, targets).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(loss).item()
