"""Stage 3-5 per frame: pose -> features and view -> counting signal -> reps -> rules.

:class:`Coach` is the per-frame core every command runs through :func:`~formcoach.coach.session.run_session`::

    coach = Coach(load_exercise("squat"), fps=30.0, rules=RulesEngine(ex, 30.0))
    for pose in poses:                 # PoseResult per frame
        state = coach.update(pose)     # FrameState: features, view, signal, reps, faults
    reps, faults = coach.finish()      # reps counted in the last frames of the stream

Features and the view are computed once per frame here; the rules engine reads them from the
:class:`~formcoach.types.FrameState` instead of computing its own.
"""

from __future__ import annotations

import logging
import math
from collections import deque

import numpy as np

from formcoach.coach.attempts import AttemptFilter
from formcoach.coach.framing import FramingGuard, NotCountedTracker
from formcoach.exercises import Exercise
from formcoach.kinematics.features import FEATURES, FeatureExtractor, sided
from formcoach.kinematics.view import ViewDetector
from formcoach.reps import RepSegmenter
from formcoach.rules.engine import RulesEngine
from formcoach.rules.hold import IN_POSITION, hold_position
from formcoach.types import Attempt, Fault, FrameState, NotCounted, PoseResult, RepEvent

log = logging.getLogger(__name__)

__all__ = ["Coach", "resolve_feature"]

#: Visibility below which a side's landmarks are treated as guesses when ``side = "auto"``.
_VIS_FLOOR = 0.3


def resolve_feature(name: str) -> tuple[str, ...]:
    """``("left_knee", "right_knee")`` for a side-less name, ``(name,)`` for a plain feature.

    Raises:
        KeyError: unknown feature.
    """
    pair = sided(name)
    if pair is not None:
        return pair
    if name in FEATURES:
        return (name,)
    raise KeyError(f"unknown feature {name!r}")


def _min_vis(pose: np.ndarray, idx: list[int]) -> float:
    """Smallest visibility among landmarks ``idx`` (1.0 when there are none to check)."""
    v = 1.0
    for j in idx:
        x = pose[j, 3]
        if not x >= v:  # also catches NaN
            v = x
    return float(v)


class _SideMixer:
    """Combines a sided feature's left/right values per the pack's ``side`` setting.

    The visibility it reports is that of the better-seen side (min over the feature's
    landmarks); the coach treats frames below the pack's ``min_visibility`` as gaps.
    """

    def __init__(self, name: str, side: str, min_vis: float) -> None:
        self.names = resolve_feature(name)
        self.side = side
        self.min_vis = min_vis
        feats = [FEATURES[n] for n in self.names]
        self._idx = [list(f.landmarks) for f in feats]

    def __call__(self, feats: dict[str, float], pose: np.ndarray) -> tuple[float, float, float]:
        """Returns (value, left weight in [0, 1], visibility) for one frame."""
        if len(self.names) == 1:
            return feats[self.names[0]], 0.5, _min_vis(pose, self._idx[0])
        lv, rv = feats[self.names[0]], feats[self.names[1]]
        vl, vr = _min_vis(pose, self._idx[0]), _min_vis(pose, self._idx[1])
        if self.side == "left":
            return lv, 1.0, vl
        if self.side == "right":
            return rv, 0.0, vr
        if lv != lv or rv != rv:
            return (lv, 1.0, vl) if lv == lv else (rv, 0.0, vr)
        if self.side == "both":
            return 0.5 * (lv + rv), 0.5, max(vl, vr)
        # auto: weight each side by how clearly it is seen.
        wl = 1e-3 + (vl - _VIS_FLOOR) ** 2 if vl > _VIS_FLOOR else 1e-3
        wr = 1e-3 + (vr - _VIS_FLOOR) ** 2 if vr > _VIS_FLOOR else 1e-3
        a = wl / (wl + wr)
        return a * lv + (1.0 - a) * rv, a, max(vl, vr)


