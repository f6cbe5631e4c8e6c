"""The paper's released-checkpoint format, imported, against the paper's code on the same weights and inputs.

    python benchmarks/paper_agreement.py --paper-code PATH/TO/SLRT/TwoStreamNetwork          # the paper's sizes
    python benchmarks/paper_agreement.py --paper-code PATH --tiny --write-fixture tests/fixtures/paper_single_stream

In its own process (both codebases have a package named ``modelling``),
``benchmarks/paper_code_outputs.py`` prepares the files the paper's code reads (its pruned mBART
folder with ``map_ids.pkl``, ``gloss2ids.pkl`` and ``gloss_embeddings.bin``, its recognition
``gloss2ids.pkl``), builds its S2G, G2T and S2T networks (the S2T twice: with the PHOENIX-2014T
MLP mapper and the CSL-Daily one over gloss probabilities) with seeded random weights, saves them as
its checkpoints and writes their outputs on seeded inputs. This process imports the checkpoints with
``import_checkpoint.py`` into run directories, loads them as ``prediction.py`` does and compares:
gloss logits and CTC beam-search glosses (S2G, S2T), translator logits under teacher forcing and
generated token ids (G2T, S2T); ids and logits are compared through the vocabulary maps the import
made (the paper's pruned order to ours). The translator is a reduced mBART (``--tiny``: 16 wide;
otherwise mbart-large's width, 1024, with 2 layers each). ``--write-fixture`` keeps the paper's
side (small with ``--tiny``), which ``tests/test_slrt_single_stream.py`` checks without the paper's
code. The paper's code is read from the checkout given, never copied.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from checkpoint_conversion import CONVERTERS  # noqa: E402
from checkpoint_conversion.foreign_files import read_plain_pickle  # noqa: E402
from checkpoint_conversion.slrt_single_stream import FORMAT  # noqa: E402
from checkpoint_conversion.slrt_two_stream import FORMAT as TWO_STREAM_FORMAT  # noqa: E402
from checkpoint_conversion.slrt_vocabularies import recognition_glosses, text_rows  # noqa: E402
from core.config import config_from_dict  # noqa: E402
from core.run_directory import RunDirectory  # noqa: E402
from dataset.toy_sign_language import generate_split  # noqa: E402
from engine.checkpoint import load_checkpoint, load_matching_model  # noqa: E402
from engine.distributed import setup_distributed  # noqa: E402
from engine.tasks.registry import build_task  # noqa: E402
from modelling.ctc_decoding import CTCBeamSearch  # noqa: E402
from modelling.sign_to_text import mapper_input  # noqa: E402
from modelling.tokenizers import train_text_tokenizer  # noqa: E402

LANGUAGE_CODE = re.compile(r"^[a-z]{2}_[A-Z]{2}$")
GENERATION = {"num_beams": 3, "max_length": 12, "length_penalty": 1.0}
STAGES = ("s2g", "g2t", "s2t", "s2t_embedding")
TWO_STREAM = {"map_size": 16, "sigma": 2.0, "joints": 79, "video_lengths": [16, 12]}  # 32-px video, 16-px maps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-code", required=True, help="the TwoStreamNetwork folder of a FangyunWei/SLRT checkout")
    parser.add_argument("--tiny", action="store_true", help="S3D block 1, heads 16/32, a 16-wide mBART: the fixture")
    parser.add_argument("--write-fixture", type=Path, help="keep the paper's side (files and outputs) in this folder")
    parser.add_argument("--two-stream-only", action="store_true", help="the TwoStream S2G alone (not with --tiny)")
    parser.add_argument(
        "--write-layout", type=Path, help="write the names and shapes of the paper's TwoStream S2G tensors (JSON)"
    )
    return parser.parse_args(argv)


def setup(tiny: bool, folder: Path, stages: list[str] | None = None) -> dict:
    """Sizes, the toy sentences and a text tokenizer standing in for mbart-large-cc25's (trained on them)."""
    samples = [dict(r, split=s) for s, n in (("train", 40), ("test", 4)) for r in generate_split(s, n, 0)]
    tokenizer = train_text_tokenizer([s["text"] for s in samples], folder, 120, "unigram", "de_DE", "de_DE")
    codes = sorted((i, t) for t, i in tokenizer.get_vocab().items() if LANGUAGE_CODE.match(t))
    translator = {"d_model": 16, "layers": 1, "heads": 2, "ffn": 32} if tiny else {"d_model": 1024, "layers": 2}
    # tiny: weights wide enough that random generations vary; else mBART's own initialisation
    translator = {"heads": 16, "ffn": 4096, **translator, "positions": 64, "init_std": 0.3 if tiny else 0.02}
    return {
        "full_tokenizer": str(folder),
        "language_codes": [t for _, t in codes],
        "samples": samples,
        "translator": translator,
        "head": {"s2g_use_block": 1, "hidden": 16, "ff": 32}
        if tiny
        else {"s2g_use_block": 4, "hidden": 512, "ff": 2048},
        "gloss_language": "de_DGS",
        "tgt_lang": "de_DE",
        "generation": GENERATION,
        "feature_lengths": [9, 6] if tiny else [40, 28],
        "video_lengths": [16, 12] if tiny else [64, 48],
        "video_size": 16 if tiny else 112,
        # the two-stream network: its S3D widths are fixed (61 M parameters), so never the CI fixture's
        **({} if tiny else {"two_stream": TWO_STREAM}),
        **({"stages": stages} if stages else {}),
    }


