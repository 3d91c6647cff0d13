"""Compare a pose backend with a rendered sample's ground truth (detection rate, angle error)."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.synth.body import joint_angles

__all__ = ["COMPARED_ANGLES", "evaluate_backend", "load_truth"]

#: Angles compared between a backend and the truth (2D, pixel space).
COMPARED_ANGLES: tuple[str, ...] = tuple(
    f"{s}_{j}" for s in ("left", "right") for j in ("knee", "hip", "elbow", "shoulder")
)
#: Largest ground-truth JSON accepted, bytes (a 10-minute render is a few MB).
MAX_TRUTH_BYTES = 64 << 20
#: Largest total of the ground-truth arrays (the sibling ``.npz``), bytes.
MAX_TRUTH_ARRAY_BYTES = 1 << 30


def load_truth(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a sample's ground-truth JSON; per-frame lists become float64 arrays.

    ``frames.angles_*_deg[name]`` -> ``(T,)``; from the sibling ``.npz`` (when present)
    ``frames.joints_2d_px`` ``(T, 33, 2)`` px and ``frames.joints_3d_m`` ``(T, 33, 3)`` m.

    Raises:
        InputError: missing or malformed file.
    """
    from formcoach.text import parse_json, read_text_capped
    from formcoach.types import npy_member_header

    p = Path(path)
    if not p.is_file():
        raise InputError(f"ground-truth file not found: {p}")
    d = parse_json(read_text_capped(p, MAX_TRUTH_BYTES, "ground-truth file", InputError),
                   p, "ground-truth file", InputError)
    try:
        fr = d["frames"]
        npz = p.with_name(str(d.get("arrays") or p.with_suffix(".npz").name))
        if npz.is_file():
            with zipfile.ZipFile(npz) as zf:
                names = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
                total = 0
                for name in names:
                    shape, dtype = npy_member_header(zf, name)
                    total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if total > MAX_TRUTH_ARRAY_BYTES or len(names) > 64:
                    raise ValueError(f"arrays of {total >> 20} MiB in {len(names)} members")
            with np.load(npz, allow_pickle=False) as z:
                for key in z.files:
                    fr[key] = np.asarray(z[key], dtype=np.float64)
        for key in ("angles_3d_deg", "angles_2d_deg"):
            fr[key] = {k: np.asarray(v, dtype=np.float64) for k, v in fr[key].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
            zipfile.BadZipFile, zlib.error, NotImplementedError) as e:
        raise InputError(f"not a formcoach synth ground-truth file: {p} "
                         f"({type(e).__name__}: {str(e)[:80]})") from e
    return d


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
    from formcoach.pose import create_estimator
    from formcoach.sources import VideoFileSource

    tr = load_truth(truth)
    est = create_estimator(backend)
    try:
        poses = np.stack([est.process(f.image, f.t_ns).landmarks for f in VideoFileSource(video, max_frames)])
    finally:
        est.close()
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
