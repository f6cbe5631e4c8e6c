"""The toy signer's joints: COCO-WholeBody keypoints of the signing the toy videos show, with an extractor's noise.

The wrists follow the hands of :func:`dataset.toy_sign_video.hand_path`, frame by frame, so the
keypoints and the rendered video show the same signing (the shape on the image's left is the
signer's right hand: the signer faces the camera). Around them a figure: head and face (68 iBUG
points; the mouth opens as each gloss's own mouthing), shoulders, elbows and hips where the
signer stands, and two hands of 21 joints whose shape follows the drawn one (a disc a fist, a
square a flat hand, a ring an "O") and whose size its radius. Legs and feet are out of the frame
(not found). What a real extractor adds: jitter, joints of low confidence, and, in some videos, a
hand lost for a few frames (not found). Everything is deterministic by the seed and the video's name.
"""

from __future__ import annotations

import math
import random
import zlib
from pathlib import Path

import numpy as np

from dataset.keypoint_formats import write_paper_pickle
from dataset.keypoints import Keypoints
from dataset.toy_sign_video import HandMotion, Signer, hand_path, signer_style

JITTER = 0.004  # of the image size
LOST_HAND = 0.3  # the chance that a video loses one hand for a few frames
CURLS = {"disc": (0.9, 0.95), "square": (0.05, 0.1), "ring": (0.55, 0.6)}  # a shape's thumb and finger curl
FINGER_ANGLES = (-1.0, -0.45, -0.15, 0.15, 0.45)  # thumb, index, middle, ring, pinky, radians from the forearm


def _head(signer: Signer) -> tuple[float, float, float]:
    return 0.5 + signer.offset[0], 0.14 + signer.offset[1], 0.085  # centre x, y, radius


def _face(signer: Signer, opening: float) -> np.ndarray:
    """The 68 iBUG points (fractions of the image; the signer's right on the image's left): jaw, brows, nose,
    eyes, the mouth open by ``opening`` (0..1)."""
    cx, cy, r = _head(signer)

    def ring(x: float, y: float, rx: float, ry: float, count: int, first: float, last: float) -> list:
        return [(x + rx * math.cos(a), y + ry * math.sin(a)) for a in np.linspace(first, last, count)]

    jaw = ring(cx, cy + 0.1 * r, r, 0.9 * r, 17, math.pi, 0.0)  # below the centre: y grows downwards
    brows = [(cx + r * (-0.75 + 0.075 * i), cy - 0.45 * r) for i in range(5)]
    brows += [(cx + r * (0.45 + 0.075 * i), cy - 0.45 * r) for i in range(5)]
    nose = [(cx, cy - r * (0.3 - 0.15 * i)) for i in range(4)] + [
        (cx + 0.12 * r * (i - 2), cy + 0.2 * r) for i in range(5)
    ]
    eyes = [
        p
        for side in (-1, 1)
        for p in ring(cx + side * 0.45 * r, cy - 0.25 * r, 0.15 * r, 0.07 * r, 6, math.pi, -math.pi * 2 / 3)
    ]
    lips = 0.08 + 0.2 * opening
    outer = ring(cx, cy + 0.5 * r, 0.35 * r, lips * r, 13, math.pi, -math.pi)[:12]
    inner = ring(cx, cy + 0.5 * r, 0.22 * r, 0.15 * opening * r, 9, math.pi, -math.pi)[:8]
    return np.array([*jaw, *brows, *nose, *eyes, *outer, *inner])


def _hand(wrist: np.ndarray, elbow: np.ndarray, motion: HandMotion, t: float, mirrored: bool) -> np.ndarray:
    """21 joints: the wrist, then each finger's 4 from its base to its tip, curled as the drawn shape."""
    forearm = wrist - elbow
    heading = math.atan2(forearm[1], forearm[0])
    thumb_curl, finger_curl = CURLS[motion.shape]
    flex = 0.1 * math.sin(2 * math.pi * t) if motion.wiggle else 0.0  # a wiggling sign flexes its fingers
    joints = [wrist]
    for finger, angle in enumerate(FINGER_ANGLES):
        curl = min(max((thumb_curl if finger == 0 else finger_curl) + flex, 0.0), 1.0)
        direction = heading + (-angle if mirrored else angle)
        point, length = wrist.copy(), motion.radius * (0.5 if finger == 0 else 0.7)
        for bone in range(4):
            step = length * (0.45 if bone == 0 else 0.2)
            bend = direction + (1 if not mirrored else -1) * curl * (bone * 0.8)
            point = point + step * np.array([math.cos(bend), math.sin(bend)])
            joints.append(point)
    return np.array(joints)


