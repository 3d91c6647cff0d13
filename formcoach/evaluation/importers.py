"""Importers for labelled pose data from other tools, into formcoach's ``(N, 33, 4)`` arrays.

* :func:`load_landmark_csv`: MediaPipe landmark rows as CSV (the exercise-correction layout):
  a ``label`` column plus ``<landmark>_x``, ``_y``, ``_z``, ``_v`` columns for any subset of the
  33 BlazePose landmarks, x/y/z normalised to the image (0..1), v = visibility. Rows become
  poses in pixels of an assumed frame size (default :data:`CSV_FRAME_SIZE`); landmarks not in
  the file are NaN.
* :func:`load_openpose_npy`: OpenPose COCO-18 keypoint sequences ``(frames, 18, 3)`` = x px,
  y px, confidence (the pose-trainer layout), mapped onto the 33 BlazePose landmarks; the neck
  and the 15 landmarks OpenPose lacks are NaN, confidence 0 means missing (NaN), z is NaN
  (OpenPose has no depth) and visibility is the confidence.

Every malformed input raises :class:`~formcoach.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from formcoach.errors import InputError
from formcoach.skeleton import LANDMARK_NAMES, LM, NUM_LANDMARKS
from formcoach.types import read_npy_header

__all__ = [
    "CSV_FRAME_SIZE",
    "OPENPOSE18_TO_BLAZEPOSE",
    "load_landmark_csv",
    "load_openpose_npy",
    "openpose18_to_blazepose",
]

#: Frame size ``(width, height)`` assumed for normalised CSV coordinates. Angles depend on the
#: aspect ratio; 16:9 landscape is what the exercise-correction rows fit: with it the forearm
#: and upper-arm lengths of the curl rows stay constant as the segments rotate (their length
#: is uncorrelated with their direction), while square or portrait frames stretch them.
CSV_FRAME_SIZE: tuple[int, int] = (1280, 720)

#: OpenPose COCO-18 keypoint index -> BlazePose landmark (the neck, 1, has no counterpart).
OPENPOSE18_TO_BLAZEPOSE: dict[int, int] = {
    0: LM.NOSE,
    2: LM.RIGHT_SHOULDER,
    3: LM.RIGHT_ELBOW,
    4: LM.RIGHT_WRIST,
    5: LM.LEFT_SHOULDER,
    6: LM.LEFT_ELBOW,
    7: LM.LEFT_WRIST,
    8: LM.RIGHT_HIP,
    9: LM.RIGHT_KNEE,
    10: LM.RIGHT_ANKLE,
    11: LM.LEFT_HIP,
    12: LM.LEFT_KNEE,
    13: LM.LEFT_ANKLE,
    14: LM.RIGHT_EYE,
    15: LM.LEFT_EYE,
    16: LM.RIGHT_EAR,
    17: LM.LEFT_EAR,
}

_AXES = {"x": 0, "y": 1, "z": 2, "v": 3, "visibility": 3}
_MAX_CSV_BYTES = 512 * 1024 * 1024
#: Most frames accepted from one OpenPose ``.npy`` (a pose-trainer sequence has a few hundred).
MAX_NPY_FRAMES = 1_000_000


def _parse_header(header: list[str], path: Path) -> tuple[int, list[tuple[int, int, int]]]:
    """Label column index and ``(column, landmark, axis)`` triples."""
    cols = [h.strip().lower() for h in header]
    if "label" not in cols:
        raise InputError(f"{path}: no 'label' column in the CSV header; expected "
                         "label,nose_x,nose_y,nose_z,nose_v,...")
    label_col = cols.index("label")
    names = set(LANDMARK_NAMES)
    out: list[tuple[int, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for j, c in enumerate(cols):
        if j == label_col:
            continue
        base, _, axis = c.rpartition("_")
        if base not in names or axis not in _AXES:
            raise InputError(f"{path}: unknown column {header[j]!r}; expected <landmark>_x|y|z|v "
                             "with a BlazePose landmark name such as left_knee")
        key = (LANDMARK_NAMES.index(base), _AXES[axis])
        if key in seen:
            raise InputError(f"{path}: duplicate column {header[j]!r}")
        seen.add(key)
        out.append((j, key[0], key[1]))
    if not any(a in (0, 1) for _, _, a in out):
        raise InputError(f"{path}: no landmark x/y columns in the CSV header")
    return label_col, out


def load_landmark_csv(
    path: str | os.PathLike[str], frame_size: tuple[int, int] = CSV_FRAME_SIZE
) -> tuple[np.ndarray, list[str]]:
    """Read labelled MediaPipe landmark rows.

    Args:
        path: CSV with a ``label`` column and ``<landmark>_<x|y|z|v>`` columns (normalised).
        frame_size: ``(width, height)`` px the normalised coordinates are scaled to; z is
            scaled by the width (BlazePose's convention).

    Returns:
        ``(poses (N, 33, 4) float64 px, labels)``; missing landmarks NaN.

    Raises:
        InputError: missing/unreadable file, bad header, ragged row, non-numeric value.
    """
    p = Path(path)
    w, h = frame_size
    if not (w > 0 and h > 0):
        raise InputError(f"frame size must be positive, got {frame_size}")
    if not p.is_file():
        raise InputError(f"CSV not found: {p}")
    if p.stat().st_size > _MAX_CSV_BYTES:
        raise InputError(f"{p}: CSV larger than {_MAX_CSV_BYTES >> 20} MiB; split it")
    try:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{p}: not a readable UTF-8 CSV ({type(e).__name__}: {e})") from e
    if not rows:
        raise InputError(f"{p}: empty CSV (expected a header row)")
    label_col, cols = _parse_header(rows[0], p)
    body = [r for r in rows[1:] if r and any(x.strip() for x in r)]
    poses = np.full((len(body), NUM_LANDMARKS, 4), np.nan)
    labels: list[str] = []
    scale = (float(w), float(h), float(w), 1.0)
    for i, r in enumerate(body):
        if len(r) != len(rows[0]):
            raise InputError(f"{p}: row {i + 2} has {len(r)} fields, the header has "
                             f"{len(rows[0])}")
        label = r[label_col].strip()
        if not label:
            raise InputError(f"{p}: row {i + 2} has an empty label")
        labels.append(label)
        for j, lm, axis in cols:
            s = r[j].strip()
            if s == "" or s.lower() == "nan":
                continue
            try:
                v = float(s)
            except ValueError:
                raise InputError(f"{p}: row {i + 2}, column {rows[0][j]!r}: not a number: "
                                 f"{s[:40]!r}") from None
            if not np.isfinite(v):
                continue
            poses[i, lm, axis] = v * scale[axis]
    # A landmark without both x and y is missing altogether.
    missing = ~(np.isfinite(poses[:, :, 0]) & np.isfinite(poses[:, :, 1]))
    poses[missing] = np.nan
    return poses, labels


def openpose18_to_blazepose(keypoints: np.ndarray) -> np.ndarray:
    """Map ``(T, 18, 3)`` OpenPose COCO-18 keypoints (x px, y px, confidence) to
    ``(T, 33, 4)`` BlazePose arrays (x px, y px, z = NaN, visibility = confidence).

    Confidence 0 (OpenPose's "not found") and non-finite values become NaN.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (18, 3):
        raise ValueError(f"OpenPose keypoints must be (T, 18, 3), got {kp.shape}")
    out = np.full((kp.shape[0], NUM_LANDMARKS, 4), np.nan)
    for src, dst in OPENPOSE18_TO_BLAZEPOSE.items():
        x, y, c = kp[:, src, 0], kp[:, src, 1], kp[:, src, 2]
        ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(c) & (c > 0)
        out[ok, dst, 0] = x[ok]
        out[ok, dst, 1] = y[ok]
        out[ok, dst, 3] = np.clip(c[ok], 0.0, 1.0)
    return out


def _check_npy_header(p: Path) -> None:
    """Refuse a .npy whose header claims more data than the file holds, or more than
    :data:`MAX_NPY_FRAMES` frames, before numpy allocates the array."""
    try:
        with p.open("rb") as f:
            header = read_npy_header(f)
            if header is None:
                return  # np.load reports the unknown version
            shape, dtype = header
            need = f.tell() + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    except (OSError, ValueError, EOFError, SyntaxError) as e:
        raise InputError(f"{p}: not a NumPy .npy keypoint array ({type(e).__name__}: "
                         f"{str(e)[:80]})") from e
    if dtype.hasobject:
        return  # pickled data: np.load(allow_pickle=False) refuses it
    if shape and shape[0] > MAX_NPY_FRAMES:
        raise InputError(f"{p}: {shape[0]} frames claimed; the limit is {MAX_NPY_FRAMES}")
    if need != p.stat().st_size:
        raise InputError(f"{p}: the .npy header describes {need} bytes but the file has "
                         f"{p.stat().st_size}; truncated or not a plain .npy")


def load_openpose_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an OpenPose COCO-18 ``.npy`` sequence ``(frames, 18, 3)`` as ``(T, 33, 4)``.

    Raises:
        InputError: missing file, not a plain numeric .npy, wrong shape, no frames.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"keypoint file not found: {p}")
    _check_npy_header(p)
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InputError(f"{p}: not a NumPy .npy keypoint array ({type(e).__name__}: "
                         f"{str(e)[:80]})") from e
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise InputError(f"{p}: expected a numeric array of OpenPose keypoints, got "
                         f"dtype {arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__}")
    if arr.ndim != 3 or arr.shape[1:] != (18, 3):
        raise InputError(f"{p}: expected OpenPose COCO-18 keypoints shaped (frames, 18, 3), "
                         f"got {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{p}: no frames in the keypoint array")
    return openpose18_to_blazepose(arr)
