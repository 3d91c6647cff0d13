"""Side-view plank stick figures (plank, sagging, lying, kneeling, ...) for hold tests."""

from __future__ import annotations

import numpy as np

from formcoach.skeleton import LM
from formcoach.types import PoseTrack, frame_time_ns

#: Side-view stick figures (x, y) px, facing image left, shoulder-ankle length ~430 px: upper
#: arm ~0.2, trunk ~0.37, thigh and shin ~0.3 of it.
POSES: dict[str, dict[str, tuple[float, float]]] = {
    "plank": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                  hip=(260, 325), knee=(390, 355), ankle=(520, 385), toe=(532, 398)),
    "high_plank": dict(nose=(60, 220), shoulder=(100, 230), elbow=(100, 313), wrist=(100, 396),
                       hip=(270, 290), knee=(400, 337), ankle=(520, 385), toe=(532, 398)),
    "sagging": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                    hip=(260, 355), knee=(390, 368), ankle=(520, 385), toe=(532, 398)),
    "sagging_more": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                         hip=(260, 365), knee=(390, 372), ankle=(520, 385), toe=(532, 398)),
    "pike": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                 hip=(280, 200), knee=(400, 290), ankle=(520, 385), toe=(532, 398)),
    "lying": dict(nose=(50, 378), shoulder=(100, 380), elbow=(160, 392), wrist=(230, 394),
                  hip=(260, 383), knee=(390, 388), ankle=(520, 390), toe=(532, 398)),
    "lying_hips_low": dict(nose=(50, 376), shoulder=(100, 378), elbow=(160, 392),
                           wrist=(230, 394), hip=(260, 392), knee=(390, 388), ankle=(520, 386),
                           toe=(532, 398)),
    "hips_down": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                      hip=(260, 386), knee=(390, 390), ankle=(520, 390), toe=(532, 398)),
    "kneeling": dict(nose=(60, 295), shoulder=(100, 305), elbow=(100, 392), wrist=(20, 395),
                     hip=(300, 300), knee=(330, 392), ankle=(460, 392), toe=(472, 398)),
    "standing": dict(nose=(300, 40), shoulder=(300, 80), elbow=(300, 170), wrist=(300, 250),
                     hip=(300, 240), knee=(300, 320), ankle=(300, 390), toe=(270, 398)),
}


def stick(name: str, vis: float = 0.9) -> np.ndarray:
    """A ``(33, 4)`` pose: both sides of the body on the same image points (a side view)."""
    p = POSES[name]
    out = np.full((33, 4), np.nan)
    out[LM.NOSE] = (*p["nose"], 0.0, vis)
    for side in ("LEFT", "RIGHT"):
        for joint, key in (("SHOULDER", "shoulder"), ("ELBOW", "elbow"), ("WRIST", "wrist"),
                           ("HIP", "hip"), ("KNEE", "knee"), ("ANKLE", "ankle"),
                           ("FOOT_INDEX", "toe"), ("HEEL", "ankle"), ("EAR", "nose"),
                           ("EYE", "nose")):
            out[getattr(LM, f"{side}_{joint}")] = (*p[key], 0.0, vis)
    return out


def plank_track(segments: list[tuple[str, float]], fps: float = 30.0) -> PoseTrack:
    """Stick-figure poses, ``(name, seconds)`` segments one after another, +-0.5 px noise."""
    rng = np.random.default_rng(0)
    poses = np.concatenate([np.repeat(stick(n)[None], round(s * fps), axis=0)
                            for n, s in segments])
    poses[:, :, :2] += rng.normal(0.0, 0.5, poses[:, :, :2].shape)
    n = len(poses)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    return PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, (640, 480), "synthetic")
