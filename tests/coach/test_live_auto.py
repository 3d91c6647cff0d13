"""live --exercise auto: watch, recognise, then coach from the frames already seen."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator, ScriptedWindow, sample_track, write_blank_video

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
    path = write_blank_video(tmp_path / "empty.mp4")
    res = run_cli("live", "--exercise", "auto", "--source", path, "--no-window", "--no-save")
    # It watched the whole clip first (the headless notice came before): the error is the
    # last line, with no traceback.
    assert res.code == 2 and "Traceback" not in res.err
    last = res.err.strip().splitlines()[-1]
    assert last.startswith("formcoach: error: could not tell the exercise") and "--exercise" in last


@pytest.mark.slow
def test_e_changes_the_guess_before_coaching(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """With a window the guess stays up: e moves it to the next exercise, space starts."""
    import numpy as np

    from formcoach.coach import live as live_mod
    from formcoach.coach import window as window_mod
    from formcoach.coach.recognise import RECOGNISABLE

    said: list[str] = []
    real = live_mod.draw_overlay

    def spy(image: np.ndarray, state):  # type: ignore[no-untyped-def]
        said.append(state.setup_message or "")
        return real(image, state)

    keys: list[str] = []
    after = RECOGNISABLE[RECOGNISABLE.index("squat") + 1]

    class GuessWindow(ScriptedWindow):
        """Presses e while squat is the guess, then space once the next one is up."""

        def show(self, image: np.ndarray) -> str | None:
            super().show(image)
            msg = said[-1] if said else ""
            if msg.startswith("looks like squat") and "exercise" not in keys:
                keys.append("exercise")
                return "exercise"
            if msg.startswith(f"looks like {after}") and "pause" not in keys:
                keys.append("pause")
                return "pause"
            return None

    GuessWindow.reset([])
    monkeypatch.setattr(live_mod, "draw_overlay", spy)
    monkeypatch.setattr(window_mod, "Window", GuessWindow)
    monkeypatch.setattr(window_mod, "display_available", lambda: True)
    track = PoseTrack.load(sample_track("squat_side_clean", tmp_path / "t.npz"))
    clock = MonotonicClock()
    named: list[tuple[str, str]] = []
    res = recognise_then_coach(
        PacedVideoSource(SAMPLES / "squat_side_clean.mp4", clock=clock),
        ReplayEstimator(track.poses, track.fps, track.image_size), TextSpeaker(clock=clock),
        clock=clock, window=True, on_recognised=lambda ex, why: named.append((ex.id, why)))
    assert keys == ["exercise", "pause"]
    assert named == [("lunge", "chosen by the user")]
    assert res is not None and res.exercise.id == "lunge"
