"""Live loop: paced/camera sources, run_live with fakes, overlay, and `formcoach live` end to end."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import fakes
import numpy as np
import pytest
from fakes import ReplayEstimator, ScriptedWindow

from formcoach import synth
from formcoach.cli import main
from formcoach.clock import FakeClock
from formcoach.coach import window
from formcoach.coach.live import run_live
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import NullSpeaker
from formcoach.errors import InputError
from formcoach.exercises import load_exercise
from formcoach.overlay import OverlayState, draw_overlay
from formcoach.sources import ArraySource, CameraSource, PacedVideoSource
from formcoach.types import NS_PER_S, Frame

CURL_CUES = {r["cue"] for r in load_exercise("bicep_curl").rules_raw}


@pytest.fixture(autouse=True)
def _private_db(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Sets saved by `formcoach live` go to a temp database, never the user's."""
    db = tmp_path / "sessions.db"
    monkeypatch.setenv("FORMCOACH_DB", str(db))
    return db


def curl_spec(**kw: object) -> synth.SynthSpec:
    base: dict[str, object] = dict(
        name="live_curl", exercise="bicep_curl", view="side", reps=3, seed=5, setup_s=1.5,
        width=320, height=240, faults=(synth.FaultSpec("torso_swing", (1, 2)),),
    )
    base.update(kw)
    return synth.SynthSpec(**base)  # type: ignore[arg-type]


TruthEstimator = ReplayEstimator  # the synthetic ground truth as a pose 'model'


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

    fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
    w = cv2.VideoWriter(str(path), fourcc, fps, (size, size))
    for i in range(n):
        w.write(np.full((size, size, 3), (i * 7) % 255, np.uint8))
    w.release()
    return path


# ----------------------------------------------------------------------------- run_live
CURL = load_exercise("bicep_curl")


def test_run_live_counts_reps_and_speaks_fault_cues(curl_truth) -> None:
    poses, fps, truth = curl_truth
    img = textured(240, 320)
    src = ArraySource([img] * len(poses), fps=fps)
    speaker = NullSpeaker()
    res = run_live(
        src, CURL, TruthEstimator(poses, fps, (320, 240)), speaker,
        skip_setup=True,
    )
    assert res.frames == len(poses)
    assert res.rep_count == truth["rep_count"]
    faulted = {f["rep_index"] for f in truth["faults"]}
    assert {f.rep_index for f in res.faults} >= faulted
    assert speaker.cues and {c.text for c in speaker.cues} <= CURL_CUES
    assert any("reps" in line for line in res.summary_lines())


def test_setup_gate_blocks_counting_until_it_passes(curl_truth) -> None:
    poses, fps, _ = curl_truth
    dark = np.full((240, 320, 3), 5, np.uint8)
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([dark] * len(poses), fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), speaker,
        scheduler=CueScheduler(FakeClock(), stale_after_s=1e9),
    )
    assert not res.setup_passed and res.rep_count == 0
    assert [c.text for c in speaker.cues] == ["turn on more light"]  # once: cooldown
    assert any("setup never passed" in line for line in res.summary_lines())

    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * len(poses), fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), speaker, setup_hold_s=0.5,
    )
    assert res.setup_passed and res.rep_count >= 1
    assert speaker.cues[0].text == "ready, start when you are"


def test_a_set_begun_at_once_loses_no_rep_to_the_setup() -> None:
    # Curls from the front start 0.3 s in: the setup's 1 s hold and its "turn sideways" (most
    # curl rules need a side view) must cost no rep, and "ready" must still be said.
    poses, fps, truth = synth.truth_poses(curl_spec(view="front", setup_s=0.3, faults=()))
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * len(poses), fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), speaker,
        scheduler=CueScheduler(FakeClock()),
    )
    assert res.setup_passed and res.rep_count == truth["rep_count"] == 3
    said = [c.text for c in speaker.cues]
    assert said[:2] == ["turn sideways to the camera", "ready, start when you are"]


def test_a_camera_that_cannot_see_the_feet_still_gets_its_set_counted() -> None:
    # A laptop on a desk in a small room: the feet are below the picture for the whole set.
    # The setup asks for them for its patience (5 s), then counts what it sees (curls need the
    # arms); every rep of the set is counted, the ones during the wait too.
    from formcoach.skeleton import LM

    poses, fps, truth = synth.truth_poses(curl_spec(setup_s=0.5, faults=()))
    cut = poses.copy()
    for j in (LM.LEFT_ANKLE, LM.RIGHT_ANKLE, LM.LEFT_HEEL, LM.RIGHT_HEEL, LM.LEFT_FOOT_INDEX,
              LM.RIGHT_FOOT_INDEX):
        cut[:, j, 1] = 260.0  # below the 240 px frame
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * len(cut), fps=fps), CURL,
        TruthEstimator(cut, fps, (320, 240)), speaker, scheduler=CueScheduler(FakeClock()),
    )
    assert res.setup_passed and res.rep_count == truth["rep_count"] == 3
    said = [c.text for c in speaker.cues]
    assert said[0] == "step back so your feet are in view"
    assert "ready, counting what I can see" in said


