"""The paper's side of ``paper_agreement.py``: its SingleStream networks, their files and outputs (its own process).

    python benchmarks/paper_code_outputs.py --paper-code PATH/TO/TwoStreamNetwork --setup SETUP.json --output DIR

Run by ``paper_agreement.py`` with the paper's checkout first on ``sys.path`` (both codebases
have a package named ``modelling``; this script imports nothing of this project). From the setup
file (sizes, the text tokenizer standing in for mbart-large-cc25's, the toy sentences) it prepares
the files the paper's code reads as its own preparation notebook describes (``pretrained_models/
mBart_*``: ``map_ids.pkl``, ``gloss2ids.pkl``, ``gloss_embeddings.bin``, a pruned mBART; the
recognition ``gloss2ids.pkl``), builds its S2G, G2T and S2T networks (``SignLanguageModel``) with
seeded random weights and statistics, runs them in eval mode, and writes their checkpoints in its
format (``model_state``, ``epoch``, ``global_step``, ``best_score``, ...) and their outputs.

Its code needs what transformers 4 had and 5 dropped (``MBartTokenizer.as_target_tokenizer``,
``transformers.file_utils``) and imports tensorflow and torchvision, which it uses for CTC decoding
and augmentation only: those are stood in for here; nothing of the paper's code is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import pickle
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

SPECIAL_GLOSSES = ["<s>", "<pad>", "</s>", "<unk>", "<mask>", "zh_CN", "de_DE", "zh_CSL", "de_DGS"]


def stand_ins() -> tuple:
    """The modules the paper's code imports but these networks never use, and what transformers 5 removed."""
    # first what looks for tensorflow or torchvision when imported, so that it finds neither stand-in
    import torch._dynamo
    import torch.utils.tensorboard
    import transformers

    loaded = (transformers.GenerationMixin, transformers.MBartForConditionalGeneration, torch._dynamo)
    model_output = transformers.modeling_outputs.ModelOutput

    for name in ("wandb", "tensorflow", "torchvision"):
        sys.modules.setdefault(name, types.ModuleType(name))
    file_utils = types.ModuleType("transformers.file_utils")
    file_utils.ModelOutput = model_output
    sys.modules.setdefault("transformers.file_utils", file_utils)
    transformers.MBartTokenizer.as_target_tokenizer = lambda self: contextlib.nullcontext()
    return loaded


def perturb(model: torch.nn.Module) -> None:
    """Normalisation layers away from their start (affine parameters, running statistics), as after training."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm | torch.nn.LayerNorm):
            with torch.no_grad():
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)


def pieces(tokenizer, text: str) -> list[int]:
    """The paper's notebook's pieces of ``text``: the tokenizer's ids without the ``</s> lang`` ending."""
    return tokenizer(text)["input_ids"][:-2]


def prepare_mbart(setup: dict, folder: Path) -> None:
    """The pruned mBART folder as the paper's notebook makes it, from a stand-in tokenizer and a random mBART."""
    from transformers import MBartConfig, MBartForConditionalGeneration, MBartTokenizer

    full_dir = Path(setup["full_tokenizer"])
    tokenizer = MBartTokenizer.from_pretrained(str(full_dir))
    specials = ["<s>", "<pad>", "</s>", "<unk>", *setup["language_codes"], "<mask>"]  # its added tokens, in order
    map_ids = {tokenizer.convert_tokens_to_ids(token): new for new, token in enumerate(specials)}
    glosses: dict[str, None] = {}
    for sample in setup["samples"]:  # first met first, text pieces then each gloss's
        for piece in pieces(tokenizer, sample["text"]):
            map_ids.setdefault(piece, len(map_ids))
        for gloss in sample["gloss"].lower().split():
            glosses.setdefault(gloss)
            for piece in pieces(tokenizer, gloss):
                map_ids.setdefault(piece, len(map_ids))
    sizes = setup["translator"]
    torch.manual_seed(1)
    config = MBartConfig(
        vocab_size=len(map_ids),
        d_model=sizes["d_model"],
        encoder_layers=sizes["layers"],
        decoder_layers=sizes["layers"],
        encoder_attention_heads=sizes["heads"],
        decoder_attention_heads=sizes["heads"],
        encoder_ffn_dim=sizes["ffn"],
        decoder_ffn_dim=sizes["ffn"],
        max_position_embeddings=sizes["positions"],
        scale_embedding=True,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        forced_eos_token_id=2,
        init_std=sizes["init_std"],  # wide enough that its random generations vary
    )
    MBartForConditionalGeneration(config).save_pretrained(str(folder))
    for path in full_dir.iterdir():
        shutil.copy(path, folder / path.name)
    with open(folder / "map_ids.pkl", "wb") as stream:
        pickle.dump(map_ids, stream)
    gloss2ids = {token: index for index, token in enumerate([*SPECIAL_GLOSSES, *glosses])}
    with open(folder / "gloss2ids.pkl", "wb") as stream:
        pickle.dump(gloss2ids, stream)
    generator = torch.Generator().manual_seed(2)
    table = {token: torch.randn(sizes["d_model"], generator=generator) for token in gloss2ids}
    torch.save(table, folder / "gloss_embeddings.bin")


