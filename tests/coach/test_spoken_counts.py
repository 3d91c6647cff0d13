"""Spoken rep counts in live: the words, the target, and never at the cost of a correction."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator, sample_track

from formcoach.clock import MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.result import SessionResult
from formcoach.cues.counting import COUNT_RULE_ID, count_text
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import TextSpeaker
from formcoach.exercises import load_exercise
from formcoach.sources import PacedVideoSource
from formcoach.types import PoseTrack


def test_count_words() -> None:
    assert [count_text(n, 10) for n in (1, 6, 7, 8, 9, 10)] == [
        "1", "6", "7, three more", "8, two more", "9, one more", "10, that's the set"]
    assert count_text(12) == "12" and count_text(12, 10) == "12"
    with pytest.raises(ValueError):
        count_text(0)


def _live(sample: str, exercise: str, tmp_path: Path, counts: bool,
          target: int | None = None) -> tuple[SessionResult, TextSpeaker]:
    track = PoseTrack.load(sample_track(sample, tmp_path / f"{sample}.npz"))
    clock = MonotonicClock()
    speaker = TextSpeaker(clock=clock)
    sched = CueScheduler(clock, cooldown_s={COUNT_RULE_ID: 0.0})
    res = run_live(PacedVideoSource(SAMPLES / f"{sample}.mp4", clock=clock),
                   load_exercise(exercise), ReplayEstimator(track.poses, track.fps,
                                                            track.image_size),
                   speaker, skip_setup=True, clock=clock, scheduler=sched,
                   speak_counts=counts, target_reps=target)
    return res, speaker


@pytest.mark.slow
def test_counts_are_spoken_up_to_the_target(tmp_path: Path) -> None:
    res, speaker = _live("squat_side_clean", "squat", tmp_path, counts=True, target=3)
    said = [e.cue.text for e in speaker.history if e.cue.rule_id == COUNT_RULE_ID]
    assert said == ["1, two more", "2, one more", "3, that's the set"]
    assert len(res.reps) == 3


@pytest.mark.slow
def test_counts_never_cost_a_correction(tmp_path: Path) -> None:
    """The same set with and without counts: every correction is still said."""
    quiet, _ = _live("squat_front_valgus", "squat", tmp_path, counts=False)
    loud, speaker = _live("squat_front_valgus", "squat", tmp_path, counts=True)
    fixes = [(c.rule_id, c.text) for c in quiet.cues]
    assert fixes, "the sample must have corrections for this test to mean anything"
    assert [(c.rule_id, c.text) for c in loud.cues if c.rule_id != COUNT_RULE_ID] == fixes
    assert any(e.cue.rule_id == COUNT_RULE_ID for e in speaker.history)
