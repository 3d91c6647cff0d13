"""Live loop: paced/camera sources, run_live with fakes, overlay, and `formcoach live` end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from formcoach import live, synth
from formcoach.cli import main
from formcoach.errors import InputError
from formcoach.exercises import load_exercise
from formcoach.live import CameraSource, LiveResult, PacedVideoSource, run_live
from formcoach.overlay import OverlayState, draw_overlay
from formcoach.rules.scheduler import CueScheduler, FakeClock
from formcoach.sources import ArraySource
from formcoach.speech import NullSpeaker
from formcoach.types import NS_PER_S, Frame, PoseResult

CURL_CUES = {r["cue"] for r in load_exercise("bicep_curl").rules_raw}


def curl_spec(**kw: object) -> synth.SynthSpec:
    base: dict[str, object] = dict(
        name="live_curl", exercise="bicep_curl", view="side", reps=3, seed=5, setup_s=1.5,
        width=320, height=240, faults=(synth.FaultSpec("torso_swing", (1, 2)),),
    )
    base.update(kw)
    return synth.SynthSpec(**base)  # type: ignore[arg-type]


class TruthEstimator:
    """A pose 'model' that returns the synthetic ground truth of the frame at ``t_ns``."""

    name = "truth"
    model_sha256 = ""
    running_mode = "video"

    def __init__(self, poses: np.ndarray, fps: float, size: tuple[int, int]) -> None:
        self.poses, self.fps, self.size = poses, fps, size
        self.calls = 0

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        self.calls += 1
        i = min(round(t_ns * self.fps / NS_PER_S), len(self.poses) - 1)
        return PoseResult(self.poses[i], np.full((33, 3), np.nan), t_ns, self.size, 1.0)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def textured(h: int, w: int) -> np.ndarray:
    return np.random.default_rng(0).integers(40, 220, size=(h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def curl_truth() -> tuple[np.ndarray, float, dict]:
    return synth.truth_poses(curl_spec())


@pytest.fixture(scope="module")
def curl_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    video, _ = synth.render_sample(curl_spec(), tmp_path_factory.mktemp("live"))
    return Path(video)


def write_video(path: Path, n: int, fps: float = 30.0, size: int = 64) -> Path:
    import cv2

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    for i in range(n):
        w.write(np.full((size, size, 3), (i * 7) % 255, np.uint8))
    w.release()
    return path


# ----------------------------------------------------------------------------- run_live
def test_run_live_counts_reps_and_speaks_fault_cues(curl_truth) -> None:
    poses, fps, truth = curl_truth
    img = textured(240, 320)
    src = ArraySource([img] * len(poses), fps=fps)
    speaker = NullSpeaker()
    ended: list[LiveResult] = []
    res = run_live(
        src, "bicep_curl", TruthEstimator(poses, fps, (320, 240)), speaker,
        skip_setup=True, on_set_end=ended.append,
    )
    assert res.frames == len(poses)
    assert res.rep_count == truth["rep_count"]
    faulted = {f["rep_index"] for f in truth["faults"]}
    assert {f.rep_index for f in res.faults} >= faulted
    assert speaker.cues and {c.text for c in speaker.cues} <= CURL_CUES
    assert ended == [res]
    assert any("reps" in line for line in res.summary_lines())


def test_setup_gate_blocks_counting_until_it_passes(curl_truth) -> None:
    poses, fps, _ = curl_truth
    dark = np.full((240, 320, 3), 5, np.uint8)
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([dark] * len(poses), fps=fps), "bicep_curl",
        TruthEstimator(poses, fps, (320, 240)), speaker,
        scheduler=CueScheduler(FakeClock(), stale_after_s=1e9),
    )
    assert not res.setup_passed and res.rep_count == 0
    assert [c.text for c in speaker.cues] == ["turn on more light"]  # once: cooldown
    assert any("setup never passed" in line for line in res.summary_lines())

    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * len(poses), fps=fps), "bicep_curl",
        TruthEstimator(poses, fps, (320, 240)), speaker, setup_hold_s=0.5,
    )
    assert res.setup_passed and res.rep_count >= 1
    assert speaker.cues[0].text == "ready, start when you are"


def test_window_is_not_opened_without_a_display(monkeypatch: pytest.MonkeyPatch, curl_truth) -> None:
    import cv2

    poses, fps, _ = curl_truth
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(live.os, "name", "posix")

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("imshow called without a display")

    monkeypatch.setattr(cv2, "imshow", boom)
    monkeypatch.setattr(cv2, "namedWindow", boom)
    res = run_live(
        ArraySource([textured(240, 320)] * 10, fps=fps), "bicep_curl",
        TruthEstimator(poses, fps, (320, 240)), NullSpeaker(), window=True, skip_setup=True,
    )
    assert res.frames == 10


def test_keys_mute_and_quit(monkeypatch: pytest.MonkeyPatch, curl_truth) -> None:
    poses, fps, _ = curl_truth
    actions = iter([None, "mute", None, "quit"])
    shown: list[np.ndarray] = []

    class FakeWindow:
        def __init__(self, title: str) -> None:
            pass

        def show(self, image: np.ndarray) -> str | None:
            shown.append(image)
            return next(actions)

        def close(self) -> None:
            pass

    monkeypatch.setattr(live, "_Window", FakeWindow)
    monkeypatch.setattr(live, "display_available", lambda: True)
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * 50, fps=fps), "bicep_curl",
        TruthEstimator(poses, fps, (320, 240)), speaker, window=True, skip_setup=True,
    )
    assert speaker.muted
    assert res.stopped_by == "user" and res.frames == 4
    assert all(img.shape == (240, 320, 3) for img in shown)


def test_ctrl_c_ends_the_set_with_a_summary(curl_truth) -> None:
    poses, fps, _ = curl_truth
    img = textured(240, 320)

    class InterruptedSource:
        fps = 30.0
        size = (320, 240)

        def __iter__(self) -> Iterator[Frame]:
            for i in range(20):
                yield Frame(img, i, round(i * NS_PER_S / 30))
            raise KeyboardInterrupt

        def close(self) -> None:
            pass

    ended: list[LiveResult] = []
    res = run_live(
        InterruptedSource(), "bicep_curl", TruthEstimator(poses, fps, (320, 240)),
        NullSpeaker(), skip_setup=True, on_set_end=ended.append,
    )
    assert res.stopped_by == "user" and res.frames == 20 and ended == [res]


# ----------------------------------------------------------------------------- sources
def test_paced_source_drops_frames_when_the_consumer_is_slow(tmp_path: Path) -> None:
    n = 30
    src = PacedVideoSource(write_video(tmp_path / "v.mp4", n))
    got = []
    for frame in src:
        got.append(frame)
        time.sleep(0.15)  # a consumer far slower than 30 fps
    src.close()
    assert 0 < len(got) < n
    assert src.dropped > 0 and src.dropped + len(got) == n
    idx = [f.index for f in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert got[-1].index == n - 1 or src.dropped >= 1
    # Capture times follow the file's timestamps (real-time pacing).
    c0, c1 = (src.capture_times.get(f.t_ns) for f in (got[0], got[-1]))
    assert c0 is not None and c1 is not None
    assert (c1 - c0) >= 0.8 * (got[-1].t_ns - got[0].t_ns)


def test_paced_source_can_be_stopped_early(tmp_path: Path) -> None:
    src = PacedVideoSource(write_video(tmp_path / "v.mp4", 60), max_seconds=0.5)
    frames = list(src)
    src.close()
    assert frames and frames[-1].t_ns <= 0.5 * NS_PER_S


def test_missing_camera_is_a_one_line_error() -> None:
    with pytest.raises(InputError) as e:
        CameraSource(97)
    msg = str(e.value)
    assert "97" in msg and "--source" in msg and "\n" not in msg


def test_cli_missing_camera_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["live", "--exercise", "squat", "--camera", "97", "--no-window"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("formcoach: error: no camera at index 97")


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["live", "--exercise", "squat", "--source", str(tmp_path / "nope.mp4")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["live", "--exercise", "no-such-exercise", "--source", "x.mp4"]) == 2


# ----------------------------------------------------------------------------- overlay
def test_overlay_draws_on_a_copy(curl_truth) -> None:
    poses, _, _ = curl_truth
    img = textured(240, 320)
    before = img.copy()
    st = OverlayState(
        landmarks=poses[0], angle_name="left_elbow", angle_deg=150.0, rep_count=3,
        phase="top", cue="don't swing your body", fps=24.5, view="side",
        setup_ok=False, setup_message="step back", muted=True, exercise="Biceps curl",
    )
    out = draw_overlay(img, st)
    assert np.array_equal(img, before)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert (out != img).any()
    empty = draw_overlay(img, OverlayState(landmarks=np.full((33, 4), np.nan), angle_deg=np.nan))
    assert empty.shape == img.shape


# ----------------------------------------------------------------------------- CLI end to end
def test_cli_live_source_prints_cues_with_truth_poses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], curl_video: Path,
    curl_truth,
) -> None:
    """The whole CLI path (paced source, coach, rules, scheduler, speaker) with exact poses."""
    import formcoach.pose

    poses, fps, _ = curl_truth
    monkeypatch.setattr(
        formcoach.pose, "create_estimator",
        lambda *a, **k: TruthEstimator(poses, fps, (320, 240)),
    )
    rc = main(["live", "--exercise", "bicep_curl", "--source", str(curl_video), "--no-window",
               "--mute", "--skip-setup"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "headless" in err
    cues = [line.split("] ", 1)[1] for line in out.splitlines() if line.startswith("[")]
    assert cues and set(cues) <= CURL_CUES
    assert "set: bicep_curl" in out and "cues spoken" in out


@pytest.mark.slow
def test_cli_live_source_end_to_end_with_the_real_model(
    capsys: pytest.CaptureFixture[str], curl_video: Path
) -> None:
    rc = main(["live", "--exercise", "bicep_curl", "--source", str(curl_video), "--no-window",
               "--mute", "--max-seconds", "30"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "set: bicep_curl" in out
    assert "Traceback" not in err


def test_stop_event_ends_the_set(curl_truth) -> None:
    poses, fps, _ = curl_truth
    stop = threading.Event()
    stop.set()
    res = run_live(
        ArraySource([textured(240, 320)] * 30, fps=fps), "bicep_curl",
        TruthEstimator(poses, fps, (320, 240)), NullSpeaker(), skip_setup=True, stop=stop,
    )
    assert res.frames == 1 and res.stopped_by == "user"
