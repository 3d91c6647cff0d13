"""Long run (issue 9): one hour of frames through the live loop with a fake camera.

Memory must stay flat (RSS growth < 50 MB after warm-up) and the per-frame cost must not grow
(median of the last tenth of the run vs the second tenth, in the same run).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from formcoach.pose.base import RunningMode
from formcoach.types import Frame, PoseResult, frame_time_ns

FPS = 30.0
HOUR_FRAMES = int(3600 * FPS)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    import resource

    return pages * resource.getpagesize() / 2**20


class _FakeCamera:
    """Yields tiny frames at 30 fps timestamps, as fast as the consumer takes them."""

    fps = FPS
    size = (64, 48)

    def __init__(self, n: int) -> None:
        self.n = n
        self._img = np.zeros((48, 64, 3), np.uint8)

    def __iter__(self) -> Iterator[Frame]:
        for i in range(self.n):
            yield Frame(self._img, i, frame_time_ns(i, FPS))

    def close(self) -> None:
        pass


class _ReplayEstimator:
    """Replays exact synthetic squat poses (with a dropped-person gap now and then)."""

    name = "replay"
    model = "truth"
    model_sha256 = ""
    running_mode: RunningMode = "video"

    def __init__(self, poses: np.ndarray) -> None:
        self.poses = poses
        self.i = 0
        self.stamps: list[float] = []
        self.rss: list[tuple[int, float]] = []

    def process(self, image: np.ndarray, t_ns: int) -> PoseResult:
        i = self.i
        self.i += 1
        self.stamps.append(time.perf_counter())
        if i % 10_000 == 0:
            self.rss.append((i, _rss_mb()))
        lm = self.poses[i % len(self.poses)]
        if (i // 900) % 17 == 16:  # ~30 s without a person every ~8.5 min
            return PoseResult.empty(t_ns, (640, 480))
        return PoseResult(lm, np.full((33, 3), np.nan), t_ns, (640, 480), 0.99)

    def reset(self) -> None:
        self.i = 0

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_one_hour_live_session_is_flat_in_memory_and_time() -> None:
    from formcoach import synth
    from formcoach.coach.live import run_live
    from formcoach.cues.speech import NullSpeaker
    from formcoach.exercises import load_exercise

    spec = synth.SynthSpec(name="long", exercise="squat", view="side", reps=6, seed=5)
    poses, _fps, _truth = synth.truth_poses(spec)
    est = _ReplayEstimator(np.ascontiguousarray(poses, dtype=np.float64))
    res = run_live(_FakeCamera(HOUR_FRAMES), load_exercise("squat"), est, NullSpeaker(), skip_setup=True)
    assert res.frames == HOUR_FRAMES
    assert res.rep_count > 100  # it kept counting for the whole hour
    rss = dict(est.rss)
    growth = rss[max(rss)] - rss[10_000]
    print(f"RSS at 10k frames {rss[10_000]:.1f} MB, at end {rss[max(rss)]:.1f} MB, growth {growth:.1f} MB")
    assert growth < 50.0
    dt = np.diff(np.asarray(est.stamps)) * 1e3
    tenth = len(dt) // 10
    early, late = np.median(dt[tenth : 2 * tenth]), np.median(dt[-tenth:])
    print(f"per-frame loop ms: early {early:.3f}, late {late:.3f}")
    assert late < 2.0 * early + 0.05
