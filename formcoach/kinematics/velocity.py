"""Smoothed derivatives, body height and per-rep concentric velocity of a moving point.

Everything here is plain numpy (scipy is not a dependency): a Savitzky-Golay derivative
(:func:`smooth_derivative`), preceded by :func:`despike3` so that one bad frame (a landmark
flip, a corrupt frame) is removed before differentiating and cannot produce a peak.

Mean concentric velocity is distance / time over the middle of the concentric phase
(:func:`concentric_velocity`): the instants the point has covered :data:`MID_FRAC` and
``1 - MID_FRAC`` of its way from the rep's turn are found on the smoothed track
(:func:`smooth_position`), between frames, and the straight-line distance between the two
positions is divided by the time between them. A sum of per-frame speeds would add each
frame's jitter to the distance (more of it the slower the rep), and a speed threshold would
move with the noisy peak: both make a slow rep read faster than it is.

Units: positions in pixels, times in ns (``t_ns``), velocities in **body heights per second**
(BH/s): pixel speed / the person's standing height in pixels (:func:`body_height_px`), so the
number does not depend on the camera distance. ``BH/s x height in metres`` = m/s.

Velocity loss (VL) of a rep: ``100 x (best - v) / best`` percent of the set's best mean
concentric velocity (:func:`velocity_loss_pct`); :class:`StopAtVL` decides, rep by rep, when
VL has stayed past a threshold for two consecutive reps ("that's the set").
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from formcoach.skeleton import LM

__all__ = [
    "MID_FRAC",
    "MOVING_POINTS",
    "PEAK_TO_MEAN_LIMIT",
    "POSITION_SMOOTH_S",
    "REST_FRAC",
    "REST_S",
    "SMOOTH_S",
    "StopAtVL",
    "body_height_px",
    "concentric_velocity",
    "despike3",
    "even_grid",
    "resample_even",
    "smooth_derivative",
    "smooth_position",
    "smooth_window",
    "velocity_loss_pct",
]

#: Savitzky-Golay window of velocity estimates, s (at least 7 frames, odd). With
#: :data:`POLYORDER` 4 it passes a half-cosine rep phase of 0.25 s within 0.5% of its true peak
#: (9 frames at 30 fps) while dividing frame-to-frame jitter by 2 (30 fps) to 6 (60 fps) against
#: a central difference.
SMOOTH_S = 0.3
#: Polynomial order of the Savitzky-Golay fit.
POLYORDER = 4
#: Interior gaps (NaN) up to this many frames are bridged linearly before differentiating.
MAX_BRIDGE_FRAMES = 3

#: Moving points a pack's ``[metrics] velocity_point`` may name: (left, right) landmarks.
MOVING_POINTS: dict[str, tuple[int, int]] = {
    "hip": (LM.LEFT_HIP, LM.RIGHT_HIP),
    "shoulder": (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER),
    "wrist": (LM.LEFT_WRIST, LM.RIGHT_WRIST),
}

#: Segment lengths as fractions of standing height (Drillis & Contini, as tabled by Winter,
#: *Biomechanics and Motor Control of Human Movement*): shank (knee-ankle), thigh (hip-knee),
#: trunk (hip-mid to shoulder-mid). Sum 0.779 = ankle-to-shoulder height.
_SEGMENT_FRACTIONS: tuple[tuple[tuple[int, int] | None, tuple[int, int] | None, float], ...] = (
    ((LM.LEFT_KNEE, LM.LEFT_ANKLE), (LM.RIGHT_KNEE, LM.RIGHT_ANKLE), 0.246),
    ((LM.LEFT_HIP, LM.LEFT_KNEE), (LM.RIGHT_HIP, LM.RIGHT_KNEE), 0.245),
    (None, None, 0.288),  # trunk: from the mid-points
)
#: Mean concentric velocity is measured between the instants the point has covered this
#: fraction and ``1 - MID_FRAC`` of its way from the turn (the bottom) to where the concentric
#: phase ends: the middle 80%, where it moves fast, so a pixel of jitter moves those instants
#: least; a rep done slower along the same path reads exactly that much slower.
MID_FRAC = 0.1
#: Savitzky-Golay window (s) of the position smoothing the instants are read on.
POSITION_SMOOTH_S = 0.5
#: Physiological upper limit of a rep's peak / mean concentric speed (see docs/velocity.md):
#: smooth rest-to-rest profiles give 1.57 (half sine) to 2.0 (triangle), minimum jerk 1.875; a
#: sticking region or a late burst raises it (the mean here is the middle 80% of the way's, a
#: little above the whole phase's); past 3 the mean is under a third of the peak, which one
#: movement does not do. A ratio above it means the peak is not the person's.
PEAK_TO_MEAN_LIMIT = 3.0
#: The point is at rest where its speed is under this fraction of the rep's peak: one smooth
#: movement (minimum jerk) is under 10% of its peak only in the first and last 9% of its time,
#: while it covers its first and last 0.6% of the way, so inside the middle 80% of one
#: movement's way the speed never gets there (half sine: >= 59% of the peak; triangle 45%).
REST_FRAC = 0.1
#: ... for at least this long, s: a rest that splits the concentric into two movements. The
#: 0.3 s derivative (:data:`SMOOTH_S`) cannot fall to 10% of the peak over a stop much shorter
#: than its half window (0.15 s), so a spell under it this long is a stop, not a dip of one
#: movement (a sticking region slows the lift, it does not stop it for 0.2 s).
REST_S = 0.2
#: Percentile of a segment's per-frame 2D length taken as its true length (a limb pointing at
#: the camera looks short; noise makes a few frames look long).
_LENGTH_PERCENTILE = 90.0
#: A segment is used when it is measured in at least this fraction of the frames.
_MIN_SEGMENT_FRAC = 0.5


def smooth_window(fps: float, seconds: float = SMOOTH_S) -> int:
    """Odd Savitzky-Golay window in frames for ``seconds`` at ``fps`` (at least 7)."""
    w = max(POLYORDER + 3, round(seconds * fps))
    return w if w % 2 else w + 1


@lru_cache(maxsize=64)
def _derivative_matrix(window: int, polyorder: int) -> np.ndarray:
    """``(window, window)``: row ``k`` maps a window of samples to the first derivative (per
    sample) at its ``k``-th sample of the least-squares polynomial of ``polyorder``."""
    m = window // 2
    x = np.arange(-m, m + 1, dtype=np.float64)
    a = np.vander(x, polyorder + 1, increasing=True)  # (w, p+1)
    pinv = np.linalg.pinv(a)  # (p+1, w): coefficients c_j = pinv[j] @ y
    d = np.zeros((window, window))
    for j in range(1, polyorder + 1):
        d += (j * x ** (j - 1))[:, None] * pinv[j][None, :]
    d.setflags(write=False)
    return d


@lru_cache(maxsize=64)
def _value_matrix(window: int, polyorder: int) -> np.ndarray:
    """``(window, window)``: row ``k`` maps a window of samples to the value at its ``k``-th
    sample of their least-squares polynomial of ``polyorder``."""
    m = window // 2
    x = np.arange(-m, m + 1, dtype=np.float64)
    a = np.vander(x, polyorder + 1, increasing=True)  # (w, p+1)
    v = a @ np.linalg.pinv(a)
    v.setflags(write=False)
    return np.asarray(v)


def despike3(y: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(n, d)`` values with each spike replaced by the mean of its two neighbours
    (per column). A spike: a frame outside the range of its neighbours whose distance from
    their mean is the largest of the three (so a bad frame's neighbours, pushed outside their
    own neighbours' range by it, are kept). One bad frame is removed whatever its size; a smooth
    series moves by second-order amounts only (at its turning points). Frames next to a NaN,
    and the two end frames, are kept as they are."""
    y = np.asarray(y, dtype=np.float64)
    out = y.copy()
    if len(y) >= 3:
        prev, mid, nxt = y[:-2], y[1:-1], y[2:]
        dev = np.abs(mid - 0.5 * (prev + nxt))
        dev = np.where(np.isfinite(dev), dev, -1.0)
        pad = np.concatenate([[-1.0], dev, [-1.0]] if dev.ndim == 1 else
                             [np.full((1, *dev.shape[1:]), -1.0), dev,
                              np.full((1, *dev.shape[1:]), -1.0)])
        with np.errstate(invalid="ignore"):
            outside = (mid > np.maximum(prev, nxt)) | (mid < np.minimum(prev, nxt))
        ok = outside & (dev > 0) & (dev >= pad[:-2]) & (dev >= pad[2:])
        inner = out[1:-1]
        inner[ok] = 0.5 * (prev + nxt)[ok]
    return out


