"""Benchmark: this project's Sign2Gloss training step side by side with the paper's code, same input.

    python benchmarks/s2g_side_by_side.py --paper-code PATH/TO/SLRT/TwoStreamNetwork
        [--settings 4x64x224:fp32 4x64x224:bf16:cl 8x64x112:bf16:cl] [--steps 10] [--rounds 2]
        [--device auto|cpu|cuda]

Both sides train the same network: S3D blocks 1-4 with block 1 frozen, visual head 512/2048, CTC over
1,100 glosses (10-gloss targets), AdamW, from the same ready tensor (seeded normal noise, B×3×T×S×S, on
the device): one step is forward, backward and optimizer step. The paper's code (FangyunWei/SLRT,
``TwoStreamNetwork``) is imported from the path given, never copied here; without ``--paper-code``
only this project's side runs. Each side and setting runs in its own process (both codes have a
package named ``modelling``).

A setting is ``BATCHxFRAMESxSIZE:PRECISION[:cl]``: precision fp32 or bf16 (autocast); ``cl`` puts the
paper's 3-D convolutions and input channels-last on a GPU (this project does that on every GPU run,
as training does). Figures: clips/s of each round of ``--steps`` steps (synchronised at the round's
end only, so host waits inside the step count), the median over ``--rounds``, after 2 warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
NUM_GLOSSES = 1100  # about PHOENIX-2014T's gloss vocabulary
TARGET = list(range(4, 14))  # 10 glosses, none the blank (0)
WARMUP_STEPS = 2
DEFAULT_SETTINGS = ["4x64x224:fp32", "4x64x224:bf16:cl", "8x64x112:bf16:cl"]


@dataclass(frozen=True)
class Setting:
    """One row of the table: input shape, precision and whether the paper's side runs channels-last."""

    batch: int
    frames: int
    size: int
    precision: str
    channels_last: bool

    @classmethod
    def parse(cls, text: str) -> Setting:
        shape, precision, *flags = text.split(":")
        batch, frames, size = (int(n) for n in shape.split("x"))
        if precision not in ("fp32", "bf16") or flags not in ([], ["cl"]):
            raise argparse.ArgumentTypeError(f"setting {text!r}: expected BATCHxFRAMESxSIZE:fp32|bf16[:cl]")
        return cls(batch, frames, size, precision, flags == ["cl"])

    def __str__(self) -> str:
        return f"{self.batch}x{self.frames}x{self.size}:{self.precision}" + (":cl" if self.channels_last else "")


# A step function runs one training step; a side builds one for a setting on a device.
Step = Callable[[], None]


def ready_input(setting: Setting, device: torch.device, channels_last: bool) -> torch.Tensor:
    """The same seeded B×3×T×S×S video tensor on both sides."""
    generator = torch.Generator().manual_seed(0)
    shape = (setting.batch, 3, setting.frames, setting.size, setting.size)
    videos = torch.randn(shape, generator=generator).to(device)
    return videos.contiguous(memory_format=torch.channels_last_3d) if channels_last else videos


def autocast(setting: Setting, device: torch.device):
    """bf16 autocast for bf16 settings, nothing for fp32."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting.precision == "bf16")


def ours(setting: Setting, device: torch.device) -> tuple[Step, int]:
    """This project's step as ``training.py`` runs it: its networks, placement, CTC and optimizer."""
    sys.path.insert(0, str(ROOT))
    from engine.device import place_model
    from modelling.recognition import SignToGloss, ctc_loss
    from modelling.s3d import S3DBackbone
    from modelling.visual_head import VisualHead

    model = SignToGloss(S3DBackbone(use_block=4, freeze_block=1), VisualHead(832, NUM_GLOSSES))
    model = place_model(model, device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4, **({"fused": True} if device.type == "cuda" else {}))
    videos = ready_input(setting, device, channels_last=device.type == "cuda")
    lengths = torch.full((setting.batch,), setting.frames)  # on the host, as the loaders give them
    targets = [TARGET] * setting.batch

    def step() -> None:
        with autocast(setting, device):
            output = model(videos, lengths)
            loss = ctc_loss(output.log_probs, output.lengths, targets).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, sum(p.numel() for p in trainable)


