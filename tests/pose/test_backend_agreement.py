"""Both backends agree on real footage, for every model rung (../shared; skipped when absent).

Targets (issue 2): median landmark distance between backends ≤ 2% of torso length, and
detection rates within 2 points (issue 18: per rung, lite/full/heavy). To bound CI time each
clip contributes its first ``FRAMES_PER_CLIP`` frames (Heavy: ``FRAMES_PER_RUNG``);
`formcoach bench` reports the full-clip figures.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import SHARED_VIDEOS, requires_shared

from formcoach.pose import MODELS, ModelName, create_estimator
from formcoach.skeleton import LM
from formcoach.sources import VideoFileSource

#: The first second of every clip (38 clips x 3 rungs x 2 backends), which keeps the whole suite
#: inside CI's 30 minutes; every clip still contributes, lock-on frames included.
FRAMES_PER_CLIP = 30
#: Per-rung overrides of :data:`FRAMES_PER_CLIP` (none today).
FRAMES_PER_RUNG: dict[str, int] = {}

pytestmark = [requires_shared, pytest.mark.slow]


def _clips() -> list[str]:
    if not (SHARED_VIDEOS / "manifest.json").is_file():
        return []
    return [c["file"] for c in json.loads((SHARED_VIDEOS / "manifest.json").read_text())["clips"]]


def _torso(p: np.ndarray) -> np.ndarray:
    sh = (p[:, LM.LEFT_SHOULDER, :2] + p[:, LM.RIGHT_SHOULDER, :2]) / 2
    hp = (p[:, LM.LEFT_HIP, :2] + p[:, LM.RIGHT_HIP, :2]) / 2
    return np.linalg.norm(sh - hp, axis=1)


@pytest.mark.parametrize("model", MODELS)
def test_backends_agree_on_real_clips(model: ModelName) -> None:
    ests = {b: create_estimator(b, model=model) for b in ("mediapipe", "onnx")}
    frames = FRAMES_PER_RUNG.get(model, FRAMES_PER_CLIP)
    dists: list[float] = []
    rates: dict[str, list[float]] = {b: [] for b in ests}
    try:
        for name in _clips():
            for est in ests.values():
                est.reset()
            poses: dict[str, list[np.ndarray]] = {b: [] for b in ests}
            for fr in VideoFileSource(SHARED_VIDEOS / name, max_frames=frames):
                for b, est in ests.items():
                    poses[b].append(est.process(fr.image, fr.t_ns).landmarks)
            pm, po = np.stack(poses["mediapipe"]), np.stack(poses["onnx"])
            for b, p in (("mediapipe", pm), ("onnx", po)):
                rates[b].append(np.isfinite(p[:, 0, 0]).mean())
            both = np.isfinite(pm[:, 0, 0]) & np.isfinite(po[:, 0, 0])
            if both.any():
                torso = _torso(pm[both])[:, None]
                d = np.linalg.norm(pm[both, :, :2] - po[both, :, :2], axis=2) / torso
                dists.append(d.ravel())
    finally:
        for est in ests.values():
            est.close()
    med = float(np.median(np.concatenate(dists)))
    rate_m, rate_o = float(np.mean(rates["mediapipe"])), float(np.mean(rates["onnx"]))
    print(f"{model}: median distance {100 * med:.2f}% torso; detection mediapipe {rate_m:.3f} "
          f"onnx {rate_o:.3f}")
    assert med <= 0.02
    assert abs(rate_m - rate_o) <= 0.02
