"""Train a model (the code is engine/training_run.py).

[torchrun --nproc_per_node N] training.py --config CONFIG.yaml [--resume [CKPT]]
"""

import sys

from engine.training_run import main

if __name__ == "__main__":
    sys.exit(main())