def _bridge(y: np.ndarray, max_gap: int) -> np.ndarray:
    """``(n,)`` copy with interior NaN runs of at most ``max_gap`` frames filled linearly."""
    out = y.copy()
    bad = ~np.isfinite(out)
    if not bad.any() or bad.all():
        return out
    idx = np.flatnonzero(~bad)
    i = idx[0]
    while i < idx[-1]:
        if bad[i + 1]:
            j = i + 1
            while bad[j]:
                j += 1
            if j - i - 1 <= max_gap:
                out[i + 1 : j] = np.interp(np.arange(i + 1, j), [i, j], [out[i], out[j]])
            i = j
        else:
            i += 1
    return out


def smooth_derivative(y: np.ndarray, fps: float, window: int | None = None,
                      polyorder: int = POLYORDER) -> np.ndarray:
    """First time derivative of a per-frame series, in units per second.

    One-frame spikes removed (:func:`despike3`), then a Savitzky-Golay derivative over ``window`` frames
    (default :func:`smooth_window`; shrunk to the series length), evaluated at the ends from
    the fit of the first / last window (like scipy's ``mode="interp"``). Interior gaps of up
    to :data:`MAX_BRIDGE_FRAMES` are bridged; a frame that was NaN, or whose window reaches a
    longer gap, is NaN. Frames are taken as evenly spaced at ``fps``.

    Args:
        y: ``(n,)`` or ``(n, d)`` float values (NaN = missing).
        fps: frames per second.

    Returns:
        Same shape as ``y``; all NaN when fewer than ``polyorder + 3`` frames.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        return np.stack([smooth_derivative(y[:, k], fps, window, polyorder)
                         for k in range(y.shape[1])], axis=1) if y.shape[1] else y.copy()
    n = len(y)
    w = smooth_window(fps) if window is None else int(window)
    w = min(w, n if n % 2 else n - 1)
    if w < polyorder + 3:
        return np.full(n, np.nan)
    out = _savgol_derivative(_bridge(despike3(y), MAX_BRIDGE_FRAMES), w, polyorder)
    out[~np.isfinite(y)] = np.nan
    return out * float(fps)


def _savgol_derivative(z: np.ndarray, w: int, polyorder: int) -> np.ndarray:
    """Per-sample Savitzky-Golay first derivative of ``(n,)`` ``z`` (``w`` odd, ``<= n``);
    the ends from the first / last window's fit; NaN spreads to every window it is in."""
    n = len(z)
    d = _derivative_matrix(w, polyorder)
    m = w // 2
    out = np.empty(n)
    win = np.lib.stride_tricks.sliding_window_view(z, w)  # (n - w + 1, w)
    out[m : n - m] = win @ d[m]
    out[:m] = d[:m] @ z[:w]
    out[n - m :] = d[m + 1 :] @ z[n - w :]
    return out


