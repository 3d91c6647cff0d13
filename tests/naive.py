"""Slow, obvious numpy oracles for the numba kernels in formcoach.kinematics._kernels.

Each takes the same inputs as its kernel and uses plain vector algebra (arccos of the
normalised dot product, explicit midpoints), so a bug in a kernel's formula shows up as a
mismatch here.
"""

from __future__ import annotations

import math

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


# ----------------------------------------------------------------------------- rep counting
def nan_median_filter(x: np.ndarray, lag: int) -> np.ndarray:
    """Centred median over ``2 * lag + 1`` frames (truncated at the ends), ignoring NaN; NaN
    where fewer than half of the window's frames are valid."""
    x = np.asarray(x, float)
    out = np.full(len(x), np.nan)
    for j in range(len(x)):
        w = x[max(0, j - lag) : j + lag + 1]
        ok = w[~np.isnan(w)]
        if len(ok) and 2 * len(ok) >= len(w):
            out[j] = np.median(ok)
    return out


def count_reps_batch(
    values: np.ndarray,
    fps: float,
    *,
    rep_direction: str,
    min_rom: float,
    rel_rom: float,
    first_factor: float,
    return_frac: float,
    smooth_s: float,
    max_gap_s: float,
    top_band: float = 0.15,
) -> list[tuple[int, int]]:
    """Reps in a whole ``(T,)`` signal, as ``(bottom_frame, count_frame)`` pairs.

    Batch hysteresis against one rest level, for signals that rest at a constant top and dip
    from it (``rep_direction = "up"``: rise from it):

    1. flip for ``up``; centred NaN-median over ``smooth_s`` (the same look-around as the
       segmenter's, so glitch frames vanish);
    2. the rest level is the signal's 95th percentile (it spends its pauses there);
    3. an excursion is a maximal stretch of valid frames below ``rest - top_band * min_rom``
       entered from the top band (a signal first seen low, at the start or after a long hole,
       is not leaving the top); NaN frames inside it are skipped, but a hole longer than
       ``max_gap_s`` between two valid frames abandons it, and so does the end of the signal;
    4. it is a rep, counted at the first frame where the signal is back ``return_frac`` of the
       way from its lowest point so far (the bottom; the last one on ties) to the rest level,
       if that depth (rest - bottom) reaches the documented threshold: ``first_factor *
       min_rom`` before the first rep, then ``max(min_rom, rel_rom * median of the last 5
       reps' depths)``. One excursion is at most one rep.
    """
    x = nan_median_filter(values, max(0, round(smooth_s * fps / 2.0)))
    if rep_direction == "up":
        x = -x
    valid = np.flatnonzero(~np.isnan(x))
    if len(valid) == 0:
        return []
    rest = float(np.percentile(x[valid], 95))
    leave = rest - top_band * min_rom
    depths: list[float] = []
    reps: list[tuple[int, int]] = []
    in_run = False  # an excursion (left the top band, not back in it) is in progress
    done = False  # ... and it was already counted
    low, low_i = math.inf, -1  # its lowest point so far
    at_top = False  # the last valid frame was in the top band (an excursion may start)
    prev = -1
    for i in valid:
        v = float(x[i])
        if prev >= 0 and (i - prev) / fps > max_gap_s:
            in_run = at_top = False  # a long hole ends the rep in progress
        prev = int(i)
        if v >= leave:
            in_run, at_top = False, True
            continue
        if not in_run:
            if not at_top:
                continue  # first seen low: not leaving the top
            in_run, done, low, low_i = True, False, math.inf, -1
        at_top = False
        if done:
            continue
        if v <= low:
            low, low_i = v, int(i)
        depth = rest - low
        need = (first_factor * min_rom if not depths
                else max(min_rom, rel_rom * float(np.median(depths[-5:]))))
        if depth >= need and v >= low + return_frac * depth:
            depths.append(depth)
            reps.append((low_i, int(i)))
            done = True
    return reps
