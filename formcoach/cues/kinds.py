"""What a cue is about, from its source (``Cue.rule_id``), so the screen can colour it.

Every cue comes from one place, named by its rule id: a rule of the exercise's pack (a form
fault), the setup gate (``setup.*``: framing and camera guidance, and ``setup.ready``), praise
after a clean rep, a spoken count, or an announcement (exercise recognised, workout, summary,
"that's the set"). :func:`cue_kind` sorts them into four kinds:

* ``fault``: a form correction (a rule of the pack, an attempt that did not count), warning
  colour;
* ``setup``: guidance before or between counting ("step back...", "turn sideways");
* ``positive``: ``ready...`` and praise ("good rep");
* ``info``: counts and announcements.

A rule id it does not know is a pack rule, so a fault: a new pack rule needs no change here.
"""

from __future__ import annotations

from typing import Literal

from formcoach.cues.counting import COUNT_RULE_ID
from formcoach.cues.scheduler import PRAISE_RULE_ID

__all__ = ["CUE_KINDS", "READY_RULE_ID", "RECOGNISED_RULE_ID", "SETUP_PREFIX",
           "STOP_RULE_ID", "SUMMARY_RULE_ID", "WORKOUT_RULE_ID", "CueKind", "cue_kind"]

CueKind = Literal["fault", "setup", "positive", "info"]
#: Every kind, in the order above.
CUE_KINDS: tuple[CueKind, ...] = ("fault", "setup", "positive", "info")

#: Rule ids of the setup gate's cues start with this.
SETUP_PREFIX = "setup."
#: The setup gate passed ("ready, start when you are").
READY_RULE_ID = "setup.ready"
#: Velocity loss says the set is over ("that's the set").
STOP_RULE_ID = "set.stop"
#: ``--exercise auto`` recognised the exercise ("looks like squats").
RECOGNISED_RULE_ID = "recognised"
#: A workout's announcements (the next set, rest).
WORKOUT_RULE_ID = "workout"
#: The spoken end-of-set summary.
SUMMARY_RULE_ID = "summary"

_INFO = frozenset({COUNT_RULE_ID, STOP_RULE_ID, RECOGNISED_RULE_ID, WORKOUT_RULE_ID,
                   SUMMARY_RULE_ID})


def cue_kind(rule_id: str) -> CueKind:
    """The kind of a cue from its ``rule_id`` (see the module docstring)."""
    if rule_id == READY_RULE_ID or rule_id == PRAISE_RULE_ID:
        return "positive"
    if rule_id.startswith(SETUP_PREFIX):
        return "setup"
    if rule_id in _INFO:
        return "info"
    return "fault"
