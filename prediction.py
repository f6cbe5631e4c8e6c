"""Evaluate a checkpoint (the code is engine/prediction.py).

prediction.py --config CONFIG.yaml [--ckpt PATH] [--splits dev test]
"""

import sys

from engine.prediction import main

if __name__ == "__main__":
    sys.exit(main())
