"""Session clocks, integer nanoseconds.

Live sessions run on :class:`MonotonicClock` (the live sources stamp frames on the same
timeline); offline sessions run on a :class:`FrameClock` that the session loop moves to each
frame's timestamp, so the cue scheduler sees the same instants it would have seen live.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from formcoach.types import NS_PER_S

__all__ = ["Clock", "FakeClock", "FrameClock", "MonotonicClock"]


@runtime_checkable
class Clock(Protocol):
    """A monotonic clock in integer nanoseconds."""

    def now_ns(self) -> int: ...


class MonotonicClock:
    """The real clock: :func:`time.monotonic_ns` (same timeline as the live sources use)."""

    def now_ns(self) -> int:
        return time.monotonic_ns()


class FakeClock:
    """A clock that only moves when told to (tests, deterministic replays)."""

    def __init__(self, start_ns: int = 0) -> None:
        self.t_ns = int(start_ns)

    def now_ns(self) -> int:
        return self.t_ns

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (float s)."""
        self.t_ns += round(seconds * NS_PER_S)

    def set(self, t_ns: int) -> None:
        """Jump to ``t_ns`` (never backwards)."""
        if t_ns < self.t_ns:
            raise ValueError(f"FakeClock cannot go back from {self.t_ns} to {t_ns}")
        self.t_ns = int(t_ns)


class FrameClock(FakeClock):
    """The offline session clock: it reads the timestamp of the frame being processed, so
    processing takes no time and a replay is deterministic."""