def smooth_position(y: np.ndarray, fps: float, seconds: float = POSITION_SMOOTH_S,
                    polyorder: int = POLYORDER) -> np.ndarray:
    """A per-frame series smoothed: one-frame spikes removed (:func:`despike3`), gaps of up to
    :data:`MAX_BRIDGE_FRAMES` bridged, then a Savitzky-Golay fit of ``polyorder`` over
    ``seconds`` (:func:`smooth_window`; shrunk to the series length), the ends from the first /
    last window's fit. A frame that was NaN, or whose window reaches a longer gap, is NaN.

    Args:
        y: ``(n,)`` or ``(n, d)`` float values (NaN = missing).
        fps: frames per second.

    Returns:
        Same shape as ``y``; a copy of ``y`` when it is shorter than ``polyorder + 3`` frames.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 2:
        return np.stack([smooth_position(y[:, k], fps, seconds, polyorder)
                         for k in range(y.shape[1])], axis=1) if y.shape[1] else y.copy()
    n = len(y)
    w = min(smooth_window(fps, seconds), n if n % 2 else n - 1)
    if w < polyorder + 3:
        return y.copy()
    z = _bridge(despike3(y), MAX_BRIDGE_FRAMES)
    v = _value_matrix(w, polyorder)
    m = w // 2
    out = np.empty(n)
    out[m : n - m] = np.lib.stride_tricks.sliding_window_view(z, w) @ v[m]
    out[:m] = v[:m] @ z[:w]
    out[n - m :] = v[m + 1 :] @ z[n - w :]
    out[~np.isfinite(y)] = np.nan
    return out


def body_height_px(poses: np.ndarray, min_visibility: float = 0.5) -> float:
    """The person's standing height in pixels, from the 2D lengths of shank, thigh and trunk.

    Each segment's length is the :data:`_LENGTH_PERCENTILE` th percentile of its per-frame
    length (mean of the two sides where both are seen), divided by its fraction of standing
    height (:data:`_SEGMENT_FRACTIONS`); segments measured in under half of the frames are left
    out. Accurate to the extent the segments are seen side-on at some point of the frames.

    Args:
        poses: ``(T, 33, 4)`` x px, y px, z, visibility (NaN = missing).

    Returns:
        Height in px, NaN when no segment could be measured.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or len(p) == 0:
        return float("nan")
    xy = p[:, :, :2].copy()
    xy[~(p[:, :, 3] >= min_visibility)] = np.nan

    def seg(a: int, b: int) -> np.ndarray:
        return np.asarray(np.hypot(*(xy[:, a] - xy[:, b]).T))

    length, frac = 0.0, 0.0
    for left, right, f in _SEGMENT_FRACTIONS:
        if left is None or right is None:
            sh = 0.5 * (xy[:, LM.LEFT_SHOULDER] + xy[:, LM.RIGHT_SHOULDER])
            hp = 0.5 * (xy[:, LM.LEFT_HIP] + xy[:, LM.RIGHT_HIP])
            per = np.hypot(*(sh - hp).T)
        else:
            per = np.stack([seg(*left), seg(*right)])
            with np.errstate(invalid="ignore"):
                per = np.where(np.isfinite(per).all(axis=0), per.mean(axis=0),
                               np.fmax(per[0], per[1]))
        ok = np.isfinite(per)
        if ok.mean() < _MIN_SEGMENT_FRAC:
            continue
        length += float(np.percentile(per[ok], _LENGTH_PERCENTILE))
        frac += f
    return length / frac if frac > 0 and length > 0 else float("nan")