def test_window_is_not_opened_without_a_display(monkeypatch: pytest.MonkeyPatch, curl_truth) -> None:
    import cv2

    poses, fps, _ = curl_truth
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(window.os, "name", "posix")

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("imshow called without a display")

    monkeypatch.setattr(cv2, "imshow", boom)
    monkeypatch.setattr(cv2, "namedWindow", boom)
    res = run_live(
        ArraySource([textured(240, 320)] * 10, fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), NullSpeaker(), window=True, skip_setup=True,
    )
    assert res.frames == 10


def test_keys_mute_and_quit(monkeypatch: pytest.MonkeyPatch, curl_truth) -> None:
    poses, fps, _ = curl_truth
    win = ScriptedWindow.reset([None, "mute", None, "quit"])
    monkeypatch.setattr(window, "Window", win)
    monkeypatch.setattr(window, "display_available", lambda: True)
    speaker = NullSpeaker()
    res = run_live(
        ArraySource([textured(240, 320)] * 50, fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), speaker, window=True, skip_setup=True,
    )
    assert speaker.muted
    assert res.stopped_by == "user" and res.frames == 4
    # The window shows the distance screen at the window's size, not the camera frame.
    assert all(img.shape == (360, 640, 3) for img in win.shown)


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

    res = run_live(
        InterruptedSource(), CURL, TruthEstimator(poses, fps, (320, 240)),
        NullSpeaker(), skip_setup=True,
    )
    assert res.stopped_by == "user" and res.frames == 20


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
    assert (c1 - c0) >= 0.5 * (got[-1].t_ns - got[0].t_ns)  # paced, not decoded at once


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
    capsys.readouterr()
    video = write_video(tmp_path / "v.mp4", 5)
    assert main(["live", "-e", "squat", "--source", str(video), "--rate", "5"]) == 2
    assert "--rate 5" in capsys.readouterr().err
    assert main(["live", "-e", "squat", "--source", str(video), "--max-seconds", "0"]) == 2


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



def test_overlay_cue_text_colour_follows_its_kind() -> None:
    """The annotated frame's cue banner: a fault in red, "ready" in green, guidance not red."""
    from formcoach.overlay import CUE_TEXT, RED

    img = np.full((240, 320, 3), 128, np.uint8)

    def has(out: np.ndarray, colour: tuple[int, int, int]) -> bool:
        return bool((out[-40:] == colour).all(axis=2).any())

    for kind in ("fault", "setup", "positive", "info"):
        out = draw_overlay(img, OverlayState(cue="ready, start when you are", cue_kind=kind))
        assert has(out, CUE_TEXT[kind]), kind
        assert has(out, RED) == (kind == "fault"), kind


# ----------------------------------------------------------------------------- CLI end to end
def test_cli_live_source_prints_cues_with_truth_poses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], curl_video: Path,
    curl_truth, _private_db: Path,
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
    assert "saved as set" in err
    assert "next bicep_curl session: " in out  # the end of a live set plans the next one
    assert "reps in reserve: not estimated yet: 0 of the 3 needed sets" in out
    assert _private_db.is_file()
    import sqlite3

    with sqlite3.connect(_private_db) as con:
        (status, reps), = con.execute("SELECT status, rep_count FROM sets").fetchall()
        saved = con.execute("SELECT COUNT(*) FROM reps").fetchone()[0]
    assert status == "complete" and saved == reps > 0  # saved rep by rep, then completed


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
        ArraySource([textured(240, 320)] * 30, fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), NullSpeaker(), skip_setup=True, stop=stop,
    )
    assert res.frames == 1 and res.stopped_by == "user"


# ----------------------------------------------------------------------------- camera (faked)
class FakeCapture:
    """A cv2.VideoCapture stand-in: ``good`` frames, then nothing (a stalled camera)."""

    opened: ClassVar[list[FakeCapture]] = []
    plan: ClassVar[list[int]] = []  # frames each successive open delivers; -1 = fail to open

    def __init__(self, index: object) -> None:
        self.left = FakeCapture.plan.pop(0) if FakeCapture.plan else -1
        self.ok = self.left >= 0
        FakeCapture.opened.append(self)

    def isOpened(self) -> bool:  # OpenCV's name
        return self.ok

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left > 0:
            self.left -= 1
            time.sleep(0.002)
            return True, np.zeros((48, 64, 3), np.uint8)
        time.sleep(0.002)
        return False, None

    def get(self, prop: int) -> float:
        return 30.0

    def set(self, prop: int, value: float) -> bool:
        return True

    def release(self) -> None:
        pass


def fake_cv2() -> object:
    return fakes.fake_cv2(FakeCapture)


