"""Train a model (the code is engine/jobs/training_run.py).

[torchrun --nproc_per_node N] training.py --config CONFIG.yaml [--resume [CKPT]]
"""

import sys

from engine.jobs.training_run import main

if __name__ == "__main__":
    sys.exit(main())