def point_track(poses: np.ndarray, point: str, min_visibility: float = 0.5) -> np.ndarray:
    """``(T, 2)`` px track of a :data:`MOVING_POINTS` point: the mid-point of its two sides
    when both are seen in every frame, else the side seen in more frames (one choice for the
    whole series, so switching sides never makes the point jump). NaN where missing."""
    p = np.asarray(poses, dtype=np.float64)
    left, right = MOVING_POINTS[point]
    xy = p[:, [left, right], :2].copy()
    xy[~(p[:, [left, right], 3] >= min_visibility)] = np.nan
    seen = np.asarray(np.isfinite(xy).all(axis=2))  # (T, 2)
    if seen.all():
        return np.asarray(xy.mean(axis=1))
    k = 0 if seen[:, 0].sum() >= seen[:, 1].sum() else 1
    return np.asarray(xy[:, k])


@dataclass(frozen=True, slots=True)
class RepVelocity:
    """Concentric velocity of one rep (NaN when it could not be measured).

    Attributes:
        mean_bhps, peak_bhps: mean and peak speed of the moving point over the concentric
            frames, body heights per second.
        body_height_px: the standing height the speeds were divided by, px.
        movements: how many movements the concentric way was (rests of :data:`REST_S` under
            :data:`REST_FRAC` of the peak between them, see :func:`main_movement`); the mean
            is the one containing the peak's.
    """

    mean_bhps: float
    peak_bhps: float
    body_height_px: float
    movements: int = 1


