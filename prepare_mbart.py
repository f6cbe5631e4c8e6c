"""Prepare a compact mBART for one dataset: ``prepare_mbart.py --mbart DIR --config G2T.yaml --output DIR``.

From a local mbart-large-cc25 directory and the config's train split, writes a model directory
whose vocabulary is pruned to the sentencepiece pieces the train texts use (plus the special tokens
and every language code), with ``gloss_vocab.txt`` and a gloss embedding table initialised from
mBART's embeddings of each gloss's pieces. Point G2T and S2T configs at it with
``model.pretrained: DIR`` and ``tokenizer.gloss_vocab: DIR/gloss_vocab.txt``.
"""

from __future__ import annotations

import argparse
import sys

from core.config import Config
from core.vocabulary import GLOSS_VOCAB_FILE
from engine.cli import add_common_arguments, run_cli
from engine.distributed import DistributedContext
from engine.run_logging import get_logger, setup_logger
from engine.tasks.data_preparation import read_split
from modelling.mbart_pruning import prune_mbart


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--mbart", required=True, help="local mbart-large-cc25 directory (model and tokenizer)")
    parser.add_argument("--output", required=True, help="new directory for the pruned model")
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace, config: Config, context: DistributedContext) -> None:
    setup_logger(None, context.is_main)
    train = read_split(config, "train").samples
    get_logger().info("pruning %s to the pieces of %d train texts", args.mbart, len(train))
    summary = prune_mbart(
        args.mbart,
        args.output,
        [s.text for s in train],
        [s.gloss for s in train],
        config.data.src_lang,
        config.data.tgt_lang,
    )
    print(
        f"wrote {summary.output_dir}: vocabulary {summary.vocab_before} -> {summary.vocab_after} tokens, "
        f"{summary.glosses} gloss embeddings\nuse it with -o model.pretrained={summary.output_dir} "
        f"-o tokenizer.gloss_vocab={summary.output_dir}/{GLOSS_VOCAB_FILE}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: prepare(args, config, context))


if __name__ == "__main__":
    sys.exit(main())
