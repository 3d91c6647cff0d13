"""Live coaching: a camera (or a video played as a camera) through the one session loop.

:func:`run_live` adds what only a person in front of the camera needs to
:func:`~formcoach.coach.session.run_session`: the setup gate before counting, the overlay, the
optional window (q quits, m mutes) and the real clock. Ctrl-C ends the set cleanly and returns
the :class:`~formcoach.coach.result.SessionResult`.
"""

from __future__ import annotations

import itertools
import logging
import math
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from formcoach.clock import Clock, MonotonicClock
from formcoach.coach.offline import make_coach
from formcoach.coach.result import CueEvent, SessionResult
from formcoach.coach.screen import ScreenState, layout_for, render_screen
from formcoach.coach.session import FrameUpdate, SessionSinks, run_session
from formcoach.coach.setup_gate import SetupChecker
from formcoach.coach.window import DEFAULT_SIZE, Window, open_window
from formcoach.cues.counting import COUNT_PRIORITY, COUNT_RULE_ID, count_text
from formcoach.cues.kinds import RECOGNISED_RULE_ID, CueKind, cue_kind
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import Speaker
from formcoach.exercises import Exercise
from formcoach.metrics import RepMetrics
from formcoach.overlay import OverlayState, draw_overlay
from formcoach.pose import PoseEstimator
from formcoach.pose.stream import PosedFrame, estimate_poses
from formcoach.rules.engine import RulesEngine
from formcoach.rules.explain import explain_fault, rules_by_id
from formcoach.rules.hold import POSITION_TEXT
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.sources.base import FrameSource, LiveSource
from formcoach.types import NS_PER_S, Cue

log = logging.getLogger(__name__)

__all__ = ["cue_texts", "run_live"]

#: Once a set's target reps are counted, it ends back at the top or this long after, s.
TARGET_GRACE_S = 2.0
#: Seconds of watched frames replayed into the coach once the exercise is recognised.
RECOGNISE_REPLAY_S = 12.0
#: How long a cue's text stays on screen, s.
CUE_SHOWN_S = 2.5


def cue_texts(exercise: Exercise) -> list[str]:
    """Every cue text of an exercise's rule pack (for pre-synthesis)."""
    texts = [str(r.get("cue", "")) for r in exercise.rules_raw] + [exercise.attempt_cue]
    return [t for t in dict.fromkeys(texts) if t]


