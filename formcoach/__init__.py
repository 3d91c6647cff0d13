"""formcoach: an on-device computer-vision exercise form coach.

Stages (each swappable and testable alone): :mod:`formcoach.sources` (frames) ->
:mod:`formcoach.pose` (landmarks) -> :mod:`formcoach.kinematics` (angles) ->
:mod:`formcoach.reps` (repetitions) -> :mod:`formcoach.rules` (faults, cues) ->
:mod:`formcoach.speech` (spoken cues).
"""

from __future__ import annotations

__version__ = "0.1.0"
