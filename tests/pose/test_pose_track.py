"""estimate_track: the one frames -> poses loop, over any FrameSource."""

from __future__ import annotations

import numpy as np
import pytest

from formcoach.pose.base import RunningMode
from formcoach.pose.track import estimate_track
from formcoach.sources import ArraySource
from formcoach.types import PoseResult


class _Marker:
    """Puts the frame's first pixel value into landmark 0's x, so the test sees which frames ran."""

    name, model, model_sha256 = "marker", "m", "abc"
    running_mode: RunningMode = "video"

    def __init__(self) -> None:
        self.resets = 0
        self.closed = False
        self.seen: list[int] = []

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        self.seen.append(t_ns)
        lm = np.full((33, 4), np.nan)
        lm[0] = [float(image_bgr[0, 0, 0]), 1.0, 0.0, 1.0]
        return PoseResult(lm, np.full((33, 3), np.nan), t_ns, (8, 6), 1.0)

    def reset(self) -> None:
        self.resets += 1

    def close(self) -> None:
        self.closed = True


class _Source(ArraySource):
    closed = False

    def close(self) -> None:
        self.closed = True


def _frames(n: int) -> list[np.ndarray]:
    return [np.full((6, 8, 3), i, np.uint8) for i in range(n)]


def test_any_source_every_frame_in_order() -> None:
    src, est = _Source(_frames(12), fps=10.0), _Marker()
    track = estimate_track(src, est, meta={"source": "arrays"})
    assert len(track) == 12 and track.fps == 10.0 and track.image_size == (8, 6)
    np.testing.assert_array_equal(track.poses[:, 0, 0], np.arange(12))
    np.testing.assert_array_equal(track.t_ns, np.arange(12) * 100_000_000)
    assert (track.backend, track.model, track.model_sha256, track.meta) == (
        "marker", "m", "abc", {"source": "arrays"})
    # The caller's source and estimator are theirs: reset before use, never closed here.
    assert est.resets == 1 and not est.closed and not src.closed


@pytest.mark.parametrize(
    ("kwargs", "frames"),
    [({"max_frames": 5}, 5), ({"duration_s": 0.5}, 5), ({"duration_s": 0.55}, 6),
     ({"max_frames": 3, "duration_s": 0.5}, 3), ({"duration_s": 60.0}, 12)],
)
def test_stops_at_max_frames_or_duration(kwargs: dict[str, float], frames: int) -> None:
    est = _Marker()
    track = estimate_track(_Source(_frames(12), fps=10.0), est, **kwargs)  # type: ignore[arg-type]
    assert len(track) == frames and len(est.seen) == frames  # no frame processed past the stop


def test_a_backend_name_is_created_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    import formcoach.pose

    made: list[_Marker] = []

    def create(backend: str, model: str, silhouette: bool = False) -> _Marker:
        assert (backend, model) == ("onnx", "full")
        made.append(_Marker())
        return made[-1]

    monkeypatch.setattr(formcoach.pose, "create_estimator", create)
    track = estimate_track(_Source(_frames(3)), "onnx")
    assert len(track) == 3 and made[0].closed


def test_estimator_closed_when_the_loop_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import formcoach.pose

    est = _Marker()

    def boom(image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        raise RuntimeError("model failed")

    est.process = boom  # type: ignore[method-assign]
    monkeypatch.setattr(formcoach.pose, "create_estimator", lambda backend, model, silhouette=False: est)
    with pytest.raises(RuntimeError, match="model failed"):
        estimate_track(_Source(_frames(3)), "onnx")
    assert est.closed
