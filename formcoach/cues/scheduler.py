"""Cue scheduler: turns a stream of :class:`~formcoach.types.Fault` into at most one spoken cue.

A person mid-squat can take in one short correction at a time, so the scheduler

* keeps at most one pending cue per rule (de-duplication: a repeated fault refreshes it),
* picks the highest-priority pending cue (rule severity; ties go to the most recent fault),
* never hands out a cue while the speaker is still busy with the previous one,
* silences a rule for ``cooldown_s`` after its cue was spoken (per rule, overridable),
* drops a cue that could not start within ``stale_after_s`` of its fault (late advice about a
  rep that is already over is worse than none); a fault still under way (a rep rule's
  provisional verdict while the rep goes on: :meth:`refresh`) stays fresh,
* optionally praises a clean rep (``praise="good rep"``) at the lowest priority; a rep no rule
  could be judged on is not clean and never praised.

Time: every instant is in the scheduler clock's nanoseconds. A fault at source time ``t_ns``
happened at clock time ``time_base_ns + t_ns``; the live loop sets ``time_base_ns`` to the
monotonic time of the source's frame 0, so staleness counts from the frame's capture.

Example::

    sched = CueScheduler(MonotonicClock(), time_base_ns=source.start_ns)
    sched.submit(fault)
    cue = sched.poll(speaker_busy=speaker.busy)
    if cue: speaker.say(cue)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from formcoach.clock import Clock, MonotonicClock
from formcoach.types import NS_PER_S, Cue, Fault, RepEvent

#: rule_id used for praise cues.
PRAISE_RULE_ID = "praise"


@dataclass(slots=True)
class SchedulerStats:
    """Counts of what happened to submitted faults (for summaries and tests)."""

    submitted: int = 0
    spoken: int = 0
    cooldown_dropped: int = 0
    stale_dropped: int = 0
    deduplicated: int = 0
    superseded: int = 0
    praised: int = 0
    unjudged: int = 0  # reps not praised because no rule could be judged on them
    withdrawn: int = 0  # provisional faults' cues taken back before they were spoken


class CueScheduler:
    """Priority, cooldown, de-duplication and staleness for cues.

    Args:
        clock: where "now" comes from (:class:`MonotonicClock` live, :class:`FakeClock` in tests).
        stale_after_s: a cue not started within this many seconds of its fault is discarded.
        cooldown_s: seconds a rule stays silent after its cue was spoken; a float for all rules
            or a mapping ``rule_id -> seconds`` (rules missing from it use ``default_cooldown_s``).
        default_cooldown_s: cooldown for rules not named in a ``cooldown_s`` mapping.
        praise: text spoken after a rep with no fault (None: never praise).
        praise_cooldown_s: minimum seconds between two praises.
        time_base_ns: clock time of source time 0 (see the module docstring).

    Raises:
        ValueError: a negative duration.
    """

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        stale_after_s: float = 0.5,
        cooldown_s: float | Mapping[str, float] = 4.0,
        default_cooldown_s: float = 4.0,
        praise: str | None = None,
        praise_cooldown_s: float = 6.0,
        time_base_ns: int = 0,
    ) -> None:
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        if stale_after_s < 0 or default_cooldown_s < 0 or praise_cooldown_s < 0:
            raise ValueError("scheduler durations must be >= 0 seconds")
        self.stale_after_ns = round(stale_after_s * NS_PER_S)
        if isinstance(cooldown_s, Mapping):
            self._cooldowns = {k: round(float(v) * NS_PER_S) for k, v in cooldown_s.items()}
            self._default_cooldown_ns = round(default_cooldown_s * NS_PER_S)
        else:
            if cooldown_s < 0:
                raise ValueError(f"cooldown_s must be >= 0, got {cooldown_s}")
            self._cooldowns = {}
            self._default_cooldown_ns = round(float(cooldown_s) * NS_PER_S)
        if any(v < 0 for v in self._cooldowns.values()):
            raise ValueError("cooldown_s values must be >= 0")
        self.praise = praise
        self._praise_cooldown_ns = round(praise_cooldown_s * NS_PER_S)
        self.time_base_ns = int(time_base_ns)
        self._pending: dict[str, Cue] = {}
        self._seen_ns: dict[str, int] = {}  # rule id -> clock time its pending fault was last seen
        self._last_spoken_ns: dict[str, int] = {}
        self._faulted_reps: set[int] = set()
        self._last_fault_src_ns: int | None = None
        self.stats = SchedulerStats()
        self.spoken: list[Cue] = []

    # ------------------------------------------------------------------ input
    def cooldown_ns(self, rule_id: str) -> int:
        """Cooldown of ``rule_id`` in ns."""
        if rule_id == PRAISE_RULE_ID:
            return self._praise_cooldown_ns
        return self._cooldowns.get(rule_id, self._default_cooldown_ns)

    def fault_clock_ns(self, fault_t_ns: int) -> int:
        """Clock time of a fault at source time ``fault_t_ns``."""
        return self.time_base_ns + int(fault_t_ns)

    def submit(self, fault: Fault, detected_t_ns: int | None = None) -> bool:
        """Offer a fault; returns True when it is now pending (False: cooldown or older).

        Args:
            fault: the fault (``t_ns`` in source time).
            detected_t_ns: source time of the frame whose processing produced the fault, when
                later than ``fault.t_ns`` (a rep rule judged at the bottom is only decided when
                the rep ends). Staleness and latency count from this instant.

        A fault for a rule that already has a pending cue replaces it when it is newer
        (counted as ``deduplicated``), so a persisting frame fault yields one cue, not many.
        """
        self.stats.submitted += 1
        if fault.rep_index is not None:
            self._faulted_reps.add(fault.rep_index)
        src = int(fault.t_ns)
        self._last_fault_src_ns = src if self._last_fault_src_ns is None else max(
            self._last_fault_src_ns, src
        )
        at = src if detected_t_ns is None else max(src, int(detected_t_ns))
        return self._offer(fault.rule_id, fault.cue, int(fault.severity), self.fault_clock_ns(at))

    def refresh(self, fault: Fault, detected_t_ns: int) -> None:
        """The fault of a pending cue is still happening at source time ``detected_t_ns`` (a
        rep rule's provisional fault while its rep is under way): staleness counts from now."""
        cue = self._pending.get(fault.rule_id)
        if cue is not None and cue.text == fault.cue:
            self._seen_ns[fault.rule_id] = max(self._seen_ns.get(fault.rule_id, 0),
                                               self.fault_clock_ns(int(detected_t_ns)))

    def withdraw(self, fault: Fault) -> bool:
        """Take back a provisional fault its rep's final verdict did not confirm: its cue is
        dropped if it is still pending (one already spoken stays spoken). True if dropped."""
        cue = self._pending.get(fault.rule_id)
        if cue is None or cue.text != fault.cue:
            return False
        del self._pending[fault.rule_id]
        self._seen_ns.pop(fault.rule_id, None)
        self.stats.withdrawn += 1
        return True

    def rep_completed(self, rep: RepEvent, detected_t_ns: int | None = None,
                      judged: bool = True) -> bool:
        """Tell the scheduler a rep ended; queues praise when it was clean. Returns True if so.

        A rep is clean when it was judged (``judged``: at least one rule could be assessed on
        it; a rep seen from a view no rule works from is never praised) and no fault was
        submitted with its ``rep_index`` or at a source time at or after ``rep.start_ns``. It
        is praised as of the moment it was counted (``rep.counted_ns``: its ``end_ns`` is
        still provisional then). ``detected_t_ns``: as in :meth:`submit` (the segmenter decides
        a frame ``lag`` frames after it was taken).
        """
        faulted = rep.index in self._faulted_reps
        if not faulted and self._last_fault_src_ns is not None:
            faulted = self._last_fault_src_ns >= rep.start_ns
        if not judged:
            self.stats.unjudged += 1
        if faulted or not judged or not self.praise:
            return False
        at = rep.counted_ns if detected_t_ns is None else max(rep.counted_ns, int(detected_t_ns))
        ok = self._offer(PRAISE_RULE_ID, self.praise, 0, self.fault_clock_ns(at))
        if ok:
            self.stats.praised += 1
        return ok

    def note(self, rule_id: str, text: str, priority: int, t_ns: int,
             detected_t_ns: int | None = None) -> bool:
        """Offer a cue that is not a form fault (e.g. ``attempt``: "that one didn't count") at
        source time ``t_ns``; it does not mark any rep as faulted. Returns True when pending."""
        self.stats.submitted += 1
        at = int(t_ns) if detected_t_ns is None else max(int(t_ns), int(detected_t_ns))
        return self._offer(rule_id, text, int(priority), self.fault_clock_ns(at))

    def _offer(self, rule_id: str, text: str, priority: int, fault_ns: int) -> bool:
        now = self.clock.now_ns()
        last = self._last_spoken_ns.get(rule_id)
        if last is not None and now - last < self.cooldown_ns(rule_id):
            self.stats.cooldown_dropped += 1
            return False
        old = self._pending.get(rule_id)
        if old is not None:
            self.stats.deduplicated += 1
            if old.fault_t_ns >= fault_ns:
                return False
        self._pending[rule_id] = Cue(
            text=text, priority=priority, rule_id=rule_id, fault_t_ns=fault_ns, created_ns=now
        )
        return True

    # ----------------------------------------------------------------- output
    def _drop_stale(self, now: int) -> None:
        for rule_id in [r for r, c in self._pending.items() if self.is_stale(c, now)
                        and now - self._seen_ns.get(r, 0) > self.stale_after_ns]:
            del self._pending[rule_id]
            self._seen_ns.pop(rule_id, None)
            self.stats.stale_dropped += 1

    def is_stale(self, cue: Cue, now_ns: int | None = None) -> bool:
        """True when ``cue`` can no longer start within ``stale_after_s`` of its fault."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        return now - cue.fault_t_ns > self.stale_after_ns

    def poll(self, speaker_busy: bool = False) -> Cue | None:
        """The cue to speak now, or None (nothing pending, all stale, or the speaker is busy).

        Returning a cue marks it spoken (starting its rule's cooldown) and clears every other
        pending cue: they described the same moment and lost on priority.
        """
        now = self.clock.now_ns()
        self._drop_stale(now)
        if speaker_busy or not self._pending:
            return None
        best = max(self._pending.values(), key=lambda c: (c.priority, c.fault_t_ns))
        self.stats.superseded += len(self._pending) - 1
        self._pending.clear()
        self._seen_ns.clear()
        self._last_spoken_ns[best.rule_id] = now
        self.stats.spoken += 1
        self.spoken.append(best)
        return best

    @property
    def pending(self) -> list[Cue]:
        """Pending cues, highest priority first (read-only copy)."""
        return sorted(self._pending.values(), key=lambda c: (-c.priority, -c.fault_t_ns))

    def reset(self) -> None:
        """Forget pending cues, cooldowns and rep bookkeeping (a new set)."""
        self._pending.clear()
        self._seen_ns.clear()
        self._last_spoken_ns.clear()
        self._faulted_reps.clear()
        self._last_fault_src_ns = None