class Coach:
    """Per-frame pipeline: features, view, counting signal, rep segmenter, rules.

    Args:
        exercise: the rule pack.
        fps: nominal frames per second (float) of the stream.
        rules: the rules engine (None: count only).
        view: a fixed camera view; default: detected per frame.
    """

    def __init__(
        self,
        exercise: Exercise,
        fps: float,
        rules: RulesEngine | None = None,
        view: str | None = None,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        self.exercise = exercise
        self.fps = float(fps)
        self.rules = rules
        if rules is not None:
            rules.defer_tops = True  # the segmenter says when a rep's end is final
        self.fixed_view = view
        cfg = exercise.count
        self.extractor = FeatureExtractor(self.fps)
        self._mixer = _SideMixer(cfg.signal, cfg.side, cfg.min_visibility)
        self._gate = _SideMixer(cfg.gate, "both", cfg.min_visibility) if cfg.gate else None
        self.segmenter = RepSegmenter(cfg, self.fps, kind=exercise.kind, side=cfg.side)
        self._hold_position = exercise.kind == "hold"
        self._views = ViewDetector()
        self.view = view or "unknown"
        self.index = 0
        self.pose_frames = 0
        # (frame index, left weight) over the longest rep, for naming the side of a rep.
        self._lw: deque[tuple[int, float]] = deque(maxlen=int(2 * cfg.max_rep_s * self.fps) + 2)
        # Dips short of a rep that were real tries (see formcoach.coach.attempts).
        self._attempts = AttemptFilter(int(2 * cfg.max_rep_s * self.fps) + 2)
        # Implausible (collapsing) poses are dropped; stretches that could not be counted
        # because part of the body was out of view are kept (formcoach.coach.framing).
        self.framing = FramingGuard(upright=cfg.max_lean < 180.0)
        self._not_counted = NotCountedTracker(self.fps, cfg.max_gap_s)

    @property
    def names(self) -> list[str]:
        """Feature names of ``FrameState.features``, in order."""
        return self.extractor.names

    @property
    def lag(self) -> int:
        """Frames the segmenter looks ahead before deciding a frame."""
        return self.segmenter.lag

    @property
    def rep_count(self) -> int:
        return self.segmenter.count

    def _signal_of(
        self, feats: dict[str, float], landmarks: np.ndarray
    ) -> tuple[float, float, bool]:
        """(signal value, left-side weight, gated) of one frame."""
        value, lw, vis = self._mixer(feats, landmarks)
        gated = False
        cfg = self.exercise.count
        if not vis >= cfg.min_visibility:
            return math.nan, lw, False  # the model is guessing: a gap, not a pose
        if feats["torso_lean"] > cfg.max_lean:
            return math.nan, lw, False  # upside-down skeleton: a tracking failure, not a pose
        if self._gate is not None and value == value:
            g, _, _ = self._gate(feats, landmarks)
            gated = not (cfg.gate_min <= g <= cfg.gate_max)
            if gated:
                value = math.nan
        if self._hold_position and value == value and hold_position(
                self.exercise.id, landmarks) != IN_POSITION:
            return math.nan, lw, True  # a hold is timed only in position (rules/hold.py)
        return value, lw, gated

    def view_of(self, pose: PoseResult) -> str:
        """Update the view from a frame that is not coached (e.g. before setup passed)."""
        if pose.detected and self.fixed_view is None:
            self.view = self._views.update(pose.landmarks, pose.world)
        return self.view

    def update(self, pose: PoseResult) -> FrameState:
        """Analyse one frame (call for every frame, also those with nobody in them)."""
        check = self.framing.update(pose)
        if not check.plausible:
            pose = PoseResult.empty(pose.t_ns, pose.image_size)  # a gap, not a pose
        lm = pose.landmarks
        feats = self.extractor.update(lm, pose.world)
        detected = pose.detected
        if detected:
            self.pose_frames += 1
            if self.fixed_view is None:
                self.view = self._views.update(lm, pose.world)
        value, lw, gated = self._signal_of(feats, lm)
        self._lw.append((self.index, lw))
        self._attempts.frame(self.index, lm)
        n_att = len(self.segmenter.attempts)
        self._not_counted.frame(self.index, pose.t_ns, value == value or gated, check.problem)
        new = self.segmenter.update(value, pose.t_ns, gated)
        self._label(new)
        attempts = self._new_attempts(new, n_att)
        state = FrameState(
            index=self.index,
            t_ns=pose.t_ns,
            pose=pose,
            features=feats,
            signal=value,
            rep_count=self.segmenter.count,
            phase=self.segmenter.phase,
            new_reps=new,
            view=self.view,
            new_attempts=attempts,
            framing=check.problem,
            dropped=not check.plausible,
        )
        if self.rules is not None:
            state.faults = self._judge(state, new)
        self.index += 1
        return state

    def _judge(self, state: FrameState | None, reps: list[RepEvent]) -> list[Fault]:
        """The faults the rules emit for this frame and these reps, each handed out once.

        A rep's verdict (``on_rep``) includes the frame faults that fired inside it earlier;
        those were handed out when they fired, so only what the engine emitted now is new. A
        rep under way is judged as far as it is seen (``on_progress``): a fault there is
        handed out at once, and the count then confirms it (same object, final values) or
        retracts it (:attr:`retracted`, for the session to withdraw).
        """
        assert self.rules is not None
        if state is not None:
            self.rules.on_frame(state)
        for rep in reps:
            self.rules.on_rep(rep)
        if state is not None and not reps:
            self.rules.on_progress(self.segmenter.progress)
        self.rules.settle_tops(self.segmenter.open_rep if state is not None else None)
        return self.rules.take_new()

    @property
    def provisional(self) -> list[Fault]:
        """Faults of the rep under way, fired early and still happening (see
        :attr:`formcoach.rules.engine.RulesEngine.provisional`)."""
        return [] if self.rules is None else self.rules.provisional

    def take_retracted(self) -> list[Fault]:
        """Provisional faults the final verdict of their rep did not confirm, since the last
        call (the session removes them and withdraws their cues)."""
        if self.rules is None:
            return []
        out, self.rules.retracted = self.rules.retracted, []
        return out

    def _label(self, reps: list[RepEvent]) -> None:
        """For ``side = "auto"``, name the side that dominated each rep."""
        if self.exercise.count.side != "auto" or len(self._mixer.names) != 2:
            return
        for rep in reps:
            w = [x for i, x in self._lw if rep.start_frame <= i <= rep.end_frame]
            if w:
                rep.side = "left" if sum(w) / len(w) >= 0.5 else "right"

    @property
    def attempts(self) -> list[Attempt]:
        """Attempts so far: dips short of a rep that were real tries (never counted)."""
        return self._attempts.attempts

    def _new_attempts(self, reps: list[RepEvent], n_before: int) -> list[Attempt]:
        """The segmenter's dips since ``n_before`` that were real tries (after noting the new
        reps' hip travel)."""
        for rep in reps:
            self._attempts.rep(rep)
        found = self.segmenter.attempts[n_before:]
        return [a for a in found if self._attempts.offer(a) is not None]

    @property
    def not_counted(self) -> list[NotCounted]:
        """Stretches closed so far that could not be counted (part of the body out of view)."""
        return self._not_counted.spans

    @property
    def not_counting(self) -> tuple[str, float] | None:
        """``(reason code, seconds)`` while a stretch is not being counted, else None."""
        return self._not_counted.open

    def finish(self) -> tuple[list[RepEvent], list[Fault]]:
        """Flush the segmenter: the reps counted in the last ``lag`` frames, and their faults."""
        n_att = len(self.segmenter.attempts)
        new = self.segmenter.finish()
        self._not_counted.finish()
        self._label(new)
        self._new_attempts(new, n_att)
        if self.rules is not None and self.exercise.kind == "hold":
            self.rules.hold.finish()  # the hold in progress at the end of the stream
        faults = self._judge(None, new) if self.rules is not None else []
        if self.rules is not None:
            self.rules.on_progress(None)  # a rep still under way at the end is never counted
        return new, faults

    def not_assessed(self) -> list[str]:
        """Rule ids that could not be judged in any rep of the stream (see the rules engine)."""
        return never_assessed(self.rules) if self.rules is not None else []


def never_assessed(engine: RulesEngine) -> list[str]:
    """Rule ids the engine could not judge in any rep of the set (all of its reps said
    ``not_assessed``); without reps, those whose latest status is ``not_assessed``."""
    latest = sorted(engine.not_assessed())
    per_rep = engine.rep_status
    if not per_rep:
        return latest
    rules = {k for st in per_rep.values() for k in st}
    never = [r for r in sorted(rules)
             if all(st.get(r, "not_assessed") == "not_assessed" for st in per_rep.values())]
    return sorted(set(never) | {r for r in latest if r not in rules})
