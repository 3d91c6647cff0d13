"""live --exercise auto: watch, recognise, then coach from the frames already seen."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator, sample_track

from formcoach.clock import MonotonicClock
from formcoach.coach.live import recognise_then_coach
from formcoach.coach.offline import analyze_track
from formcoach.cues.speech import TextSpeaker
from formcoach.exercises import Exercise, load_exercise
from formcoach.sources import PacedVideoSource
from formcoach.types import PoseTrack


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "exercise"), [("pushup_side_clean", "pushup"),
                                                  ("squat_side_clean", "squat")])
def test_recognised_then_every_rep_counted(sample: str, exercise: str, tmp_path: Path) -> None:
    track = PoseTrack.load(sample_track(sample, tmp_path / "t.npz"))
    clock = MonotonicClock()
    speaker = TextSpeaker(clock=clock)
    named: list[str] = []

    def recognised(ex: Exercise, why: str) -> None:
        named.append(ex.id)

    res = recognise_then_coach(
        PacedVideoSource(SAMPLES / f"{sample}.mp4", clock=clock),
        ReplayEstimator(track.poses, track.fps, track.image_size), speaker, clock=clock,
        on_recognised=recognised)
    assert res is not None and named == [exercise] and res.exercise.id == exercise
    offline = analyze_track(track, load_exercise(exercise))
    # The reps done while it watched are counted too: the same reps as an analysis (frame for
    # frame when the paced source kept up; a busy machine drops frames).
    assert len(res.reps) == len(offline.reps) == 3
    if res.dropped == 0:
        assert [(r.start_frame, r.bottom_frame) for r in res.reps] == [
            (r.start_frame, r.bottom_frame) for r in offline.reps]
    assert speaker.history[0].cue.text == f"looks like {res.exercise.name.lower()}"


def test_nobody_there_is_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import cv2
    import numpy as np

    path = tmp_path / "empty.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (160, 120))
    for _ in range(45):
        w.write(np.zeros((120, 160, 3), np.uint8))
    w.release()
    res = run_cli("live", "--exercise", "auto", "--source", path, "--no-window", "--no-save")
    # It watched the whole clip first (the headless notice came before): the error is the
    # last line, with no traceback.
    assert res.code == 2 and "Traceback" not in res.err
    last = res.err.strip().splitlines()[-1]
    assert last.startswith("formcoach: error: could not tell the exercise") and "--exercise" in last
