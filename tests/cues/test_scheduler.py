"""CueScheduler: priority, cooldown, de-duplication, staleness and praise (FakeClock only)."""

from __future__ import annotations

import pytest

from formcoach.clock import FakeClock, MonotonicClock
from formcoach.cues.scheduler import PRAISE_RULE_ID, CueScheduler
from formcoach.types import NS_PER_S, Fault, RepEvent


def fault(rule: str, t_s: float, severity: int = 2, rep: int | None = None) -> Fault:
    return Fault(
        rule_id=rule,
        exercise="squat",
        cue=f"fix {rule}",
        severity=severity,
        t_ns=round(t_s * NS_PER_S),
        frame_index=round(t_s * 30),
        value=1.0,
        threshold=0.0,
        rep_index=rep,
    )


def rep(index: int, start_s: float, end_s: float) -> RepEvent:
    s, e = round(start_s * NS_PER_S), round(end_s * NS_PER_S)
    return RepEvent(index, 0, 0, 0, s, (s + e) // 2, e, 90.0, 80.0, 170.0, counted_frame=0,
                    counted_ns=e)


def at(clock: FakeClock, t_s: float) -> None:
    clock.set(round(t_s * NS_PER_S))


def test_highest_severity_wins_and_others_are_cleared() -> None:
    clock = FakeClock()
    s = CueScheduler(clock)
    at(clock, 1.0)
    s.submit(fault("depth", 1.0, severity=1))
    s.submit(fault("knees", 1.0, severity=3))
    s.submit(fault("torso", 1.0, severity=2))
    cue = s.poll()
    assert cue is not None and cue.rule_id == "knees" and cue.priority == 3
    assert s.poll() is None
    assert s.stats.superseded == 2


def test_tie_goes_to_most_recent_fault() -> None:
    clock = FakeClock()
    s = CueScheduler(clock)
    at(clock, 1.1)
    s.submit(fault("a", 1.0))
    s.submit(fault("b", 1.05))
    cue = s.poll()
    assert cue is not None and cue.rule_id == "b"


def test_nothing_while_speaker_busy_then_cue() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, stale_after_s=0.5)
    at(clock, 1.0)
    s.submit(fault("depth", 1.0))
    assert s.poll(speaker_busy=True) is None
    at(clock, 1.2)
    cue = s.poll(speaker_busy=False)
    assert cue is not None and cue.rule_id == "depth"


def test_stale_cue_is_dropped_when_speaker_stays_busy() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, stale_after_s=0.5)
    at(clock, 1.0)
    s.submit(fault("depth", 1.0))
    at(clock, 1.4)
    assert s.poll(speaker_busy=True) is None
    at(clock, 1.6)
    assert s.poll(speaker_busy=False) is None
    assert s.stats.stale_dropped == 1
    assert s.spoken == []


def test_a_fault_still_under_way_stays_fresh_until_it_is_no_longer_seen() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, stale_after_s=0.5)
    at(clock, 1.0)
    swing = fault("torso_swing", 1.0)
    s.submit(swing)
    for t in (1.2, 1.4, 1.6, 1.8):  # the rep goes on, the speaker is busy with another cue
        at(clock, t)
        s.refresh(swing, round(t * NS_PER_S))
        assert s.poll(speaker_busy=True) is None
    at(clock, 2.2)  # 0.4 s after it was last seen: still worth saying
    cue = s.poll()
    assert cue is not None and cue.rule_id == "torso_swing"
    assert cue.fault_t_ns == NS_PER_S  # latency still counts from when it was first seen
    other = fault("depth", 3.0)
    at(clock, 3.0)
    s.submit(other)
    s.refresh(fault("elbow_drift", 3.0), 3 * NS_PER_S)  # nothing pending for it: no effect
    at(clock, 3.2)
    s.refresh(other, round(3.2 * NS_PER_S))
    at(clock, 3.8)  # 0.6 s since last seen: stale
    assert s.poll() is None
    assert s.stats.stale_dropped == 1


def test_staleness_counts_from_fault_time_with_time_base() -> None:
    clock = FakeClock()
    base = 10 * NS_PER_S
    s = CueScheduler(clock, stale_after_s=0.5, time_base_ns=base)
    at(clock, 10.0 + 2.3)
    s.submit(fault("depth", 2.0))  # fault 0.3 s ago: fresh
    cue = s.poll()
    assert cue is not None and cue.fault_t_ns == base + 2 * NS_PER_S
    at(clock, 10.0 + 9.0)
    s.submit(fault("other", 8.0))  # fault 1 s ago (e.g. a slow frame): stale on arrival
    assert s.poll() is None


def test_cooldown_per_rule() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, cooldown_s={"depth": 3.0}, default_cooldown_s=1.0)
    at(clock, 1.0)
    s.submit(fault("depth", 1.0))
    assert s.poll() is not None
    at(clock, 2.5)
    assert not s.submit(fault("depth", 2.5))
    assert s.poll() is None
    assert s.submit(fault("knees", 2.5))  # another rule is not silenced
    cue = s.poll()
    assert cue is not None and cue.rule_id == "knees"
    at(clock, 4.1)
    assert s.submit(fault("depth", 4.1))
    cue = s.poll()
    assert cue is not None and cue.rule_id == "depth"
    assert s.stats.cooldown_dropped == 1


