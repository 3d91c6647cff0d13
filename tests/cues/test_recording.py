"""The offline speaker: busy for exactly the spoken length of each cue on the frame clock."""

from __future__ import annotations

from formcoach.clock import FrameClock
from formcoach.cues.recording import RecordingSpeaker
from formcoach.cues.speech import Speaker, text_duration_s
from formcoach.types import NS_PER_S, Cue


def test_busy_for_the_spoken_length_on_the_session_clock() -> None:
    clock = FrameClock()
    sp = RecordingSpeaker(clock)
    assert isinstance(sp, Speaker)
    assert sp.played is None and sp.audio_problem is None  # nobody was meant to hear it
    cue = Cue("push your knees out", 2, "knee_valgus", 0, 0)
    clock.set(1 * NS_PER_S)
    sp.say(cue)
    length = round(text_duration_s(cue.text) * NS_PER_S)
    clock.set(NS_PER_S + length - 1)
    assert sp.busy
    clock.set(NS_PER_S + length)
    assert not sp.busy
    assert [e.cue.text for e in sp.history] == [cue.text]
    assert sp.history[0].start_ns == NS_PER_S
    assert sp.wait_idle(timeout_s=0.0)  # never blocks: nothing plays
