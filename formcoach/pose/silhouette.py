"""The back's shape from a person-segmentation mask: what the 33 landmarks cannot see.

BlazePose has no spine points: between the hip and shoulder landmarks the back could be flat
or rounded and the landmarks read the same. The landmark model's segmentation output (the
person's silhouette in the crop) shows the back's outline directly. :func:`back_bulge` measures
how far that outline bows away from a straight line between its ends, along the trunk:

- ``t`` runs from 10% to 90% of the way from the hip midpoint to the shoulder midpoint (the
  pelvis and the neck, where the outline turns, are left out);
- at each ``t`` the back surface is found by walking from the hip-shoulder line towards the
  back (away from the knees) to the last silhouette pixel before a gap;
- the bulge is the largest distance of that outline beyond the chord through its two ends,
  per hip-shoulder length: ``+`` bows outwards (a rounded, flexed back), ``-`` inwards (an
  arched or sagging one).

An arc that turns through ``a`` radians has a sagitta of about ``a / 8`` of its chord, so a
bulge of 0.06 is about 30 deg of curvature spread over the trunk and 0.12 about 55 deg.

The measure needs a trunk seen from the side with the hip bent (the knees off the trunk line
tell front from back); otherwise it is NaN.
"""

from __future__ import annotations

import numpy as np

from formcoach.skeleton import LM, NUM_LANDMARKS

#: Fractions of the hip -> shoulder chord where the back outline is sampled.
SAMPLES_T = np.linspace(0.1, 0.9, 17)
#: At least this many of :data:`SAMPLES_T` must find the outline.
MIN_SAMPLES = 12
#: Shortest hip-shoulder length measured, mask px (a smaller trunk is too coarse to read).
MIN_TRUNK_PX = 16.0
#: The knees must sit this far (per hip-shoulder length) off the trunk line to tell the front
#: of the trunk from its back: with the hip straight they lie on the line.
MIN_KNEE_OFFSET = 0.15
#: How far out from the hip-shoulder line the outline is looked for, per hip-shoulder length.
MAX_DEPTH = 0.8
#: Background this long (per hip-shoulder length) ends the body: shorter gaps are mask holes.
GAP = 0.06
#: Mask probability above which a pixel is the person.
MASK_THRESHOLD = 0.5

__all__ = ["MASK_THRESHOLD", "back_bulge", "back_normal", "back_outline", "needs_silhouette"]


def _mid(xy: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.asarray((xy[a] + xy[b]) / 2.0, dtype=np.float64)


def back_normal(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(hip mid, shoulder mid, unit normal towards the back)`` of ``(33, >=2)`` points, or
    None when a joint is missing, the trunk is degenerate or the hip is too straight to tell
    the front from the back (:data:`MIN_KNEE_OFFSET`)."""
    pts = np.asarray(xy, dtype=np.float64)[:NUM_LANDMARKS, :2]
    h = _mid(pts, LM.LEFT_HIP, LM.RIGHT_HIP)
    s = _mid(pts, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    k = _mid(pts, LM.LEFT_KNEE, LM.RIGHT_KNEE)
    if not (np.isfinite(h).all() and np.isfinite(s).all() and np.isfinite(k).all()):
        return None
    chord = s - h
    length = float(np.hypot(*chord))
    if length <= 0.0:
        return None
    n = np.array([-chord[1], chord[0]]) / length
    knee_side = float(np.dot(k - h, n)) / length
    if abs(knee_side) < MIN_KNEE_OFFSET:
        return None
    return h, s, (-n if knee_side > 0 else n)


def needs_silhouette(xy: np.ndarray) -> bool:
    """True when a pose's back could be measured (hip bent, trunk joints found): a backend
    runs the segmentation only for such frames."""
    return back_normal(xy) is not None


def _depths(mask: np.ndarray, xy: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
    """``(chord points (17, 2), back normal (2,), depth (17,) px, hip-shoulder length)`` of
    the back's outline at :data:`SAMPLES_T` (depth NaN where not found), or None when the back
    cannot be measured."""
    geo = back_normal(xy)
    m = np.asarray(mask)
    if geo is None or m.ndim != 2 or min(m.shape) < 2:
        return None
    h, s, n = geo
    length = float(np.hypot(*(s - h)))
    if length < MIN_TRUNK_PX:
        return None
    body = m > MASK_THRESHOLD if m.dtype != bool else m
    step = 0.5  # px
    ks = np.arange(0.0, MAX_DEPTH * length, step)
    gap_steps = max(2, int(np.ceil(GAP * length / step)))
    centres = h[None, :] + SAMPLES_T[:, None] * (s - h)[None, :]
    pts = centres[:, None, :] + ks[None, :, None] * n[None, None, :]  # (t, k, 2)
    xi = np.rint(pts[..., 0]).astype(np.int64)
    yi = np.rint(pts[..., 1]).astype(np.int64)
    inside_img = (xi >= 0) & (xi < body.shape[1]) & (yi >= 0) & (yi < body.shape[0])
    on = np.zeros(xi.shape, dtype=bool)
    on[inside_img] = body[yi[inside_img], xi[inside_img]]
    # The back surface: the last body sample before the first run of gap_steps background
    # samples. A run that starts outside the image is the frame's edge, not the back.
    bg = np.concatenate([np.zeros((len(SAMPLES_T), 1), dtype=np.int64),
                         np.cumsum(~on, axis=1)], axis=1)
    runs = (bg[:, gap_steps:] - bg[:, :-gap_steps]) == gap_steps  # (t, K - gap + 1)
    depth = np.full(len(SAMPLES_T), np.nan)
    for i in range(len(SAMPLES_T)):
        starts = np.flatnonzero(runs[i])
        if not on[i, 0] or starts.size == 0:
            continue  # the trunk line is off the silhouette, or no surface within MAX_DEPTH
        j = int(starts[0])
        if inside_img[i, j]:
            depth[i] = ks[j - 1]
    return centres, n, depth, length


def back_outline(mask: np.ndarray, xy: np.ndarray) -> np.ndarray | None:
    """``(17, 2)`` points of the back's outline (mask px; NaN rows where not found) at
    :data:`SAMPLES_T` along the trunk, or None when the back cannot be measured."""
    got = _depths(mask, xy)
    if got is None:
        return None
    centres, n, depth, _ = got
    return centres + depth[:, None] * n[None, :]


def back_bulge(mask: np.ndarray, xy: np.ndarray) -> float:
    """Signed bulge of the back's outline beyond its chord, per hip-shoulder length.

    Args:
        mask: ``(H, W)`` person probability in [0, 1] (or a boolean mask).
        xy: ``(33, >=2)`` landmarks in the mask's pixel coordinates.

    Returns:
        ``+`` rounded (convex) back, ``-`` arched (concave), ~0 flat; NaN when it cannot be
        measured (see the module docstring).
    """
    got = _depths(mask, xy)
    if got is None:
        return float("nan")
    _, _, depth_px, length = got
    depth = depth_px / length
    ok = np.isfinite(depth)
    if int(ok.sum()) < MIN_SAMPLES:
        return float("nan")
    t, d = SAMPLES_T[ok], depth[ok]
    line = d[0] + (d[-1] - d[0]) * (t - t[0]) / (t[-1] - t[0])
    dev = d - line
    hi, lo = float(dev.max()), float(dev.min())
    return hi if hi >= -lo else lo
