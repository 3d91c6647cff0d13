"""Formats (issue 9): extreme resolutions and portrait video work end to end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SAMPLES

from formcoach.sources import VideoFileSource
from formcoach.types import PoseTrack

N = 12


def _write(path: Path, frames: list[np.ndarray], fps: float) -> None:
    h, w = frames[0].shape[:2]
    fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
    wr = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
    for f in frames:
        wr.write(f)
    wr.release()


@pytest.mark.parametrize(
    "name, transform",
    [
        ("tiny_160x120", lambda im: cv2.resize(im, (160, 120), interpolation=cv2.INTER_AREA)),
        ("uhd_3840x2160", lambda im: cv2.resize(cv2.copyMakeBorder(im, 0, 0, 128, 128, cv2.BORDER_REPLICATE),
                                                (3840, 2160))),
        ("portrait", lambda im: cv2.copyMakeBorder(cv2.resize(im, (384, 288)), 200, 200, 0, 0,
                                                   cv2.BORDER_REPLICATE)),
    ],
)
def test_resolutions_and_portrait(tmp_path: Path, run_cli, name: str, transform) -> None:
    src = [transform(f.image) for f in VideoFileSource(SAMPLES / "squat_side_clean.mp4", max_frames=N)]
    video = tmp_path / f"{name}.mp4"
    _write(video, src, 29.97)
    out = tmp_path / "t.npz"
    res = run_cli("poses", video, "--backend", "onnx", "--out", out, "--no-progress")
    assert res.code == 0, res.err
    tr = PoseTrack.load(out)
    assert tr.fps == pytest.approx(29.97, abs=1e-3)  # never truncated to 29
    assert tr.image_size == (src[0].shape[1], src[0].shape[0])
    assert len(tr) == N
    if name != "tiny_160x120":  # at 160x120 the mannequin is ~80 px tall: detection may drop
        assert tr.detection_rate > 0.9
        xs = tr.poses[:, :, 0]
        assert np.nanmax(xs) <= tr.image_size[0] * 1.05


def test_variable_frame_rate_timestamps_follow_the_container(monkeypatch: pytest.MonkeyPatch) -> None:
    """Container timestamps that jump (VFR) are used as long as they increase."""
    stamps_ms = [0.0, 33.0, 40.0, 120.0, 121.0, 300.0]

    class FakeCap:
        def __init__(self, *_a: object) -> None:
            self.i = -1

        def isOpened(self) -> bool:
            return True

        def read(self) -> tuple[bool, np.ndarray | None]:
            self.i += 1
            if self.i >= len(stamps_ms):
                return False, None
            return True, np.zeros((8, 8, 3), np.uint8)

        def get(self, prop: int) -> float:
            if prop == cv2.CAP_PROP_POS_MSEC:
                return stamps_ms[self.i]
            if prop == cv2.CAP_PROP_FPS:
                return 25.0
            if prop == cv2.CAP_PROP_FRAME_COUNT:
                return float(len(stamps_ms))
            return 0.0

        def release(self) -> None:
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCap)
    src = VideoFileSource(SAMPLES / "squat_side_clean.mp4")
    t = [f.t_ns for f in src]
    assert src.fps == 25.0
    assert t[0] == 0
    assert t[1:] == [round(ms * 1e6) for ms in stamps_ms[1:]]
