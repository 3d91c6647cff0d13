"""Joint angles, segment orientations, body-size-normalised distances and angular velocity.

Inputs are BlazePose arrays: ``(T, 33, 4)`` or one ``(33, 4)`` pose (x px, y px, z, visibility),
or world landmarks ``(T, 33, 3)`` / ``(33, 3)`` in metres. Angles are degrees; 2D angles are
computed in pixel space (never normalised 0-1 coordinates). NaN joints give NaN outputs.
"""

from __future__ import annotations

import numpy as np

from formcoach.kinematics import _kernels as K
from formcoach.skeleton import JOINT_TRIPLES, LM, NUM_LANDMARKS

__all__ = [
    "angular_velocity",
    "joint_angle",
    "joint_angle_3d",
    "joint_angles",
    "normalized_distance",
    "segment_vertical_angle",
    "shin_angle",
    "torso_lean",
    "torso_length",
]


def _as_batch(poses: np.ndarray, min_cols: int) -> tuple[np.ndarray, bool]:
    """Coerce to a C-contiguous float64 (T, 33, C) array; report whether input was one pose."""
    arr = np.ascontiguousarray(poses, dtype=np.float64)
    single = arr.ndim == 2
    if single:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != NUM_LANDMARKS or arr.shape[2] < min_cols:
        raise ValueError(f"expected (T, 33, >={min_cols}) or (33, >={min_cols}), got {poses.shape}")
    return arr, single


def _triple(name: str) -> tuple[int, int, int]:
    try:
        a, b, c = JOINT_TRIPLES[name]
    except KeyError:
        raise KeyError(f"unknown joint {name!r}; known: {', '.join(JOINT_TRIPLES)}") from None
    return int(a), int(b), int(c)


def _ret(out: np.ndarray, single: bool) -> np.ndarray | float:
    return float(out[0]) if single else out


def joint_angle(poses: np.ndarray, name: str) -> np.ndarray | float:
    """2D angle (degrees, 180 = straight) at a named joint from ``skeleton.JOINT_TRIPLES``.

    Args:
        poses: ``(T, 33, >=2)`` pixels, or one ``(33, >=2)`` pose.
        name: e.g. ``"left_knee"``.

    Returns:
        ``(T,)`` float64, or a float for one pose.
    """
    arr, single = _as_batch(poses, 2)
    a, b, c = _triple(name)
    return _ret(K._angle_batch(arr, a, b, c), single)


def joint_angles(poses: np.ndarray, names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Every named joint angle (default: all of ``JOINT_TRIPLES``) of ``(T, 33, >=2)`` poses."""
    arr, _ = _as_batch(poses, 2)
    return {n: K._angle_batch(arr, *_triple(n)) for n in (names or list(JOINT_TRIPLES))}


def joint_angle_3d(world: np.ndarray, name: str) -> np.ndarray | float:
    """3D angle (degrees) at a named joint from world landmarks ``(T, 33, >=3)`` / ``(33, >=3)``."""
    arr, single = _as_batch(world, 3)
    a, b, c = _triple(name)
    return _ret(K._angle3_batch(arr, a, b, c), single)


def _pair(x: int | tuple[int, int]) -> tuple[int, int]:
    return (int(x[0]), int(x[1])) if isinstance(x, tuple) else (int(x), int(x))


def _op(
    poses: np.ndarray, op: int, a: int | tuple[int, int], b: int | tuple[int, int]
) -> np.ndarray | float:
    arr, single = _as_batch(poses, 2)
    ops = np.array([[op, *_pair(a), *_pair(b)]], dtype=np.int64)
    return _ret(K._features_batch(arr, ops)[0], single)


def segment_vertical_angle(
    poses: np.ndarray, a: int | tuple[int, int], b: int | tuple[int, int]
) -> np.ndarray | float:
    """Angle (degrees, 0..180) between the image segment a->b and image-up.

    ``a``/``b`` are landmark ids or ``(id, id)`` pairs meaning their midpoint. 0 = b straight
    above a, 90 = horizontal, 180 = b straight below a.
    """
    return _op(poses, K.OP_VERTICAL, a, b)


def torso_lean(poses: np.ndarray) -> np.ndarray | float:
    """Torso lean from vertical, degrees: hip midpoint -> shoulder midpoint vs image-up
    (0 upright, 90 horizontal as in a push-up)."""
    return segment_vertical_angle(
        poses, (LM.LEFT_HIP, LM.RIGHT_HIP), (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    )


def shin_angle(poses: np.ndarray, side: str = "left") -> np.ndarray | float:
    """Shin angle from vertical, degrees: ankle -> knee vs image-up (0 = vertical shin)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    if side == "left":
        return segment_vertical_angle(poses, int(LM.LEFT_ANKLE), int(LM.LEFT_KNEE))
    return segment_vertical_angle(poses, int(LM.RIGHT_ANKLE), int(LM.RIGHT_KNEE))


def torso_length(poses: np.ndarray) -> np.ndarray | float:
    """Shoulder-midpoint to hip-midpoint distance, px: formcoach's body-size unit."""
    arr, single = _as_batch(poses, 2)
    return _ret(K._torso_length_batch(arr), single)


def normalized_distance(
    poses: np.ndarray, a: int | tuple[int, int], b: int | tuple[int, int]
) -> np.ndarray | float:
    """Image distance between landmarks (or midpoints) ``a`` and ``b`` in torso lengths."""
    return _op(poses, K.OP_DIST, a, b)


def angular_velocity(angles: np.ndarray, fps: float) -> np.ndarray:
    """Time derivative of a ``(T,)`` angle series sampled at ``fps`` (float), degrees/s.

    Central differences inside, one-sided at both ends; NaN next to missing samples.
    """
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    x = np.ascontiguousarray(angles, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a (T,) series, got {x.shape}")
    return K._gradient(x, float(fps))