def recognition_vocabulary(setup: dict, path: Path) -> None:
    """The SingleStream recognition ``gloss2ids.pkl``: ``<si> <unk> <pad> </s>``, then the train glosses."""
    glosses = dict.fromkeys(g for s in setup["samples"] if s["split"] == "train" for g in s["gloss"].lower().split())
    with open(path, "wb") as stream:
        pickle.dump({g: i for i, g in enumerate(["<si>", "<unk>", "<pad>", "</s>", *glosses])}, stream)


def translation_config(folder: Path, setup: dict) -> dict:
    return {
        "GlossEmbedding": {"gloss2embed_file": str(folder / "gloss_embeddings.bin")},
        "GlossTokenizer": {"gloss2id_file": str(folder / "gloss2ids.pkl"), "src_lang": setup["gloss_language"]},
        "TextTokenizer": {
            "pretrained_model_name_or_path": str(folder),
            "pruneids_file": str(folder / "map_ids.pkl"),
            "tgt_lang": setup["tgt_lang"],
        },
        "pretrained_model_name_or_path": str(folder),
        "label_smoothing": 0.2,
        "overwrite_cfg": {"attention_dropout": 0.1, "dropout": 0.3},
    }


def recognition_config(recognition_file: Path, setup: dict) -> dict:
    head = setup["head"]
    return {
        "GlossTokenizer": {"gloss2id_file": str(recognition_file)},
        "visual_head": {"hidden_size": head["hidden"], "ff_size": head["ff"], "pe": True, "ff_kernelsize": [3, 3]},
        "fuse_method": "empty",
    }


def build(task: str, model_cfg: dict, data_cfg: dict | None = None):
    from modelling.model import SignLanguageModel

    torch.manual_seed({"G2T": 3, "S2T": 4, "S2G": 5}[task])
    model = SignLanguageModel({"task": task, "device": "cpu", "model": model_cfg, "data": data_cfg or {}})
    perturb(model)
    with torch.no_grad():  # away from the files' initial tables, as after training
        for name, parameter in model.named_parameters():
            if "gloss_embedding" in name or "vl_mapper" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    return model.eval()


def text_labels(model, texts: list[str]) -> dict:
    """The paper's text tokenizer on ``texts`` (as the target language, which transformers 5 needs said)."""
    tokenizer = model.text_tokenizer
    tokenizer.tokenizer.src_lang = tokenizer.tokenizer.tgt_lang
    return tokenizer(texts)


def generate(model, outputs: dict, setup: dict) -> torch.Tensor:
    """Its generation as under the transformers of its time (4.11), which started the decoder with the ids it
    was given (the target language code); transformers 5 puts ``decoder_start_token_id`` before them."""
    settings = setup["generation"]
    model.translation_network.model.generation_config.decoder_start_token_id = model.text_tokenizer.sos_index
    return model.generate_txt(transformer_inputs=outputs["transformer_inputs"], generate_cfg=settings)["sequences"]


def gloss_to_text(setup: dict, folder: Path) -> tuple[dict, dict]:
    model = build("G2T", {"TranslationNetwork": translation_config(folder, setup)})
    tests = [s for s in setup["samples"] if s["split"] == "test"]
    with torch.no_grad():
        inputs = {
            **model.gloss_tokenizer([s["gloss"] for s in tests]),
            **text_labels(model, [s["text"] for s in tests]),
        }
        outputs = model(is_train=False, translation_inputs=dict(inputs))
        sequences = generate(model, outputs, setup)
    return model.state_dict(), {
        "glosses": [s["gloss"] for s in tests],
        "decoder_input_ids": inputs["decoder_input_ids"],
        "labels": inputs["labels"],
        "logits": outputs["logits"],
        "sequences": sequences,
    }


