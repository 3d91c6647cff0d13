"""One behavioural contract, run against every pose backend."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES

from formcoach.errors import InputError
from formcoach.pose import BACKENDS, RunningMode, create_estimator
from formcoach.sources import VideoFileSource
from formcoach.types import PoseResult

SAMPLE = SAMPLES / "squat_side_clean.mp4"
N_FRAMES = 20


@pytest.fixture(scope="module")
def frames() -> list:
    return list(VideoFileSource(SAMPLE, max_frames=N_FRAMES))


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _run(backend: str, frames: list, mode: RunningMode = "video") -> list[PoseResult]:
    est = create_estimator(backend, running_mode=mode)
    try:
        return [est.process(f.image, f.t_ns) for f in frames]
    finally:
        est.close()


def test_shapes_units_and_timestamps(backend: str, frames: list) -> None:
    res = _run(backend, frames)
    w, h = frames[0].size
    assert [r.t_ns for r in res] == [f.t_ns for f in frames]
    detected = [r for r in res if r.detected]
    assert len(detected) >= 0.9 * len(res)
    for r in detected:
        assert r.landmarks.shape == (33, 4) and r.landmarks.dtype == np.float64
        assert r.world.shape == (33, 3)
        assert r.image_size == (w, h)
        xy = r.landmarks[:, :2]
        # Pixels, not normalised coordinates: the body spans many pixels.
        assert np.nanmax(xy[:, 1]) - np.nanmin(xy[:, 1]) > 0.2 * h
        assert ((r.landmarks[:, 3] >= 0) & (r.landmarks[:, 3] <= 1)).all()
        assert 0.0 < r.score <= 1.0
        # World landmarks are metres around the hips: a person is < 3 m across.
        assert np.nanmax(np.abs(r.world)) < 3.0


def test_no_person_gives_nan(backend: str) -> None:
    est = create_estimator(backend)
    try:
        for i, img in enumerate([np.full((240, 320, 3), 127, np.uint8), np.zeros((480, 640, 3), np.uint8)]):
            r = est.process(img, (i + 1) * 33_000_000)
            assert not r.detected
            assert np.isnan(r.landmarks).all() and np.isnan(r.world).all()
            assert r.score == 0.0
    finally:
        est.close()


def test_video_mode_rejects_non_increasing_timestamps(backend: str, frames: list) -> None:
    est = create_estimator(backend)
    try:
        est.process(frames[0].image, 1_000)
        with pytest.raises(InputError, match="increase"):
            est.process(frames[1].image, 1_000)
    finally:
        est.close()


def test_deterministic_after_reset(backend: str, frames: list) -> None:
    est = create_estimator(backend)
    try:
        a = [est.process(f.image, f.t_ns).landmarks for f in frames[:8]]
        est.reset()
        b = [est.process(f.image, f.t_ns).landmarks for f in frames[:8]]
    finally:
        est.close()
    np.testing.assert_array_equal(np.stack(a), np.stack(b))


def test_image_mode_agrees_with_video_mode(backend: str, frames: list) -> None:
    vid = _run(backend, frames[:6], "video")
    img = _run(backend, frames[:6], "image")
    w, h = frames[0].size
    for v, i in zip(vid, img, strict=True):
        assert v.detected and i.detected
        d = np.linalg.norm(v.landmarks[:, :2] - i.landmarks[:, :2], axis=1)
        assert np.median(d) < 0.03 * max(w, h)


def test_bad_image_is_input_error(backend: str) -> None:
    est = create_estimator(backend)
    try:
        with pytest.raises(InputError):
            est.process(np.zeros((10, 10), np.uint8), 1)
    finally:
        est.close()


def test_unknown_backend_lists_choices() -> None:
    with pytest.raises(InputError, match="mediapipe"):
        create_estimator("tensorrt")


def test_two_people_keep_one_stable_identity(backend: str, frames: list) -> None:
    """With two people side by side, the coached person never jumps from one to the other."""
    other = list(VideoFileSource(SAMPLES / "bicep_curl_front_clean.mp4", max_frames=N_FRAMES))
    est = create_estimator(backend)
    try:
        xs = []
        for a, b in zip(frames, other, strict=False):
            r = est.process(np.concatenate([a.image, b.image], axis=1), a.t_ns)
            assert r.detected
            xs.append(np.nanmedian(r.landmarks[:, 0]))
    finally:
        est.close()
    width = frames[0].size[0]
    sides = {x > width for x in xs}
    assert len(sides) == 1, xs  # always the same half of the frame