def test_camera_reconnects_after_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("formcoach.sources.camera._cv2", fake_cv2)
    FakeCapture.opened, FakeCapture.plan = [], [6, 10_000]
    cam = CameraSource("fake-cam", stall_s=0.1, max_reconnects=3)
    assert cam.size == (64, 48) and cam.fps == 30.0
    frames = []
    for frame in cam:
        frames.append(frame)
        if len(frames) >= 12:
            break
    cam.close()
    assert cam.reconnects >= 1 and len(FakeCapture.opened) >= 2
    t = [f.t_ns for f in frames]
    assert t == sorted(t)


def test_camera_gives_up_with_a_source_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from formcoach.errors import SourceError

    monkeypatch.setattr("formcoach.sources.camera._cv2", fake_cv2)
    FakeCapture.opened, FakeCapture.plan = [], [3]  # then every reopen fails
    cam = CameraSource("fake-cam", stall_s=0.05, max_reconnects=2)
    with pytest.raises(SourceError, match="reconnects failed"):
        for _ in cam:
            pass
    cam.close()


def test_camera_that_opens_but_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("formcoach.sources.camera._cv2", fake_cv2)
    FakeCapture.opened, FakeCapture.plan = [], [0]
    with pytest.raises(InputError, match="sent no frames"):
        CameraSource("fake-cam", open_timeout_s=0.2)


def test_latency_harness_measures_spoken_fault_cues(
    monkeypatch: pytest.MonkeyPatch, curl_video: Path, curl_truth
) -> None:
    """Structure and sanity only (no timing thresholds: speed is `formcoach bench`'s job)."""
    import formcoach.pose
    from formcoach.bench.latency import measure_cue_latency

    poses, fps, truth = curl_truth
    monkeypatch.setattr(
        formcoach.pose, "create_estimator",
        lambda *a, **k: TruthEstimator(poses, fps, (320, 240)),
    )
    r = measure_cue_latency(curl_video, curl_video.with_suffix(".json"), "truth")
    assert r["n"] >= 1 and r["truth_faults"] == len(truth["faults"])
    assert 0 < r["p50"] <= r["p95"] <= r["max"]
    for s in r["samples"]:
        assert s["text"] in CURL_CUES and s["latency_ms"] > 0
        assert set(s["breakdown_ms"]) == {"wait_for_loop", "pose", "coach_rules", "schedule",
                                          "speaker"}


def test_latency_harness_needs_the_truth_file(tmp_path: Path) -> None:
    from formcoach.bench.latency import measure_cue_latency

    video = write_video(tmp_path / "v.mp4", 5)
    with pytest.raises(InputError, match="ground-truth"):
        measure_cue_latency(video)


def test_space_pauses_counting_and_n_ends_the_set(monkeypatch: pytest.MonkeyPatch,
                                                   curl_truth) -> None:
    """Frames shown while paused are not coached; n ends the set like q, and tells on_key."""
    poses, fps, _ = curl_truth
    win = ScriptedWindow.reset([None, "pause", None, None, None, "pause", None, "next"])
    keys: list[str] = []
    monkeypatch.setattr(window, "Window", win)
    monkeypatch.setattr(window, "display_available", lambda: True)
    res = run_live(
        ArraySource([textured(240, 320)] * 50, fps=fps), CURL,
        TruthEstimator(poses, fps, (320, 240)), NullSpeaker(), window=True, skip_setup=True,
        on_key=keys.append,
    )
    assert len(win.shown) == 8
    assert res.frames == 4  # the 4 frames that came while paused were shown, never coached
    assert res.stopped_by == "user" and keys == ["pause", "pause", "next"]


def test_ready_is_said_even_when_the_loop_runs_behind_its_frames(curl_truth) -> None:
    """A live loop that fell behind its camera (start-up, a busy machine) handles each frame a
    second after it was taken. Advice about a frame is then too late and dropped; "ready" is
    about now, so it is still said."""
    from formcoach.coach.offline import make_coach
    from formcoach.coach.session import run_session
    from formcoach.coach.setup_gate import SetupChecker
    from formcoach.pose.stream import PosedFrame

    poses, fps, _ = curl_truth
    clock = FakeClock()
    est = TruthEstimator(poses, fps, (320, 240))
    img = textured(240, 320)

    def frames() -> Iterator[PosedFrame]:
        for k in range(len(poses)):
            t = round(k * NS_PER_S / fps)
            clock.set(t + NS_PER_S)  # handled 1 s after it was taken
            yield PosedFrame(Frame(img, k, t), est.process(img, t), k, clock.now_ns(), clock.now_ns())

    speaker = NullSpeaker()
    coach = make_coach(CURL, fps)
    res = run_session(frames(), coach, CueScheduler(clock), speaker, clock, fps=fps,
                      backend="truth", source="lagging", time_base=lambda: 0,
                      gate=SetupChecker(tuple(CURL.views), hold_s=0.5))
    assert res.setup_passed
    assert "ready, start when you are" in [c.text for c in speaker.cues]