def sign_to_text(setup: dict, folder: Path, recognition_file: Path, mapper: str) -> tuple[dict, dict]:
    cfg = {
        "RecognitionNetwork": recognition_config(recognition_file, setup),
        "TranslationNetwork": translation_config(folder, setup),
        "VLMapper": {"type": mapper, "freeze": False},
    }
    if mapper == "embedding":
        cfg["RecognitionNetwork"]["gloss_feature_ensemble"] = "gloss_probabilities"
    model = build("S2T", cfg, {"input_streams": ["rgb"]})
    tests = [s for s in setup["samples"] if s["split"] == "test"][:2]
    generator = torch.Generator().manual_seed(6)
    features = [torch.randn(n, 832, generator=generator) for n in setup["feature_lengths"]]
    results = {"features": features, "gloss_logits": [], "logits": [], "sequences": [], "decoder_input_ids": []}
    with torch.no_grad():  # one sample at a time: its convolutions would see another sample's padding
        for sample, feature in zip(tests, features, strict=True):
            glosses = model.gloss_tokenizer([sample["gloss"]])
            recognition = {
                "head_rgb_input": feature[None],
                "sgn_mask": torch.ones(1, 1, len(feature), dtype=torch.bool),
                "sgn_lengths": torch.tensor([len(feature)]),
                "gloss_labels": glosses["gloss_labels"],
                "gls_lengths": glosses["gls_lengths"],
            }
            labels = text_labels(model, [sample["text"]])
            outputs = model(is_train=False, translation_inputs=dict(labels), recognition_inputs=recognition)
            results["gloss_logits"].append(outputs["gloss_logits"][0])
            results["logits"].append(outputs["logits"][0])
            results["decoder_input_ids"].append(labels["decoder_input_ids"][0])
            results["sequences"].append(generate(model, outputs, setup)[0])
    return model.state_dict(), results


def sign_to_gloss(setup: dict, recognition_file: Path) -> tuple[dict, dict]:
    """Its S3D and visual head, built as its RecognitionNetwork builds them (which sizes the head for 4 blocks)."""
    from modelling.S3D import BLOCK2SIZE, S3D_backbone
    from modelling.Visualhead import VisualHead

    head = setup["head"]
    with open(recognition_file, "rb") as stream:
        classes = len(pickle.load(stream))
    torch.manual_seed(5)
    backbone = S3D_backbone(use_block=head["s2g_use_block"], freeze_block=0, pretrained_ckpt="scratch")
    visual_head = VisualHead(
        cls_num=classes, input_size=BLOCK2SIZE[head["s2g_use_block"]], hidden_size=head["hidden"], ff_size=head["ff"]
    )
    for network in (backbone, visual_head):
        perturb(network)
        network.eval()
    generator = torch.Generator().manual_seed(7)
    size = setup["video_size"]
    videos = [torch.randn(3, n, size, size, generator=generator) for n in setup["video_lengths"]]
    logits, valid = [], []
    with torch.no_grad():  # one video at a time: in a padded batch its S3D sees the padding
        for video in videos:
            features = backbone(sgn_videos=video[None], sgn_lengths=torch.tensor([video.shape[1]]))
            output = visual_head(
                x=features["sgn"], mask=features["sgn_mask"][-1], valid_len_in=features["valid_len_out"][-1]
            )
            logits.append(output["gloss_logits"][0])
            valid.append(int(output["valid_len_out"][0]))
    state = {f"recognition_network.visual_backbone.{k}": v for k, v in backbone.state_dict().items()}
    state |= {f"recognition_network.visual_head.{k}": v for k, v in visual_head.state_dict().items()}
    return state, {"videos": videos, "gloss_logits": logits, "valid_len_out": valid}


class IdentityResize:
    """torchvision's ``Resize`` where the size is already the one asked for (the two-stream side's inputs are)."""

    def __init__(self, size: list[int]) -> None:
        self.size = list(size)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if list(x.shape[-2:]) != self.size:
            raise RuntimeError(f"the stand-in resizes nothing: {list(x.shape[-2:])} asked to be {self.size}")
        return x


class Compose:
    def __init__(self, ops: list) -> None:
        self.ops = ops

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = op(x)
        return x


def two_stream_config(recognition_file: Path, setup: dict) -> dict:
    """Its RecognitionNetwork section as ``configs/TwoStream/phoenix-2014t_s2g.yaml`` has it, at the setup's sizes."""
    head, sizes = setup["head"], setup["two_stream"]
    return {
        "GlossTokenizer": {"gloss2id_file": str(recognition_file)},
        "s3d": {"pretrained_ckpt": "scratch", "use_block": 4, "freeze_block": 1},
        "keypoint_s3d": {
            "in_channel": sizes["joints"],
            "pretrained_ckpt": "scratch",
            "use_block": 4,
            "freeze_block": 0,
        },
        "heatmap_cfg": {"raw_size": [sizes["map_size"]] * 2, "input_size": sizes["map_size"], "sigma": sizes["sigma"]},
        "fuse_method": "triplehead_cat_bilateral",
        "lateral": {"pose2rgb": True, "rgb2pose": True, "fusion_features": ["c1", "c2", "c3"]},
        "pyramid": {"version": "v1", "rgb": "multi_head", "pose": "multi_head", "num_levels": 3}
        | {"head_weight_rgb": 0.2, "head_weight_keypoint": 0.5},
        "visual_head": {"input_size": 832, "hidden_size": head["hidden"], "ff_size": head["ff"], "pe": True}
        | {"ff_kernelsize": [3, 3]},
        "cross_distillation": {"teacher_detach": True, "types": {f"ensemble_last_teaches_{s}": 1 for s in HEADS}},
    }


