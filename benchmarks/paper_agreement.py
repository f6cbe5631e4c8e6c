"""Our recognition network against the paper's code on the same weights and input: gloss logits, glosses.

    python benchmarks/paper_agreement.py --paper-code PATH/TO/SLRT/TwoStreamNetwork [--use-block 4 ...]
    python benchmarks/paper_agreement.py --paper-code PATH --tiny --write-fixture tests/fixtures/paper_recognition.pt

A separate process (both codebases have a package named ``modelling``) builds the paper's S3D and
visual head (``modelling/S3D.py::S3D_backbone``, ``modelling/Visualhead.py::VisualHead``) with
seeded random weights and batch-norm statistics, runs them in eval mode on seeded videos, one at a
time (in a padded batch the paper's code lets the padding into the valid steps: its S3D and the
visual head's convolutions see the padded frames; this toolkit's S3D runs on groups of equal length
for the same reason), and saves the weights in its checkpoint layout (``model_state``,
``recognition_network.``) with the input and the outputs. This process converts the weights
(:mod:`modelling.paper_weights`), runs S3D and the visual head of variant ``paper`` on the same
input, and prints the largest absolute difference of the gloss logits over the valid steps and
whether the CTC beam search gives the same glosses. ``--write-fixture`` keeps the paper side's file,
which ``tests/test_paper_weights.py`` checks without the paper's code. The paper's code is read from
the checkout given, never copied.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-code", required=True, help="the TwoStreamNetwork folder of a FangyunWei/SLRT checkout")
    parser.add_argument("--use-block", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--ff", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=1124)
    parser.add_argument("--frames", type=int, nargs="+", default=[64, 48], help="frames per video of the batch")
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument(
        "--tiny", action="store_true", help="block 1, hidden 16, ff 32, 7 classes, 16/12 frames at 32 px"
    )
    parser.add_argument("--write-fixture", type=Path, help="keep the paper side's file here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # the paper's side writes here
    args = parser.parse_args(argv)
    if args.tiny:
        args.use_block, args.hidden, args.ff, args.classes, args.frames, args.size = 1, 16, 32, 7, [16, 12], 16
    return args


def paper_side(args: argparse.Namespace) -> None:
    """In its own process: the paper's networks, seeded, their outputs and weights, saved to ``args.worker``."""
    import logging
    import types

    sys.path.insert(0, str(Path(args.paper_code).resolve()))
    sys.modules.setdefault("wandb", types.ModuleType("wandb"))  # imported by its utils for logging only
    from modelling.S3D import BLOCK2SIZE, S3D_backbone
    from modelling.Visualhead import VisualHead
    from utils.misc import make_logger

    logging.disable(logging.INFO)
    make_logger(tempfile.mkdtemp(prefix="slrt-log-"))  # its modules log through a global set up here
    torch.manual_seed(0)
    backbone = S3D_backbone(use_block=args.use_block, freeze_block=0, pretrained_ckpt="scratch")
    head = VisualHead(
        cls_num=args.classes, input_size=BLOCK2SIZE[args.use_block], hidden_size=args.hidden, ff_size=args.ff
    )
    for module in [*backbone.modules(), *head.modules()]:
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm | torch.nn.LayerNorm):
            with torch.no_grad():  # statistics and affine parameters away from their start, as after training
                for tensor in (module.weight, module.bias):
                    tensor.uniform_(0.5, 1.5) if tensor is module.weight else tensor.normal_(0, 0.1)
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
    backbone.eval()
    head.eval()
    videos = torch.randn(len(args.frames), 3, max(args.frames), args.size, args.size)
    lengths = torch.tensor(args.frames)
    logits, valid = [], []
    with torch.no_grad():  # one video at a time: in a padded batch its code lets the padding into the valid steps
        for video, length in zip(videos, args.frames, strict=True):
            features = backbone(sgn_videos=video[None, :, :length], sgn_lengths=torch.tensor([length]))
            mask, steps = features["sgn_mask"][-1], features["valid_len_out"][-1]
            output = head(x=features["sgn"], mask=mask, valid_len_in=steps)
            logits.append(output["gloss_logits"][0])
            valid.append(int(output["valid_len_out"][0]))
    state = {f"recognition_network.visual_backbone.{k}": v for k, v in backbone.state_dict().items()}
    state |= {f"recognition_network.visual_head.{k}": v for k, v in head.state_dict().items()}
    torch.save(
        {
            "model_state": state,
            "videos": videos,
            "lengths": lengths,
            "gloss_logits": torch.nn.utils.rnn.pad_sequence(logits, batch_first=True),
            "valid_len_out": torch.tensor(valid),
            "sizes": {"use_block": args.use_block, "hidden": args.hidden, "ff": args.ff, "classes": args.classes},
        },
        args.worker,
    )


def compare(paper: dict, source: str) -> tuple[float, bool, list[int]]:
    """Our network on the paper's weights and input: the largest logit difference over valid steps, same glosses."""
    sys.path.insert(0, str(ROOT))  # here, not at the top: the paper's side must not see this project's modelling
    from modelling.ctc_decoding import CTCBeamSearch
    from modelling.paper_weights import load_recognition_weights
    from modelling.recognition import SignToGloss
    from modelling.s3d import BLOCK_CHANNELS, S3DBackbone
    from modelling.visual_head import VisualHead

    sizes = paper["sizes"]
    head = VisualHead(
        BLOCK_CHANNELS[sizes["use_block"]], sizes["classes"], sizes["hidden"], sizes["ff"], variant="paper"
    )
    model = SignToGloss(S3DBackbone(sizes["use_block"], 0), head).eval()
    load_recognition_weights(model, paper["model_state"], source)
    valid, search = paper["valid_len_out"].tolist(), CTCBeamSearch(5)
    differences, same, lengths = [], True, []
    with torch.no_grad():  # each video as its own group, as extraction and translation run S3D
        for video, length, theirs, steps in zip(
            paper["videos"], paper["lengths"], paper["gloss_logits"], valid, strict=True
        ):
            output = model(video[None, :, :length], length[None])
            logits = model.head.classifier(output.gloss_features)[0]
            differences.append(float((logits[:steps] - theirs[:steps]).abs().max()))
            glosses = [search.decode(x[None, :steps].log_softmax(-1), torch.tensor([steps])) for x in (logits, theirs)]
            same &= glosses[0] == glosses[1]
            lengths.append(int(output.lengths[0]))
    return max(differences), same, lengths


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        paper_side(args)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        path = args.write_fixture or Path(folder) / "paper.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--worker", str(path)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the paper's side failed:\n{done.stderr[-3000:]}")
        paper = torch.load(path, map_location="cpu", weights_only=True)
        difference, same, lengths = compare(paper, str(path))
    sizes = paper["sizes"]
    print(
        f"S3D blocks 1-{sizes['use_block']} + visual head (hidden {sizes['hidden']}, ff {sizes['ff']}, "
        f"{sizes['classes']} glosses), videos of {paper['lengths'].tolist()} frames at {paper['videos'].shape[-1]} px, "
        f"eval mode, torch {torch.__version__}"
    )
    print(f"gloss logits, largest absolute difference over the valid steps: {difference:.2e}")
    print(f"valid steps, paper / ours: {paper['valid_len_out'].tolist()} / {lengths}")
    print(f"CTC beam search (5) glosses the same: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
