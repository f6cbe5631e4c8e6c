import shutil

import pytest
import torch
from transformers import MBartForConditionalGeneration

import prepare_mbart
from core.errors import ToolkitError
from dataset.toy_sign_language import generate_split
from engine.jobs import training_run as training
from modelling.mbart_pruning import GLOSS_EMBEDDINGS_FILE, prune_mbart
from modelling.tokenizers import load_text_tokenizer
from tests.conftest import tiny_config, write_config

RECORDS = generate_split("train", 40, seed=4)


@pytest.fixture(scope="module")
def pruned(tiny_mbart_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("pruned") / "mbart"
    texts, glosses = [r["text"] for r in RECORDS], [r["gloss"] for r in RECORDS]
    summary = prune_mbart(tiny_mbart_dir, output, texts, glosses, "en_XX", "en_XX")
    return output, summary


def test_pruned_model_gives_the_same_logits_over_the_kept_tokens(tiny_mbart_dir, pruned):
    output, summary = pruned
    assert summary.vocab_after < summary.vocab_before
    full_tok = load_text_tokenizer(tiny_mbart_dir, "en_XX", "en_XX")
    small_tok = load_text_tokenizer(output, "en_XX", "en_XX")
    assert len(small_tok) == summary.vocab_after
    full = MBartForConditionalGeneration.from_pretrained(str(tiny_mbart_dir)).eval()
    small = MBartForConditionalGeneration.from_pretrained(str(output)).eval()
    keep = torch.tensor(
        [full_tok.convert_tokens_to_ids(t) for t in small_tok.convert_ids_to_tokens(range(len(small_tok)))]
    )
    text = RECORDS[3]["text"]
    old = full_tok(text_target=text, return_tensors="pt")["input_ids"]
    new = small_tok(text_target=text, return_tensors="pt")["input_ids"]
    assert torch.equal(keep[new], old)  # the same pieces, renumbered
    with torch.no_grad():
        full_logits = full(input_ids=old, decoder_input_ids=old).logits
        small_logits = small(input_ids=new, decoder_input_ids=new).logits
    torch.testing.assert_close(small_logits, full_logits[..., keep], rtol=1e-5, atol=1e-5)


def test_gloss_embeddings_are_the_mean_of_each_glosss_pieces(tiny_mbart_dir, pruned):
    output, _ = pruned
    table = torch.load(output / GLOSS_EMBEDDINGS_FILE, weights_only=True)
    tokenizer = load_text_tokenizer(tiny_mbart_dir, "en_XX", "en_XX")
    embeddings = MBartForConditionalGeneration.from_pretrained(str(tiny_mbart_dir)).get_input_embeddings().weight
    gloss = table["glosses"][0]
    pieces = tokenizer(gloss.lower(), add_special_tokens=False)["input_ids"]
    torch.testing.assert_close(table["weight"][4], embeddings[pieces].mean(dim=0).detach())
    assert (output / "gloss_vocab.txt").read_text().split() == table["glosses"]


def test_g2t_trains_from_the_prepared_directory(pruned, tmp_path, toy_data):
    output, _ = pruned
    config = tiny_config(
        toy_data,
        tmp_path / "model",
        model={"pretrained": str(output)},
        tokenizer={"gloss_vocab": str(output / "gloss_vocab.txt")},
        training={"max_steps": 2},
    )
    assert training.main(["--config", str(write_config(tmp_path / "run.yaml", config))]) == 0
    assert "gloss embedding from" in (tmp_path / "model" / "train.log").read_text()


def test_command_refuses_an_mbart_directory_without_a_tokenizer(tiny_mbart_dir, tmp_path, toy_data, capsys):
    bare = tmp_path / "bare"
    shutil.copytree(tiny_mbart_dir, bare)
    for name in ("sentencepiece.bpe.model", "tokenizer.json", "tokenizer_config.json"):
        (bare / name).unlink(missing_ok=True)
    config = write_config(tmp_path / "g2t.yaml", tiny_config(toy_data, tmp_path / "model"))
    argv = ["--config", str(config), "--mbart", str(bare), "--output", str(tmp_path / "out")]
    assert prepare_mbart.main(argv) == 2
    assert f"error: {bare}: no sentencepiece model" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    with pytest.raises(ToolkitError, match="exists: choose a new output directory"):
        prune_mbart(tiny_mbart_dir, tmp_path, [], [], "en_XX", "en_XX")