#: Longest gap (s) between two frames that :func:`resample_even` bridges by interpolation; a
#: point moving at a brisk 1 body height/s covers a fifth of the body in it, and a straight
#: line between its ends stays within a few percent of a smooth rep's way over such a stretch.
MAX_BRIDGE_S = 0.2


def even_grid(t_s: np.ndarray, fps: float) -> np.ndarray | None:
    """Each frame's slot on an even grid at ``fps`` from the first frame (``(n,)`` int64,
    strictly increasing), or None when the frames are evenly spaced already (every interval
    within a quarter of ``1 / fps``): a live loop that dropped frames, or a variable-rate
    video, gives uneven times that the smoothing and the derivatives here must not take as
    even.

    Args:
        t_s: ``(n,)`` frame times, seconds, increasing.
        fps: the grid's rate, frames per second.
    """
    t = np.asarray(t_s, dtype=np.float64)
    if len(t) < 2 or np.all(np.abs(np.diff(t) * fps - 1.0) < 0.25):
        return None
    k = np.round((t - t[0]) * fps).astype(np.int64)
    for i in range(1, len(k)):  # two frames within one slot: keep both, one slot apart
        k[i] = max(k[i], k[i - 1] + 1)
    return k


def resample_even(values: np.ndarray, slots: np.ndarray, fps: float,
                  max_gap_s: float = MAX_BRIDGE_S) -> np.ndarray:
    """``(n, ...)`` per-frame values at grid ``slots`` (:func:`even_grid`) on the whole grid,
    ``(slots[-1] + 1, ...)``: linear in time between neighbouring frames, NaN inside a gap of
    more than ``max_gap_s`` (and where a value is missing on both sides)."""
    vals = np.asarray(values, dtype=np.float64)
    k = np.asarray(slots, dtype=np.int64)
    n_out = int(k[-1]) + 1
    flat = vals.reshape(len(vals), -1)
    out = np.full((n_out, flat.shape[1]), np.nan)
    grid = np.arange(n_out)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        ok = np.isfinite(col)
        if ok.sum() >= 2:
            out[:, j] = np.interp(grid, k[ok], col[ok], left=np.nan, right=np.nan)
        elif ok.any():
            out[k[ok], j] = col[ok]
    longest = max(1, round(max_gap_s * fps))
    for a, b in itertools.pairwise(k):
        if b - a > longest:
            out[a + 1 : b] = np.nan
    return out.reshape((n_out, *vals.shape[1:]))


