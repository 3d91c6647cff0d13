"""`formcoach poses`: the saved track, and one-line errors for bad inputs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, assert_one_line_error

from formcoach.types import PoseTrack

SAMPLE = SAMPLES / "squat_side_clean.mp4"


def test_poses_writes_a_complete_track(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "track.npz"
    res = run_cli("poses", SAMPLE, "--backend", "onnx", "--out", out, "--max-frames", "15", "--no-progress")
    assert res.code == 0, res.err
    tr = PoseTrack.load(out)
    assert tr.poses.shape == (15, 33, 4) and tr.world.shape == (15, 33, 3)
    assert isinstance(tr.fps, float) and tr.fps > 0
    assert (np.diff(tr.t_ns) > 0).all()
    assert tr.backend == "onnx" and len(tr.model_sha256) == 64
    assert tr.meta["source_sha256"]
    assert tr.detection_rate > 0.9
    assert (out.stat().st_mode & 0o077) == 0  # user-only


def test_help_is_complete(run_cli) -> None:
    res = run_cli("poses", "--help")
    assert res.code == 0
    for opt in ("--backend", "--out", "--max-frames", "mediapipe", "onnx", "pixels"):
        assert opt in res.out


def _make_zero_frame_mp4(path: Path) -> None:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"),  # type: ignore[attr-defined]
                        30.0, (64, 64))
    w.release()


@pytest.mark.parametrize(
    "case, needle",
    [
        ("missing", "not found"),
        ("directory", "directory"),
        ("text_as_mp4", "cannot open video"),
        ("zero_bytes", "empty"),
        ("zero_frames", "video"),
        ("image", "image"),
        ("truncated", "video"),
    ],
)
def test_bad_video_inputs_are_one_line(tmp_path: Path, run_cli, case: str, needle: str) -> None:
    p = tmp_path / f"{case}.mp4"
    if case == "directory":
        p.mkdir()
    elif case == "text_as_mp4":
        p.write_text("this is not a video\n" * 50)
    elif case == "zero_bytes":
        p.write_bytes(b"")
    elif case == "zero_frames":
        _make_zero_frame_mp4(p)
    elif case == "image":
        import cv2

        p = tmp_path / "photo.png"
        cv2.imwrite(str(p), np.zeros((32, 32, 3), np.uint8))
    elif case == "truncated":
        p.write_bytes(SAMPLE.read_bytes()[:2000])
    res = run_cli("poses", p, "--out", tmp_path / "t.npz", "--no-progress")
    assert_one_line_error(res, needle)
    assert not (tmp_path / "t.npz").exists()


def test_bad_arguments_are_one_line(tmp_path: Path, run_cli) -> None:
    assert_one_line_error(run_cli("poses", SAMPLE, "--out", tmp_path / "t.txt"), ".npz")
    assert_one_line_error(run_cli("poses", SAMPLE, "--backend", "tpu", "--out", tmp_path / "t.npz"), "tpu")
    assert_one_line_error(run_cli("poses", SAMPLE, "--out", tmp_path / "nodir" / "t.npz", "--max-frames", "2",
                                  "--no-progress"), "nodir")


def test_console_script_runs() -> None:
    out = subprocess.run(["formcoach", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("formcoach ")
