"""The exercise recogniser (formcoach.coach.recognise): descriptors, decisions and the live rules
(never announce before the exercise's own counter has counted reps; switch only on steady
evidence)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import sample_track
from plank_poses import plank_track

from formcoach.coach.offline import analyze_track
from formcoach.coach.recognise import (
    RECOGNISABLE,
    Recogniser,
    measure_movement,
    recognise_window,
)
from formcoach.exercises import load_exercise
from formcoach.pose.stream import replay_track
from formcoach.types import PoseTrack, frame_time_ns


def _exact(name: str, tmp_path: Path) -> PoseTrack:
    return PoseTrack.load(sample_track(name, tmp_path / f"{name}.npz"))


def _stream(track: PoseTrack, rec: Recogniser) -> list[tuple[int, str | None]]:
    """(frame, answer) at every change of the answer, then finish()."""
    out: list[tuple[int, str | None]] = []
    for posed in replay_track(track):
        r = rec.update(posed.pose)
        if not out or out[-1][1] != r.exercise:
            out.append((posed.index, r.exercise))
    r = rec.finish()
    if out[-1][1] != r.exercise:
        out.append((len(track), r.exercise))
    return out


def test_every_recognisable_id_is_a_rule_pack() -> None:
    for ex in RECOGNISABLE:
        assert load_exercise(ex).id == ex


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(T, 33, 4\)"):
        measure_movement(np.zeros((10, 33, 3)))
    with pytest.raises(ValueError, match="fps"):
        Recogniser(0.0)
    with pytest.raises(ValueError, match="cannot recognise"):
        Recogniser(30.0, candidates=("yoga",))
    assert measure_movement(np.full((100, 33, 4), np.nan)) is None  # nobody there
    assert recognise_window(np.full((100, 33, 4), np.nan)).exercise is None


def test_a_person_standing_still_is_not_guessed(tmp_path: Path) -> None:
    track = plank_track([("standing", 8.0)])
    r = recognise_window(track.poses)
    assert r.exercise is None and "not moving" in r.reason
    assert _stream(track, Recogniser(track.fps))[-1][1] is None


def test_a_still_face_down_body_is_a_plank() -> None:
    track = plank_track([("plank", 8.0)])
    track.poses[:, 0, 1] += 12.0  # the nose hangs below the ears: face to the floor
    assert recognise_window(track.poses).exercise == "plank"
    assert plank_track([("lying", 8.0)]).poses is not None


def test_announced_only_after_two_reps_of_its_own_counter(tmp_path: Path) -> None:
    track = _exact("squat_side_clean", tmp_path)
    reps = analyze_track(track, load_exercise("squat"), rules=False).reps
    rec = Recogniser(track.fps)
    changes = _stream(track, rec)
    assert changes[-1][1] == "squat" and [c[1] for c in changes] == [None, "squat"]
    assert rec.since_frame is not None and rec.since_frame >= reps[1].counted_frame


def test_one_rep_set_is_named_when_it_ends(tmp_path: Path) -> None:
    """A recorded single rep: never sure while streaming (one rep), named by finish()."""
    track = _exact("squat_side_clean", tmp_path)
    reps = analyze_track(track, load_exercise("squat"), rules=False).reps
    end = reps[0].end_frame + 5
    one = PoseTrack(track.poses[:end], track.world[:end], track.t_ns[:end], track.fps,
                    track.image_size, track.backend)
    rec = Recogniser(one.fps)
    for posed in replay_track(one):
        assert rec.update(posed.pose).exercise is None
    assert rec.finish().exercise == "squat"


def test_a_switch_needs_steady_evidence(tmp_path: Path) -> None:
    """Squats then push-ups (the push-up sample three times over): squat first, push-up once
    push-ups fill the window; never a third exercise in between."""
    a, b = _exact("squat_side_clean", tmp_path), _exact("pushup_side_clean", tmp_path)
    fps = a.fps
    assert b.fps == fps
    poses = np.concatenate([a.poses, b.poses, b.poses, b.poses])
    n = len(poses)
    both = PoseTrack(poses, np.full((n, 33, 3), np.nan),
                     np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64),
                     fps, a.image_size, "synthetic")
    named = [c[1] for c in _stream(both, Recogniser(fps)) if c[1] is not None]
    assert named == ["squat", "pushup"]


def test_analyze_auto_names_the_exercise(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import SAMPLES

    res = run_cli("analyze", SAMPLES / "pushup_45_sag_lockout.mp4", "--exercise", "auto",
                  "--no-progress", "--db", tmp_path / "s.db")
    assert res.code == 0, res.err
    assert "looks like push-up" in res.out and "reps: 3" in res.out


def test_analyze_auto_without_a_movement_is_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import assert_one_line_error
    from fakes import write_blank_video

    path = write_blank_video(tmp_path / "empty.mp4", frames=60)
    res = run_cli("analyze", path, "--exercise", "auto", "--no-progress", "--db",
                  tmp_path / "s.db")
    assert_one_line_error(res, "could not tell the exercise", "--exercise")