class _Display:
    """The display sink: the distance screen (:mod:`formcoach.coach.screen`) in the window and
    to ``on_screen``; the annotated camera frame (:func:`draw_overlay`) to ``on_image``."""

    def __init__(self, ex: Exercise, window: Window | None,
                 on_image: Callable[[np.ndarray], None] | None,
                 engine: RulesEngine | None = None, *, target: int | None = None,
                 debug: bool = False,
                 on_screen: Callable[[np.ndarray], None] | None = None,
                 screen_size: tuple[int, int] | None = None,
                 on_key: Callable[[str], None] | None = None) -> None:
        self.ex, self.window, self.on_image = ex, window, on_image
        self.notes = _LiveNotes(ex, engine)
        self.rules = rules_by_id(ex)
        self.target, self.debug, self.on_screen = target, debug, on_screen
        self.screen_size, self.on_key = screen_size, on_key
        self.cue_text: str | None = None
        self.cue_kind: CueKind = "fault"
        self.cue_until = 0.0
        self.fault: tuple[str, tuple[str, ...]] | None = None
        self.fault_until = 0.0
        self.clean_until = 0.0
        self.paused = False
        self.ended = False  # the user quit while paused
        self.fps = 0.0
        self.first_ns: int | None = None
        self._last = time.monotonic()

    def _screen_state(self, u: FrameUpdate, now: float) -> ScreenState:
        st = u.state
        if st is not None:
            if st.faults:
                f = st.faults[-1]
                rule = self.rules.get(f.rule_id)
                self.fault = (f.rule_id, tuple(rule.feature_names) if rule is not None else ())
                self.fault_until = now + CUE_SHOWN_S
            for rep in st.new_reps:
                if not any(f.rep_index == rep.index for f in st.faults):
                    self.clean_until = now + CLEAN_FLASH_S
        fault = self.fault if now <= self.fault_until else None
        t = u.posed.pose.t_ns
        self.first_ns = t if self.first_ns is None else self.first_ns
        message = None
        if u.setup_ok is False:
            message = u.setup_message or "getting ready..."
        debug: list[str] = []
        if self.debug:
            debug.append(f"fps {self.fps:.1f}  view {u.view}")
            if st is not None and math.isfinite(st.signal):
                debug.append(f"{self.ex.count.signal} {st.signal:.0f}  phase {st.phase}")
            debug.extend(self.notes(u, now))
        return ScreenState(
            landmarks=u.posed.pose.landmarks, reps=u.rep_count, target=self.target,
            cue=self.cue_text, cue_kind=self.cue_kind, fault_rule=fault[0] if fault else None,
            fault_features=fault[1] if fault else (), clean_flash=now <= self.clean_until,
            set_s=(t - self.first_ns) / NS_PER_S, exercise=self.ex.name, muted=u.muted,
            paused=self.paused, not_judged=u.not_judged, message=message, debug=debug)

    def __call__(self, u: FrameUpdate) -> str | None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        if dt > 0:
            self.fps = 1.0 / dt if self.fps == 0 else 0.9 * self.fps + 0.1 / dt
        if u.cue is not None:
            self.cue_text, self.cue_until = u.cue.text, now + CUE_SHOWN_S
            self.cue_kind = cue_kind(u.cue.rule_id)
        if now > self.cue_until:
            self.cue_text = None
        if u.posed.frame is None:
            return None
        image = u.posed.frame.image
        if self.on_image is not None:
            lm = u.posed.pose.landmarks
            self.on_image(draw_overlay(image, OverlayState(
                landmarks=lm, angle_name=_signal_joint(self.ex, lm),
                angle_deg=u.state.signal if u.state is not None else None,
                rep_count=u.rep_count, phase=u.state.phase if u.state is not None else None,
                cue=self.cue_text, cue_kind=self.cue_kind, fps=self.fps, view=u.view, setup_ok=u.setup_ok,
                setup_message=u.setup_message, muted=u.muted, exercise=self.ex.name,
                not_judged=u.not_judged, extra=self.notes(u, now))))
        if self.window is None and self.on_screen is None:
            return None
        action = self._present(image, self._screen_state(u, now))
        if action == "next":
            return "quit"  # the set ends; the workout goes on (on_key told it)
        if action == "pause":
            self.paused = not self.paused
            return None
        return action

    def _present(self, image: np.ndarray, state: ScreenState) -> str | None:
        """Draw the screen at the window's size (or ``screen_size``), hand it to
        ``on_screen``, show it; the key action (also told to ``on_key``)."""
        size = self.window.size() if self.window is not None else (
            self.screen_size or DEFAULT_SIZE)
        h, w = image.shape[:2]
        screen = render_screen(layout_for(size, (w, h), self.debug), image, state)
        if self.on_screen is not None:
            self.on_screen(screen)
        action = self.window.show(screen) if self.window is not None else None
        if action is not None and self.on_key is not None:
            self.on_key(action)
        return action

    def hold(self, posed: PosedFrame) -> None:
        """While paused: show the frame (nothing is counted) and read the keys; space
        resumes."""
        if posed.frame is None or (self.window is None and self.on_screen is None):
            self.paused = False  # nothing to unpause from: never hold a headless stream
            return
        action = self._present(posed.frame.image, ScreenState(
            landmarks=posed.pose.landmarks, target=self.target, exercise=self.ex.name,
            paused=True, message="paused: space resumes"))
        if action == "pause":
            self.paused = False
        elif action in ("quit", "next"):
            self.paused = False
            self.ended = True


def _pausable(frames: Iterable[PosedFrame], display: _Display | None) -> Iterator[PosedFrame]:
    """The frames, minus those that arrive while the display is paused (space): a paused set
    counts nothing, and the camera keeps being read so it never lags on resume."""
    for posed in frames:
        if display is not None and display.paused:
            display.hold(posed)
            if display.ended:
                return
            continue
        yield posed


#: Seconds the counter panel and skeleton stay green after a clean rep.
CLEAN_FLASH_S = 1.0


#: Longest line of a fault's explanation on the live screen (longer ones wrap).
FAULT_LINE_CHARS = 48


