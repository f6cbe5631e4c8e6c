"""Keypoints in one in-memory layout: ``T×J×4`` (x, y, z, confidence) with named joint sets.

Every reader (:mod:`dataset.keypoint_formats`) returns :class:`Keypoints`: coordinates in
``pixels`` (of a ``width``×``height`` frame) or ``normalised`` to [0, 1] of the frame's sides, ``z``
0 where the format has no depth, and a joint that was not found holding confidence 0 and
coordinates 0 (never NaN). A :class:`Skeleton` names the joints of one layout, groups them into
parts (body, face, hands, ...) and pairs each left joint with its right one, for a horizontal flip.

The layouts:

- ``coco-wholebody``, 133 joints (HRNet's, in the paper's TwoStream pickle): body 0-16, feet 17-22,
  face 23-90 (the 68 iBUG points), left hand 91-111, right hand 112-132;
- ``mediapipe-holistic``, 543 (as the Kaggle ASL Signs data orders them): face 0-467, left hand
  468-488, pose 489-521, right hand 522-542;
- ``openpose-137``: BODY_25 0-24, left hand 25-45, right hand 46-66, face 67-136 (70 points).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.errors import ToolkitError

UNITS = ("pixels", "normalised")

COCO_BODY = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
]  # fmt: skip
COCO_FEET = ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
HAND = [
    "wrist", "thumb_1", "thumb_2", "thumb_3", "thumb_4", "index_1", "index_2", "index_3", "index_4",
    "middle_1", "middle_2", "middle_3", "middle_4", "ring_1", "ring_2", "ring_3", "ring_4",
    "pinky_1", "pinky_2", "pinky_3", "pinky_4",
]  # fmt: skip
# the 68 iBUG face points, each with its mirror image (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67)
IBUG_MIRROR = [
    16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
    27, 28, 29, 30, 35, 34, 33, 32, 31,
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65,
]  # fmt: skip
MEDIAPIPE_POSE = [
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
]  # fmt: skip
# face mesh points with their mirror images (lip corners and rims, cheeks, eye corners, brows, nostrils), and
# points on the face's midline (lips, chin, forehead, nose): the ones the MediaPipe selection takes
MEDIAPIPE_FACE_PAIRS = {61: 291, 37: 267, 84: 314, 234: 454, 33: 263, 133: 362, 70: 300, 105: 334, 98: 327}
MEDIAPIPE_FACE_MIDLINE = (0, 17, 13, 14, 152, 10, 1, 4)
OPENPOSE_BODY_25 = [
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
]  # fmt: skip


class KeypointError(ToolkitError):
    """A keypoint file that cannot be read, or keypoints that do not fit what is asked of them."""


@dataclass(frozen=True)
class Skeleton:
    """A layout's joint names, its parts (name -> joint indices) and each joint's mirror image.

    ``unpaired``: joints whose mirror image is not known here (MediaPipe's face mesh), their own in ``mirror``.
    """

    name: str
    joints: list[str]
    parts: dict[str, list[int]]
    mirror: list[int] = field(repr=False)
    unpaired: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if sorted(self.mirror) != list(range(len(self.joints))):
            raise ValueError(f"{self.name}: the mirror map is not a permutation of its {len(self.joints)} joints")

    def index(self, joint: str) -> int:
        return self.joints.index(joint)


def _named_mirror(names: list[str]) -> list[int]:
    """Each joint's mirror by name (``left_x`` <-> ``right_x``; others their own)."""
    position = {name: i for i, name in enumerate(names)}

    def swap(name: str) -> str:
        for a, b in (("left", "right"), ("right", "left")):
            if a in name:
                return name.replace(a, b)
        return name

    return [position[swap(name)] for name in names]


def _sides(prefix: str, names: list[str]) -> list[str]:
    return [f"{prefix}{name}" for name in names]


def _coco_wholebody() -> Skeleton:
    face = [f"face_{i}" for i in range(68)]
    joints = [*COCO_BODY, *COCO_FEET, *face, *_sides("left_hand_", HAND), *_sides("right_hand_", HAND)]
    mirror = _named_mirror(COCO_BODY + COCO_FEET)
    mirror += [23 + IBUG_MIRROR[i] for i in range(68)]
    mirror += [112 + i for i in range(21)] + [91 + i for i in range(21)]
    parts = {
        "body": list(range(17)),
        "feet": list(range(17, 23)),
        "face": list(range(23, 91)),
        "left_hand": list(range(91, 112)),
        "right_hand": list(range(112, 133)),
    }
    return Skeleton("coco-wholebody", joints, parts, mirror)


def _mediapipe_holistic() -> Skeleton:
    face = [f"face_{i}" for i in range(468)]
    joints = [*face, *_sides("left_hand_", HAND), *_sides("pose_", MEDIAPIPE_POSE), *_sides("right_hand_", HAND)]
    pose = _named_mirror(MEDIAPIPE_POSE)
    mirror = list(range(468))  # the face mesh: its left-right pairs are known here for a few points only
    for a, b in MEDIAPIPE_FACE_PAIRS.items():
        mirror[a], mirror[b] = b, a
    mirror += [522 + i for i in range(21)] + [489 + pose[i] for i in range(33)] + [468 + i for i in range(21)]
    parts = {
        "face": list(range(468)),
        "left_hand": list(range(468, 489)),
        "pose": list(range(489, 522)),
        "right_hand": list(range(522, 543)),
    }
    paired = {*MEDIAPIPE_FACE_PAIRS, *MEDIAPIPE_FACE_PAIRS.values(), *MEDIAPIPE_FACE_MIDLINE}
    return Skeleton("mediapipe-holistic", joints, parts, mirror, frozenset(set(range(468)) - paired))


def _openpose_137() -> Skeleton:
    face = [f"face_{i}" for i in range(70)]
    joints = [*OPENPOSE_BODY_25, *_sides("left_hand_", HAND), *_sides("right_hand_", HAND), *face]
    body = _named_mirror(OPENPOSE_BODY_25)
    face_mirror = [67 + IBUG_MIRROR[i] for i in range(68)] + [67 + 69, 67 + 68]  # 68, 69: the pupils
    mirror = body + [46 + i for i in range(21)] + [25 + i for i in range(21)] + face_mirror
    parts = {
        "body": list(range(25)),
        "left_hand": list(range(25, 46)),
        "right_hand": list(range(46, 67)),
        "face": list(range(67, 137)),
    }
    return Skeleton("openpose-137", joints, parts, mirror)


SKELETONS = {skeleton.name: skeleton for skeleton in (_coco_wholebody(), _mediapipe_holistic(), _openpose_137())}


@dataclass
class Keypoints:
    """One video's keypoints: ``points`` T×J×4 float32 (x, y, z, confidence) in the joints of ``layout``."""

    points: np.ndarray
    layout: str
    units: str
    width: int | None = None
    height: int | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        if self.layout not in SKELETONS:
            raise KeypointError(f"unknown keypoint layout {self.layout!r} (known: {', '.join(SKELETONS)})")
        if self.units not in UNITS:
            raise KeypointError(f"keypoint units {self.units!r} are not one of {list(UNITS)}")
        joints = len(SKELETONS[self.layout].joints)
        if self.points.ndim != 3 or self.points.shape[1:] != (joints, 4):
            raise KeypointError(f"{self.layout}: expected T×{joints}×4 points, got {self.points.shape}")
        self.points = np.nan_to_num(self.points.astype(np.float32, copy=False), nan=0.0)

    @property
    def skeleton(self) -> Skeleton:
        return SKELETONS[self.layout]

    @property
    def found(self) -> np.ndarray:
        """T×J: whether each joint was found (confidence above 0)."""
        return self.points[..., 3] > 0

    def in_pixels(self) -> Keypoints:
        """These keypoints in pixels (normalised ones need the frame's width and height)."""
        if self.units == "pixels":
            return self
        if not (self.width and self.height):
            raise KeypointError(f"{self.layout}: normalised keypoints without the frame's size cannot become pixels")
        scaled = self.points.copy()
        scaled[..., 0] *= self.width
        scaled[..., 1] *= self.height
        scaled[..., 2] *= self.width  # depth on the scale of x, as MediaPipe gives it
        return Keypoints(scaled, self.layout, "pixels", self.width, self.height, self.fps)
