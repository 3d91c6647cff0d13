"""The offline speaker: nothing is played, but it is busy for as long as saying each cue takes,
on the session clock, so an offline session schedules exactly the cues a live one would."""

from __future__ import annotations

from formcoach.clock import Clock
from formcoach.cues.speech import TextSpeaker

__all__ = ["RecordingSpeaker"]


class RecordingSpeaker(TextSpeaker):
    """A :class:`~formcoach.cues.speech.TextSpeaker` on the offline :class:`FrameClock`: cues
    are recorded (``history``), never voiced; ``played`` is None (nobody was meant to hear)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock=clock, reason="replayed offline")
        self.played = None
        self.audio_problem = None