def concentric_velocity(poses: np.ndarray, fps: float, point: str, concentric: slice,
                        turn: int | None = None, height_px: float | None = None) -> RepVelocity:
    """Mean and peak speed of ``point`` over the ``concentric`` rows of a rep's ``poses``.

    Mean: on the smoothed track (:func:`smooth_position`), ``D`` is the point's distance from
    where it was at ``turn`` (the rep's bottom) to where it is at the far end of
    ``concentric``; the instants it is :data:`MID_FRAC` x ``D`` and ``(1 - MID_FRAC)`` x ``D``
    from the turn are interpolated between frames, and the distance between its positions
    then, over the time between them, is the mean. Peak: the largest speed of the smoothed
    derivative (:func:`smooth_derivative`) over ``concentric``. Both are read on tracks taken
    over all of ``poses`` (the rep's frames, start to end), so the same frames always give the
    same numbers (live and offline).

    Args:
        poses: ``(n, 33, 4)`` the rep's poses.
        fps: frames per second.
        point: a :data:`MOVING_POINTS` key.
        concentric: the rows of the concentric phase.
        turn: the row the concentric moves away from: before ``concentric`` (a squat's way
            up, from the bottom) or after it (a curl's lift, read backwards from its top);
            default ``concentric.start``.
        height_px: standing height in px; default :func:`body_height_px` of ``poses``.
    """
    h = body_height_px(poses) if height_px is None else float(height_px)
    nan = RepVelocity(float("nan"), float("nan"), h)
    if not (math.isfinite(h) and h > 0):
        return nan
    track = point_track(poses, point)  # (n, 2) px
    vel = smooth_derivative(track, fps)  # (n, 2) px/s
    speed = np.hypot(vel[concentric, 0], vel[concentric, 1]) / h
    if np.isfinite(speed).sum() < 2:
        return nan
    c0, c1, _ = concentric.indices(len(track))
    t0 = c0 if turn is None else int(turn)
    end = c1 - 1 if t0 <= c0 else c0
    peak = float(np.nanmax(speed))
    full = np.hypot(vel[:, 0], vel[:, 1]) / h
    smooth = smooth_position(track, fps)
    a, b, moves = main_movement(smooth, full, t0, end, c0 + int(np.nanargmax(speed)), fps)
    mean = _mid_mean_speed(smooth, a, b, fps) / h
    if mean > peak:  # cannot be one movement's: not measured rather than faster than its peak
        mean = float("nan")
    return RepVelocity(mean, peak, h, moves)


def main_movement(xy: np.ndarray, speed: np.ndarray, turn: int, end: int, peak_row: int,
                  fps: float, rest_frac: float = REST_FRAC, rest_s: float = REST_S,
                  frac: float = MID_FRAC) -> tuple[int, int, int]:
    """``(turn', end', movements)``: the part of the way from row ``turn`` to row ``end``
    (after or before it) that is the movement containing ``peak_row``.

    The way is split at rests: runs of at least ``rest_s`` where ``speed`` is under
    ``rest_frac`` of its value at ``peak_row``. A rest splits it only when the part beyond it
    (away from the peak) moves the point by more than ``frac`` of the whole way's distance
    (less is inside the margin the middle-80% mean leaves out anyway), so one movement keeps
    ``(turn, end, 1)`` exactly. ``turn'`` / ``end'`` are the rest's frame nearest the peak.

    Args:
        xy: ``(n, 2)`` smoothed track; speed: ``(n,)`` its speed (any unit; NaN = unknown).
    """
    lo, hi = (turn, end) if turn <= end else (end, turn)
    if not (0 <= lo <= peak_row <= hi < len(speed)):
        return turn, end, 1
    pk = float(speed[peak_row])
    if not (math.isfinite(pk) and pk > 0):
        return turn, end, 1
    need = max(2, math.ceil(rest_s * fps))
    with np.errstate(invalid="ignore"):
        still = speed < rest_frac * pk  # NaN: not at rest
        way = float(np.hypot(*(xy[end] - xy[turn])))
    if not (math.isfinite(way) and way > 0):
        return turn, end, 1

    def moved(i: int, j: int) -> bool:
        seg = xy[min(i, j) : max(i, j) + 1]
        with np.errstate(invalid="ignore"):
            r = np.hypot(*(seg - seg[0]).T)
        return bool(np.nanmax(r) > frac * way) if np.isfinite(r).any() else False

    def rest_towards(step: int) -> int | None:
        """The rest frame nearest the peak on one side (a rest the far side of which moves)."""
        stop = lo if step < 0 else hi
        i, run = peak_row, 0
        while i != stop:
            i += step
            run = run + 1 if still[i] else 0
            if run >= need:
                inner = i - step * (run - 1)  # the run's frame nearest the peak
                j = i
                while j != stop and still[j + step]:  # to the run's far end
                    j += step
                if j != stop and moved(j, stop):
                    return inner
                i, run = j, 0
        return None

    a, b = rest_towards(-1), rest_towards(+1)
    moves = 1 + (a is not None) + (b is not None)
    a = lo if a is None else a
    b = hi if b is None else b
    return (a, b, moves) if turn <= end else (b, a, moves)