def run_paper_side(paper_code: str, tiny: bool, output: Path, stages: list[str] | None = None) -> None:
    """The paper's files and outputs into ``output`` (``benchmarks/paper_code_outputs.py``, its own process)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "setup.json"
        path.write_text(json.dumps(setup(tiny, Path(scratch) / "mbart-stand-in", stages)), encoding="utf-8")
        script = Path(__file__).with_name("paper_code_outputs.py")
        command = [
            sys.executable,
            str(script),
            "--paper-code",
            paper_code,
            "--setup",
            str(path),
            "--output",
            str(output),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"the paper's side failed:\n{done.stderr[-3000:]}")
    (output / "mBart" / "model.safetensors").unlink()  # its initial weights: the checkpoints hold the trained ones


def configs(work: Path) -> dict[str, dict]:
    """This toolkit's configs of the paper's setup for each import (no data: only the networks are compared)."""
    data = {"train": "unused", "dev": "unused", "test": "unused", "src_lang": "de_DE", "tgt_lang": "de_DE"}
    generation = {**GENERATION, "early_stopping": False, "decoding": "transformers"}
    video = {"root": "unused", "normalisation": "paper", "frame_selection": "paper"}
    s2t = {"task": "s2t", "data": data, "training": {"model_dir": "unused"}, "generation": generation}
    s2t |= {"tokenizer": {"gloss_vocab": str(RunDirectory(work / "s2g").gloss_vocab)}}
    s2t |= {"s2t": {"g2t_run": str(work / "g2t"), "features": "unused"}}
    return {
        "s2g": {"task": "s2g", "data": {**data, "video": video}, "training": {"model_dir": "unused"}},
        "g2t": {"task": "g2t", "data": data, "training": {"model_dir": "unused"}, "generation": generation},
        "s2t": s2t,
        "s2t_embedding": s2t,
    }


def import_runs(paper: Path, work: Path) -> dict[str, Path]:
    """Each of the paper's checkpoints imported as ``import_checkpoint.py`` imports it, into ``work/<stage>``."""
    work.mkdir(parents=True, exist_ok=True)
    runs = {}
    for stage, config in configs(work).items():
        path = work / f"{stage}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        needs = {"s2g": ("glosses",), "g2t": ("mbart",), "s2t": ("glosses", "mbart")}[stage.split("_")[0]]
        files = {"glosses": paper / "gloss2ids.pkl", "mbart": paper / "mBart"}
        args = argparse.Namespace(
            config=str(path), override=[], output=str(work / stage), stage=stage.split("_")[0], gloss_language=None
        )
        args.checkpoint = paper / f"{stage}.pth"
        args.glosses, args.mbart = (files[name] if name in needs else None for name in ("glosses", "mbart"))
        runs[stage] = CONVERTERS[FORMAT].convert(args)
    return runs


def load_run(run: Path):
    """The task and model of an imported run, loaded as ``prediction.py`` loads them."""
    folder = RunDirectory(run)
    config = config_from_dict(yaml.safe_load(folder.config.read_text(encoding="utf-8")), str(folder.config))
    task = build_task(config, setup_distributed("cpu"))
    task.prepare(create=False)
    state = load_checkpoint(folder.best_checkpoint)
    return task, load_matching_model(task, state, folder.best_checkpoint).eval()


def gloss_agreement(ours: torch.Tensor, theirs: torch.Tensor, rows: list[int]) -> tuple[float, bool]:
    """Largest logit difference (theirs in our class order) and whether CTC beam search finds the same glosses."""
    theirs = theirs[..., rows]
    search = CTCBeamSearch(5)
    lengths = torch.tensor([len(ours)])
    same = search.decode(ours[None].log_softmax(-1), lengths) == search.decode(theirs[None].log_softmax(-1), lengths)
    return float((ours - theirs).abs().max()), same


