"""MediaPipe Holistic landmarks of videos, one .pose file each (the code is engine/jobs/keypoint_extraction.py).

python extract_keypoints.py VIDEO_OR_FRAME_FOLDER ... --output-dir DIR
[torchrun --nproc_per_node N] extract_keypoints.py --config CONFIG.yaml --output-dir DIR
"""

import sys

from engine.jobs.keypoint_extraction import main

if __name__ == "__main__":
    sys.exit(main())
