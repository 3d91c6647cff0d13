"""``formcoach analyze`` on saved pose tracks (no pose model): summary, JSON, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from formcoach.cli import main
from formcoach.coach.pipeline import Coach, FrameState, analyze_track
from formcoach.exercises import load_exercise
from formcoach.types import PoseResult, PoseTrack, RepEvent, frame_time_ns


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
    for key in ("start_s", "bottom_s", "end_s", "rom_deg", "duration_s", "metrics"):
        assert key in ev
    assert ev["start_s"] < ev["bottom_s"] < ev["end_s"]
    assert 60 < ev["rom_deg"] < 120
    assert "knee" in ev["metrics"] and "hip" in ev["metrics"]
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


class _Recorder:
    def __init__(self) -> None:
        self.frames = 0
        self.reps: list[RepEvent] = []
        self.phases: set[str] = set()

    def on_frame(self, state: FrameState) -> None:
        self.frames += 1
        self.phases.add(state.phase)
        assert state.rep_count >= len(state.new_reps)

    def on_rep(self, rep: RepEvent, state: FrameState) -> None:
        self.reps.append(rep)


def test_coach_observers_and_result(squat_track) -> None:
    _, track = squat_track
    rec = _Recorder()
    res = analyze_track(track, load_exercise("squat"), observers=[rec])
    assert rec.frames == len(track) == res.frames
    assert rec.reps == res.reps and len(res.reps) == 4
    assert {"eccentric", "bottom", "concentric", "top"} <= rec.phases
    assert res.signal.shape == (len(track),) and res.poses.shape == (len(track), 33, 4)
    assert res.features["left_knee"].shape == (len(track),)
    assert len(res.rep_metrics) == 4


def test_coach_handles_frames_without_a_person() -> None:
    ex = load_exercise("pushup")
    coach = Coach(ex, 29.97)
    for i in range(20):
        st = coach.update(PoseResult.empty(frame_time_ns(i, 29.97), (640, 480)))
        assert np.isnan(st.signal) and st.rep_count == 0
    res = coach.finish()
    assert res.frames == 20 and res.pose_frames == 0 and res.reps == []


@pytest.mark.parametrize(
    ("exercise", "view"),
    [("squat", "side"), ("pushup", "side"), ("bicep_curl", "front"), ("jumping_jack", "front"),
     ("shoulder_press", "front"), ("situp", "side")],
)
def test_counts_on_clean_synthetic_poses(exercise: str, view: str) -> None:
    track = synth_track(exercise, view, reps=3, seed=11, noise_px=1.0)
    res = analyze_track(track, load_exercise(exercise))
    assert len(res.reps) == track.meta["rep_count"] == 3


def test_live_coach_without_history_still_counts(squat_track) -> None:
    _, track = squat_track
    coach = Coach(load_exercise("squat"), track.fps, keep_history=False)
    for k in range(len(track)):
        coach.update(PoseResult(track.poses[k], track.world[k], int(track.t_ns[k]),
                                track.image_size, 1.0))
    res = coach.finish()
    assert len(res.reps) == 4 and res.frames == len(track)
    assert res.signal.shape == (0,) and res.poses.shape == (0, 33, 4)
