"""Shared fixtures: the toy data set, small configs, and a tiny random mBART saved to disk.

The small configs run on the CPU in fp32 (``training.device: cpu``), so every numeric comparison holds
the same on machines with zero, one or several GPUs; ``test_mixed_precision`` runs the commands in
bf16 on the CPU and, where there is one, on the GPU.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from dataset.toy_sign_language import generate_split, write_toy_dataset
from engine.jobs import feature_extraction as extract_feature
from engine.jobs import training_run as training

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PHOENIX = SHARED / "data" / "phoenix-2014t"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(1)  # the tests' models are tiny: threads only add overhead on a shared CI machine


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_command(script: str, args: list[str], launcher: list[str] | None = None) -> list[str]:
    """``torchrun`` of the project's ``script`` on the CPU (gloo): two local ranks unless ``launcher`` says otherwise.

    The command names its device, so it runs the same on machines with zero, one or several GPUs.
    """
    launcher = launcher or ["--nproc_per_node", "2", "--master_port", str(free_port())]
    return [sys.executable, "-m", "torch.distributed.run", *launcher, str(ROOT / script), *args, "--device", "cpu"]


def torchrun_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def torchrun(script: str, args: list[str], cwd: Path, launcher: list[str] | None = None):
    """Run :func:`torchrun_command` to its end (10 minutes at most) and return the finished process."""
    command = torchrun_command(script, args, launcher)
    return subprocess.run(command, cwd=cwd, env=torchrun_env(), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory) -> dict[str, str]:
    """Paths of a small toy-language data set (train 400, dev 60, test 60)."""
    root = tmp_path_factory.mktemp("toy")
    paths = {split: str(root / f"toy.{split}") for split in ("train", "dev", "test")}
    write_toy_dataset(paths, {"train": 400, "dev": 60, "test": 60}, seed=3)
    return paths


def tiny_config(data: dict[str, str], model_dir: Path, **sections) -> dict:
    """A config dict for a fast G2T run on ``data``; ``sections`` update its sections."""
    config = {
        "task": "g2t",
        "data": {**data, "src_lang": "en_XX", "tgt_lang": "en_XX"},
        "tokenizer": {"text_vocab_size": 120},
        "model": {"d_model": 32, "encoder_layers": 1, "decoder_layers": 1, "attention_heads": 2, "ffn_dim": 64},
        "training": {
            "model_dir": str(model_dir),
            "batch_size": 16,
            "epochs": 2,
            "learning_rate": 3e-3,
            "warmup_steps": 5,
            "validate_every": 1,
            "validate_unit": "epochs",
            "log_every": 5,
            "device": "cpu",
        },
        "generation": {"num_beams": 2, "max_length": 30, "batch_size": 32},
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def tiny_translator(label_smoothing: float = 0.0, decoder_layers: int = 1):
    """A random mBART translator (1 encoder layer), d_model 16, 40 tokens (pad 1, eos 2), decoding into token 5."""
    from transformers import MBartConfig, MBartForConditionalGeneration

    from modelling.translation import TextTranslator

    config = MBartConfig(
        vocab_size=40,
        d_model=16,
        encoder_layers=1,
        decoder_layers=decoder_layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_position_embeddings=64,
        pad_token_id=1,
        eos_token_id=2,
        bos_token_id=0,
        dropout=0.0,
    )
    return TextTranslator(MBartForConditionalGeneration(config), tgt_lang_id=5, label_smoothing=label_smoothing)


def encoder_states(translator, seed: int, lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random input embeddings, their mask (padding after ``lengths``) and the translator's encoder states."""
    generator, device = torch.Generator().manual_seed(seed), translator.mbart.device
    embeds = torch.randn(len(lengths), max(lengths), translator.d_model, generator=generator).to(device)
    mask = (torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]).long().to(device)
    states = translator.mbart.get_encoder()(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    return embeds, mask, states


def varied_translator(seed: int, decoder_layers: int = 1):
    """A tiny translator whose sentences end at different steps for different inputs.

    Its output leans on the encoder (cross-attention output ×10) and a small bias on </s> makes the
    end likely but not certain: over seeds 0-5, generate() ends after 1 to 8 tokens.
    """
    torch.manual_seed(seed)
    translator = tiny_translator(decoder_layers=decoder_layers).eval()
    with torch.no_grad():
        translator.mbart.model.decoder.layers[0].encoder_attn.out_proj.weight.mul_(10)
        translator.mbart.final_logits_bias[0, 2] = 0.2
    return translator


def hf_generate(
    translator, embeds, mask, beams: int, length_penalty: float = 1.0, max_length: int = 9, early_stopping: bool = True
):
    """Hugging Face ``generate()`` with this toolkit's settings (``early_stopping`` by default), from token 5."""
    options = {"early_stopping": early_stopping} if beams > 1 else {}
    return translator.mbart.generate(
        inputs_embeds=embeds,
        attention_mask=mask,
        decoder_start_token_id=5,
        num_beams=beams,
        length_penalty=length_penalty,
        max_length=max_length,
        do_sample=False,
        **options,
    )


def json_lines(text: str) -> list[dict]:
    """The JSON objects of ``text``, one per line (what ``translate.py --json`` writes)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_mbart_dir(tmp_path_factory) -> Path:
    """A random tiny mBART and its tokenizer (sentencepiece trained on the fly), saved like a hub model."""
    from transformers import MBartConfig, MBartForConditionalGeneration

    from modelling.tokenizers import train_text_tokenizer

    directory = tmp_path_factory.mktemp("tiny_mbart")
    texts = [r["text"] for r in generate_split("train", 300, seed=11)]
    tokenizer = train_text_tokenizer(texts, directory, 150, "unigram", "en_XX", "en_XX")
    config = MBartConfig(
        vocab_size=len(tokenizer),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        scale_embedding=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        forced_eos_token_id=tokenizer.eos_token_id,
    )
    MBartForConditionalGeneration(config).save_pretrained(str(directory))
    return directory


def tiny_s2g_config(data_root: Path, model_dir: Path, **sections) -> dict:
    """A config dict for a fast S2G run on toy videos rendered into ``data_root`` on first use."""
    config = {
        "task": "s2g",
        "data": {
            **{split: str(data_root / f"toy.{split}") for split in ("train", "dev", "test")},
            "src_lang": "en_XX",
            "tgt_lang": "en_XX",
            "synthetic": {"num_train": 48, "num_dev": 12, "num_test": 12, "seed": 5, "render_size": 32},
            "video": {"root": str(data_root), "format": "file", "path": "{name}.mp4", "img_size": 32},
        },
        "recognition": {
            "encoder": {"type": "s3d", "use_block": 1, "freeze_block": 0, "bn_momentum": 0.1},
            "hidden_dim": 32,
            "ff_dim": 64,
            "beam_size": 3,
        },
        "training": {
            "model_dir": str(model_dir),
            "batch_size": 8,
            "epochs": 2,
            "learning_rate": 3e-3,
            "warmup_steps": 2,
            "validate_every": 1,
            "validate_unit": "epochs",
            "log_every": 2,
            "keep_last": 3,
            "device": "cpu",
        },
    }
    for section, values in sections.items():
        config[section] = {**config.get(section, {}), **values}
    return config


def s2t_config(root, model_dir, **training_values) -> dict:
    """S2T on the features of the ``pipeline`` fixture, starting from its S2G and G2T runs.

    The architecture, vocabularies and checkpoints come from the runs' saved configs; the
    recognition section holds only the S2T run's own training choices.
    """
    config = tiny_config(
        {split: str(root / "data" / f"toy.{split}") for split in ("train", "dev", "test")},
        model_dir,
        training={"epochs": 2, **training_values},
    )
    config["task"] = "s2t"
    del config["tokenizer"], config["model"]
    config["recognition"] = {"encoder": {"freeze_block": 0, "bn_momentum": 0.1}, "beam_size": 3}
    config["s2t"] = {
        "s2g_run": str(root / "s2g"),
        "g2t_run": str(root / "g2t"),
        "features": str(root / "s2g" / "features"),
        "recognition_weight": 1.0,
        "translation_weight": 1.0,
    }
    return config


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """Tiny S2G (toy videos), its features, a G2T on the same annotations and vocabulary, and an S2T."""
    root = tmp_path_factory.mktemp("pipeline")
    s2g = write_config(root / "s2g.yaml", tiny_s2g_config(root / "data", root / "s2g", training={"max_steps": 6}))
    assert training.main(["--config", str(s2g)]) == 0
    assert extract_feature.main(["--config", str(s2g)]) == 0
    data = {split: str(root / "data" / f"toy.{split}") for split in ("train", "dev", "test")}
    g2t_config = tiny_config(data, root / "g2t", training={"max_steps": 6})
    g2t_config["tokenizer"]["gloss_vocab"] = str(root / "s2g" / "gloss_vocab.txt")
    assert training.main(["--config", str(write_config(root / "g2t.yaml", g2t_config))]) == 0
    s2t = write_config(root / "s2t.yaml", s2t_config(root, root / "s2t"))
    assert training.main(["--config", str(s2t)]) == 0
    return root, s2t


@dataclass
class RunningService:
    """A translation service on a real uvicorn server in this process, and the translator it serves."""

    url: str
    translator: object
    videos: Path


@pytest.fixture(scope="session")
def speaking_s2t(pipeline) -> Path:
    """An S2T run on the pipeline's features trained long enough to say something (400 steps, ~40 s).

    The pipeline's own S2T run says nothing yet (all blanks, empty sentences); this one reaches about
    60% WER and BLEU-4 9 on the toy test split: glosses and sentences for the service and the page.
    """
    root, _ = pipeline
    steps = {"max_steps": 400, "epochs": 100, "validate_every": 100, "validate_unit": "steps"}
    config = s2t_config(root, root / "s2t_speaking", learning_rate=1e-2, **steps)
    assert training.main(["--config", str(write_config(root / "s2t_speaking.yaml", config))]) == 0
    return root / "s2t_speaking"


@pytest.fixture(scope="session")
def service(pipeline, speaking_s2t) -> RunningService:
    """:func:`speaking_s2t` served on localhost with small limits (1 MB, 3 s of video, batches of 4)."""
    import uvicorn

    from core.config import load_config
    from core.run_directory import RunDirectory
    from deployment.video_translation import VideoTranslator
    from engine.distributed import setup_distributed
    from serving.app import ServiceLimits, create_app

    root, _ = pipeline
    config = load_config(str(RunDirectory(speaking_s2t).config), ["training.device=cpu", "training.precision=fp32"])
    translator = VideoTranslator.build(config, setup_distributed("cpu", "fp32"), None, False, "test")
    limits = ServiceLimits(max_upload_mb=1, max_seconds=3, max_batch=4, max_wait_ms=300, max_queue=8)
    app = create_app(translator, limits, {"model": "tiny", "device": "cpu", "precision": "fp32"})
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield RunningService(f"http://127.0.0.1:{server.config.port}", translator, root / "data" / "test")
    server.should_exit = True
    thread.join(timeout=10)
