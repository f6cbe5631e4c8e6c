"""Benchmark: one 10 s, 25 fps, 224 px clip -> glosses and a sentence, per stage, with the paper's network sizes.

    python benchmarks/translate_latency.py [--device auto|cpu|cuda] [--precision auto|fp32|bf16]
        [--translator large|base] [--vocab 3000] [--beams 4] [--tokens 30] [--repeats 5]
        [--backends torch transformers onnx]

Writes (once) an H.264 clip of 250 frames at 224×224, as a phone would (YUV 4:2:0), then times what
``translate.py`` and the service do with it: decoding and sampling the frames (``decode``), S3D
blocks 1-4 and the visual head over 1,100 glosses (``s3d + head``), CTC beam search over the gloss
probabilities (``ctc``), and the VL mapper and mBART generating ``--tokens`` tokens with beam
search (``translate``), side by side (``--backends``): in PyTorch with this toolkit's static-cache
beam search (``torch``: ``generation.decoding: static_cache``, each decoder step a CUDA graph on a
GPU), in PyTorch with Hugging Face ``generate()`` (``transformers``), and with the networks
exported to ONNX (``export.py``'s graphs) on onnxruntime's CPU provider (``onnx``).

The networks have the paper's shapes with random weights: mBART-large (12+12 layers, d_model 1024)
or mBART-base-sized (6+6, 768), its vocabulary pruned to ``--vocab`` tokens as ``prepare_mbart.py``
does for PHOENIX-2014T (random weights rarely say ``</s>``, so beam search runs to the token limit,
the worst case). Prints the median of ``--repeats`` runs after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DEVICES, PRECISIONS, VideoConfig  # noqa: E402
from core.run_directory import ExportDirectory  # noqa: E402
from dataset.video_preprocessing import VideoPreprocessing  # noqa: E402
from dataset.video_reader import write_video_file  # noqa: E402
from deployment.onnx_backend import OnnxNetworks  # noqa: E402
from deployment.onnx_export import export_network  # noqa: E402
from engine.device import place_model, resolve_device, resolve_precision  # noqa: E402
from modelling.ctc_decoding import CTCBeamSearch  # noqa: E402
from modelling.recognition import SignToGloss  # noqa: E402
from modelling.s3d import S3DBackbone  # noqa: E402
from modelling.sign_to_text import SignToText  # noqa: E402
from modelling.translation import TextTranslator, build_mbart  # noqa: E402
from modelling.translator_config import GenerationConfig, ModelConfig  # noqa: E402
from modelling.visual_head import VisualHead  # noqa: E402

TRANSLATORS = {  # layers, d_model, heads, ffn
    "large": (12, 1024, 16, 4096),
    "base": (6, 768, 12, 3072),
    "tiny": (1, 32, 2, 64),  # for the tests
}
NUM_GLOSSES = 1100


def write_clip(path: Path, seconds: float, fps: int, size: int) -> None:
    """A smooth moving pattern (compresses like camera footage, unlike noise)."""
    frames = int(seconds * fps)
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    clip = torch.empty(frames, size, size, 3, dtype=torch.uint8)
    for t in range(frames):
        phase = 2 * torch.pi * t / fps
        for c in range(3):
            clip[t, :, :, c] = (127 + 100 * torch.sin(x / 17 + phase + c) * torch.cos(y / 23 - phase)).to(torch.uint8)
    write_video_file(clip, path, fps=fps, lossless=False)


def build_network(args: argparse.Namespace, device: torch.device) -> SignToText:
    layers, d_model, heads, ffn = TRANSLATORS[args.translator]
    shape = {"d_model": d_model, "encoder_layers": layers, "decoder_layers": layers, "attention_heads": heads}
    architecture = ModelConfig(**shape, ffn_dim=ffn, max_position_embeddings=1024)
    mbart = build_mbart(architecture, args.vocab, pad_id=1, eos_id=2, bos_id=0)
    recognition = SignToGloss(S3DBackbone(use_block=4), VisualHead(832, NUM_GLOSSES))
    network = SignToText(recognition, TextTranslator(mbart, tgt_lang_id=3, label_smoothing=0.0), end_ids=(2, 3))
    return place_model(network, device, inference=True).eval()


class Stopwatch:
    """Seconds between marks, in mark order."""

    def __init__(self, sync) -> None:
        self.sync, self.marks = sync, [("start", time.perf_counter())]

    def mark(self, stage: str) -> None:
        self.sync()
        self.marks.append((stage, time.perf_counter()))

    def seconds(self) -> dict[str, float]:
        stages = {stage: now - before for (_, before), (stage, now) in pairwise(self.marks)}
        return {**stages, "total": self.marks[-1][1] - self.marks[0][1]}


@torch.no_grad()
def torch_pass(network: SignToText, pipeline: VideoPreprocessing, clip: Path, args, device, precision, decoding):
    """Seconds per stage of one pass over ``clip`` in PyTorch (``decoding`` as in the config), and the token count."""
    watch = Stopwatch(torch.cuda.synchronize if device.type == "cuda" else lambda: None)
    frames, _ = pipeline.read_file(str(clip))
    watch.mark("decode")
    with precision.autocast():
        videos = pipeline.network_input(frames[None], device, training=False)
        recognition = network.recognition(videos, torch.tensor([len(frames)]))
        watch.mark("s3d + head")
        CTCBeamSearch(args.ctc_beams).decode(recognition.log_probs, recognition.lengths)
        watch.mark("ctc")
        generation = GenerationConfig(num_beams=args.beams, max_length=args.tokens + 1, decoding=decoding)
        ids = network.translate(recognition, generation)
        watch.mark("translate")
    return {**watch.seconds(), "tokens": ids.shape[1] - 1}


def onnx_pass(networks: OnnxNetworks, pipeline: VideoPreprocessing, clip: Path, args) -> dict:
    """The same pass with the exported graphs on onnxruntime (CPU)."""
    watch = Stopwatch(lambda: None)
    frames, _ = pipeline.read_file(str(clip))
    watch.mark("decode")
    videos = pipeline.network_input(frames[None], torch.device("cpu"), training=False).contiguous()
    log_probs, features, lengths = networks.recognise(videos.numpy(), np.array([len(frames)], dtype=np.int64))
    watch.mark("s3d + head")
    CTCBeamSearch(args.ctc_beams).decode(torch.from_numpy(log_probs), torch.from_numpy(lengths))
    watch.mark("ctc")
    generation = GenerationConfig(num_beams=args.beams, max_length=args.tokens + 1)
    ids = networks.generate([features[0, : lengths[0]]], generation, {"start_id": 3, "end_id": 2, "pad_id": 1})
    watch.mark("translate")
    return {**watch.seconds(), "tokens": ids.shape[1] - 1}


def onnx_networks(network: SignToText, args) -> OnnxNetworks:
    """``network`` exported to ONNX (into a temporary folder) and loaded on onnxruntime."""
    with tempfile.TemporaryDirectory(dir=args.workdir) as folder:
        export = ExportDirectory(Path(folder))
        export_network(network, network.recognition.encoder, args.size, export, report=lambda line: None)
        return OnnxNetworks(export)


def report(backend: str, runs: list[dict]) -> None:
    for stage in runs[0]:
        values = [run[stage] for run in runs]
        unit = "" if stage == "tokens" else " s"
        spread = f"(min {min(values):.3f}, max {max(values):.3f})"
        print(f"{backend:<13}{stage:<12}{statistics.median(values):>10.3f}{unit}   {spread}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--translator", choices=sorted(TRANSLATORS), default="large")
    parser.add_argument("--vocab", type=int, default=3000)
    parser.add_argument("--beams", type=int, default=4)
    parser.add_argument("--ctc-beams", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "benchmark_latency"))
    backends = ["torch", "transformers", "onnx"]
    parser.add_argument("--backends", nargs="+", choices=backends, default=backends)
    args = parser.parse_args(argv)
    clip = Path(args.workdir) / f"clip_{args.seconds:g}s_{args.size}px.mp4"
    if not clip.is_file():
        clip.parent.mkdir(parents=True, exist_ok=True)
        write_clip(clip, args.seconds, 25, args.size)
    device = resolve_device(args.device, local_rank=0, local_world_size=1)
    precision = resolve_precision(args.precision, device)
    torch.manual_seed(0)
    network = build_network(args, device)
    video = VideoConfig(root=str(clip.parent), img_size=args.size, decode_size=args.size, max_frames=400)
    pipeline = VideoPreprocessing(video)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"translate latency | {clip.name} | {name}, torch {torch.__version__}, {precision.name} | mBART-"
        f"{args.translator} ({args.vocab} tokens), beam {args.beams}, {args.tokens} tokens | median of {args.repeats}"
    )
    passes = {
        "torch": lambda: torch_pass(network, pipeline, clip, args, device, precision, "static_cache"),
        "transformers": lambda: torch_pass(network, pipeline, clip, args, device, precision, "transformers"),
    }
    if "onnx" in args.backends:
        networks = onnx_networks(network.cpu(), args)
        network = place_model(network, device, inference=True)
        passes["onnx"] = lambda: onnx_pass(networks, pipeline, clip, args)
    for backend in args.backends:
        passes[backend]()  # warm-up
        report(backend, [passes[backend]() for _ in range(args.repeats)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
