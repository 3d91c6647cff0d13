"""The one result of a session, consumed by every output (terminal, JSON, CSV, report, video, DB).

:class:`SessionResult` is built by :func:`~formcoach.coach.session.run_session` for ``live``,
``analyze`` (video or pose track), ``demo`` and ``bench`` alike. Per-rep and per-set metrics are
computed once, in the session, and carried here (:attr:`SessionResult.metrics`); no consumer
recomputes a metric.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from formcoach.coach.coverage import grouped
from formcoach.coach.framing import REASONS
from formcoach.exercises import Exercise
from formcoach.metrics import BOTH_SIDES_VIEWS, SetMetrics
from formcoach.rules.explain import explain_fault, rule_reason, rules_by_id
from formcoach.skeleton import NUM_LANDMARKS
from formcoach.types import NS_PER_S, Attempt, Fault, NotCounted, RepEvent

__all__ = ["CueEvent", "FrameHistory", "SessionResult"]


@dataclass(slots=True)
class CueEvent:
    """One cue handed to the speaker.

    Attributes:
        rule_id: the rule (``praise`` for praise, ``setup.*`` for setup guidance).
        text: what was said / shown.
        priority: the scheduler priority (rule severity).
        fault_t_ns: source time of the fault it is about, ns from the session's first frame.
        emit_t_ns: source time of the frame during whose processing it was handed to the
            speaker, ns from the session's first frame.
        created_ns: clock ns when the scheduler queued it.
        taken_ns, pose_ns, coach_ns, say_ns: clock ns when the loop took the frame it was handed
            over at, when that frame's pose was ready, when coach and rules were done, and when
            it went to the speaker (where the time of a live cue went; 0 offline where unknown).
    """

    rule_id: str
    text: str
    priority: int
    fault_t_ns: int
    emit_t_ns: int
    created_ns: int = 0
    taken_ns: int = 0
    pose_ns: int = 0
    coach_ns: int = 0
    say_ns: int = 0

    @property
    def t_s(self) -> float:
        return self.emit_t_ns / NS_PER_S

    @property
    def fault_t_s(self) -> float:
        return self.fault_t_ns / NS_PER_S


class FrameHistory:
    """Per-frame series of a session, appended frame by frame into growing numpy buffers.

    ``limit`` bounds memory for endless live sessions: only the newest ``limit`` frames are
    kept; ``offset`` is the stream index of the first one kept. Reading a series returns a view
    (no copy), so measuring a rep costs the same at minute one and hour ten.
    """

    def __init__(self, names: list[str], limit: int | None = None) -> None:
        self.names = list(names)
        self.limit = limit
        cap = 1024 if limit is None else min(1024, 2 * limit)
        self._t = np.empty(cap, dtype=np.int64)
        self._sig = np.empty(cap, dtype=np.float64)
        self._feat = np.empty((cap, len(self.names)), dtype=np.float64)
        self._poses = np.empty((cap, NUM_LANDMARKS, 4), dtype=np.float64)
        self._bulge = np.empty(cap, dtype=np.float64)
        self._lo = 0  # first kept row of the buffers
        self._hi = 0  # one past the last row
        self._base = 0  # stream index of buffer row 0

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def offset(self) -> int:
        """Stream index of the first frame kept."""
        return self._base + self._lo

    def append(self, t_ns: int, signal: float, features: dict[str, float],
               landmarks: np.ndarray, back_bulge: float = float("nan")) -> None:
        if self._hi == len(self._t):
            self._make_room()
        k = self._hi
        self._t[k] = t_ns
        self._sig[k] = signal
        self._feat[k] = [features[n] for n in self.names]
        self._poses[k] = landmarks
        self._bulge[k] = back_bulge
        self._hi += 1
        if self.limit is not None and self._hi - self._lo > self.limit:
            self._lo = self._hi - self.limit

    def _make_room(self) -> None:
        """Drop the rows no longer kept (moving the rest to the front), else double the buffers."""
        n = self._hi - self._lo
        if self._lo > 0 and n <= len(self._t) // 2:
            for a in (self._t, self._sig, self._feat, self._poses, self._bulge):
                a[:n] = a[self._lo : self._hi]
            self._base += self._lo
            self._hi, self._lo = n, 0
            return
        cap = 2 * len(self._t)
        self._t = np.resize(self._t, cap)
        self._sig = np.resize(self._sig, cap)
        self._feat = np.resize(self._feat, (cap, len(self.names)))
        self._poses = np.resize(self._poses, (cap, NUM_LANDMARKS, 4))
        self._bulge = np.resize(self._bulge, cap)

    @property
    def t_ns(self) -> np.ndarray:
        """``(T,)`` int64 frame timestamps, ns."""
        return self._t[self._lo : self._hi]

    @property
    def back_bulge(self) -> np.ndarray:
        """``(T,)`` float64 silhouette measure of the backend (NaN where not measured)."""
        return self._bulge[self._lo : self._hi]

    @property
    def signal(self) -> np.ndarray:
        """``(T,)`` float64 counting signal (NaN unmeasurable)."""
        return self._sig[self._lo : self._hi]

    @property
    def features(self) -> dict[str, np.ndarray]:
        """``{name: (T,) float64}`` in :attr:`names` order (views)."""
        rows = self._feat[self._lo : self._hi]
        return {n: rows[:, k] for k, n in enumerate(self.names)}

    @property
    def poses(self) -> np.ndarray:
        """``(T, 33, 4)`` float64 poses, px (NaN missing)."""
        return self._poses[self._lo : self._hi]


@dataclass(slots=True)
class SessionResult:
    """Everything one session (one set of one exercise) produced.

    Series cover the frames kept in history (all of them offline; the last
    ``history_limit_s`` live): ``t_ns`` ``(T,)`` int64, ``signal`` ``(T,)``, ``features``
    ``{name: (T,)}``, ``poses`` ``(T, 33, 4)``, ``back_bulge`` ``(T,)`` (the backend's
    silhouette measure, NaN where none; None: not kept); ``frame_offset`` is the stream index of
    row 0.

    Attributes:
        exercise: the pack used.
        fps: nominal frames per second of the source.
        backend: pose backend name; ``model``: the BlazePose rung it ran (``lite``, ``full``,
            ``heavy``; ``""`` when unknown, e.g. an imported track); ``model_sha256``: its model
            files' digest, when known.
        source: what was analysed (display path, ``camera 0``...).
        image_size: ``(width, height)`` px.
        frames: frames processed; ``pose_frames``: frames with a person; ``dropped``: frames the
            source dropped because the consumer was too slow (live).
        reps: counted reps (true start/bottom/end, and when each was counted).
        faults: every fault the rules reported, in time order.
        cues: every cue handed to the speaker, in order.
        metrics: per-rep and per-set metrics, computed once.
        view: the camera view (fixed, or the one detected most often).
        setup_passed: whether counting ever started (True when the setup gate was skipped).
        stopped_by: ``end``, ``user``, ``max_seconds`` or ``error`` (``error`` says why).
        wall_s: wall-clock length of the session, s.
        cues_played: cues an audio device verifiably played (None: the speaker cannot tell).
        audio_problem: why cues were not voiced, None if audio worked or was not used.
        simulated_cues: the cues were replayed offline (nobody heard them).
        attempts: movements that began a rep and came back short of it (not counted; also in
            ``metrics.attempts``).
        not_counted: stretches the counter could not count through because part of the body
            was out of view (reps there may be missing; see :mod:`formcoach.coach.framing`).
    """

    exercise: Exercise
    fps: float
    backend: str
    source: str
    image_size: tuple[int, int]
    t_ns: np.ndarray
    signal: np.ndarray
    features: dict[str, np.ndarray]
    poses: np.ndarray
    reps: list[RepEvent]
    faults: list[Fault]
    cues: list[CueEvent]
    metrics: SetMetrics
    frames: int = 0
    pose_frames: int = 0
    dropped: int = 0
    frame_offset: int = 0
    model_sha256: str = ""
    view: str = "unknown"
    setup_passed: bool = True
    stopped_by: str = "end"
    error: str | None = None
    wall_s: float = 0.0
    cues_played: int | None = None
    audio_problem: str | None = None
    simulated_cues: bool = False
    start_ns: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    model: str = ""
    not_counted: list[NotCounted] = field(default_factory=list)
    back_bulge: np.ndarray | None = None

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    @property
    def history_truncated(self) -> bool:
        """Whether early frames were dropped from the series (a long live session)."""
        return self.frame_offset > 0

    @property
    def duration_s(self) -> float:
        """Source time from the first to the last frame plus one frame, s."""
        if self.frames == 0:
            return 0.0
        if len(self.t_ns) == 0:
            return self.frames / self.fps
        return float((int(self.t_ns[-1]) - self.start_ns) / NS_PER_S + 1.0 / self.fps)

    @property
    def processing_fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def rel_s(self, t_ns: int) -> float:
        """Seconds from the session's first frame of a source time ``t_ns``."""
        return (int(t_ns) - self.start_ns) / NS_PER_S

    def summary_lines(self) -> list[str]:
        """The set summary a person reads at the end of a live set."""
        lines = [
            f"set: {self.exercise.id}, {self.count_text(self.rep_count)} in "
            f"{self.duration_s:.1f} s "
            f"({self.frames} frames processed at {self.processing_fps:.1f} fps, "
            f"{self.dropped} dropped)",
        ]
        if not self.setup_passed:
            lines.append(f"setup never passed: no {self.unit}s were counted")
        lines.extend(self.coverage_lines())  # what was not judged comes first, not last
        by_rule = Counter(f.rule_id for f in self.faults)
        lines.extend(self.technique_lines())
        if by_rule:
            lines.append("faults: " + ", ".join(f"{k} x{n}" for k, n in by_rule.most_common()))
            lines.extend(f"  {line}" for line in self.fault_lines())
        else:
            lines.append("faults: none")
        if self.exercise.kind == "hold":
            lines.append(self.hold_line())
        lines.extend(self.velocity_lines())
        lines.extend(self.fatigue_lines())
        lines.append(self.cue_line())
        return lines

    @property
    def unit(self) -> str:
        """What the set counts: ``rep``, or ``hold`` for a hold exercise (a plank)."""
        return "hold" if self.exercise.kind == "hold" else "rep"

    def count_text(self, n: int) -> str:
        """``3 reps``, ``1 rep``, ``1 hold``."""
        return f"{n} {self.unit}{'' if n == 1 else 's'}"

    def velocity_lines(self) -> list[str]:
        """``velocity (hip, mean concentric): 0.29 0.27 ... BH/s`` and the velocity loss per
        rep, with the stop rule's verdict (empty when no velocity was measured)."""
        sm = self.metrics
        reps = [r for r in sm.reps if r.velocity_point]
        if not reps or not any(math.isfinite(r.mean_velocity_bhps) for r in reps):
            return []

        def f(x: float, nd: int) -> str:
            return f"{x:.{nd}f}" if math.isfinite(x) else "-"

        mps = math.isfinite(sm.height_cm)
        vals = [r.mean_velocity_mps if mps else r.mean_velocity_bhps for r in reps]
        lines = [f"velocity ({reps[0].velocity_point}, mean concentric, "
                 f"{'m/s' if mps else 'body heights/s'}): " + " ".join(f(v, 2) for v in vals),
                 "velocity loss vs best rep (%): "
                 + " ".join(f(r.velocity_loss_pct, 0) for r in reps)]
        split = [str(r.index + 1) for r in reps if r.velocity_movements > 1]
        if split:
            lines.append(f"rep {', '.join(split)}: concentric was more than one movement (the "
                         "mean is the main one's), left out of velocity loss")
        if math.isfinite(sm.stop_at_vl_pct):
            lines.append(f"stop at {sm.stop_at_vl_pct:g}% velocity loss: "
                         + (f"that's the set at rep {sm.stop_rep}" if sm.stop_rep
                            else "not reached"))
        return lines

    def fatigue_lines(self) -> list[str]:
        """The fatigue note and, indented, each sign's evidence (empty for a hold or a set
        without reps)."""
        note = self.metrics.fatigue
        if note is None or not self.metrics.reps:
            return []
        return [note.text, *(f"  {s.evidence}" for s in note.signs)]

    def coverage_lines(self) -> list[str]:
        """What could not be judged and why, and a better camera view (empty when all was
        judged): ``not judged: knee_valgus (needs a front or back view; seen from the side)``."""
        sm = self.metrics
        lines = self.not_counted_lines()
        if not self.exercise.rules_raw and sm.reps:
            lines.append("not judged: this exercise has no form rules (reps counted only)")
        elif sm.reps and not sm.not_judged and not any(r.judged for r in sm.reps):
            lines.append("not judged: the form rules were not run (reps counted only)")
        lines.extend(f"not judged: {line}" for line in grouped(sm.not_judged))
        if sm.view_advice:
            lines.append(sm.view_advice)
        # The exercise measures asymmetry (a rep's; a hold has no left and right movement).
        sided = [r for r in sm.reps if r.asymmetry_pct] if self.exercise.kind == "reps" else []
        both = [r for r in sided if r.view in BOTH_SIDES_VIEWS]
        if sided and not both:
            lines.append("left/right asymmetry: not measured from this view (needs front or back)")
        elif len(both) < len(sided):
            lines.append("left/right asymmetry: measured only on reps "
                         + ", ".join(str(r.index + 1) for r in both) + " (front or back view)")
        return lines

    def not_counted_lines(self) -> list[str]:
        """``not counted 3.1-5.4 s: head out of frame (step back so I can see your head)``, one
        per stretch the counter could not count through."""
        return [f"not counted {self.rel_s(n.start_ns):.1f}-{self.rel_s(n.end_ns):.1f} s: {n.text} "
                f"({REASONS[n.reason][1]})" for n in self.not_counted]

    def technique_lines(self) -> list[str]:
        """``clean reps: x/y``, the technique score over counted reps and attempts, and the
        attempts that did not count (a rep no rule was judged on is not clean)."""
        sm = self.metrics
        lines: list[str] = []
        if not sm.reps and not sm.attempts:
            return lines
        unjudged = sum(1 for r in sm.reps if not r.judged)
        extra = f" ({unjudged} not judged)" if unjudged else ""
        lines.append(f"clean {self.unit}s: {sm.clean_reps}/{len(sm.reps)}{extra}")
        if self.exercise.kind != "reps":
            return lines
        att = len(sm.attempts)
        tries = f"{att} attempt{'' if att == 1 else 's'} not counted"
        if np.isfinite(sm.technique_score):
            left_out = f", {unjudged} not judged left out" if unjudged else ""
            lines.append(f"technique: {sm.clean_reps}/{sm.judged_performed} = "
                         f"{sm.technique_score:.0%} ({len(sm.reps)} counted{left_out} + {tries})")
        else:
            lines.append("technique: not judged (no rule was judged on any rep) "
                         f"({len(sm.reps)} counted + {tries})")
        if sm.attempts:
            lines.append("not counted: " + ", ".join(
                f"at {self.rel_s(a.bottom_ns):.1f} s ({a.reached_frac:.0%} of the range)"
                for a in sm.attempts))
        return lines

    def hold_line(self) -> str:
        """``holds: 1, held 31.5 s in position, 28.0 s in good form (5.2-36.7 s)``."""
        sm = self.metrics
        good = f", {sm.good_form_s:.1f} s in good form" if math.isfinite(sm.good_form_s) else ""
        spans = ", ".join(f"{self.rel_s(h.start_ns):.1f}-{self.rel_s(h.end_ns):.1f} s"
                          for h in sm.holds)
        held = sm.held_s if math.isfinite(sm.held_s) else sum(r.duration_s for r in sm.reps)
        return (f"holds: {len(sm.holds) or len(sm.reps)}, held {held:.1f} s in position{good}"
                + (f" ({spans})" if spans else ""))

    def fault_lines(self) -> list[str]:
        """One line per fault: time, rep, rule, the measured value against its limit, and the
        rule's reason."""
        rules = rules_by_id(self.exercise)
        out = []
        for f in self.faults:
            rule = rules.get(f.rule_id)
            rep = f"{self.unit} {f.rep_index + 1}" if f.rep_index is not None \
                else f"no {self.unit}"
            reason = f" ({rule_reason(rule)})" if rule else ""
            out.append(f"{self.rel_s(f.t_ns):6.2f} s {rep}: {f.rule_id}: "
                       f"{explain_fault(f, rule)}{reason}")
        return out

    def cue_line(self) -> str:
        """``cues spoken: N``, counting only cues that played, with why the rest did not."""
        n = len(self.cues)
        if self.simulated_cues:
            return f"cues: {n} (replayed offline)"
        if self.cues_played is None:
            return f"cues: {n} (the speaker does not report whether they played)"
        played = min(self.cues_played, n)
        if played == n and self.audio_problem is None:
            return f"cues spoken: {played}"
        why = self.audio_problem or "muted or too late to say"
        return f"cues spoken: {played} ({why}; {n - played} shown as text)"
