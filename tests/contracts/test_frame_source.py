"""One behavioural contract, run against every FrameSource implementation.

Offline sources (VideoFileSource, ArraySource) yield every frame and end; live sources
(PacedVideoSource, CameraSource with a fake OpenCV capture) hand out the newest frame and count
the ones they overwrote (``dropped``). Everything must yield BGR uint8 frames of the declared
size with strictly increasing int timestamps, keep a fractional fps, and survive close()
twice and reading after close.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import fakes
import numpy as np
import pytest
from conftest import SAMPLES

from formcoach.sources import ArraySource, CameraSource, FrameSource, PacedVideoSource, VideoFileSource
from formcoach.types import Frame

NTSC = 30000 / 1001  # 29.97...
W, H = 64, 48
CLIP_FRAMES = 12


# ----------------------------------------------------------------------------- fakes/fixtures
class FakeCapture:
    """A cv2.VideoCapture stand-in: endless (W, H) BGR frames at ~200 fps, reporting 29.97."""

    reads: ClassVar[int] = 0

    def __init__(self, index: object) -> None:
        self.released = False

    def isOpened(self) -> bool:  # OpenCV's name
        return True

    def read(self) -> tuple[bool, np.ndarray | None]:
        time.sleep(0.005)
        if self.released:
            return False, None
        FakeCapture.reads += 1
        img = np.zeros((H, W, 3), np.uint8)
        img[..., 2] = FakeCapture.reads % 256
        return True, img

    def get(self, prop: int) -> float:
        return NTSC if prop == 5 else 0.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        self.released = True


def fake_cv2() -> object:
    return fakes.fake_cv2(FakeCapture)


@pytest.fixture(scope="module")
def ntsc_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short (W, H) mp4 at 29.97 fps."""
    import cv2

    path = tmp_path_factory.mktemp("clip") / "ntsc.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), NTSC, (W, H))  # type: ignore[attr-defined]
    for i in range(CLIP_FRAMES):
        img = np.zeros((H, W, 3), np.uint8)
        img[:, : 4 * (i + 1)] = (40, 120, 200)
        w.write(img)
    w.release()
    return path


@dataclass
class Impl:
    """How to build one implementation and what it promises."""

    make: Callable[[], Any]
    fps: float  # the fps it must report
    size: tuple[int, int]
    finite: bool  # iteration ends by itself (files, arrays)
    latest_wins: bool  # drops stale frames and counts them


IMPLS = ["video_file", "video_file_ntsc", "array", "paced", "camera"]


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest, ntsc_clip: Path, monkeypatch: pytest.MonkeyPatch) -> Impl:
    name = request.param
    if name == "video_file":
        src = VideoFileSource(SAMPLES / "squat_side_clean.mp4", max_frames=15)
        return Impl(lambda: VideoFileSource(SAMPLES / "squat_side_clean.mp4", max_frames=15),
                    src.fps, src.size, True, False)
    if name == "video_file_ntsc":
        return Impl(lambda: VideoFileSource(ntsc_clip), NTSC, (W, H), True, False)
    if name == "array":
        imgs = [np.full((H, W, 3), i, np.uint8) for i in range(CLIP_FRAMES)]
        return Impl(lambda: ArraySource(imgs, fps=NTSC), NTSC, (W, H), True, False)
    if name == "paced":
        return Impl(lambda: PacedVideoSource(ntsc_clip), NTSC, (W, H), True, True)
    monkeypatch.setattr("formcoach.sources.camera._cv2", fake_cv2)
    return Impl(lambda: CameraSource("fake-cam", stall_s=5.0), NTSC, (W, H), False, True)


def take(it: Iterator[Frame], n: int | None, timeout_s: float = 10.0) -> list[Frame]:
    """Up to ``n`` frames (None: until the end) from ``it``; fails instead of hanging."""
    out: list[Frame] = []
    err: list[BaseException] = []

    def work() -> None:
        try:
            for fr in it:
                out.append(fr)
                if n is not None and len(out) >= n:
                    return
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout_s)
    assert not t.is_alive(), f"iteration did not end within {timeout_s} s"
    if err:
        raise err[0]
    return out


# ----------------------------------------------------------------------------- the contract
def test_is_a_frame_source_with_declared_metadata(impl: Impl) -> None:
    src = impl.make()
    try:
        assert isinstance(src, FrameSource)
        assert isinstance(src.fps, float) and src.fps > 0
        # 29.97 stays 29.97: no int() on the way (timestamps would drift 0.1 %).
        assert src.fps == pytest.approx(impl.fps, abs=1e-3)
        assert tuple(src.size) == impl.size and all(isinstance(v, int) for v in src.size)
    finally:
        src.close()


