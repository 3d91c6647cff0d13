"""``formcoach analyze`` on saved pose tracks (no pose model): summary, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fakes import synth_track

from formcoach.cli import main
from formcoach.coach.offline import analyze_track
from formcoach.coach.pipeline import Coach
from formcoach.exercises import load_exercise
from formcoach.types import PoseResult, PoseTrack, frame_time_ns


@pytest.fixture(scope="module")
def squat_track(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PoseTrack]:
    track = synth_track()
    path = tmp_path_factory.mktemp("tracks") / "squat.npz"
    track.save(path)
    return path, track


def test_analyze_saved_track_json(squat_track, tmp_path: Path, capsys) -> None:
    path, track = squat_track
    out = tmp_path / "result.json"
    rc = main(["analyze", "--poses", str(path), "--exercise", "squats", "--json", str(out),
               "--no-save", "--no-progress"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "reps: 4" in text
    doc = json.loads(out.read_text())
    for key in ("exercise", "reps", "rep_events", "frames", "pose_frames", "backend"):
        assert key in doc
    assert doc["exercise"] == "squat" and doc["reps"] == 4 == len(doc["rep_events"])
    assert doc["frames"] == len(track) and doc["pose_frames"] == len(track)
    assert doc["backend"] == "synthetic"
    ev = doc["rep_events"][0]
    for key in ("start_s", "bottom_s", "end_s", "counted_s", "rom_deg", "duration_s",
                "eccentric_s", "concentric_s", "joint_rom"):
        assert key in ev
    assert ev["start_s"] < ev["bottom_s"] < ev["counted_s"] <= ev["end_s"]
    assert 60 < ev["rom_deg"] < 120
    assert {"left_knee", "right_knee", "left_hip", "right_hip"} <= ev["joint_rom"].keys()
    assert ev["joint_rom"]["left_knee"]["label"] == "left knee flexion ROM"
    assert out.stat().st_mode & 0o077 == 0  # user-only file


def test_analyze_with_user_pack(squat_track, tmp_path: Path) -> None:
    path, _ = squat_track
    pack = tmp_path / "deep.toml"
    pack.write_text('id = "deep_squat"\n[count]\nsignal = "knee"\nmin_rom_deg = 150.0\n')
    out = tmp_path / "r.json"
    assert main(["analyze", "--poses", str(path), "-e", str(pack), "--json", str(out),
                 "--no-save"]) == 0
    assert json.loads(out.read_text())["reps"] == 0  # no rep reaches 150 deg


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["analyze", "--exercise", "squat"], "give a VIDEO"),
        (["analyze", "--poses", "/nonexistent/t.npz", "-e", "squat"], "not found"),
        (["analyze", "--poses", "{track}", "-e", "yoga"], "unknown exercise"),
        (["analyze", "/nonexistent/v.mp4", "-e", "squat"], "video not found"),
    ],
)
def test_user_errors_are_one_line(squat_track, capsys, argv: list[str], fragment: str) -> None:
    path, _ = squat_track
    argv = [a.replace("{track}", str(path)) for a in argv] + ["--no-save"]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc != 0
    assert fragment in err and "Traceback" not in err and err.count("\n") == 1


def test_session_sinks_and_result(squat_track) -> None:
    from formcoach.coach.session import SessionSinks

    _, track = squat_track
    got: list = []
    res = analyze_track(track, load_exercise("squat"), sinks=SessionSinks(on_rep=got.append))
    assert res.frames == len(track) and len(res.reps) == 4
    assert got == res.metrics.reps  # every rep handed out once, with its final metrics
    assert res.signal.shape == (len(track),) and res.poses.shape == (len(track), 33, 4)
    assert res.features["left_knee"].shape == (len(track),)
    assert [r.index for r in res.metrics.reps] == [0, 1, 2, 3]


def test_coach_handles_frames_without_a_person() -> None:
    ex = load_exercise("pushup")
    coach = Coach(ex, 29.97)
    for i in range(20):
        st = coach.update(PoseResult.empty(frame_time_ns(i, 29.97), (640, 480)))
        assert np.isnan(st.signal) and st.rep_count == 0
    reps, faults = coach.finish()
    assert coach.index == 20 and coach.pose_frames == 0 and reps == [] and faults == []


@pytest.mark.parametrize(
    ("exercise", "view"),
    [("squat", "side"), ("pushup", "side"), ("bicep_curl", "front"), ("jumping_jack", "front"),
     ("shoulder_press", "front"), ("situp", "side")],
)
def test_counts_on_clean_synthetic_poses(exercise: str, view: str) -> None:
    track = synth_track(exercise, view, reps=3, seed=11, noise_px=1.0)
    res = analyze_track(track, load_exercise(exercise))
    assert len(res.reps) == track.meta["rep_count"] == 3


def test_bounded_history_still_counts_and_measures() -> None:
    """A long live session keeps only the last frames; reps and their metrics are not lost."""
    from formcoach.clock import FrameClock
    from formcoach.coach.offline import make_coach
    from formcoach.coach.session import run_session
    from formcoach.cues.recording import RecordingSpeaker
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.pose.stream import replay_track

    track = synth_track("squat", "side", reps=24, seed=5, noise_px=1.0)
    ex = load_exercise("squat")
    full = analyze_track(track, ex)
    clock = FrameClock()
    res = run_session(replay_track(track), make_coach(ex, track.fps), CueScheduler(clock),
                      RecordingSpeaker(clock), clock, fps=track.fps, backend="t", source="t",
                      history_limit_s=1.0)  # raised to two of the longest reps (2 x 20 s)
    assert len(res.reps) == len(full.reps) == 24 and res.frames == len(track)
    assert res.history_truncated and len(res.signal) < len(track)
    assert [r.rom_deg for r in res.metrics.reps] == [r.rom_deg for r in full.metrics.reps]