def paper(setting: Setting, device: torch.device, code: Path) -> tuple[Step, int]:
    """The paper's step, built as its recognition network builds it for RGB video (no pyramid)."""
    sys.path.insert(0, str(code))
    try:
        import wandb  # noqa: F401  # the paper's utils import it for logging; no model code calls it
    except ImportError:
        sys.modules["wandb"] = types.ModuleType("wandb")
    from modelling.S3D import S3D_backbone
    from modelling.Visualhead import VisualHead
    from utils.misc import make_logger

    logging.disable(logging.INFO)
    make_logger(tempfile.mkdtemp(prefix="slrt-log-"))  # its modules log through a global set up here
    backbone = S3D_backbone(use_block=4, freeze_block=1, pretrained_ckpt="scratch").to(device)
    head = VisualHead(cls_num=NUM_GLOSSES, input_size=832, hidden_size=512, ff_size=2048, ff_kernelsize=3).to(device)
    on_gpu_cl = setting.channels_last and device.type == "cuda"
    if on_gpu_cl:
        backbone.to(memory_format=torch.channels_last_3d)
    backbone.set_train()
    head.train()
    trainable = [p for p in [*backbone.parameters(), *head.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    ctc = torch.nn.CTCLoss(blank=0, zero_infinity=True, reduction="sum")
    videos = ready_input(setting, device, channels_last=on_gpu_cl)
    lengths = torch.full((setting.batch,), setting.frames, device=device)
    labels = torch.tensor([TARGET] * setting.batch, device=device)
    label_lengths = torch.full((setting.batch,), len(TARGET), device=device)

    def step() -> None:
        with autocast(setting, device):
            features = backbone(sgn_videos=videos, sgn_lengths=lengths)
            out = head(x=features["sgn"], mask=features["sgn_mask"][-1], valid_len_in=features["valid_len_out"][-1])
            log_probs = out["gloss_probabilities_log"].permute(1, 0, 2).float()
            loss = ctc(log_probs, labels, out["valid_len_out"], label_lengths) / setting.batch
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step, sum(p.numel() for p in trainable)


def clips_per_second(step: Step, setting: Setting, device: torch.device, steps: int, rounds: int) -> list[float]:
    """Clips/s of each round of ``steps`` steps, after the warm-up."""
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    for _ in range(WARMUP_STEPS):
        step()
    rates = []
    for _ in range(rounds):
        sync()
        started = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(setting.batch * steps / (time.perf_counter() - started))
    return rates


def run_worker(args: argparse.Namespace) -> None:
    """One side at one setting, in this process; prints a JSON line with its rates."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    setting = args.settings[0]
    step, parameters = ours(setting, device) if args.worker == "ours" else paper(setting, device, args.paper_code)
    rates = clips_per_second(step, setting, device, args.steps, args.rounds)
    print(json.dumps({"rates": rates, "parameters": parameters}))


def measure(side: str, setting: Setting, args: argparse.Namespace, device: str) -> dict:
    """Run one side at one setting in a fresh process and read back its JSON line."""
    text = str(setting)
    command = [sys.executable, __file__, "--worker", side, "--settings", text, "--device", device]
    command += ["--steps", str(args.steps), "--rounds", str(args.rounds)]
    if args.paper_code:
        command += ["--paper-code", str(args.paper_code)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {side} side failed at {text}:\n{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def resolve(device: str) -> str:
    """``auto``: the GPU when there is one."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-code", type=Path, help="the paper's TwoStreamNetwork folder (FangyunWei/SLRT)")
    defaults = [Setting.parse(text) for text in DEFAULT_SETTINGS]
    parser.add_argument("--settings", type=Setting.parse, nargs="+", default=defaults)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--worker", choices=["ours", "paper"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args)
        return 0
    if args.paper_code and not (args.paper_code / "modelling" / "S3D.py").is_file():
        parser.error(f"--paper-code {args.paper_code}: no modelling/S3D.py there; give SLRT's TwoStreamNetwork folder")
    device = resolve(args.device)
    name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    rounds = f"median of {args.rounds} rounds of {args.steps}"
    print(f"S2G training step, clips/s ({rounds}) | {name}, torch {torch.__version__}")
    print(f"{'setting':<20}{'paper':>10}{'this project':>14}{'ratio':>8}{'trainable params (paper / ours)':>34}")
    for setting in args.settings:
        mine = measure("ours", setting, args, device)
        theirs = measure("paper", setting, args, device) if args.paper_code else None
        label = str(setting).replace(":", " ")
        ours_rate = statistics.median(mine["rates"])
        if theirs is None:
            print(f"{label:<20}{'-':>10}{ours_rate:>14.2f}{'-':>8}{'- / ' + str(mine['parameters']):>34}")
            continue
        paper_rate = statistics.median(theirs["rates"])
        params = f"{theirs['parameters']} / {mine['parameters']}"
        print(f"{label:<20}{paper_rate:>10.2f}{ours_rate:>14.2f}{ours_rate / paper_rate:>8.2f}{params:>34}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
