"""Pose accuracy: a backend against a rendered sample's ground truth (detection rate, angle
and landmark error)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from formcoach.pose.models import ModelName
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.synth.body import joint_angles
from formcoach.synth.core import load_truth

__all__ = ["COMPARED_ANGLES", "JOINT_GROUPS", "angle_error_by_view", "evaluate_backend"]

#: Angles compared between a backend and the truth (2D, pixel space).
COMPARED_ANGLES: tuple[str, ...] = tuple(
    f"{s}_{j}" for s in ("left", "right") for j in ("knee", "hip", "elbow", "shoulder")
)


#: Joint groups reported by :func:`angle_error_by_view`: both sides pooled.
JOINT_GROUPS: tuple[str, ...] = ("knee", "hip", "elbow", "shoulder")


def _angle_errors(video: str | os.PathLike[str], truth: str | os.PathLike[str], backend: str,
                  max_frames: int | None, model: ModelName
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, dict[str, Any]]:
    """``({angle: (T,) |error| deg, NaN undetected}, (T,) detected, (T, 33) px error, truth)``."""
    from formcoach.pose.track import estimate_track

    tr = load_truth(truth)
    poses = estimate_track(video, backend, max_frames=max_frames, model=model).poses
    n = min(len(poses), tr["n_frames"])
    poses = poses[:n]
    detected = np.isfinite(poses[:, :, 0]).any(axis=1)
    ang = joint_angles(poses[:, :, :2], {k: JOINT_TRIPLES[k] for k in COMPARED_ANGLES})
    true2d = tr["frames"]["angles_2d_deg"]
    errs = {k: np.abs(ang[k] - true2d[k][:n]) for k in COMPARED_ANGLES}
    if "joints_2d_px" in tr["frames"]:
        px = np.linalg.norm(poses[:, :, :2] - tr["frames"]["joints_2d_px"][:n], axis=-1)
    else:
        px = np.full((n, 33), np.nan)
    return errs, detected, px, tr


def angle_error_by_view(samples: str | os.PathLike[str], backend: str = "onnx",
                        model: ModelName = "full", max_frames: int | None = None
                        ) -> dict[str, Any]:
    """2D joint-angle error of one rung against every sample's synthetic truth, per view.

    Args:
        samples: folder with ``manifest.json`` and each clip's ``.mp4`` + truth ``.json``/``.npz``.
        max_frames: first frames of each clip (None: all).

    Returns:
        ``{view: {"knee" | "hip" | "elbow" | "shoulder" | "all": {"median", "p95"} (deg,
        |error| pooled over both sides and every detected frame of that view's clips),
        "near": {the same keys: the camera-facing side only, by the truth's depth of the
        angle's vertex joint; the far limb of a side view is hidden behind the body},
        "detection_rate", "frames", "clips"}}``.
    """
    import json
    from pathlib import Path

    folder = Path(samples)
    clips = json.loads((folder / "manifest.json").read_text())["clips"]
    pooled: dict[str, dict[str, list[np.ndarray]]] = {}
    near: dict[str, dict[str, list[np.ndarray]]] = {}
    det: dict[str, list[np.ndarray]] = {}
    for clip in clips:
        video = folder / clip["file"]
        errs, detected, _px, tr = _angle_errors(video, video.with_suffix(".json"), backend,
                                                max_frames, model)
        view = str(clip["view"])
        groups = pooled.setdefault(view, {g: [] for g in JOINT_GROUPS})
        near_groups = near.setdefault(view, {g: [] for g in JOINT_GROUPS})
        z = tr["frames"].get("pose_z")
        for g in JOINT_GROUPS:
            left, right = errs[f"left_{g}"], errs[f"right_{g}"]
            groups[g].extend((left, right))
            if z is not None:
                vl, vr = JOINT_TRIPLES[f"left_{g}"][1], JOINT_TRIPLES[f"right_{g}"][1]
                zz = np.asarray(z)[: len(left)]
                near_groups[g].append(np.where(zz[:, vl] <= zz[:, vr], left, right))
        det.setdefault(view, []).append(detected)
    out: dict[str, Any] = {}
    for view, groups in sorted(pooled.items()):
        row: dict[str, Any] = _group_stats(groups)
        if any(near[view].values()):
            row["near"] = _group_stats(near[view])
        d = np.concatenate(det[view])
        row["detection_rate"] = round(float(d.mean()), 4) if d.size else 0.0
        row["frames"] = int(d.size)
        row["clips"] = len(det[view])
        out[view] = row
    return out


def _group_stats(groups: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """``{group: stats, "all": stats}`` of the finite errors of each group's arrays."""
    row: dict[str, Any] = {}
    every = []
    for g, arrs in groups.items():
        e = np.concatenate(arrs) if arrs else np.zeros(0)
        e = e[np.isfinite(e)]
        every.append(e)
        row[g] = _stats(e)
    row["all"] = _stats(np.concatenate(every))
    return row


def _stats(e: np.ndarray) -> dict[str, float | None]:
    if e.size == 0:
        return {"median": None, "p95": None}
    return {"median": round(float(np.median(e)), 2), "p95": round(float(np.percentile(e, 95)), 2)}


def evaluate_backend(video: str | os.PathLike[str], truth: str | os.PathLike[str],
                     backend: str = "onnx", max_frames: int | None = None,
                     model: ModelName = "full") -> dict[str, Any]:
    """Run ``backend`` (rung ``model``) over the frames of ``video`` (the first ``max_frames``,
    None = all) and compare with ``truth``.

    Returns:
        ``detection_rate`` (fraction of frames with a person), ``median_angle_err_deg`` (median
        absolute error over :data:`COMPARED_ANGLES` and detected frames, degrees, 2D),
        ``angle_err_deg`` per angle, ``median_px_err`` (median landmark distance, px) and
        ``n_frames``.
    """
    errs, detected, px, _tr = _angle_errors(video, truth, backend, max_frames, model)
    n = len(detected)
    allerr = np.concatenate(list(errs.values()))
    return {
        "n_frames": int(n),
        "detection_rate": float(detected.mean()) if n else 0.0,
        "median_angle_err_deg": float(np.nanmedian(allerr)) if detected.any() else float("nan"),
        "angle_err_deg": {k: float(np.nanmedian(v)) if detected.any() else float("nan")
                          for k, v in errs.items()},
        "median_px_err": float(np.nanmedian(px)) if detected.any() else float("nan"),
    }
