"""Extract S3D features for Sign2Text (the code is engine/jobs/feature_extraction.py).

[torchrun --nproc_per_node N] extract_feature.py --config S2G.yaml [--ckpt PATH]
"""

import sys

from engine.jobs.feature_extraction import main

if __name__ == "__main__":
    sys.exit(main())