class _LiveNotes:
    """Status lines of the live screen: a hold's time held and in good form (or why it is not
    timing), and the last fault explained (value against limit) while its cue is shown."""

    def __init__(self, ex: Exercise, engine: RulesEngine | None) -> None:
        self.ex, self.engine = ex, engine
        self.rules = rules_by_id(ex)
        self.fault_text: str | None = None
        self.until = 0.0

    def __call__(self, u: FrameUpdate, now: float) -> list[str]:
        lines: list[str] = []
        eng = self.engine
        if eng is not None and self.ex.kind == "hold" and u.state is not None:
            timer = eng.hold
            state = ("timing" if timer.in_position
                     else "not timing: " + POSITION_TEXT.get(eng.position, eng.position))
            lines.append(f"held {timer.current_held_s:.1f} s, good form "
                         f"{timer.current_good_s:.1f} s ({state})")
        if u.state is not None and u.state.faults:
            f = u.state.faults[-1]
            self.fault_text = f"{f.rule_id}: {explain_fault(f, self.rules.get(f.rule_id))}"
            self.until = now + CUE_SHOWN_S
        if self.fault_text is not None and now <= self.until:
            lines.extend(textwrap.wrap(self.fault_text, FAULT_LINE_CHARS))
        return lines


def run_live(
    source: FrameSource,
    exercise: Exercise,
    estimator: PoseEstimator,
    speaker: Speaker,
    *,
    window: bool = False,
    skip_setup: bool = False,
    max_seconds: float | None = None,
    scheduler: CueScheduler | None = None,
    clock: Clock | None = None,
    praise: str | None = None,
    setup_hold_s: float = 1.0,
    on_cue: Callable[[CueEvent], None] | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    on_rep: Callable[[RepMetrics], None] | None = None,
    stop: threading.Event | None = None,
    history_limit_s: float = 60.0,
    source_name: str = "camera",
    target_reps: int | None = None,
    hold_target_s: float | None = None,
    speak_counts: bool = False,
    on_update: Callable[[FrameUpdate], None] | None = None,
    frames: Iterable[PosedFrame] | None = None,
    debug_overlay: bool = False,
    on_screen: Callable[[np.ndarray], None] | None = None,
    screen_size: tuple[int, int] | None = None,
    on_key: Callable[[str], None] | None = None,
    stop_at_vl_pct: float | None = None,
    height_cm: float | None = None,
) -> SessionResult:
    """Coach one set live until the source ends, the user quits, or ``max_seconds`` pass.

    Args:
        source: a live source (:class:`~formcoach.sources.CameraSource`,
            :class:`~formcoach.sources.PacedVideoSource`) or any FrameSource (then staleness
            is measured from when each frame arrived).
        exercise: the pack.
        estimator: a pose estimator (video running mode).
        speaker: where cues go (never blocks).
        window: show the overlay in an OpenCV window; ignored (one info line) without a display.
        skip_setup: count from the first frame, without the setup check.
        max_seconds: stop after this much wall time.
        scheduler: cue policy (default: :class:`CueScheduler` on ``clock`` with ``praise``).
        clock: time source shared by the scheduler (default monotonic).
        praise: say this after a clean rep (None: no praise).
        setup_hold_s: seconds the setup must hold before counting starts.
        on_cue: called with each cue handed to the speaker (the CLI prints it).
        on_frame: called with each overlaid BGR frame (recording, tests).
        on_rep: called with each rep's final metrics (saving rep by rep).
        stop: set it from another thread to end the set.
        history_limit_s: per-frame series are kept for this many seconds (at least two of the
            longest reps): each rep is measured from them as it ends, so memory stays flat
            however long the session runs.
        source_name: how the result names the source.
        target_reps: end the set once this many reps are counted (a workout's ``reps``).
        hold_target_s: for a hold: end the set once this many seconds were held in position
            (a workout's ``hold_s``).
        speak_counts: say each rep's count ("7", "three more" near ``target_reps``) through the
            scheduler, below every form cue (give the scheduler a zero cooldown for
            :data:`~formcoach.cues.counting.COUNT_RULE_ID`).
        on_update: called with every frame's :class:`FrameUpdate` (e.g. keeping the poses).
        frames: the posed frames to coach (default: ``source`` through ``estimator``);
            :func:`recognise_then_coach` passes the frames it watched, then the rest.
        debug_overlay: show fps, view and the counting angle on the screen.
        on_screen: called with each distance-screen image the window shows (screenshots);
            ``screen_size`` is its size without a window.
        on_key: called with each key action of the window (``quit``, ``mute``, ``pause``,
            ``next``); ``next`` ends the set.
        stop_at_vl_pct, height_cm: say "that's the set" at this velocity loss (%), and the
            user's height for m/s (see :func:`~formcoach.coach.session.run_session`).
    """
    clock = clock if clock is not None else MonotonicClock()
    sched = scheduler if scheduler is not None else CueScheduler(clock, praise=praise)
    fps = float(source.fps or 30.0)
    coach = make_coach(exercise, fps)
    rule_views = [r.views for r in coach.rules.rules] if coach.rules is not None else None
    gate = None if skip_setup else SetupChecker(tuple(exercise.views) or None, hold_s=setup_hold_s,
                                                rule_views=rule_views)
    win = open_window(f"formcoach - {exercise.name}") if window else None
    display = _Display(exercise, win, on_frame, coach.rules, target=target_reps,
                       debug=debug_overlay, on_screen=on_screen, screen_size=screen_size,
                       on_key=on_key) \
        if (win is not None or on_frame is not None or on_screen is not None) else None
    live = source if isinstance(source, LiveSource) else None
    frame_sink: Callable[[FrameUpdate], str | None] | None = display
    if target_reps is not None or hold_target_s is not None or speak_counts \
            or on_update is not None:
        frame_sink = _SetTarget(coach.rules, target_reps, hold_target_s, display,
                                sched if speak_counts else None, on_update)
    try:
        result = run_session(
            _pausable(frames if frames is not None else estimate_poses(source, estimator, clock),
                      display),
            coach, sched, speaker, clock,
            fps=fps, backend=estimator.name, source=source_name, image_size=source.size,
            model_sha256=estimator.model_sha256,
            time_base=(lambda: live.start_ns) if live is not None else None, gate=gate,
            sinks=SessionSinks(on_frame=frame_sink, on_cue=on_cue, on_rep=on_rep),
            history_limit_s=history_limit_s, max_seconds=max_seconds, stop=stop,
            dropped=(lambda: live.dropped) if live is not None else None,
            stop_at_vl_pct=stop_at_vl_pct, height_cm=height_cm,
        )
        result.model = estimator.model
        return result
    finally:
        if win is not None:
            win.close()
        source.close()


