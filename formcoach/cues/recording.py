"""Offline cue log: the cues a live session would have spoken, replayed on the video's clock.

:class:`CueLog` is a coach observer placed after the rules engine. It feeds the engine's new
faults into the same :class:`~formcoach.cues.scheduler.CueScheduler` that ``live`` uses, but
with a :class:`~formcoach.cues.scheduler.FakeClock` driven by frame timestamps, and a speaker
that is "busy" for the estimated spoken length of each cue. The result (``cue_log``) is what
the PT report shows and what ``demo`` synthesises to audio; it is deterministic.
"""

from __future__ import annotations

from typing import Any

from formcoach.clock import FakeClock
from formcoach.cues.scheduler import CueScheduler
from formcoach.types import NS_PER_S, RepEvent

#: Speaking rate used to estimate how long a cue occupies the speaker (words per minute).
WORDS_PER_MINUTE = 170.0


def spoken_duration_ns(text: str, wpm: float = WORDS_PER_MINUTE) -> int:
    """Estimated time to say ``text`` (ns): words at ``wpm`` plus 0.25 s of start-up."""
    words = max(1, len(text.split()))
    return round((0.25 + 60.0 * words / wpm) * NS_PER_S)


class CueLog:
    """Records the cues a live session would speak (see module docstring).

    Args:
        engine: the :class:`~formcoach.rules.engine.RulesEngine` observer (its ``queue`` of new
            faults is consumed here).
        stale_after_s, cooldown_s, praise: as for :class:`CueScheduler`.

    Attributes:
        cue_log: dicts ``{"t_s", "fault_t_s", "text", "rule_id", "priority"}`` in time order;
            ``t_s`` is when the cue would start, in seconds of the video.
    """

    def __init__(
        self,
        engine: Any,
        *,
        stale_after_s: float = 0.5,
        cooldown_s: float = 4.0,
        praise: str | None = None,
    ) -> None:
        self.engine = engine
        self.clock = FakeClock()
        self.scheduler = CueScheduler(
            self.clock, stale_after_s=stale_after_s, cooldown_s=cooldown_s, praise=praise
        )
        self.cue_log: list[dict[str, Any]] = []
        self._busy_until = -1
        self._t0: int | None = None

    def on_frame(self, state: Any) -> None:
        """Submit the engine's new faults, then start a cue if the 'speaker' is free."""
        t = int(state.t_ns)
        if self._t0 is None:
            self._t0 = t
        if t > self.clock.now_ns():
            self.clock.set(t)
        queue = getattr(self.engine, "queue", None)
        while queue:
            self.scheduler.submit(queue.popleft(), detected_t_ns=t)
        cue = self.scheduler.poll(speaker_busy=t < self._busy_until)
        if cue is not None:
            self._busy_until = t + spoken_duration_ns(cue.text)
            self.cue_log.append({
                "t_s": round((t - self._t0) / NS_PER_S, 3),
                "fault_t_s": round((cue.fault_t_ns - self._t0) / NS_PER_S, 3),
                "text": cue.text,
                "rule_id": cue.rule_id,
                "priority": cue.priority,
            })

    def on_rep(self, rep: RepEvent, state: Any) -> None:
        """Offer praise for a clean rep (if configured)."""
        self.scheduler.rep_completed(rep, detected_t_ns=int(state.t_ns))
