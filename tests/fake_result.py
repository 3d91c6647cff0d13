"""A real SessionResult for report/metrics/store tests: a side-view squatter drawn from geometry.

Knee flexion follows a raised-cosine per rep with a bottom pause; the right leg flexes less than
the left (a known asymmetry). Features are computed from the poses with the real kinematics and
the metrics with the real :mod:`formcoach.metrics`, so the numbers agree with the drawing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from formcoach import metrics as M
from formcoach.coach.result import SessionResult
from formcoach.exercises import load_exercise
from formcoach.kinematics.angles import joint_angles
from formcoach.skeleton import LM, NUM_LANDMARKS
from formcoach.types import Fault, RepEvent, frame_time_ns

W, H = 320, 240


def series(result: SessionResult, features: dict[str, np.ndarray] | None = None) -> M.Series:
    """The per-frame series the metrics are computed on."""
    return M.Series(result.t_ns, result.signal, features if features is not None
                    else result.features, result.start_ns, result.frame_offset)


def measure(
    result: SessionResult,
    *,
    reps: list[RepEvent] | None = None,
    faults: list[Fault] | None = None,
    features: dict[str, np.ndarray] | None = None,
    joints: list[str] | None = None,
    not_assessed: list[str] | None = None,
    baseline_rom_deg: float | None = None,
) -> M.SetMetrics:
    """:func:`formcoach.metrics.set_metrics` of ``result`` with any part swapped out."""
    feats = features if features is not None else result.features
    s = series(result, feats)
    names = joints if joints is not None else M.metric_joints(result.exercise.metrics, feats)
    fl = result.faults if faults is None else faults
    rms = [M.rep_metrics(s, r, names, fl) for r in (result.reps if reps is None else reps)]
    return M.set_metrics(
        result.exercise.id, rms, frames=len(result.signal),
        pose_frames=int(np.isfinite(result.poses[:, :, 0]).any(axis=1).sum()),
        duration_s=float((result.t_ns[-1] - result.t_ns[0]) / 1e9) if len(result.t_ns) > 1
        else 0.0, joints=names,
        not_assessed=result.metrics.not_assessed if not_assessed is None else not_assessed,
        baseline_rom_deg=baseline_rom_deg,
    )


def _pose(flex_deg: float, right_scale: float) -> np.ndarray:
    """One (33, 4) side-view pose with knee flexion ``flex_deg`` (0 = standing), pixels."""
    p = np.full((NUM_LANDMARKS, 4), np.nan)
    leg = 55.0

    def leg_pts(flex: float, dx: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a = math.radians(flex / 2.0)
        ankle = np.array([150.0 + dx, 215.0])
        knee = ankle + leg * np.array([math.sin(a), -math.cos(a)])
        hip = knee + leg * np.array([-math.sin(a), -math.cos(a)])
        return ankle, knee, hip

    la, lk, lh = leg_pts(flex_deg, 0.0)
    ra, rk, rh = leg_pts(flex_deg * right_scale, 6.0)
    lean = math.radians(10.0 + flex_deg * 0.25)
    for (ankle, knee, hip), side in (((la, lk, lh), "LEFT"), ((ra, rk, rh), "RIGHT")):
        sh = hip + 60.0 * np.array([math.sin(lean), -math.cos(lean)])
        el = sh + np.array([18.0, 20.0])
        wr = el + np.array([22.0, -2.0])
        pts = {
            "ANKLE": ankle, "KNEE": knee, "HIP": hip, "SHOULDER": sh, "ELBOW": el, "WRIST": wr,
            "HEEL": ankle + np.array([-8.0, 3.0]), "FOOT_INDEX": ankle + np.array([16.0, 4.0]),
            "INDEX": wr + np.array([5.0, 0.0]), "PINKY": wr + np.array([4.0, 2.0]),
            "THUMB": wr + np.array([3.0, -2.0]), "EAR": sh + np.array([4.0, -22.0]),
            "EYE": sh + np.array([12.0, -26.0]), "EYE_INNER": sh + np.array([12.0, -26.0]),
            "EYE_OUTER": sh + np.array([10.0, -26.0]), "MOUTH": sh + np.array([12.0, -18.0]),
        }
        for k, v in pts.items():
            idx = LM[f"{side}_{k}"] if f"{side}_{k}" in LM.__members__ else None
            if idx is None:
                idx = LM[f"MOUTH_{side}"]
            p[idx, :2] = v
            p[idx, 2] = 0.0
            p[idx, 3] = 0.95
    p[LM.NOSE] = [p[LM.LEFT_EYE, 0] + 6.0, p[LM.LEFT_EYE, 1] + 4.0, 0.0, 0.95]
    return p


def make_result(
    n_reps: int = 4,
    fps: float = 30.0,
    rep_s: float = 2.0,
    gap_s: float = 0.5,
    depth_deg: tuple[float, ...] = (100.0, 95.0, 90.0, 70.0),
    right_scale: float = 0.9,
    missing: slice | None = None,
) -> SessionResult:
    """A session with ``n_reps`` reps; depth of rep i is ``depth_deg[i % len]`` degrees of
    flexion."""
    rep_n = round(rep_s * fps)
    gap_n = round(gap_s * fps)
    flex: list[float] = [0.0] * gap_n
    bounds = []
    for i in range(n_reps):
        d = depth_deg[i % len(depth_deg)]
        start = len(flex)
        for k in range(rep_n + 1):
            u = k / rep_n
            # descend 40%, pause 20%, ascend 40%
            if u < 0.4:
                f = d * (1 - math.cos(math.pi * u / 0.4)) / 2
            elif u < 0.6:
                f = d
            else:
                f = d * (1 + math.cos(math.pi * (u - 0.6) / 0.4)) / 2
            flex.append(f)
        bounds.append((start, start + rep_n // 2, start + rep_n))
        flex.extend([0.0] * gap_n)
    poses = np.stack([_pose(f, right_scale) for f in flex])
    if missing is not None:
        poses[missing] = np.nan
    feats = joint_angles(poses)
    t = len(flex)
    t_ns = np.array([frame_time_ns(i, fps) for i in range(t)], dtype=np.int64)
    signal = np.asarray(feats["left_knee"], dtype=np.float64).copy()
    reps = []
    for i, (s, b, e) in enumerate(bounds):
        seg = signal[s : e + 1]
        reps.append(
            RepEvent(
                index=i, start_frame=s, bottom_frame=b, end_frame=e,
                start_ns=int(t_ns[s]), bottom_ns=int(t_ns[b]), end_ns=int(t_ns[e]),
                counted_frame=e, counted_ns=int(t_ns[e]),
                rom_deg=float(np.nanmax(seg) - np.nanmin(seg)),
                min_deg=float(np.nanmin(seg)), max_deg=float(np.nanmax(seg)),
            )
        )
    faults = []
    if n_reps >= 4:
        b = bounds[3][1]
        faults.append(
            Fault("depth", "squat", "go deeper", 2, int(t_ns[b]), b, 110.0, 100.0, rep_index=3)
        )
    ex = load_exercise("squat")
    empty = M.set_metrics(ex.id, [], frames=0, pose_frames=0, duration_s=0.0, joints=[],
                          not_assessed=["knee_valgus"])
    result = SessionResult(
        exercise=ex, fps=fps, backend="fake", source="fake squatter", image_size=(W, H),
        t_ns=t_ns, signal=signal, features=dict(feats), poses=poses, reps=reps, faults=faults,
        cues=[], metrics=empty, frames=t, pose_frames=t, simulated_cues=True,
    )
    result.metrics = measure(result)
    result.pose_frames = int(np.isfinite(poses[:, :, 0]).any(axis=1).sum())
    return result


def write_video(result: SessionResult, path: Path) -> Path:
    """Render the fake result's poses as a small mp4v video (one frame per pose)."""
    import cv2

    from formcoach.skeleton import CONNECTIONS

    fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
    wr = cv2.VideoWriter(str(path), fourcc, result.fps, (W, H))
    assert wr.isOpened()
    for pose in result.poses:
        img = np.full((H, W, 3), (40, 60, 80), np.uint8)
        cv2.rectangle(img, (0, 218), (W, H), (90, 90, 90), -1)
        for a, b in CONNECTIONS:
            pa, pb = pose[a, :2], pose[b, :2]
            if np.isfinite(pa).all() and np.isfinite(pb).all():
                cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), (200, 200, 255), 4)
        wr.write(img)
    wr.release()
    return path
