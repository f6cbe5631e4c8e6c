"""Import another codebase's released checkpoint as a run directory of this toolkit.

    python import_checkpoint.py --stage s2g --checkpoint PAPER/s2g.ckpt --glosses PAPER/gloss2ids.pkl \\
        --config experiments/configs/phoenix-2014t_s2g_paper.yaml --output runs/paper_phoenix-2014t_s2g
    python import_checkpoint.py --stage g2t --checkpoint PAPER/g2t.ckpt --mbart PAPER/mBart_de \\
        --config experiments/configs/phoenix-2014t_g2t_paper.yaml --output runs/paper_phoenix-2014t_g2t
    python import_checkpoint.py --stage s2t --checkpoint PAPER/s2t.ckpt --glosses ... --mbart ... \\
        --config experiments/configs/phoenix-2014t_s2t_paper.yaml --output runs/paper_phoenix-2014t_s2t
    python import_checkpoint.py --stage s3d --checkpoint PAPER/pretrained_models/s3ds_glosscls_ckpt \\
        --output pretrained_models/s3d_paper_glosscls.pth       # the paper's S3D start, for training

``--format`` names the foreign format (default ``slrt-single-stream``: FangyunWei/SLRT's
SingleStream files; the converters are in ``checkpoint_conversion/``). The config gives the data
and evaluation settings of the paper's setup; the architecture comes from the files, and a config
key that disagrees with them is an error. The run directory then works with ``prediction.py``,
``translate.py``, ``serve.py`` and ``export.py`` as one this toolkit trained. Nothing in the files
runs, and on any error nothing is written.
"""

from __future__ import annotations

import argparse
import sys

from checkpoint_conversion import CONVERTERS
from checkpoint_conversion.slrt_single_stream import FORMAT
from core.errors import ToolkitError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", default=FORMAT, choices=CONVERTERS.names(), help="the foreign format")
    parser.add_argument("--config", help="this toolkit's config of the setup, e.g. experiments/configs/*_paper.yaml")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", required=True, help="the new run directory (a file for --stage s3d)")
    chosen = _format_of(argv)
    CONVERTERS[chosen].add_arguments(parser.add_argument_group(f"--format {chosen}"))
    return parser.parse_args(argv)


def _format_of(argv: list[str] | None) -> str:
    """The ``--format`` given (the default without one), read before the format's own options are known."""
    peek = argparse.ArgumentParser(add_help=False)
    peek.add_argument("--format", default=FORMAT)
    known, _ = peek.parse_known_args(argv)
    return known.format if known.format in CONVERTERS else FORMAT


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        output = CONVERTERS[args.format].convert(args)
    except (ToolkitError, FileNotFoundError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    print(f"wrote the run directory {output} ({args.format})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
