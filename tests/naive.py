"""Slow, obvious numpy oracles for the numba kernels in formcoach.kinematics._kernels.

Each takes the same inputs as its kernel and uses plain vector algebra (arccos of the
normalised dot product, explicit midpoints), so a bug in a kernel's formula shows up as a
mismatch here.
"""

from __future__ import annotations

import numpy as np

OP_ANGLE, OP_VERTICAL, OP_HEIGHT, OP_RATIO, OP_DIST, OP_HOFFSET, OP_MINVIS = range(7)


def angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle at b (degrees) between b->a and b->c; inputs (..., D); NaN for zero-length rays."""
    u = np.asarray(a, float) - b
    v = np.asarray(c, float) - b
    nu = np.linalg.norm(u, axis=-1)
    nv = np.linalg.norm(v, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(u * v, axis=-1) / (nu * nv)
        out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where((nu == 0) | (nv == 0), np.nan, out)


def angle_batch(poses: np.ndarray, a: int, b: int, c: int, dims: int = 2) -> np.ndarray:
    """(T, 33, C) -> (T,) angle at joint b using the first ``dims`` coordinates."""
    return angle(poses[:, a, :dims], poses[:, b, :dims], poses[:, c, :dims])


def torso_length(poses: np.ndarray) -> np.ndarray:
    """(T, 33, C) -> (T,) shoulder-mid to hip-mid distance (NaN when 0)."""
    sh = (poses[:, 11, :2] + poses[:, 12, :2]) / 2
    hp = (poses[:, 23, :2] + poses[:, 24, :2]) / 2
    d = np.linalg.norm(sh - hp, axis=-1)
    return np.where(d == 0, np.nan, d)


def vertical_angle(d: np.ndarray) -> np.ndarray:
    """(T, 2) image vectors -> angle to image-up (0, -1) in degrees."""
    up = np.array([0.0, -1.0])
    n = np.linalg.norm(d, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = (d @ up) / n
        out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return np.where(n == 0, np.nan, out)


def op_values(poses: np.ndarray, op: int, i0: int, i1: int, i2: int, i3: int) -> np.ndarray:
    """(T, 33, 4) -> (T,) one feature op (see _kernels.OP_*)."""
    p = poses
    if op == OP_ANGLE:
        return angle_batch(p, i0, i1, i2)
    if op == OP_MINVIS:
        return np.min(p[:, [i0, i1, i2, i3], 3], axis=1)
    if op == OP_RATIO:
        d0 = np.linalg.norm(p[:, i0, :2] - p[:, i1, :2], axis=-1)
        d1 = np.linalg.norm(p[:, i2, :2] - p[:, i3, :2], axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(d1 == 0, np.nan, d0 / d1)
    a = (p[:, i0, :2] + p[:, i1, :2]) / 2
    b = (p[:, i2, :2] + p[:, i3, :2]) / 2
    torso = torso_length(p)
    if op == OP_VERTICAL:
        return vertical_angle(b - a)
    if op == OP_HEIGHT:
        return (b[:, 1] - a[:, 1]) / torso
    if op == OP_DIST:
        return np.linalg.norm(a - b, axis=-1) / torso
    if op == OP_HOFFSET:
        return (a[:, 0] - b[:, 0]) / torso
    raise ValueError(op)


def gradient(x: np.ndarray, fps: float) -> np.ndarray:
    """d/dt with np.gradient's scheme (central inside, one-sided at the ends)."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return np.full(len(x), np.nan)
    return np.gradient(x) * fps


def atan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Four-quadrant arctangent, radians: numpy's own (libm/SIMD) ``arctan2``."""
    return np.arctan2(np.asarray(y, float), np.asarray(x, float))
