"""Keypoints to network input: joint selection, centring (by the shoulders, or on the frame), missing
joints, and augmentation that keeps the signer plausible (the Gaussian heatmaps of a convolutional
stream are made on the device: :mod:`modelling.pose_s3d`).

Everything works on ``T×N×4`` arrays (x, y, z, confidence; a joint not found has confidence 0) of
a :class:`Selection` of joints, but the flip, which mirrors a whole layout (a selection need not
hold each joint's mirror image: the paper's takes face points whose mirrors it leaves out) and
comes before the selection. The paper's selection (TwoStream-SLT, ``dataset/Dataset.py``) takes
79 of COCO-WholeBody's 133 joints in its order (its part names sorted): the face 23-70 every third,
the hands 91-132, the mouth 71-90 every second, the body 0-10. :data:`MEDIAPIPE_79` takes the same
kinds of joints from MediaPipe Holistic (body 11, hands 42, lips 10, face 16), with their mirrors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dataset.keypoints import SKELETONS, KeypointError, Keypoints


@dataclass(frozen=True)
class Selection:
    """Joints of one layout (``indices``, in this order) and where the shoulders are among them."""

    name: str
    layout: str
    indices: tuple[int, ...]
    shoulders: tuple[int, int]  # positions (in ``indices``) of the left and the right shoulder

    def select(self, keypoints: Keypoints) -> np.ndarray:
        """``keypoints``' selected joints, ``T×N×4``."""
        if keypoints.layout != self.layout:
            raise KeypointError(f"the {self.name} selection takes {self.layout} keypoints, not {keypoints.layout}")
        return keypoints.points[:, list(self.indices)]


def _selection(name: str, layout: str, indices: list[int]) -> Selection:
    """The selection of ``indices``, each of whose mirror images the layout knows (a flip needs them)."""
    skeleton = SKELETONS[layout]
    unpaired = [skeleton.joints[i] for i in indices if i in skeleton.unpaired]
    if unpaired:
        raise ValueError(f"{name}: the mirror image of {unpaired[0]} is not known")
    names = [skeleton.joints[i] for i in indices]
    prefix = "" if "left_shoulder" in names else "pose_"
    shoulders = (names.index(f"{prefix}left_shoulder"), names.index(f"{prefix}right_shoulder"))
    return Selection(name, layout, tuple(indices), shoulders)


PAPER_79 = _selection(
    "paper-79",
    "coco-wholebody",
    [*range(23, 71, 3), *range(91, 133), *range(71, 91, 2), *range(11)],  # face_others_1_3, hand, mouth_half, pose
)
MEDIAPIPE_LIPS = [61, 291, 0, 17, 13, 14, 37, 267, 84, 314]
MEDIAPIPE_FACE = [234, 454, 152, 10, 33, 263, 133, 362, 70, 300, 105, 334, 1, 4, 98, 327]
MEDIAPIPE_BODY = [489 + i for i in (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16)]  # nose, eyes, ears, arms
MEDIAPIPE_79 = _selection(
    "mediapipe-79",
    "mediapipe-holistic",
    [*MEDIAPIPE_FACE, *range(468, 489), *range(522, 543), *MEDIAPIPE_LIPS, *MEDIAPIPE_BODY],
)
SELECTIONS = {selection.name: selection for selection in (PAPER_79, MEDIAPIPE_79)}


def centre_on_shoulders(points: np.ndarray, shoulders: tuple[int, int]) -> np.ndarray:
    """``points`` with the shoulders' midpoint at 0 and the shoulder width 1 (its median over the frames where
    both are found); joints not found stay 0. A video where no frame has both shoulders is an error."""
    left, right = points[:, shoulders[0]], points[:, shoulders[1]]
    both = (left[:, 3] > 0) & (right[:, 3] > 0)
    if not both.any():
        raise KeypointError("no frame shows both shoulders: the keypoints cannot be centred and scaled")
    centre = np.median((left[both, :3] + right[both, :3]) / 2, axis=0)
    width = float(np.median(np.linalg.norm(left[both, :2] - right[both, :2], axis=1)))
    if width <= 0:
        raise KeypointError("the shoulders are at one place: the keypoints cannot be scaled")
    centred = points.copy()
    centred[..., :3] = (points[..., :3] - centre) / width
    centred[..., :3] *= points[..., 3:] > 0
    return centred


def interpolate_missing(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each joint not found in a frame, placed linearly between its nearest frames where it is found (held at
    the ends); a joint found in no frame stays 0. Returns the points and ``T×N``: which were filled in."""
    filled, missing = points.copy(), points[..., 3] <= 0
    frames = np.arange(len(points))
    for joint in range(points.shape[1]):
        found = ~missing[:, joint]
        if found.all() or not found.any():
            continue
        for axis in range(3):
            filled[missing[:, joint], joint, axis] = np.interp(
                frames[missing[:, joint]], frames[found], points[found, joint, axis]
            )
    return filled, missing & (~missing).any(axis=0, keepdims=True)


def flip(keypoints: Keypoints, selection: Selection) -> np.ndarray:
    """The selected joints of the mirrored signer, ``T×N×4``: x negated (about 0: centre afterwards), each joint
    taken from its mirror image in the whole layout (the left hand from the right; a selection need not hold
    both: the paper's takes face points whose mirrors it leaves out)."""
    mirror = keypoints.skeleton.mirror
    if keypoints.layout != selection.layout:
        raise KeypointError(
            f"the {selection.name} selection takes {selection.layout} keypoints, not {keypoints.layout}"
        )
    flipped = keypoints.points[:, [mirror[i] for i in selection.indices]].copy()
    flipped[..., 0] *= -1
    return flipped


def random_affine(
    points: np.ndarray,
    generator: np.random.Generator,
    rotation: float = 15.0,
    scale: tuple[float, float] = (0.9, 1.1),
    shear: float = 0.1,
) -> np.ndarray:
    """Centred points turned by up to ``rotation`` degrees, scaled and sheared within bounds a signer allows
    (x and y only; joints not found stay 0)."""
    angle = math.radians(generator.uniform(-rotation, rotation))
    factor, slant = generator.uniform(*scale), generator.uniform(-shear, shear)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    matrix = factor * turn @ np.array([[1.0, slant], [0.0, 1.0]])
    moved = points.copy()
    moved[..., :2] = (points[..., :2] @ matrix.T) * (points[..., 3:] > 0)
    return moved.astype(points.dtype)