def _body(signer: Signer) -> dict[str, np.ndarray]:
    cx, cy, r = _head(signer)
    x, y = signer.offset
    return {
        "nose": np.array([cx, cy + r * 0.15]),
        "left_eye": np.array([cx + r * 0.45, cy - r * 0.25]),
        "right_eye": np.array([cx - r * 0.45, cy - r * 0.25]),
        "left_ear": np.array([cx + r, cy]),
        "right_ear": np.array([cx - r, cy]),
        "left_shoulder": np.array([0.66 + x, 0.36 + y]),
        "right_shoulder": np.array([0.34 + x, 0.36 + y]),
        "left_hip": np.array([0.6 + x, 0.92 + y]),
        "right_hip": np.array([0.4 + x, 0.92 + y]),
    }


def _elbow(shoulder: np.ndarray, wrist: np.ndarray, outward: float) -> np.ndarray:
    """An elbow between shoulder and wrist, bent down and out (``outward``: -1 the image's left, 1 its right)."""
    middle = (shoulder + wrist) / 2
    return middle + np.array([0.06 * outward, 0.07])


def toy_keypoints(glosses: list[str], signer: Signer, size: int, noise: random.Random | None = None) -> Keypoints:
    """COCO-WholeBody keypoints (pixels of a ``size``×``size`` frame, 25 fps) of ``signer`` signing ``glosses``."""
    body = _body(signer)
    names = Keypoints(np.zeros((1, 133, 4), np.float32), "coco-wholebody", "pixels").skeleton.joints
    frames = []
    for (image_left, image_right), t, centres in hand_path(glosses, signer):
        points = np.zeros((133, 4))
        for name, place in body.items():
            points[names.index(name), :2], points[names.index(name), 3] = place, 1.0
        mouthing = (zlib.crc32(repr(image_left).encode()) % 7) / 6 * math.sin(math.pi * t)  # the gloss's own
        points[23:91, :2], points[23:91, 3] = _face(signer, abs(mouthing)), 1.0
        hands = (("right", image_left, np.array(centres[0]), -1), ("left", image_right, np.array(centres[1]), 1))
        for side, motion, wrist, outward in hands:
            elbow = _elbow(body[f"{side}_shoulder"], wrist, outward)
            points[names.index(f"{side}_elbow"), :2], points[names.index(f"{side}_elbow"), 3] = elbow, 1.0
            points[names.index(f"{side}_wrist"), :2], points[names.index(f"{side}_wrist"), 3] = wrist, 1.0
            start = 91 if side == "left" else 112
            points[start : start + 21, :2] = _hand(wrist, elbow, motion, t, mirrored=side == "left")
            points[start : start + 21, 3] = 1.0
        frames.append(points)
    points = np.stack(frames)
    if noise is not None:
        _add_extractor_noise(points, noise)
    points[..., :2] = np.where(points[..., 3:] > 0, points[..., :2] * size, 0.0)
    return Keypoints(points.astype(np.float32), "coco-wholebody", "pixels", size, size, 25.0)


def _add_extractor_noise(points: np.ndarray, rng: random.Random) -> None:
    """Jitter, some joints of low confidence, and perhaps one hand lost for a few frames (in place)."""
    generator = np.random.default_rng(rng.getrandbits(32))
    found = points[..., 3] > 0
    points[..., :2] += generator.normal(0.0, JITTER, points[..., :2].shape) * found[..., None]
    points[..., 3] = np.where(found, generator.uniform(0.7, 1.0, found.shape), 0.0)
    weak = found & (generator.random(found.shape) < 0.05)
    points[weak, 3] = generator.uniform(0.1, 0.4, int(weak.sum()))
    if rng.random() < LOST_HAND and len(points) > 4:
        start, length = rng.randrange(len(points) - 3), rng.randrange(2, 5)
        hand = rng.choice([range(91, 112), range(112, 133)])
        points[start : start + length, list(hand)] = 0.0


def write_toy_keypoints(records: list[dict], seed: int, size: int, path: str | Path) -> None:
    """The toy signer's keypoints of each annotation record, as the paper's keypoint file at ``path``."""
    videos = {}
    for record in records:
        signer = signer_style(record["signer"], seed)
        noise = random.Random(zlib.crc32(f"{seed}:{record['name']}".encode()))
        videos[record["name"]] = toy_keypoints(record["gloss"].split(), signer, size, noise)
    write_paper_pickle(path, videos)
