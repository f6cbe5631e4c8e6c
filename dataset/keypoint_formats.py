"""The field's keypoint files, read into :class:`~dataset.keypoints.Keypoints` (and written where natural).

- the paper's TwoStream pickle, ``{name: {"keypoints": T×133×3}}`` (COCO-WholeBody from HRNet, x, y
  and score in pixels; one file for a dataset): :func:`read_paper_pickle`, :func:`write_paper_pickle`;
- ``.pose`` files of the ``pose-format`` library (MediaPipe Holistic's components, or OpenPose's):
  :func:`read_pose_file`, :func:`write_pose_file`;
- the Kaggle ASL Signs parquet (``frame, row_id, type, landmark_index, x, y, z``, 543 rows a frame,
  normalised, NaN where not found): :func:`read_kaggle_parquet`, :func:`write_kaggle_parquet`;
- OpenPose JSON folders (one ``*_keypoints.json`` a frame; ``people[0]``'s BODY_25
  ``pose_keypoints_2d``, ``hand_left/right_keypoints_2d``, ``face_keypoints_2d``; a frame without
  anybody is all not found): :func:`read_openpose_folder`.

A file that is not what its reader expects is one :class:`~dataset.keypoints.KeypointError`
naming it and what is wrong; pickles are read without running anything in them.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from core.safe_pickle import NUMPY_ARRAYS, UnsafePickleError, read_pickle
from dataset.keypoints import SKELETONS, KeypointError, Keypoints

PAPER_JOINTS = 133
KAGGLE_PARTS = {"face": (0, 468), "left_hand": (468, 21), "pose": (489, 33), "right_hand": (522, 21)}  # start, size
POSE_FORMAT_HOLISTIC = [  # pose-format's MediaPipe Holistic components, in its order: (name, start in ours, joints)
    ("POSE_LANDMARKS", 489, 33),
    ("FACE_LANDMARKS", 0, 468),  # 478 with the refined irises: the first 468 are the mesh
    ("LEFT_HAND_LANDMARKS", 468, 21),
    ("RIGHT_HAND_LANDMARKS", 522, 21),
]
OPENPOSE_PARTS = {  # OpenPose JSON array -> (start in ours, joints)
    "pose_keypoints_2d": (0, 25),
    "hand_left_keypoints_2d": (25, 21),
    "hand_right_keypoints_2d": (46, 21),
    "face_keypoints_2d": (67, 70),
}


# ----- the paper's TwoStream pickle ------------------------------------------------------------------------------


def read_paper_pickle(path: str | Path) -> dict[str, Keypoints]:
    """Every video's COCO-WholeBody keypoints of the paper's keypoint file (pixels; the score as confidence)."""
    try:
        content = read_pickle(path, "a keypoint file", NUMPY_ARRAYS)
    except UnsafePickleError as error:
        raise KeypointError(str(error)) from error
    if not isinstance(content, dict):
        raise KeypointError(f"{path}: expected {{name: {{'keypoints': T×133×3}}}}, got a {type(content).__name__}")
    videos = {}
    for name, entry in content.items():
        points = entry.get("keypoints") if isinstance(entry, dict) else None
        shape = getattr(points, "shape", None)
        if shape is None or len(shape) != 3 or tuple(shape[1:]) != (PAPER_JOINTS, 3):
            raise KeypointError(f"{path}: {name}: expected 'keypoints' of T×133×3, got {shape or type(entry).__name__}")
        xyz = np.zeros((shape[0], PAPER_JOINTS, 4), dtype=np.float32)
        xyz[..., :2], xyz[..., 3] = points[..., :2], points[..., 2]
        videos[str(name)] = Keypoints(xyz, "coco-wholebody", "pixels")
    return videos


def write_paper_pickle(path: str | Path, videos: dict[str, Keypoints]) -> None:
    """Write COCO-WholeBody keypoints (in pixels) as the paper's keypoint file."""
    content = {}
    for name, keypoints in videos.items():
        if keypoints.layout != "coco-wholebody":
            raise KeypointError(f"{name}: the paper's keypoint file holds COCO-WholeBody, not {keypoints.layout}")
        points = keypoints.in_pixels().points
        content[name] = {"keypoints": np.concatenate([points[..., :2], points[..., 3:]], axis=-1)}
    Path(path).write_bytes(pickle.dumps(content, protocol=4))


