"""Spoken rep counts: what to say when a rep is counted ("7", "7, three more", "10, that's
the set").

Counts go through the same :class:`~formcoach.cues.scheduler.CueScheduler` as the form cues,
at the lowest priority (:data:`COUNT_PRIORITY`) under their own rule id with no cooldown: a
fault cue due at the same moment wins and the count is dropped, so a count never talks over
a correction; a count the speaker cannot start within the scheduler's staleness is dropped
too (a late number is worse than none).
"""

from __future__ import annotations

__all__ = ["COUNT_PRIORITY", "COUNT_RULE_ID", "count_text"]

#: rule_id of count cues (give it a zero cooldown in the scheduler).
COUNT_RULE_ID = "count"
#: Below every form cue (severities are >= 1) and equal to praise.
COUNT_PRIORITY = 0

_WORDS = {1: "one", 2: "two", 3: "three"}


def count_text(n: int, target: int | None = None) -> str:
    """The words for rep ``n`` (1-based) of a set with an optional ``target``."""
    if n < 1:
        raise ValueError(f"rep numbers start at 1, got {n}")
    if target is None:
        return str(n)
    left = target - n
    if left == 0:
        return f"{n}, that's the set"
    if left in _WORDS:
        return f"{n}, {_WORDS[left]} more"
    return str(n)
