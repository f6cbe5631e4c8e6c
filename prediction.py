"""Evaluate a checkpoint (the code is engine/jobs/prediction.py).

prediction.py --config CONFIG.yaml [--ckpt PATH] [--splits dev test]
"""

import sys

from engine.jobs.prediction import main

if __name__ == "__main__":
    sys.exit(main())