# ----- pose-format's .pose files ---------------------------------------------------------------------------------


def read_pose_file(path: str | Path) -> Keypoints:
    """A ``.pose`` file of MediaPipe Holistic's components (its first person), in pixels of its frame size."""
    from pose_format import Pose

    path = Path(path)
    if not path.is_file():
        raise KeypointError(f"keypoint file not found: {path}")
    try:
        pose = Pose.read(path.read_bytes())
    except Exception as error:
        raise KeypointError(f"{path}: not a readable .pose file: {error}") from error
    offsets, offset = {}, 0
    for component in pose.header.components:
        offsets[component.name], offset = (offset, len(component.points)), offset + len(component.points)
    for name, _, joints in POSE_FORMAT_HOLISTIC:
        if name not in offsets or offsets[name][1] < joints:
            raise KeypointError(
                f"{path}: its components {sorted(offsets)} are not MediaPipe Holistic's "
                f"({name}: {offsets.get(name, (0, 0))[1]} points, not {joints})"
            )
    data = np.ma.getdata(pose.body.data)[:, 0]  # frames × points × dims, the first person
    confidence = np.asarray(pose.body.confidence)[:, 0]
    points = np.zeros((len(data), 543, 4), dtype=np.float32)
    dims = min(data.shape[-1], 3)
    for name, start, joints in POSE_FORMAT_HOLISTIC:
        first = offsets[name][0]
        points[:, start : start + joints, :dims] = data[:, first : first + joints, :dims]
        points[:, start : start + joints, 3] = confidence[:, first : first + joints]
    dimensions = pose.header.dimensions
    return Keypoints(points, "mediapipe-holistic", "pixels", dimensions.width, dimensions.height, pose.body.fps)


def write_pose_file(path: str | Path, keypoints: Keypoints) -> None:
    """Write MediaPipe Holistic keypoints as a ``.pose`` file (its four components, XYZC, in pixels)."""
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    if keypoints.layout != "mediapipe-holistic":
        raise KeypointError(
            f"{path}: .pose files are written from MediaPipe Holistic keypoints, not {keypoints.layout}"
        )
    pixels = keypoints.in_pixels()
    names = SKELETONS["mediapipe-holistic"].joints
    components, columns = [], []
    for name, start, joints in POSE_FORMAT_HOLISTIC:
        components.append(PoseHeaderComponent(name, names[start : start + joints], [], [], "XYZC"))
        columns.extend(range(start, start + joints))
    header = PoseHeader(0.1, PoseHeaderDimensions(pixels.width or 0, pixels.height or 0, 0), components)
    data = pixels.points[:, None, columns, :3]
    confidence = pixels.points[:, None, columns, 3]
    mask = np.repeat((confidence == 0)[..., None], 3, axis=-1)
    body = NumPyPoseBody(pixels.fps or 25.0, np.ma.masked_array(data, mask=mask), confidence)
    with open(path, "wb") as stream:
        Pose(header, body).write(stream)


# ----- the Kaggle ASL Signs parquet ------------------------------------------------------------------------------


