"""Pose accuracy: a backend against a rendered sample's ground truth (detection rate, angle
and landmark error)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from formcoach.skeleton import JOINT_TRIPLES
from formcoach.synth.body import joint_angles
from formcoach.synth.core import load_truth

__all__ = ["COMPARED_ANGLES", "evaluate_backend"]

#: Angles compared between a backend and the truth (2D, pixel space).
COMPARED_ANGLES: tuple[str, ...] = tuple(
    f"{s}_{j}" for s in ("left", "right") for j in ("knee", "hip", "elbow", "shoulder")
)


def evaluate_backend(video: str | os.PathLike[str], truth: str | os.PathLike[str],
                     backend: str = "onnx", max_frames: int | None = None) -> dict[str, Any]:
    """Run ``backend`` over the frames of ``video`` (the first ``max_frames``, None = all) and
    compare with ``truth``.

    Returns:
        ``detection_rate`` (fraction of frames with a person), ``median_angle_err_deg`` (median
        absolute error over :data:`COMPARED_ANGLES` and detected frames, degrees, 2D),
        ``angle_err_deg`` per angle, ``median_px_err`` (median landmark distance, px) and
        ``n_frames``.
    """
    from formcoach.pose.track import estimate_track

    tr = load_truth(truth)
    poses = estimate_track(video, backend, max_frames=max_frames).poses
    n = min(len(poses), tr["n_frames"])
    poses = poses[:n]
    detected = np.isfinite(poses[:, :, 0]).any(axis=1)
    ang = joint_angles(poses[:, :, :2], {k: JOINT_TRIPLES[k] for k in COMPARED_ANGLES})
    true2d = tr["frames"]["angles_2d_deg"]
    errs = {k: np.abs(ang[k] - true2d[k][:n]) for k in COMPARED_ANGLES}
    allerr = np.concatenate(list(errs.values()))
    if "joints_2d_px" in tr["frames"]:
        px = np.linalg.norm(poses[:, :, :2] - tr["frames"]["joints_2d_px"][:n], axis=-1)
    else:
        px = np.full(1, np.nan)
    return {
        "n_frames": int(n),
        "detection_rate": float(detected.mean()) if n else 0.0,
        "median_angle_err_deg": float(np.nanmedian(allerr)) if detected.any() else float("nan"),
        "angle_err_deg": {k: float(np.nanmedian(v)) if detected.any() else float("nan")
                          for k, v in errs.items()},
        "median_px_err": float(np.nanmedian(px)) if detected.any() else float("nan"),
    }