def recognise_then_coach(
    source: FrameSource,
    estimator: PoseEstimator,
    speaker: Speaker,
    *,
    clock: Clock | None = None,
    window: bool = False,
    max_wait_s: float | None = None,
    on_recognised: Callable[[Exercise, str], None] | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    **live: Any,
) -> SessionResult | None:
    """``live --exercise auto``: watch until the exercise is recognised from the movement, say
    it ("looks like squats"), then coach it with :func:`run_live` from the frames already seen
    (the reps done while it watched are counted; their cues are stale and dropped). With a
    window the guess stays up for :data:`CONFIRM_S` seconds: ``e`` changes it to the next
    exercise, ``space`` starts at once.

    Args:
        source, estimator, speaker, clock, window: as :func:`run_live`.
        max_wait_s: give up after this long without a sure answer (None: until the source ends).
        on_recognised: called with the exercise and the reason once it is sure.
        on_frame: each overlaid frame while watching and then while coaching.
        live: the other :func:`run_live` arguments (the setup check is skipped: the person is
            already exercising in full view).

    Returns:
        The set's result, or None when the source ended (or ``max_wait_s`` passed) before the
        exercise could be told.
    """
    from formcoach.coach.recognise import RECOGNISABLE, Recogniser
    from formcoach.exercises import load_exercise

    clock = clock if clock is not None else MonotonicClock()
    fps = float(source.fps or 30.0)
    rec = Recogniser(fps)
    keep: deque[PosedFrame] = deque(maxlen=max(1, round(RECOGNISE_REPLAY_S * fps)))
    stream = iter(estimate_poses(source, estimator, clock))
    win = open_window("formcoach - which exercise?") if window else None
    start = clock.now_ns()
    found: str | None = None
    reason = ""
    shown_until: int | None = None  # with a window: the guess stays up to be corrected

    def show(posed: PosedFrame, text: str) -> str | None:
        if posed.frame is None or (win is None and on_frame is None):
            return None
        img = draw_overlay(posed.frame.image, OverlayState(
            landmarks=posed.pose.landmarks, setup_ok=False, exercise="auto",
            setup_message=text))
        if on_frame is not None:
            on_frame(img)
        return win.show(img) if win is not None else None

    try:
        for posed in stream:
            keep.append(PosedFrame(None, posed.pose, posed.index, posed.taken_ns,
                                   posed.pose_ns))
            if found is None:
                r = rec.update(posed.pose)
                if show(posed, r.reason) == "quit":
                    break
                if r.exercise is not None:
                    found, reason = r.exercise, r.reason
                    if win is None:
                        break
                    shown_until = clock.now_ns() + round(CONFIRM_S * NS_PER_S)
                elif max_wait_s is not None and (clock.now_ns() - start) / NS_PER_S > max_wait_s:
                    break
                continue
            # Recognised, window open: "looks like squats (e: change)" for CONFIRM_S.
            name = load_exercise(found).name.lower()
            action = show(posed, f"looks like {name} - e: change, space: start")
            if action == "quit":
                found = None
                break
            if action == "exercise":
                found = RECOGNISABLE[(RECOGNISABLE.index(found) + 1) % len(RECOGNISABLE)]
                reason = "chosen by the user"
                shown_until = clock.now_ns() + round(CONFIRM_S * NS_PER_S)
            elif action == "pause" or (shown_until is not None and clock.now_ns() >= shown_until):
                break
    finally:
        if win is not None:
            win.close()
    if found is None:
        source.close()
        return None
    ex = load_exercise(found)
    from formcoach.pose import set_silhouette
    from formcoach.rules.engine import uses_silhouette

    if uses_silhouette(ex):  # measured from now on (the frames seen so far have none)
        set_silhouette(estimator, True)
    now = clock.now_ns()
    speaker.say(Cue(f"looks like {ex.name.lower()}", 1, RECOGNISED_RULE_ID, now, now))
    if on_recognised is not None:
        on_recognised(ex, reason)
    live.pop("skip_setup", None)
    return run_live(source, ex, estimator, speaker, clock=clock, window=window,
                    skip_setup=True, on_frame=on_frame,
                    frames=itertools.chain(keep, stream), **live)