def translation_agreement(logits, theirs, labels, sequence, expected, rows: list[int]) -> tuple[float, bool]:
    """Largest translator-logit difference over the labelled steps; the same generated ids (ours mapped to theirs)."""
    valid = labels != 1  # the paper's ignored steps hold its pad id
    difference = float((logits[valid] - theirs[..., rows][valid]).abs().max())
    strip = [i for i in expected.tolist() if i != 1]
    return difference, [rows[i] for i in sequence.tolist() if i != 1] == strip


def compare(paper: Path, work: Path) -> dict[str, dict]:
    """Import the paper's files in ``paper`` and compare every stage; ``{stage: {measure: value}}``."""
    outputs = torch.load(paper / "outputs.pt", map_location="cpu", weights_only=True)
    results = {}
    if "s2g_two_stream" in outputs:
        run = import_two_stream(paper, work)
        glosses = recognition_glosses(read_plain_pickle(paper / "gloss2ids.pkl", "glosses"), "de_DE", "gloss2ids.pkl")
        results["s2g_two_stream"] = _s2g_two_stream(run, outputs["s2g_two_stream"], glosses.rows)
    if not set(STAGES) <= set(outputs):
        return results
    runs = import_runs(paper, work)
    glosses = recognition_glosses(read_plain_pickle(paper / "gloss2ids.pkl", "glosses"), "de_DE", "gloss2ids.pkl")
    map_ids = read_plain_pickle(paper / "mBart" / "map_ids.pkl", "an id map")
    text = text_rows(paper / "mBart", map_ids, RunDirectory(runs["g2t"]).text_tokenizer, "de_DE", "de_DE")
    inverse = {theirs: ours for ours, theirs in enumerate(text)}
    results["s2g"] = _s2g(runs["s2g"], outputs["s2g"], glosses.rows)
    results["g2t"] = _g2t(runs["g2t"], outputs["g2t"], text, inverse)
    for stage in ("s2t", "s2t_embedding"):
        results[stage] = _s2t(runs[stage], outputs[stage], glosses.rows, text, inverse)
    return results


def import_two_stream(paper: Path, work: Path) -> Path:
    """The paper's TwoStream S2G checkpoint imported with ``--format slrt-two-stream`` into ``work/s2g_two_stream``."""
    data = {"train": "unused", "dev": "unused", "test": "unused", "src_lang": "de_DE", "tgt_lang": "de_DE"}
    video = {
        "root": "unused",
        "normalisation": "paper",
        "frame_selection": "paper",
        "img_size": 2 * TWO_STREAM["map_size"],
    }
    data |= {"video": video, "keypoints": {"path": "unused/{split}.pkl"}}
    encoder = {"type": "two_stream", "map_size": TWO_STREAM["map_size"], "sigma": TWO_STREAM["sigma"]}
    encoder["weight_by_confidence"] = False  # the paper's code draws every joint at full strength
    config = {"task": "s2g", "data": data, "recognition": {"encoder": encoder}, "training": {"model_dir": "unused"}}
    work.mkdir(parents=True, exist_ok=True)
    path = work / "s2g_two_stream.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    args = argparse.Namespace(config=str(path), override=[], output=str(work / "s2g_two_stream"), stage="s2g")
    args.checkpoint, args.glosses = paper / "s2g_two_stream.pth", paper / "gloss2ids.pkl"
    return CONVERTERS[TWO_STREAM_FORMAT].convert(args)


def _s2g(run: Path, paper: dict, rows: list[int]) -> dict:
    _, model = load_run(run)
    worst, same = 0.0, True
    with torch.no_grad():  # each video alone, as the paper's side ran them
        for video, theirs, steps in zip(paper["videos"], paper["gloss_logits"], paper["valid_len_out"], strict=True):
            output = model(video[None], torch.tensor([video.shape[1]]))
            logits = model.head.classifier(output.gloss_features)[0]
            difference, agree = gloss_agreement(logits[:steps], theirs[:steps], rows)
            worst, same = max(worst, difference), same and agree and int(output.lengths[0]) == steps
    return {"gloss logits": worst, "glosses the same": same}


def _s2g_two_stream(run: Path, paper: dict, rows: list[int]) -> dict:
    """Each head's, the auxiliary heads' and the ensemble's log-probabilities, and the ensemble's glosses."""
    _, model = load_run(run)
    size, worst, same = TWO_STREAM["map_size"], 0.0, True
    with torch.no_grad():  # each video alone, as the paper's side ran them
        for index, (video, keypoints) in enumerate(zip(paper["videos"], paper["keypoints"], strict=True)):
            clip = ((video[:, [2, 1, 0]] - 0.5) / 0.5).permute(1, 0, 2, 3)[None]  # its BGR and scaling, C×T×H×W
            points = torch.zeros(1, len(keypoints), keypoints.shape[1], 4)
            points[..., :2], points[..., 3] = keypoints[None, ..., :2] / size - 0.5, keypoints[None, ..., 2]
            output = model((clip, points), torch.tensor([len(keypoints)]))
            pairs = [(output.log_probs[0], paper["ensemble"][index])]
            pairs += [(output.heads[ours][0], paper[f"{theirs}_gloss_logits"][index]) for ours, theirs in HEAD_NAMES]
            pairs += [(lp[0], theirs) for (_, lp, _), theirs in zip(output.aux, paper["aux"][index], strict=True)]
            for ours, theirs in pairs:
                difference, agree = gloss_agreement(ours, theirs.log_softmax(-1), rows)
                worst, same = max(worst, difference), same and agree
            same = same and int(output.lengths[0]) == paper["valid_len_out"][index]
    return {"gloss log-probabilities (every head)": worst, "glosses the same": same}


