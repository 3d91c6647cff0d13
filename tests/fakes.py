"""Fakes and small helpers shared by the speech tests."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import ClassVar

import numpy as np

from formcoach.cues import speech
from formcoach.pose.base import RunningMode
from formcoach.types import FrameState, PoseResult, PoseTrack, frame_time_ns


def write_tone(path: Path, seconds: float, amplitude: float = 0.25) -> None:
    """A 16 kHz mono 16-bit WAV of a 440 Hz tone (``amplitude`` 0 gives silence)."""
    t = np.arange(int(16000 * seconds)) / 16000.0
    tone = (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(tone.tobytes())


def espeak_available() -> bool:
    """True when the real pyttsx3/espeak-ng engine starts here."""
    try:
        speech.Pyttsx3Engine()
    except Exception:
        return False
    return True


def fake_cv2(capture: type) -> object:
    """A stand-in ``cv2`` module for the camera source: ``capture`` plays ``VideoCapture``."""
    from types import SimpleNamespace

    logging_ns = SimpleNamespace(getLogLevel=lambda: 3, setLogLevel=lambda v: None,
                                 LOG_LEVEL_SILENT=0)
    return SimpleNamespace(
        VideoCapture=capture, CAP_PROP_FPS=5, CAP_PROP_FRAME_WIDTH=3,
        CAP_PROP_FRAME_HEIGHT=4, CAP_PROP_BUFFERSIZE=38,
        utils=SimpleNamespace(logging=logging_ns),
    )


def frame_state(index: int, t_ns: int, pose: np.ndarray, world: np.ndarray | None = None,
                fps: float = 30.0) -> FrameState:
    """The coach's FrameState for one ``(33, 4)`` pose: every shared feature and the per-frame
    view, as the Coach would compute them (stateless; for feeding the rules engine alone)."""
    from formcoach.kinematics.features import compute_features
    from formcoach.kinematics.view import frame_view

    p = np.asarray(pose, dtype=np.float64)
    w = np.full((33, 3), np.nan) if world is None else np.asarray(world, dtype=np.float64)
    feats = compute_features(p[None], fps, world=w[None])
    values = {k: float(v[0]) for k, v in feats.items()}
    res = PoseResult(p, w, int(t_ns), (1, 1), 1.0)
    view = frame_view(p) if res.detected else "unknown"
    return FrameState(index, int(t_ns), res, values, float("nan"), 0, "idle", view=view)


class ReplayEstimator:
    """A pose 'model' that returns known poses ``(T, 33, 4)``: the one of the frame at ``t_ns``
    (frame ``round(t_ns * fps)``), e.g. a sample's ground truth or a saved track."""

    name = "replay"
    model = "truth"
    model_sha256 = ""
    running_mode: RunningMode = "video"

    def __init__(self, poses: np.ndarray, fps: float, size: tuple[int, int]) -> None:
        self.poses, self.fps, self.size = poses, fps, size
        self.calls = 0

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        self.calls += 1
        i = min(round(t_ns * self.fps / 1e9), len(self.poses) - 1)
        return PoseResult(self.poses[i], np.full((33, 3), np.nan), t_ns, self.size, 1.0)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def synth_track(exercise: str = "squat", view: str = "side", reps: int = 4, seed: int = 3,
                noise_px: float = 0.0) -> PoseTrack:
    """Exact poses of a synthetic athlete (formcoach.synth) as a PoseTrack."""
    from formcoach.synth import spec_from_dict, truth_poses

    spec = spec_from_dict({"name": "t", "exercise": exercise, "view": view, "seed": seed,
                           "reps": reps, "landmark_noise_px": noise_px})
    poses, fps, truth = truth_poses(spec)
    n = len(poses)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    size = tuple(truth.get("image_size", (512, 384)))
    return PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, size, "synthetic",
                     meta={"rep_count": truth["rep_count"]})


def sample_track(name: str, out: Path) -> Path:
    """Save the exact 2D poses of sample ``name`` as a pose track (``formcoach poses`` format)."""
    import json

    from conftest import SAMPLES

    truth = json.loads((SAMPLES / f"{name}.json").read_text())
    with np.load(SAMPLES / f"{name}.npz") as z:
        xy, depth = z["joints_2d_px"], z["pose_z"]
    n = len(xy)
    poses = np.concatenate([xy, depth[..., None], np.ones((n, 33, 1))], axis=2)
    fps = float(truth["fps"])
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, tuple(truth["image_size"]),
              "synthetic").save(out)
    return out


class ScriptedWindow:
    """A stand-in for :class:`formcoach.coach.window.Window`: records what it is shown and
    answers each :meth:`show` with the next scripted key action (``None`` once the script is
    used up)."""

    shown: ClassVar[list[np.ndarray]] = []
    script: ClassVar[list[str | None]] = []
    size_px: ClassVar[tuple[int, int]] = (640, 360)

    def __init__(self, title: str, size: tuple[int, int] = (640, 360)) -> None:
        self.title = title

    @classmethod
    def reset(cls, script: list[str | None]) -> type[ScriptedWindow]:
        """Start a new script (class-level: the code under test builds its own instances)."""
        cls.shown, cls.script = [], list(script)
        return cls

    def size(self) -> tuple[int, int]:
        return self.size_px

    def show(self, image: np.ndarray) -> str | None:
        type(self).shown.append(image)
        return type(self).script.pop(0) if type(self).script else None

    def close(self) -> None:
        pass


def write_blank_video(path: Path, frames: int = 45, size: tuple[int, int] = (160, 120)) -> Path:
    """A black mp4 of ``frames`` frames at 30 fps: a video with nobody in it."""
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, size)
    for _ in range(frames):
        w.write(np.zeros((size[1], size[0], 3), np.uint8))
    w.release()
    return path