#: With a window, how long "looks like ..." stays up for the user to change it (e), s.
CONFIRM_S = 3.0


class _SetTarget:
    """A frame sink that offers spoken counts (``counts``: the scheduler), ends the set at its
    target, and hands the frame on to the display.

    Reps: once ``reps`` are counted and the body is back at the top (or
    :data:`TARGET_GRACE_S` after the count, whichever first), so the last rep is whole. A hold:
    once ``hold_s`` seconds were held in position."""

    def __init__(self, engine: RulesEngine | None, reps: int | None, hold_s: float | None,
                 then: Callable[[FrameUpdate], str | None] | None,
                 counts: CueScheduler | None = None,
                 each: Callable[[FrameUpdate], None] | None = None) -> None:
        self.engine, self.reps, self.hold_s, self.then = engine, reps, hold_s, then
        self.counts, self.each = counts, each
        self._reached_ns: int | None = None
        self._said = 0

    def __call__(self, u: FrameUpdate) -> str | None:
        if self.each is not None:
            self.each(u)
        if self.counts is not None and u.rep_count > self._said:
            self._said = u.rep_count
            self.counts.note(COUNT_RULE_ID, count_text(u.rep_count, self.reps), COUNT_PRIORITY,
                             u.posed.pose.t_ns)
        out = self.then(u) if self.then is not None else None
        if out is not None:
            return out
        if self.hold_s is not None and self.engine is not None and \
                self.engine.hold.current_held_s >= self.hold_s:
            return "quit"
        if self.reps is not None and u.rep_count >= self.reps:
            t = u.posed.pose.t_ns
            if self._reached_ns is None:
                self._reached_ns = t
            at_top = u.state is not None and u.state.phase in ("top", "idle")
            # The last count is still to be said: it goes out on the next frames.
            counting = self.counts is not None and any(
                c.rule_id == COUNT_RULE_ID for c in self.counts.pending)
            if (at_top and not counting) or (t - self._reached_ns) / NS_PER_S >= TARGET_GRACE_S:
                return "quit"
        return None


def _signal_joint(ex: Exercise, landmarks: np.ndarray) -> str | None:
    """The joint-angle key (``left_knee``...) of the counting signal, on the more visible side."""
    sig = ex.count.signal
    if sig in JOINT_TRIPLES:
        return sig
    cands = [f"left_{sig}", f"right_{sig}"]
    if not all(c in JOINT_TRIPLES for c in cands):
        return None
    vis = [np.nansum(landmarks[list(JOINT_TRIPLES[c]), 3]) for c in cands]
    return cands[int(np.argmax(vis))]