HEAD_NAMES = (("video", "rgb"), ("keypoints", "keypoint"), ("fusion", "fuse"))


def _g2t(run: Path, paper: dict, text: list[int], inverse: dict[int, int]) -> dict:
    task, model = load_run(run)
    framed = [task.vocab.encode(gloss.lower()).ids for gloss in paper["glosses"]]
    ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(f) for f in framed], batch_first=True, padding_value=0)
    mask = (ids != task.vocab.pad_id).long()
    decoder = paper["decoder_input_ids"].apply_(lambda i: inverse[i])
    with torch.no_grad():
        logits = model.translator.mbart(inputs_embeds=model.embed(ids), attention_mask=mask, decoder_input_ids=decoder)
        sequences = model.generate(ids, mask, task.config.generation)
    worst, same = 0.0, True
    for index in range(len(ids)):
        difference, agree = translation_agreement(
            logits.logits[index],
            paper["logits"][index],
            paper["labels"][index],
            sequences[index],
            paper["sequences"][index],
            text,
        )
        worst, same = max(worst, difference), same and agree
    return {"translator logits": worst, "generated ids the same": same}


def _s2t(run: Path, paper: dict, rows: list[int], text: list[int], inverse: dict[int, int]) -> dict:
    task, model = load_run(run)
    gloss_worst, gloss_same, text_worst, text_same = 0.0, True, 0.0, True
    with torch.no_grad():  # each sample alone, as the paper's side ran them
        for index, features in enumerate(paper["features"]):
            recognition = model.recognition(features[None], torch.tensor([len(features)]))
            logits = model.recognition.head.classifier(recognition.gloss_features)[0]
            difference, agree = gloss_agreement(logits, paper["gloss_logits"][index], rows)
            gloss_worst, gloss_same = max(gloss_worst, difference), gloss_same and agree
            embeds, mask = model.encoder_inputs(mapper_input(model.mapper.reads, recognition), recognition.lengths)
            decoder = paper["decoder_input_ids"][index].apply_(lambda i: inverse[i])[None]
            translated = model.translator.mbart(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=decoder)
            sequence = model.translate(recognition, task.config.generation)[0]
            labels = torch.cat([decoder[0, 1:], torch.tensor([1])])  # its labels: the inputs shifted, lang code dropped
            difference, agree = translation_agreement(
                translated.logits[0], paper["logits"][index], labels, sequence, paper["sequences"][index], text
            )
            text_worst, text_same = max(text_worst, difference), text_same and agree
    return {
        "gloss logits": gloss_worst,
        "glosses the same": gloss_same,
        "translator logits": text_worst,
        "generated ids the same": text_same,
        "mapper": task.config.s2t.mapper,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        paper = args.write_fixture or Path(scratch) / "paper"
        if paper.exists():
            shutil.rmtree(paper)
        run_paper_side(args.paper_code, args.tiny, paper, ["s2g_two_stream"] if args.two_stream_only else None)
        if args.write_layout:
            write_layout(paper / "s2g_two_stream.pth", args.write_layout)
        results = compare(paper, Path(scratch) / "runs")
    sizes = "tiny (the CI fixture)" if args.tiny else "S3D blocks 1-4, heads 512/2048, mBART 1024 wide, 2+2 layers"
    if args.two_stream_only:
        sizes = "the two-stream network: S3D blocks 1-4 per stream, heads 512/2048, 32-px clips, 16-px maps"
    print(f"paper's code vs imported runs, {sizes}, eval mode, torch {torch.__version__}")
    for stage, measures in results.items():
        shown = ", ".join(f"{k} {v:.2e}" if isinstance(v, float) else f"{k}: {v}" for k, v in measures.items())
        print(f"{stage}: {shown}")
    return 0


def write_layout(checkpoint: Path, output: Path) -> None:
    """The tensor names and shapes of the paper's checkpoint (``model_state``), as JSON."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["model_state"]
    layout = {name: list(tensor.shape) for name, tensor in state.items()}
    output.write_text(json.dumps(layout, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