HEADS = ("rgb", "keypoint", "fuse")


def two_stream_sign_to_gloss(setup: dict, recognition_file: Path) -> tuple[dict, dict]:
    """Its two-stream RecognitionNetwork, run as its evaluation runs it (its heatmaps, its preprocessing; the
    frames and maps already at the network's sizes, so its resizing is the identity), one video at a time."""
    from modelling.recognition import RecognitionNetwork

    sys.modules["torchvision"].transforms = types.SimpleNamespace(Resize=IdentityResize, Compose=Compose)
    sizes = setup["two_stream"]
    torch.manual_seed(8)
    network = RecognitionNetwork(
        two_stream_config(recognition_file, setup),
        input_type="video",
        transform_cfg={"img_size": 2 * sizes["map_size"]},
        input_streams=["keypoint", "rgb"],
    )
    perturb(network)
    network.eval()
    generator = torch.Generator().manual_seed(9)
    size = sizes["map_size"]
    results = {"videos": [], "keypoints": [], "valid_len_out": [], "ensemble": [], "aux": []}
    results |= {f"{head}_gloss_logits": [] for head in HEADS}
    with torch.no_grad():
        for frames in sizes["video_lengths"]:
            video = torch.rand(1, frames, 3, 2 * size, 2 * size, generator=generator)  # B×T×C×H×W in [0, 1]
            keypoints = torch.rand(1, frames, sizes["joints"], 3, generator=generator)
            keypoints[..., :2] *= size  # pixels of the map-sized frame; the third value its confidence
            outputs = network(
                is_train=False,
                gloss_labels=torch.tensor([[1, 2]]),
                gls_lengths=torch.tensor([2]),
                sgn_videos=video,
                sgn_lengths=torch.tensor([frames]),
                sgn_keypoints=keypoints,
            )
            for head in HEADS:
                results[f"{head}_gloss_logits"].append(outputs[f"{head}_gloss_logits"][0])
            results["ensemble"].append(outputs["ensemble_last_gloss_probabilities_log"][0])
            results["aux"].append([logits[0] for s in ("rgb", "keypoint") for logits in outputs["aux_logits"][s]])
            results["valid_len_out"].append(int(outputs["input_lengths"][0]))
            results["videos"].append(video[0])
            results["keypoints"].append(keypoints[0])
    state = {f"recognition_network.{k}": v for k, v in network.state_dict().items()}
    return state, results


def save_checkpoint(state: dict, path: Path, step: int) -> None:
    """In the paper's checkpoint layout, its best score a numpy scalar as its evaluation gives it."""
    torch.save(
        {
            "epoch": 3,
            "global_step": step,
            "model_state": state,
            "optimizer_state": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.998), "params": []}]},
            "scheduler_state": {"T_max": 40, "last_epoch": 3, "_last_lr": [1e-4]},
            "best_score": np.float64(21.5),
            "current_score": np.float64(21.5),
        },
        path,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--paper-code", required=True)
    parser.add_argument("--setup", required=True, type=Path)
    parser.add_argument("--output", required=True, type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.paper_code).resolve()))
    stand_ins()
    from utils.misc import make_logger

    logging.disable(logging.INFO)
    make_logger(tempfile.mkdtemp(prefix="slrt-log-"))  # its modules log through a global set up here
    setup = json.loads(args.setup.read_text(encoding="utf-8"))
    output = args.output
    folder = output / "mBart"
    folder.mkdir(parents=True)
    prepare_mbart(setup, folder)
    recognition_file = output / "gloss2ids.pkl"
    recognition_vocabulary(setup, recognition_file)
    results = {}
    stages = {
        "s2g": lambda: sign_to_gloss(setup, recognition_file),
        "g2t": lambda: gloss_to_text(setup, folder),
        "s2t": lambda: sign_to_text(setup, folder, recognition_file, "projection"),
        "s2t_embedding": lambda: sign_to_text(setup, folder, recognition_file, "embedding"),
    }
    if "two_stream" in setup:
        stages["s2g_two_stream"] = lambda: two_stream_sign_to_gloss(setup, recognition_file)
    for index, (stage, run) in enumerate(stages.items()):
        if stage not in setup.get("stages", stages):
            continue
        state, results[stage] = run()
        save_checkpoint(state, output / f"{stage}.pth", 1000 + index)
    torch.save(results, output / "outputs.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