def test_frames_are_bgr_uint8_of_the_declared_size_with_increasing_int_times(impl: Impl) -> None:
    src = impl.make()
    try:
        frames = take(iter(src), 8)
    finally:
        src.close()
    assert len(frames) == 8
    w, h = src.size
    for f in frames:
        assert isinstance(f.image, np.ndarray)
        assert f.image.dtype == np.uint8 and f.image.shape == (h, w, 3)
        assert f.size == (w, h)
        assert type(f.t_ns) is int and f.t_ns >= 0
        assert isinstance(f.index, int)
    t = [f.t_ns for f in frames]
    assert all(b > a for a, b in itertools.pairwise(t)), t
    idx = [f.index for f in frames]
    assert all(b > a for a, b in itertools.pairwise(idx)), idx


def test_file_timestamps_follow_the_fractional_fps(impl: Impl) -> None:
    """Offline sources stamp frame i at ~i / fps (not i / 30 or i * 33 ms)."""
    if impl.latest_wins:
        pytest.skip("live sources stamp capture time")
    src = impl.make()
    frames = take(iter(src), None)
    src.close()
    for f in frames:
        assert abs(f.t_ns - f.index * 1e9 / src.fps) < 1e6, (f.index, f.t_ns)


def test_iteration_ends_or_close_ends_it(impl: Impl) -> None:
    src = impl.make()
    if impl.finite:
        frames = take(iter(src), None, timeout_s=20.0)
        assert frames
        if hasattr(src, "__len__") and not impl.latest_wins:
            assert len(frames) == len(src)
        src.close()
        return
    it = iter(src)
    assert len(take(it, 2)) == 2
    src.close()
    take(it, None, timeout_s=5.0)  # close() ends a live iteration: no hang


def test_offline_sources_replay_identically(impl: Impl) -> None:
    """Files and arrays can be iterated again and give the same frames and times."""
    if impl.latest_wins:
        pytest.skip("live sources are read once")
    src = impl.make()
    a, b = take(iter(src), None), take(iter(src), None)
    src.close()
    assert [f.t_ns for f in a] == [f.t_ns for f in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))


def test_close_is_idempotent_and_reading_after_close_does_not_crash(impl: Impl) -> None:
    src = impl.make()
    take(iter(src), 2)
    src.close()
    src.close()
    try:
        after = take(iter(src), 3, timeout_s=5.0)
    except Exception as e:  # a clear, typed error is acceptable; a crash/hang is not
        from formcoach.errors import FormcoachError

        assert isinstance(e, FormcoachError), repr(e)
    else:
        for f in after:
            assert f.image.dtype == np.uint8
    src.close()


def test_close_before_iterating(impl: Impl) -> None:
    src = impl.make()
    src.close()
    src.close()


def test_dropped_counts_only_overwritten_frames(impl: Impl) -> None:
    src = impl.make()
    if not impl.latest_wins:
        frames = take(iter(src), None)
        src.close()
        assert int(getattr(src, "dropped", 0) or 0) == 0
        assert len(frames) == len(src)
        return
    before = FakeCapture.reads
    got: list[Frame] = []
    it = iter(src)
    deadline = time.monotonic() + 1.0
    try:
        while time.monotonic() < deadline:
            new = take(it, 1, timeout_s=5.0)
            if not new:
                break
            got += new
            time.sleep(0.1)  # a slow consumer: ~3 video frames / ~20 camera frames per take
            if impl.finite and len(got) >= 3:
                break
    finally:
        src.close()
    dropped = src.dropped
    assert isinstance(dropped, int) and dropped > 0, dropped
    produced = src.published if isinstance(src, PacedVideoSource) else FakeCapture.reads - before
    # Every produced frame was delivered, dropped, or is the one left in the slot at close.
    assert len(got) + dropped <= produced <= len(got) + dropped + 1, (len(got), dropped, produced)


def test_paced_source_delivers_every_frame_to_a_fast_consumer(ntsc_clip: Path) -> None:
    src = PacedVideoSource(ntsc_clip)
    frames = take(iter(src), None)
    src.close()
    assert src.dropped == 0 and len(frames) == src.published == CLIP_FRAMES