def _mid_mean_speed(xy: np.ndarray, turn: int, end: int, fps: float,
                    frac: float = MID_FRAC) -> float:
    """Mean speed (units / s) of a ``(n, 2)`` track moving away from row ``turn`` to row
    ``end`` (after or before it), between the instants its distance from the turn crosses
    ``frac`` and ``1 - frac`` of the distance at ``end``: chord / time, both interpolated
    between frames. NaN when the track does not cross both, or is missing there."""
    if end < turn:  # a lift read backwards from its top
        xy, turn, end = xy[::-1], len(xy) - 1 - turn, len(xy) - 1 - end
    if not 0 <= turn < end < len(xy):
        return float("nan")
    d = np.hypot(*(xy[turn:] - xy[turn]).T)  # distance from the turn, rows turn..
    full = float(d[end - turn])
    if not (math.isfinite(full) and full > 0):
        return float("nan")
    lo, hi = frac * full, (1.0 - frac) * full
    with np.errstate(invalid="ignore"):
        past = np.flatnonzero(d >= hi)
    if not len(past) or past[0] == 0:
        return float("nan")
    i = int(past[0])  # first row at or past hi; the last row before it under lo:
    with np.errstate(invalid="ignore"):
        under = np.flatnonzero(d[:i] < lo)
    if not len(under):
        return float("nan")
    j = int(under[-1])
    t_hi = i - 1 + (hi - d[i - 1]) / (d[i] - d[i - 1])
    t_lo = j + (lo - d[j]) / (d[j + 1] - d[j])

    def at(t: float) -> np.ndarray:
        k = min(int(t), len(d) - 2)
        return np.asarray(xy[turn + k] + (t - k) * (xy[turn + k + 1] - xy[turn + k]))

    dt = (t_hi - t_lo) / fps
    if not (math.isfinite(dt) and dt > 0):
        return float("nan")
    return float(np.hypot(*(at(t_hi) - at(t_lo)))) / dt


def velocity_loss_pct(values: Sequence[float]) -> list[float]:
    """VL of each value against the best (largest finite) one, percent (NaN where a value, or
    every value, is not finite). ``[0.5, 0.45, 0.4]`` -> ``[0, 10, 20]``."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr) & (arr > 0)
    if not ok.any():
        return [float("nan")] * len(arr)
    best = float(arr[ok].max())
    return [float(100.0 * (best - v) / best) if good else float("nan")
            for v, good in zip(arr, ok, strict=True)]


class StopAtVL:
    """Rep-by-rep "that's the set" decision: VL against the best rep so far past ``pct`` on two
    consecutive reps.

    ``add(v)`` takes each rep's mean velocity in order and returns True at the rep that makes
    it so (once per set). A rep whose velocity is unknown (NaN) breaks the run.
    """

    def __init__(self, pct: float, reps: int = 2) -> None:
        if not (math.isfinite(pct) and 0 < pct < 100):
            raise ValueError(f"velocity-loss threshold must be in (0, 100) percent, got {pct}")
        self.pct, self.reps = float(pct), int(reps)
        self.best = float("nan")
        self.run = 0
        self.stop_rep: int | None = None  # 0-based index of the rep it fired on
        self._n = 0

    def add(self, v: float) -> bool:
        """Feed the next rep's mean velocity; True when the set should stop at this rep."""
        i, self._n = self._n, self._n + 1
        if not (math.isfinite(v) and v > 0):
            self.run = 0
            return False
        if not math.isfinite(self.best) or v > self.best:
            self.best = v
        vl = 100.0 * (self.best - v) / self.best
        self.run = self.run + 1 if vl > self.pct else 0
        if self.run >= self.reps and self.stop_rep is None:
            self.stop_rep = i
            return True
        return False