def test_repeated_frame_fault_is_deduplicated_to_one_cue() -> None:
    clock = FakeClock()
    s = CueScheduler(clock)
    for i in range(10):
        at(clock, 1.0 + i / 30)
        s.submit(fault("torso", 1.0 + i / 30))
    assert len(s.pending) == 1
    cue = s.poll()
    assert cue is not None and cue.fault_t_ns == round((1.0 + 9 / 30) * NS_PER_S)
    assert s.stats.deduplicated == 9
    for i in range(10, 20):
        at(clock, 1.0 + i / 30)
        s.submit(fault("torso", 1.0 + i / 30))
        assert s.poll() is None  # cooldown
    assert len(s.spoken) == 1


def test_praise_only_for_clean_reps() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, praise="good rep", praise_cooldown_s=0.0)
    at(clock, 2.0)
    assert s.rep_completed(rep(0, 0.0, 2.0))
    cue = s.poll()
    assert cue is not None and cue.rule_id == PRAISE_RULE_ID and cue.text == "good rep"
    at(clock, 3.0)
    s.submit(fault("depth", 3.0, rep=1))
    assert s.poll() is not None
    at(clock, 4.0)
    assert not s.rep_completed(rep(1, 2.0, 4.0))  # faulted by rep index
    at(clock, 6.0)
    assert s.rep_completed(rep(2, 4.0, 6.0))
    assert s.stats.praised == 2


def test_praise_is_timed_at_the_counting_moment() -> None:
    """A rep's end_ns is still provisional when it is counted (the segmenter moves it later):
    praise is stamped at counted_ns, so it is never judged stale by a later end."""
    clock = FakeClock()
    s = CueScheduler(clock, praise="good rep", praise_cooldown_s=0.0)
    at(clock, 2.0)
    r = RepEvent(0, 0, 0, 0, 0, NS_PER_S, 3 * NS_PER_S, 90.0, 80.0, 170.0, counted_frame=0,
                 counted_ns=2 * NS_PER_S)
    assert s.rep_completed(r)
    cue = s.poll()
    assert cue is not None and cue.fault_t_ns == s.fault_clock_ns(2 * NS_PER_S)


def test_praise_loses_to_a_fault_and_is_off_by_default() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, praise="good rep")
    at(clock, 2.0)
    s.rep_completed(rep(0, 0.0, 1.0))
    s.submit(fault("knees", 2.0, severity=1))  # a frame fault after the rep ended
    cue = s.poll()
    assert cue is not None and cue.rule_id == "knees"
    quiet = CueScheduler(clock)
    assert not quiet.rep_completed(rep(0, 0.0, 1.0))
    assert quiet.poll() is None


def test_reset_forgets_cooldowns() -> None:
    clock = FakeClock()
    s = CueScheduler(clock)
    s.submit(fault("depth", 0.0))
    assert s.poll() is not None
    s.reset()
    assert s.submit(fault("depth", 0.0))


@pytest.mark.parametrize(
    "kwargs",
    [{"stale_after_s": -1.0}, {"cooldown_s": -1.0}, {"cooldown_s": {"x": -2.0}}],
)
def test_negative_durations_rejected(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        CueScheduler(FakeClock(), **kwargs)


def test_fake_clock_never_goes_back_and_monotonic_advances() -> None:
    c = FakeClock(5)
    c.advance(0.5)
    assert c.now_ns() == 5 + NS_PER_S // 2
    with pytest.raises(ValueError):
        c.set(0)
    m = MonotonicClock()
    a = m.now_ns()
    assert m.now_ns() >= a


def test_rep_fault_decided_late_counts_staleness_from_detection() -> None:
    clock = FakeClock()
    s = CueScheduler(clock, stale_after_s=0.5)
    at(clock, 3.1)
    # A depth fault at the bottom (1.5 s) is only known when the rep ends (3.0 s).
    s.submit(fault("depth", 1.5, rep=0), detected_t_ns=3 * NS_PER_S)
    cue = s.poll()
    assert cue is not None and cue.fault_t_ns == 3 * NS_PER_S
    at(clock, 6.0)
    assert s.rep_completed(rep(1, 4.0, 5.0), detected_t_ns=5_800_000_000) is False  # no praise set


def test_a_rep_no_rule_was_judged_on_is_never_praised() -> None:
    """Honest coverage: "good rep" only after a rep some rule could be judged on."""
    clock = FakeClock()
    s = CueScheduler(clock, praise="good rep", praise_cooldown_s=0.0)
    at(clock, 2.0)
    assert not s.rep_completed(rep(0, 0.0, 2.0), judged=False)
    assert s.poll() is None
    assert s.stats.unjudged == 1 and s.stats.praised == 0
    at(clock, 4.0)
    assert s.rep_completed(rep(1, 2.0, 4.0), judged=True)


def test_a_note_is_spoken_but_does_not_fault_the_next_rep() -> None:
    """An ``attempt`` note ("that one didn't count") is a cue, not a form fault."""
    clock = FakeClock()
    s = CueScheduler(clock, praise="good rep", praise_cooldown_s=0.0)
    at(clock, 1.0)
    assert s.note("attempt", "that one didn't count", 1, round(1.0 * NS_PER_S))
    cue = s.poll()
    assert cue is not None and cue.rule_id == "attempt" and cue.priority == 1
    at(clock, 4.0)
    assert s.rep_completed(rep(0, 2.0, 4.0))  # the rep after the attempt is still clean
