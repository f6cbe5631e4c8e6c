"""Translate your own sign language videos: glosses and a sentence per video file, with stage timings.

    python translate.py --run RUN_DIR VIDEO [VIDEO ...] [--json]
    python translate.py --config S2T.yaml [--ckpt PATH] VIDEO [VIDEO ...] [--json]
    python translate.py --config S2T.yaml --cascade VIDEO [...]

``--run`` takes a trained S2T run directory (e.g. ``runs/demo/s2t``): its ``config.yaml`` and
``best.ckpt``, on this machine's best device unless ``--device``/``--precision`` say otherwise.
Each video's result is written as soon as it is translated (text, or one JSON object per line with
``--json``); a video that cannot be read gets its own error line and the others go on; the exit
status is 2 if any failed.

The S3D backbone and the video settings come from the config's S2G checkpoint
(``s2t.s2g_checkpoint``: by default the best of ``s2t.s2g_run``) and the config it saved, or from
the S2T model and config when it was trained end to end on video. The default model is the S2T
checkpoint (``<model_dir>/best.ckpt``); ``--cascade`` uses the S2G and G2T checkpoints of the
config instead. Runs on the GPU when there is one (``--device``, ``--precision``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from core.config import Config, config_from_dict
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from dataset.video_preprocessing import VideoPreprocessing
from engine.checkpoint import load_checkpoint, load_submodule, load_task_checkpoint
from engine.cli import add_common_arguments, run_cli
from engine.decoders import GlossDecoder, TextDecoder
from engine.device import place_model
from engine.distributed import DistributedContext
from engine.prediction import load_matching_model
from engine.run_logging import setup_logger
from engine.sign_to_text_task import SignToTextTask
from engine.tasks import build_task
from modelling.builders import build_backbone
from modelling.s3d import S3DBackbone
from modelling.sign_to_text import Cascade


@dataclass
class Translation:
    """What one video says, and how long each stage took (seconds)."""

    video: str
    glosses: str
    text: str
    seconds: dict[str, float]
    frames: int  # in the video file
    used: int  # frames the model took: all, subsampled evenly to data.video.max_frames, or repeated up to min_frames
    padded: bool  # fewer frames than the model's minimum: repeated up to it, so the result is unreliable


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, config_required=False)
    parser.add_argument("--run", metavar="RUN_DIR", help="a trained S2T run directory, instead of --config")
    parser.add_argument("videos", nargs="+", help="video files (mp4, avi, ...)")
    parser.add_argument("--ckpt", help="S2T checkpoint (default: <model_dir>/best.ckpt)")
    parser.add_argument("--cascade", action="store_true", help="use the config's S2G + G2T checkpoints instead")
    parser.add_argument("--json", action="store_true", help="one JSON object per video and line instead of text")
    args = parser.parse_args(argv)
    if (args.run is None) == (args.config is None):
        parser.error("give either --config CONFIG.yaml or --run RUN_DIR")
    if args.run is not None:  # the run's own config and best checkpoint, on this machine's best device
        run = RunDirectory(Path(args.run))
        args.config = str(run.config)
        args.ckpt = args.ckpt or str(run.best_checkpoint)
        args.device, args.precision = args.device or "auto", args.precision or "auto"
    return args


class VideoTranslator:
    """The S2T model (or the cascade) on one video at a time, read and prepared as in evaluation.

    A model trained end to end runs its own S3D on the task's video preprocessing; one trained on
    features gets S3D and the video preprocessing from the S2G run that extracted them.
    """

    def __init__(self, task: SignToTextTask, ckpt: str | Path | None, cascade: bool) -> None:
        self.task, self.device = task, task.context.device
        s2g_path = task.config.s2t.s2g_checkpoint
        if s2g_path is None:
            raise ToolkitError("translate.py needs s2t.s2g_checkpoint in the config (its S3D and video settings)")
        s2g = load_task_checkpoint(s2g_path, "s2g", task.vocab.glosses)
        self.backbone: S3DBackbone | None = None  # end to end, the model runs its own S3D
        if task.end_to_end:
            self.preprocessing = task.inputs.preprocessing
        else:
            s2g_config = config_from_dict(s2g["config"], f"{s2g_path} (its config)")
            self.preprocessing = VideoPreprocessing(s2g_config.data.video)
            self.backbone = build_backbone(s2g_config.recognition)
            load_submodule(self.backbone, s2g, "backbone.", s2g_path)
            place_model(self.backbone, self.device).eval()
        if cascade:
            self.model = task.cascade_model()
        else:
            ckpt = ckpt or RunDirectory.of(task.config).best_checkpoint
            self.model = place_model(load_matching_model(task, load_checkpoint(ckpt), ckpt), self.device).eval()
        self.decode_glosses = GlossDecoder(task.vocab, task.config.recognition.beam_size)
        self.decode_text = TextDecoder(task.tokenizer, "word")  # what a reader sees: whitespace normalised

    def _recognise_and_translate(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[str, str]:
        if isinstance(self.model, Cascade):
            ids, glosses = self.model.generate(features, lengths, self.task.config.generation)
        else:
            ids, recognition = self.model.generate(features, lengths, self.task.config.generation)
            glosses = self.decode_glosses.ids(recognition)
        return self.task.vocab.decode(glosses[0]), self.decode_text(ids)[0]

    @torch.no_grad()
    def __call__(self, path: str) -> Translation:
        started = time.perf_counter()
        frames, available = self.preprocessing.read_file(path)
        decoded = time.perf_counter()
        videos = self.preprocessing.network_input(frames[None], self.device, training=False)
        inputs, lengths = videos, torch.tensor([len(frames)])  # lengths stay on the host
        with self.task.context.precision.autocast():
            if self.backbone is not None:
                inputs, lengths = self.backbone(videos, lengths)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            extracted = time.perf_counter()
            glosses, text = self._recognise_and_translate(inputs, lengths)
        finished = time.perf_counter()
        seconds = {"decode": decoded - started, "s3d": extracted - decoded, "translate": finished - extracted}
        if self.backbone is None:  # S3D ran inside the model
            seconds = {"decode": decoded - started, "s3d + translate": finished - decoded}
        timing = {k: round(v, 3) for k, v in seconds.items()}
        padded = available < self.preprocessing.config.min_frames
        return Translation(path, glosses, text, timing, available, len(frames), padded)


def translate(args: argparse.Namespace, config: Config, context: DistributedContext) -> list[Translation]:
    setup_logger(None, context.is_main)
    task = build_task(config, context, SignToTextTask, f"{args.config}: translate.py")
    task.prepare(create=False)
    translator = VideoTranslator(task, args.ckpt, args.cascade)
    results, failed = [], []
    for video in args.videos:
        try:
            results.append(translator(video))
        except ToolkitError as error:  # this video only: say why, go on with the others
            failed.append(video)
            report_failure(video, str(error), args.json)
            continue
        report(results[-1], args.json)
    if failed:
        raise ToolkitError(f"{len(failed)} of {len(args.videos)} video(s) could not be translated: {', '.join(failed)}")
    return results


def report(result: Translation, as_json: bool) -> None:
    """Write one video's result now (a JSON line, or a text block)."""
    if as_json:
        print(json.dumps(asdict(result), ensure_ascii=False), flush=True)
        return
    timing = ", ".join(f"{stage} {value:.2f} s" for stage, value in result.seconds.items())
    lines = [result.video, f"  glosses: {result.glosses}", f"  text:    {result.text}", f"  time:    {timing}"]
    if result.padded:
        lines.append(f"  note:    only {result.frames} frame(s): padded to the model's minimum, so unreliable")
    elif result.used < result.frames:
        lines.append(f"  note:    {result.frames} frames, subsampled evenly to {result.used} (data.video.max_frames)")
    print("\n".join(lines), flush=True)


def report_failure(video: str, reason: str, as_json: bool) -> None:
    """One line for a video that could not be translated: a JSON line on stdout, else an error on stderr."""
    if as_json:
        print(json.dumps({"video": video, "error": reason}, ensure_ascii=False), flush=True)
    else:
        print(f"error: {reason}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: translate(args, config, context))


if __name__ == "__main__":
    sys.exit(main())