def read_kaggle_parquet(path: str | Path) -> Keypoints:
    """One sign's landmarks of the Kaggle ASL Signs data (normalised coordinates; NaN: not found)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise KeypointError(f"keypoint file not found: {path}")
    try:
        table = pq.read_table(path, columns=["frame", "type", "landmark_index", "x", "y", "z"])
    except Exception as error:
        raise KeypointError(f"{path}: not a parquet of ASL Signs landmarks: {error}") from error
    frames = np.asarray(table.column("frame").to_numpy())
    kinds = np.asarray(table.column("type").to_pylist())
    index = np.asarray(table.column("landmark_index").to_numpy())
    xyz = np.stack([np.asarray(table.column(c).to_numpy(zero_copy_only=False), dtype=np.float32) for c in "xyz"], 1)
    unknown = sorted(set(kinds.tolist()) - set(KAGGLE_PARTS))
    if unknown:
        raise KeypointError(f"{path}: landmark type {unknown[0]!r} is none of {list(KAGGLE_PARTS)}")
    starts = np.array([KAGGLE_PARTS[k][0] for k in kinds])
    sizes = np.array([KAGGLE_PARTS[k][1] for k in kinds])
    if (index < 0).any() or (index >= sizes).any():
        raise KeypointError(f"{path}: a landmark_index beyond its part's size")
    order, rows = np.unique(frames, return_inverse=True)
    counts = np.bincount(rows, minlength=len(order))
    if (counts != 543).any():
        frame = order[np.argmax(counts != 543)]
        raise KeypointError(f"{path}: frame {frame} has {counts[counts != 543][0]} rows, not 543")
    points = np.zeros((len(order), 543, 4), dtype=np.float32)
    found = ~np.isnan(xyz).any(axis=1)
    points[rows, starts + index, :3] = np.nan_to_num(xyz)
    points[rows, starts + index, 3] = found
    return Keypoints(points, "mediapipe-holistic", "normalised")


def write_kaggle_parquet(path: str | Path, keypoints: Keypoints, first_frame: int = 0) -> None:
    """Write MediaPipe Holistic keypoints (normalised) in the Kaggle ASL Signs layout, NaN where not found."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if keypoints.layout != "mediapipe-holistic" or keypoints.units != "normalised":
        raise KeypointError(f"{path}: the ASL Signs layout holds normalised MediaPipe Holistic keypoints")
    frames, kinds, index, values = [], [], [], []
    for t, frame in enumerate(keypoints.points):
        for kind, (start, size) in KAGGLE_PARTS.items():
            for i in range(size):
                point = frame[start + i]
                frames.append(first_frame + t)
                kinds.append(kind)
                index.append(i)
                values.append(point[:3] if point[3] > 0 else np.full(3, np.nan, dtype=np.float32))
    values = np.array(values, dtype=np.float32).reshape(-1, 3)
    row_ids = [f"{f}-{k}-{i}" for f, k, i in zip(frames, kinds, index, strict=True)]
    table = pa.table(
        {
            "frame": pa.array(frames, pa.int16()),
            "row_id": row_ids,
            "type": kinds,
            "landmark_index": pa.array(index, pa.int16()),
            **{axis: values[:, i] for i, axis in enumerate("xyz")},
        }
    )
    pq.write_table(table, path)


# ----- OpenPose JSON folders -------------------------------------------------------------------------------------


def read_openpose_folder(folder: str | Path) -> Keypoints:
    """One video's OpenPose keypoints (BODY_25 with hands and face; the first person of each frame), in pixels."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KeypointError(f"keypoint folder not found: {folder}")
    files = sorted(folder.glob("*_keypoints.json"))
    if not files:
        raise KeypointError(f"{folder}: no *_keypoints.json files")
    points = np.zeros((len(files), 137, 4), dtype=np.float32)
    for t, path in enumerate(files):
        try:
            people = json.loads(path.read_text(encoding="utf-8"))["people"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise KeypointError(f"{path}: not an OpenPose keypoint file: {error}") from error
        if people:
            _fill_openpose_frame(points[t], people[0], path)
    return Keypoints(points, "openpose-137", "pixels")


def _fill_openpose_frame(frame: np.ndarray, person: dict, path: Path) -> None:
    for key, (start, joints) in OPENPOSE_PARTS.items():
        values = np.asarray(person.get(key) or [], dtype=np.float32)
        if not len(values):
            continue  # a part this run of OpenPose did not detect
        if values.size != joints * 3:
            found = values.size // 3
            hint = " (BODY_135 is not read yet: run OpenPose with --model_pose BODY_25)" if found == 135 else ""
            raise KeypointError(f"{path}: {key} holds {found} points, not {joints}{hint}")
        triples = values.reshape(joints, 3)
        frame[start : start + joints, :2], frame[start : start + joints, 3] = triples[:, :2], triples[:, 2]
