"""THE session loop: ``live``, ``analyze`` (video or pose track), ``demo`` and ``bench`` all run it.

Per frame: pose (from the stream) -> optional setup gate -> :class:`~formcoach.coach.pipeline.Coach`
(features, view, reps, rules) -> cue scheduler -> speaker -> sinks. Live and offline differ only
in what is passed in:

========== ====================================== =========================================
           live                                   offline (analyze, demo)
========== ====================================== =========================================
stream     camera / paced file + estimator        video file + estimator, or a pose track
clock      :class:`~formcoach.clock.MonotonicClock` :class:`~formcoach.clock.FrameClock`, set
                                                   to each frame's timestamp
speaker    espeak / text                          :class:`~formcoach.cues.recording.RecordingSpeaker`
                                                   (busy for the spoken length of each cue)
========== ====================================== =========================================

so the cues of ``analyze`` are, by construction, the cues ``live`` would have said on the same
frames. Each rep's metrics are computed once, when its end is final (the next rep has been
counted, or the stream ended), and handed to ``on_rep`` (the session database saves them rep by
rep); the set's metrics fill :attr:`SessionResult.metrics`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from formcoach.clock import Clock, FrameClock
from formcoach.coach.coverage import not_judged_reasons, rep_judged, screen_lines, view_advice
from formcoach.coach.framing import REASONS
from formcoach.coach.pipeline import Coach
from formcoach.coach.result import CueEvent, FrameHistory, SessionResult
from formcoach.coach.setup_gate import SetupChecker
from formcoach.cues.kinds import READY_RULE_ID, SETUP_PREFIX, STOP_RULE_ID
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import Speaker
from formcoach.errors import SourceError
from formcoach.kinematics.velocity import StopAtVL, body_height_px, smooth_window
from formcoach.metrics import (
    RepMetrics,
    Series,
    SetMetrics,
    apply_coverage,
    metric_joints,
    rep_metrics,
    rep_velocity,
    set_metrics,
)
from formcoach.pose.stream import PosedFrame
from formcoach.rules.explain import feature_unit
from formcoach.types import NS_PER_S, Attempt, Cue, Fault, FrameState, RepEvent

log = logging.getLogger(__name__)

__all__ = ["ATTEMPT_PRIORITY", "ATTEMPT_RULE_ID", "STOP_CUE", "STOP_PRIORITY", "STOP_RULE_ID",
           "FrameUpdate", "SessionSinks", "run_session"]

#: Cue rule id and priority of "that one didn't count" (the pack's ``attempt_cue``): above
#: praise (0), at the lowest rule severity, so a form correction wins over it.
ATTEMPT_RULE_ID = "attempt"
ATTEMPT_PRIORITY = 1
#: The ``--stop-at-vl`` cue: said once the velocity loss has stayed past the threshold for two
#: consecutive reps; above every rule severity (the set is over: no correction matters more).
#: It is offered again every frame until spoken, so a busy speaker delays it, never drops it.
STOP_PRIORITY = 10
STOP_CUE = "that's the set"
#: How long after the setup passed its "ready" cue waits for the speaker (s): a setup request
#: just before it ("turn sideways") may still be playing, and "ready" must not be lost.
READY_FRESH_S = 3.0


@dataclass(slots=True)
class FrameUpdate:
    """What a display sink gets after each frame.

    Attributes:
        posed: the frame and its pose.
        state: the coach's state (None while the setup gate holds counting back).
        rep_count: reps counted so far.
        cue: the cue handed to the speaker at this frame, if any.
        setup_ok: None without a setup gate, else whether it has passed.
        setup_message: what the gate asks the person to fix (None when ok).
        muted: whether the speaker is muted.
        view: the view detected for this frame.
        not_judged: ``rule: why`` for each rule not judged on the last rep (before the first
            rep: not judgeable from the current view), for the top of the live screen.
    """

    posed: PosedFrame
    state: FrameState | None
    rep_count: int
    cue: CueEvent | None
    setup_ok: bool | None
    setup_message: str | None
    muted: bool
    view: str
    not_judged: list[str] = field(default_factory=list)


@dataclass(slots=True)
class SessionSinks:
    """Where a session's events go besides the result (all optional).

    Attributes:
        on_frame: after every frame; returns ``"quit"`` to end the session, ``"mute"`` to
            toggle the speaker, or None.
        on_cue: each cue as it is handed to the speaker (the CLI prints it).
        on_rep: each rep's final metrics (saving rep by rep).
    """

    on_frame: Callable[[FrameUpdate], str | None] | None = None
    on_cue: Callable[[CueEvent], None] | None = None
    on_rep: Callable[[RepMetrics], None] | None = None


def run_session(
    stream: Iterable[PosedFrame],
    coach: Coach,
    scheduler: CueScheduler,
    speaker: Speaker,
    clock: Clock,
    *,
    fps: float,
    backend: str,
    source: str,
    image_size: tuple[int, int] = (0, 0),
    model_sha256: str = "",
    time_base: Callable[[], int] | None = None,
    gate: SetupChecker | None = None,
    sinks: SessionSinks | None = None,
    history_limit_s: float | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    dropped: Callable[[], int] | None = None,
    baseline_rom_deg: float | None = None,
    interrupt_ends_set: bool = True,
    stop_at_vl_pct: float | None = None,
    height_cm: float | None = None,
) -> SessionResult:
    """Run one set to the end of ``stream`` (or a quit / ``stop`` / ``max_seconds``).

    Args:
        stream: frames with poses (:func:`~formcoach.pose.stream.estimate_poses`,
            :func:`~formcoach.pose.stream.replay_track`).
        coach: the per-frame pipeline (with its rules engine).
        scheduler: the cue policy, on ``clock``.
        speaker: where cues go (never blocks).
        clock: the session clock; a :class:`~formcoach.clock.FrameClock` makes the session
            offline (it is moved to each frame's timestamp before the frame is processed).
        fps, backend, source, image_size, model_sha256: describe the input (for the result).
        time_base: returns the clock ns of source time 0, read at the first frame (a live
            source's ``start_ns``); default: the moment the first frame arrived minus its
            timestamp, updated every frame (staleness counts from when a frame arrived).
        gate: setup check that must pass before counting starts (live).
        sinks: display, cue and rep sinks.
        history_limit_s: keep per-frame series for this many seconds (None: all; never less
            than two of the exercise's longest reps, ``2 * max_rep_s``).
        max_seconds: stop after this much wall time.
        stop: set from another thread to end the session.
        dropped: how many frames the source dropped so far (live sources).
        baseline_rom_deg: the user's baseline ROM of the counting signal (scores).
        interrupt_ends_set: Ctrl-C ends the set cleanly and returns it (live); False lets it
            propagate (an offline analysis is aborted and its set marked interrupted).
        stop_at_vl_pct: say :data:`STOP_CUE` once the velocity loss of two consecutive reps
            is past this percentage (None: never). Each rep is checked once its end is final
            and the frames its velocity is measured on are in.
        height_cm: the user's height, for velocities in m/s (None: body heights/s only).

    Returns:
        The :class:`SessionResult`; a source failure ends the session with ``stopped_by =
        "error"`` and keeps everything up to it.
    """
    run = _Run(coach, scheduler, speaker, clock, sinks or SessionSinks(), gate, fps,
               history_limit_s, stop_at_vl_pct, height_cm)
    stopped_by, error = "end", None
    try:
        for posed in stream:
            action = run.step(posed, time_base)
            if action is None and stop is not None and stop.is_set():
                action = "user"
            if action is None and max_seconds is not None and run.wall_s() >= max_seconds:
                action = "max_seconds"
            if action is not None:
                stopped_by = action
                break
    except KeyboardInterrupt:
        if not interrupt_ends_set:
            raise
        stopped_by = "user"
        log.info("interrupted: ending the set")
    except SourceError as e:
        stopped_by, error = "error", str(e)
        log.error("%s", e)
    return run.finish(stopped_by, error, backend=backend, source=source, image_size=image_size,
                      model_sha256=model_sha256, dropped=dropped() if dropped else 0,
                      baseline_rom_deg=baseline_rom_deg)


class _Run:
    """The state of one running session (see :func:`run_session`)."""

    def __init__(self, coach: Coach, scheduler: CueScheduler, speaker: Speaker, clock: Clock,
                 sinks: SessionSinks, gate: SetupChecker | None, fps: float,
                 history_limit_s: float | None, stop_at_vl_pct: float | None = None,
                 height_cm: float | None = None) -> None:
        self.coach, self.scheduler, self.speaker, self.clock = coach, scheduler, speaker, clock
        self.sinks, self.gate, self.fps = sinks, gate, fps
        self.offline = isinstance(clock, FrameClock)
        ex = coach.exercise
        self.joints = metric_joints(ex.metrics, coach.names)
        # Never fewer frames than two of the longest reps: a rep is measured once the next
        # one is counted, from frames that must still be there.
        floor = round(2 * ex.count.max_rep_s * fps) + coach.lag + 2
        limit = None if history_limit_s is None else max(floor, round(history_limit_s * fps))
        self.hist = FrameHistory(coach.names, limit)
        self.reps: list[RepEvent] = []
        self.faults: list[Fault] = []
        self.cues: list[CueEvent] = []
        self.measured: list[RepMetrics] = []
        self.views: Counter[str] = Counter()
        # Coverage: the view of each recent coached frame, and each counted rep's majority view.
        self.frame_views: deque[tuple[int, str]] = deque(maxlen=floor)
        self.rep_views: dict[int, str] = {}
        self._live_key: tuple[int, str, frozenset[str]] = (-1, "", frozenset())
        self._live_lines: list[str] = []
        self.played_before = speaker.played
        self.setup_passed = gate is None
        self._held: list[PosedFrame] = []  # the setup hold's frames, coached once it passes
        self._ready: tuple[Fault, int] | None = None  # the "ready" cue, kept fresh until ns
        self.t0_wall = time.monotonic()
        self.first_t: int | None = None
        self.frames = 0
        self.pose_frames = 0
        self._framing_said: str | None = None
        # Velocity loss: the pack's moving point, the stop rule and how far it has looked.
        self.point = ex.velocity_point if ex.kind == "reps" else ""
        self.height_cm = height_cm
        self.stop = StopAtVL(stop_at_vl_pct) if stop_at_vl_pct is not None and self.point \
            else None
        self.stop_at_vl_pct = stop_at_vl_pct
        self.vl_checked = 0  # reps fed to self.stop
        self._set_height: float | None = None  # see _height_px
        self.stop_due = False  # the stop cue is to be said (offered each frame until spoken)
        # Frames after a rep's end its velocity may read (half a smoothing window, with room
        # for a source faster than its nominal fps).
        self.vl_wait = smooth_window(2.0 * fps) // 2 + 1

    def wall_s(self) -> float:
        return time.monotonic() - self.t0_wall

    def step(self, posed: PosedFrame, time_base: Callable[[], int] | None) -> str | None:
        """One frame; returns ``"user"`` when the display asked to quit, else None."""
        t = posed.pose.t_ns
        self._tick(t, time_base)
        self.frames += 1
        self.pose_frames += posed.pose.detected
        state: FrameState | None = None
        setup_msg: str | None = None
        coach_ns = posed.pose_ns
        if self.gate is not None and not self.gate.passed:
            view, setup_msg = self._gate(self.gate, posed)
            if self.gate.passed:
                # The frames of the hold were set up right: coach them now, so a person who
                # starts at once (a recording played as a camera) loses no rep to the hold.
                for held in self._held:
                    self._coach(held)
                self._held.clear()
                state = self._coach(posed)
                coach_ns = self.clock.now_ns()
            elif self.gate.holding:
                self._held.append(replace(posed, frame=None))  # the pose only
            else:
                self._held.clear()
        else:
            state = self._coach(posed)
            coach_ns = self.clock.now_ns()
            view = state.view
        self.views[view] += 1
        if self._ready is not None:
            ready, until = self._ready
            if t <= until and any(c.text == ready.cue for c in self.scheduler.pending):
                self.scheduler.refresh(ready, max(t, self._now_src()))
            else:
                self._ready = None
        if self.stop_due:
            self.scheduler.note(STOP_RULE_ID, STOP_CUE, STOP_PRIORITY, t, detected_t_ns=t)
        cue = _speak(self.scheduler, self.speaker, self.clock, t, self.first_t, posed, coach_ns)
        if cue is not None:
            if cue.rule_id == STOP_RULE_ID:
                self.stop_due = False
            self.cues.append(cue)
            if self.sinks.on_cue is not None:
                self.sinks.on_cue(cue)
        if self.sinks.on_frame is None:
            return None
        action = self.sinks.on_frame(FrameUpdate(
            posed, state, len(self.reps), cue, None if self.gate is None else self.gate.passed,
            setup_msg, self.speaker.muted, view, self._live_coverage(view)))
        if action == "mute":
            self.speaker.muted = not self.speaker.muted
        return "user" if action == "quit" else None

    def _tick(self, t: int, time_base: Callable[[], int] | None) -> None:
        """Move the clock (offline) or the scheduler's time base (live) to frame time ``t``."""
        if self.first_t is None:
            self.first_t = t
            if time_base is not None and not self.offline:
                self.scheduler.time_base_ns = time_base()
        if isinstance(self.clock, FrameClock):
            if t > self.clock.now_ns():
                self.clock.set(t)
        elif time_base is None:
            self.scheduler.time_base_ns = self.clock.now_ns() - t

    def _gate(self, gate: SetupChecker, posed: PosedFrame) -> tuple[str, str | None]:
        """Before counting: the setup check; returns (view, what to fix or None)."""
        view = self.coach.view_of(posed.pose)
        if posed.frame is None:
            raise ValueError("a setup gate needs the images (not a pose track)")
        st = gate.update(posed.frame.image, posed.pose.landmarks, posed.pose.t_ns, view=view)
        if gate.passed:
            self.setup_passed = True
            # Short, so it does not hold back the first rep's cue; the advice still open (a
            # better view, framing it stopped waiting on) was said just before and stays on
            # the screen as what is not judged or not counted.
            code = gate.advice_code
            ready = "ready, counting what I can see" if code and not code.startswith("view_") \
                else "ready, start when you are"
            # Said even while the speaker is still busy with the last setup request: it is
            # kept fresh (not dropped as late) for READY_FRESH_S.
            # An announcement of now, not advice about a frame: a live loop running behind
            # its frames (start-up, frames dropped) must not drop it as late.
            self._ready = (self._submit_setup(READY_RULE_ID, ready, posed, self._now_src()),
                           posed.pose.t_ns + round(READY_FRESH_S * NS_PER_S))
            return view, None
        if st.problems and st.problems[0] != "holding" and st.message:
            self._submit_setup(f"{SETUP_PREFIX}{st.problems[0]}", st.message, posed)
        return view, st.message

    def _submit_setup(self, rule_id: str, text: str, posed: PosedFrame,
                      now_src: int | None = None) -> Fault:
        fault = Fault(rule_id=rule_id, exercise="setup", cue=text, severity=1,
                      t_ns=posed.pose.t_ns, frame_index=posed.index, value=float("nan"),
                      threshold=float("nan"))
        self.scheduler.submit(fault, detected_t_ns=now_src)
        return fault

    def _now_src(self) -> int:
        """The clock's now in source time (offline: the current frame's time)."""
        return int(self.clock.now_ns() - self.scheduler.time_base_ns)

    def _coach(self, posed: PosedFrame) -> FrameState:
        """Counting: the coach's frame, its faults and reps to the scheduler."""
        t = posed.pose.t_ns
        state = self.coach.update(posed.pose)
        # The history keeps what the model saw (overlay, velocity); the counter and the rules
        # did not use a dropped (implausible) pose: state.pose is empty there.
        self.hist.append(t, state.signal, state.features, posed.pose.landmarks,
                         posed.pose.back_bulge)
        self._framing_guidance(posed)
        for f in state.faults:
            self.faults.append(f)
            self.scheduler.submit(f, detected_t_ns=t)
        for f in self.coach.provisional:
            self.scheduler.refresh(f, t)  # its rep is still under way: the cue is not late yet
        self._withdraw(self.coach.take_retracted())
        self.frame_views.append((state.index, state.view))
        if state.new_reps:
            self._measure()  # the previous reps' ends are final once a new rep is counted
        for rep in state.new_reps:
            self.reps.append(rep)
            self.scheduler.rep_completed(rep, detected_t_ns=t, judged=self._judged(rep))
        for a in state.new_attempts:
            self._attempt_cue(a, t)
        if self.stop is not None:
            self._check_velocity(state.index)
        return state

    def _framing_guidance(self, posed: PosedFrame) -> None:
        """Once per stretch the counter cannot count through (part of the body out of view),
        say how to fix it ("step back so I can see your head")."""
        open_ = self.coach.not_counting
        if open_ is None:
            self._framing_said = None
            return
        reason = open_[0]
        if reason != self._framing_said:
            self._framing_said = reason
            self._submit_setup(f"{SETUP_PREFIX}framing_{reason}", REASONS[reason][1], posed)
    def _series(self) -> Series:
        h = self.hist
        return Series(h.t_ns, h.signal, h.features, self.first_t or 0, h.offset, h.poses)

    def _check_velocity(self, newest: int | None) -> None:
        """Feed the stop rule each rep whose end is final and whose velocity frames are in
        (``newest``: the newest frame index; None at the end of the stream: every rep)."""
        assert self.stop is not None
        open_rep = self.coach.segmenter.open_rep
        while self.vl_checked < len(self.reps):
            rep = self.reps[self.vl_checked]
            if newest is not None and (rep is open_rep or newest < rep.end_frame + self.vl_wait):
                return
            self.vl_checked += 1
            vel = rep_velocity(self._series(), rep, self.point, self.coach.exercise.concentric,
                               self._height_px())
            # a rep of more than one movement is not comparable: it breaks the run, as unknown
            v = vel.mean_bhps if vel is not None and vel.movements == 1 else float("nan")
            if self.stop.add(v):
                self.stop_due = True
                log.info("velocity loss past %.0f%% for two reps at rep %d: that's the set",
                         self.stop.pct, rep.index + 1)

    def _height_px(self) -> float | None:
        """The set's standing height in px, for every rep's velocity: measured once, on the
        first rep whose frames give one (so the live stop rule and the final metrics divide
        by the same number, and per-rep estimation noise cannot move a rep's VL); None until
        then (a rep then uses its own)."""
        if self._set_height is None:
            series = self._series()
            for rep in self.reps:
                s0 = min(max(rep.start_frame - series.offset, 0), len(series.signal) - 1)
                e0 = min(max(rep.end_frame - series.offset, s0), len(series.signal) - 1)
                if series.poses is None or e0 <= s0:
                    continue
                h = body_height_px(series.poses[s0 : e0 + 1])
                if math.isfinite(h) and h > 0:
                    self._set_height = float(h)
                    break
        return self._set_height

    def _withdraw(self, gone: list[Fault]) -> None:
        """Provisional faults the final verdict did not confirm: out of the result, and their
        cues withdrawn when not yet spoken."""
        for f in gone:
            self.faults = [g for g in self.faults if g is not f]
            self.scheduler.withdraw(f)

    def _judged(self, rep: RepEvent) -> bool:
        """Note the rep's majority view; whether at least one rule was assessed on it."""
        views = [v for i, v in self.frame_views
                 if rep.start_frame <= i <= rep.counted_frame and v != "unknown"]
        self.rep_views[rep.index] = (self.coach.fixed_view or (
            max(dict.fromkeys(reversed(views)), key=views.count) if views else self.coach.view))
        return self._coverage(rep.index)[0]

    def _live_coverage(self, view: str) -> list[str]:
        """Short ``Fault, fault: why`` lines for the live screen (:func:`screen_lines`): the last
        rep's unjudged rules, or before the first rep those the current view cannot judge
        (recomputed only on a change)."""
        engine = self.coach.rules
        if engine is None:
            return []
        # The last rep's top rules wait for its top: pending, not "not judged" (and the lines
        # change once they are judged).
        waiting = engine.awaiting_top(self.reps[-1].index) if self.reps else frozenset()
        key = (len(self.reps), view if not self.reps else "", waiting)
        if key != self._live_key:
            if self.reps:
                last = self.reps[-1].index
                why = not_judged_reasons([r for r in engine.rules if r.id not in waiting],
                                         {last: engine.rep_status.get(last, {})},
                                         self.rep_views, view)
            else:
                why = not_judged_reasons(engine.rules, {}, {}, view) if view != "unknown" else {}
            self._live_key, self._live_lines = key, screen_lines(why)
        return self._live_lines

    def _coverage(self, index: int) -> tuple[bool, list[str]]:
        """``(judged, rule ids not judged)`` of rep ``index`` (no rules: nothing is judged)."""
        engine = self.coach.rules
        if engine is None:
            return False, []
        return rep_judged(engine.rep_status.get(index, {}), [r.id for r in engine.rules])

    def _attempt_cue(self, a: Attempt, t: int) -> None:
        """Say the pack's ``attempt_cue`` ("that one didn't count") for an uncounted attempt."""
        text = self.coach.exercise.attempt_cue
        if text:
            self.scheduler.note(ATTEMPT_RULE_ID, text, ATTEMPT_PRIORITY, a.end_ns,
                                detected_t_ns=t)

    def _measure(self) -> None:
        """Metrics of every rep not yet measured (their ends are final), handed to ``on_rep``."""
        todo = self.reps[len(self.measured):]
        if not todo:
            return
        series = self._series()
        height_m = self.height_cm / 100.0 if self.height_cm is not None else None
        for rep in todo:
            rm = rep_metrics(series, rep, self.joints, self.faults, point=self.point,
                             height_m=height_m, concentric=self.coach.exercise.concentric,
                             height_px=self._height_px() if self.point else None)
            judged, missing = self._coverage(rep.index)
            apply_coverage(rm, self.rep_views.get(rep.index, self.coach.view), judged, missing)
            self.measured.append(rm)
            if self.sinks.on_rep is not None:
                self.sinks.on_rep(rm)

    def finish(self, stopped_by: str, error: str | None, *, backend: str, source: str,
               image_size: tuple[int, int], model_sha256: str, dropped: int,
               baseline_rom_deg: float | None) -> SessionResult:
        """Flush the coach, measure the last reps, and build the result."""
        coach, hist = self.coach, self.hist
        if self.setup_passed:
            new, late = coach.finish()  # reps counted in the last few frames
            self.faults.extend(late)
            self._withdraw(coach.take_retracted())
            self.reps.extend(new)
            for rep in new:
                self._judged(rep)
        self.faults.sort(key=lambda f: (f.t_ns, f.rule_id))
        self._measure()
        if self.stop is not None:
            self._check_velocity(None)
        seen = {k: v for k, v in self.views.items() if k != "unknown"}
        view = coach.fixed_view or (max(seen, key=lambda k: seen[k]) if seen else "unknown")
        rules = coach.rules.rules if coach.rules is not None else []
        engine_status = coach.rules.rep_status if coach.rules is not None else {}
        sm = set_metrics(coach.exercise.id, self.measured, frames=self.frames,
                         pose_frames=self.pose_frames, duration_s=_duration_s(hist),
                         joints=self.joints, not_assessed=coach.not_assessed(),
                         baseline_rom_deg=baseline_rom_deg,
                         not_judged=not_judged_reasons(rules, engine_status, self.rep_views, view),
                         view_advice=view_advice(rules, view),
                         attempts=coach.attempts, stop_at_vl_pct=self.stop_at_vl_pct,
                         stop_rep=(self.stop.stop_rep + 1) if self.stop is not None
                         and self.stop.stop_rep is not None else 0,
                         height_cm=self.height_cm, fps=self.fps,
                         rom_unit=feature_unit(coach.exercise.count.signal) or "",
                         hold=coach.exercise.kind == "hold")
        _hold_metrics(sm, coach)
        cues_played, audio_problem = (None, None) if self.offline else _count_played(
            self.speaker, self.played_before)
        return SessionResult(
            exercise=coach.exercise, fps=self.fps, backend=backend, source=source,
            image_size=image_size, t_ns=hist.t_ns.copy(), signal=hist.signal.copy(),
            features={k: v.copy() for k, v in hist.features.items()}, poses=hist.poses.copy(),
            back_bulge=hist.back_bulge.copy(),
            reps=self.reps, faults=self.faults, cues=self.cues, metrics=sm, frames=self.frames,
            pose_frames=self.pose_frames, dropped=dropped, frame_offset=hist.offset,
            model_sha256=model_sha256,
            view=view, attempts=list(coach.attempts), not_counted=list(coach.not_counted),
            setup_passed=self.setup_passed, stopped_by=stopped_by, error=error,
            wall_s=self.wall_s(), cues_played=cues_played, audio_problem=audio_problem,
            simulated_cues=self.offline, start_ns=self.first_t or 0,
        )


def _hold_metrics(sm: SetMetrics, coach: Coach) -> None:
    """A hold's time held in position and in good form (from the rules engine's hold timer;
    counting only: the holds' durations, form unknown)."""
    if coach.exercise.kind != "hold":
        return
    if coach.rules is None:
        sm.held_s = float(sum(r.duration_s for r in sm.reps))
        return
    timer = coach.rules.hold
    sm.held_s, sm.good_form_s, sm.holds = timer.held_s, timer.good_s, list(timer.holds)


def _duration_s(hist: FrameHistory) -> float:
    t = hist.t_ns
    return float((t[-1] - t[0]) / NS_PER_S) if len(t) > 1 else 0.0


def _speak(
    scheduler: CueScheduler, speaker: Speaker, clock: Clock, t_ns: int, first_t: int | None,
    posed: PosedFrame, coach_ns: int,
) -> CueEvent | None:
    """Hand the scheduler's next cue (if any, and the speaker is free) to the speaker."""
    cue: Cue | None = scheduler.poll(speaker_busy=speaker.busy)
    if cue is None:
        return None
    say_ns = clock.now_ns()
    speaker.say(cue)
    t0 = first_t or 0
    return CueEvent(
        rule_id=cue.rule_id, text=cue.text, priority=cue.priority,
        fault_t_ns=cue.fault_t_ns - scheduler.time_base_ns - t0, emit_t_ns=t_ns - t0,
        created_ns=cue.created_ns, taken_ns=posed.taken_ns, pose_ns=posed.pose_ns,
        coach_ns=coach_ns, say_ns=say_ns,
    )


def _count_played(speaker: Speaker, before: int | None, wait_s: float = 5.0
                  ) -> tuple[int | None, str | None]:
    """(cues played during the session, audio problem), once the last cue has finished."""
    if before is None:
        return None, speaker.audio_problem
    try:
        speaker.wait_idle(timeout_s=wait_s)  # the last cue may still be playing: count it
    except KeyboardInterrupt:  # a second Ctrl-C must not lose the set
        log.info("interrupted: not waiting for the last cue")
    after = speaker.played
    return (None if after is None else after - before), speaker.audio_problem
