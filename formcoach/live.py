"""Live coaching: camera (or a video played as a camera) → pose → Coach → rules → cues.

Sources:

* :class:`CameraSource`: a capture thread reads the camera continuously; the consumer always gets
  the **newest** frame (older ones are dropped and counted), and the thread reconnects when the
  camera stops delivering.
* :class:`PacedVideoSource`: plays a file in real time as if it were a camera (frame ``i`` becomes
  available at its timestamp), dropping frames the consumer was too slow to take.

Both give frames whose ``t_ns`` is their capture time relative to ``start_ns`` (a
:func:`time.monotonic_ns` value): frame capture happened at ``start_ns + t_ns``. That is the
time base of the :class:`~formcoach.cues.scheduler.CueScheduler`, so a cue's staleness and its
latency count from the capture of its fault frame.

:func:`run_live` is the loop: the same :class:`~formcoach.coach.pipeline.Coach` pipeline as ``analyze``
with the rules engine as observer, a setup check before counting, the cue scheduler, a
non-blocking :class:`~formcoach.cues.speech.Speaker`, and an optional OpenCV window with the overlay
(q quits, m mutes). Ctrl-C ends the set cleanly and returns the summary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.clock import Clock, MonotonicClock
from formcoach.cues.scheduler import CueScheduler
from formcoach.cues.speech import Speaker
from formcoach.errors import SourceError
from formcoach.sources.camera import _cv2
from formcoach.types import Cue, Fault, Frame, PoseResult, RepEvent

log = logging.getLogger(__name__)



def display_available() -> bool:
    """True when a GUI window can open (X11 or Wayland display set; always on macOS/Windows)."""
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


# =========================================================================== live loop
@dataclass(slots=True)
class LiveResult:
    """Summary of one live set.

    Attributes:
        exercise: exercise id.
        reps: reps counted (RepEvents, source time).
        faults: every fault the rules engine reported.
        cues: cues handed to the speaker, in order.
        frames: frames processed; ``dropped``: frames the source dropped (consumer too slow).
        duration_s: wall-clock length of the set.
        setup_passed: whether counting ever started (True when skipped).
        stopped_by: ``"end"`` (source ended), ``"user"`` (q / Ctrl-C), ``"max_seconds"`` or
            ``"error"`` (the source failed: ``error`` says why).
        analysis: the per-frame AnalysisResult (for per-rep metrics), or None when the set ran
            past ``history_limit_s`` (``history_truncated``): then only RepEvents are kept, so
            memory stays flat however long the session runs.
        cue_events: per cue: ``rule_id``, ``text``, ``fault_t_ns`` (source ns), ``emit_t_ns``
            (source time of the frame during whose processing it was handed to the speaker).
        cues_played: how many of ``cues`` an audio device verifiably played (the speaker's
            ``played``); None when the speaker does not report it. The rest were text only.
        audio_problem: why cues were not voiced (``"no audio device"``...), None if audio worked.
    """

    exercise: str
    reps: list[RepEvent] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    frames: int = 0
    dropped: int = 0
    duration_s: float = 0.0
    setup_passed: bool = False
    stopped_by: str = "end"
    cue_events: list[dict[str, Any]] = field(default_factory=list)
    analysis: Any = None
    error: str | None = None
    history_truncated: bool = False
    cues_played: int | None = None
    audio_problem: str | None = None

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    @property
    def fps(self) -> float:
        return self.frames / self.duration_s if self.duration_s > 0 else 0.0

    def summary_lines(self) -> list[str]:
        """Human-readable set summary."""
        lines = [
            f"set: {self.exercise}, {self.rep_count} reps in {self.duration_s:.1f} s "
            f"({self.frames} frames at {self.fps:.1f} fps, {self.dropped} dropped)",
        ]
        if not self.setup_passed:
            lines.append("setup never passed: no reps were counted")
        by_rule = Counter(f.rule_id for f in self.faults)
        faulted_reps = {f.rep_index for f in self.faults if f.rep_index is not None}
        if self.reps:
            clean = sum(1 for r in self.reps if r.index not in faulted_reps)
            lines.append(f"clean reps: {clean}/{self.rep_count}")
        if by_rule:
            lines.append(
                "faults: " + ", ".join(f"{rule} x{n}" for rule, n in by_rule.most_common())
            )
        else:
            lines.append("faults: none")
        lines.append(self.cue_line())
        return lines

    def cue_line(self) -> str:
        """``cues spoken: N``, counting only cues that played, with why the rest did not."""
        n = len(self.cues)
        if self.cues_played is None:
            return f"cues: {n} (the speaker does not report whether they played)"
        played = min(self.cues_played, n)
        if played == n and self.audio_problem is None:
            return f"cues spoken: {played}"
        why = self.audio_problem or "muted or too late to say"
        return f"cues spoken: {played} ({why}; {n - played} shown as text)"


def _make_rules(exercise: Any, fps: float) -> tuple[list[Any], Callable[[], list[Fault]]]:
    """The rules engine as Coach observer, and a function returning its new faults."""
    try:
        from formcoach.rules.engine import RulesEngine
    except ImportError as e:
        log.warning("rules engine unavailable (%s): counting reps without form cues", e)
        return [], list
    inbox: list[Fault] = []
    engine = RulesEngine(exercise, fps, on_fault=inbox.append)

    def drain() -> list[Fault]:
        out = inbox[:]
        inbox.clear()
        return out

    return [engine], drain


def cue_texts(exercise: Any) -> list[str]:
    """Every cue text of an exercise's rule pack (for pre-synthesis)."""
    texts = [str(r.get("cue", "")) for r in getattr(exercise, "rules_raw", ()) or ()]
    rules = getattr(exercise, "rules", None)
    if rules:
        texts += [str(getattr(r, "cue", "")) for r in rules]
    return [t for t in dict.fromkeys(texts) if t]


def _state_get(state: Any, name: str, default: Any = None) -> Any:
    return getattr(state, name, default) if state is not None else default


class _Window:
    """The optional OpenCV window (q quits, m mutes)."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.cv2 = _cv2()
        self.cv2.namedWindow(title, self.cv2.WINDOW_NORMAL)

    def show(self, image: np.ndarray) -> str | None:
        self.cv2.imshow(self.title, image)
        key = self.cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            return "quit"
        if key == ord("m"):
            return "mute"
        return None

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(self.title)
            self.cv2.waitKey(1)
        except Exception:  # window already gone
            pass


def run_live(
    source: Any,
    exercise: Any,
    estimator: Any,
    speaker: Speaker,
    *,
    window: bool = False,
    skip_setup: bool = False,
    max_seconds: float | None = None,
    scheduler: CueScheduler | None = None,
    clock: Clock | None = None,
    praise: str | None = None,
    setup_hold_s: float = 1.0,
    on_cue: Callable[[Cue], None] | None = None,
    on_frame: Callable[[np.ndarray], None] | None = None,
    on_set_end: Callable[[LiveResult], None] | None = None,
    stop: threading.Event | None = None,
    history_limit_s: float = 900.0,
    extra_observers: Callable[[Any, float], Sequence[Any]] | None = None,
) -> LiveResult:
    """Coach one set live until the source ends, the user quits, or ``max_seconds`` pass.

    Args:
        source: a live source (:class:`CameraSource`, :class:`PacedVideoSource`) or any
            FrameSource (then staleness is measured from when each frame arrived).
        exercise: :class:`~formcoach.exercises.Exercise` or its id / alias / TOML path.
        estimator: a pose estimator (``process(image_bgr, t_ns) -> PoseResult``).
        speaker: where cues go (never blocks).
        window: show the overlay in an OpenCV window; ignored (one info line) without a display.
        skip_setup: count from the first frame, without the setup check.
        max_seconds: stop after this much wall time.
        scheduler: cue policy (default: :class:`CueScheduler` on ``clock``).
        clock: time source shared by the scheduler (default monotonic).
        praise: say this after a clean rep (None: no praise).
        setup_hold_s: seconds the setup must hold before counting starts.
        on_cue: called with each cue handed to the speaker (the CLI prints it).
        on_frame: called with each overlaid BGR frame (recording, tests).
        on_set_end: called with the result when the set ends (e.g. saving it to the store).
        stop: set it from another thread to end the set.
        history_limit_s: per-frame history (for per-rep metrics in reports) is kept for this
            many seconds of frames; past it only rep events are kept (bounded memory).
        extra_observers: ``(rules_engine_or_None, fps) -> observers`` added to the coach after
            the rules engine (e.g. a :class:`~formcoach.store.SetRecorder` saving rep by rep).

    Returns:
        The :class:`LiveResult`.
    """
    from formcoach.coach.pipeline import Coach
    from formcoach.coach.setup_gate import SetupChecker
    from formcoach.exercises import load_exercise
    from formcoach.overlay import OverlayState, draw_overlay

    ex = load_exercise(exercise) if isinstance(exercise, str | Path) else exercise
    clock = clock if clock is not None else MonotonicClock()
    sched = scheduler if scheduler is not None else CueScheduler(clock, praise=praise)
    fps = float(getattr(source, "fps", 30.0) or 30.0)
    observers, drain = _make_rules(ex, fps)
    if extra_observers is not None:
        observers = [*observers, *extra_observers(observers[0] if observers else None, fps)]
    coach = Coach(ex, fps, observers)
    history_frames = max(1, round(history_limit_s * fps))
    checker = None if skip_setup else SetupChecker(tuple(ex.views) or None, hold_s=setup_hold_s)
    view_det = _view_detector()
    result = LiveResult(exercise=ex.id, setup_passed=skip_setup)
    played_before = _speaker_played(speaker)

    win: _Window | None = None
    if window:
        if display_available():
            try:
                win = _Window(f"formcoach - {ex.name}")
            except Exception as e:  # OpenCV built without GUI, display refused...
                log.warning("cannot open a window (%s); running headless", e)
        else:
            log.info("no display (DISPLAY/WAYLAND_DISPLAY unset): running headless")

    t_start = time.monotonic()
    last_tick = t_start
    fps_est = 0.0
    cue_text: str | None = None
    cue_until = 0.0
    live_base = hasattr(source, "start_ns")
    state: Any = None
    first = True
    try:
        for frame in source:
            now_ns = clock.now_ns()
            if first:
                first = False
                # Capture clock of source time 0: the source's, else "this frame arrived now".
                base = int(source.start_ns) if live_base else now_ns - frame.t_ns
                sched.time_base_ns = base
            if not live_base:
                sched.time_base_ns = now_ns - frame.t_ns
            pose: PoseResult = estimator.process(frame.image, frame.t_ns)
            pose_ns = coach_ns = clock.now_ns()
            result.frames += 1
            view = view_det.update(pose.landmarks, pose.world) if view_det is not None else None
            setup_msg: str | None = None
            if checker is not None and not checker.passed:
                st = checker.update(frame.image, pose.landmarks, frame.t_ns, view=view)
                if checker.passed:
                    result.setup_passed = True
                    _submit_text(sched, "setup.ready", "ready, start when you are", frame)
                else:
                    setup_msg = st.message
                    if st.problems and st.problems[0] != "holding" and st.message:
                        _submit_text(sched, f"setup.{st.problems[0]}", st.message, frame)
            else:
                if coach.keep_history and coach.index >= history_frames:
                    coach.keep_history = False
                    result.history_truncated = True
                    log.info("set longer than %.0f s: keeping rep events only from now on",
                             history_limit_s)
                state = coach.update(pose)
                coach_ns = clock.now_ns()
                for f in drain():
                    result.faults.append(f)
                    sched.submit(f, detected_t_ns=frame.t_ns)
                for rep in _state_get(state, "new_reps", ()) or ():
                    result.reps.append(rep)
                    sched.rep_completed(rep, detected_t_ns=frame.t_ns)
            cue = sched.poll(speaker_busy=speaker.busy)
            if cue is not None:
                say_ns = clock.now_ns()
                speaker.say(cue)
                result.cues.append(cue)
                result.cue_events.append(
                    {
                        "rule_id": cue.rule_id,
                        "text": cue.text,
                        "fault_t_ns": cue.fault_t_ns - sched.time_base_ns,
                        "emit_t_ns": frame.t_ns,
                        "created_ns": cue.created_ns,
                        # clock ns: frame taken, pose done, coach+rules done, handed to speaker
                        "taken_ns": now_ns,
                        "pose_ns": pose_ns,
                        "coach_ns": coach_ns,
                        "say_ns": say_ns,
                    }
                )
                cue_text, cue_until = cue.text, time.monotonic() + 2.5
                if on_cue is not None:
                    on_cue(cue)
            t_now = time.monotonic()
            dt = t_now - last_tick
            last_tick = t_now
            if dt > 0:
                fps_est = 1.0 / dt if fps_est == 0 else 0.9 * fps_est + 0.1 / dt
            if t_now > cue_until:
                cue_text = None

            if win is not None or on_frame is not None:
                signal = _state_get(state, "signal")
                ov = OverlayState(
                    landmarks=pose.landmarks,
                    angle_name=_signal_joint(ex, pose.landmarks),
                    angle_deg=float(signal) if signal is not None else None,
                    rep_count=len(result.reps),
                    phase=_state_get(state, "phase"),
                    cue=cue_text,
                    fps=fps_est,
                    view=view,
                    setup_ok=None if checker is None else checker.passed,
                    setup_message=setup_msg,
                    muted=speaker.muted,
                    exercise=ex.name,
                )
                img = draw_overlay(frame.image, ov)
                if on_frame is not None:
                    on_frame(img)
                if win is not None:
                    action = win.show(img)
                    if action == "quit":
                        result.stopped_by = "user"
                        break
                    if action == "mute":
                        speaker.muted = not speaker.muted
            if stop is not None and stop.is_set():
                result.stopped_by = "user"
                break
            if max_seconds is not None and t_now - t_start >= max_seconds:
                result.stopped_by = "max_seconds"
                break
    except KeyboardInterrupt:
        result.stopped_by = "user"
        log.info("interrupted: ending the set")
    except SourceError as e:
        result.stopped_by = "error"
        result.error = str(e)
        log.error("%s", e)
    finally:
        if win is not None:
            win.close()
        close = getattr(source, "close", None)
        if callable(close):
            close()
    if result.setup_passed:
        try:
            analysis = coach.finish()  # flushes reps completed in the last few frames
            result.faults.extend(drain())
            result.reps = list(getattr(analysis, "reps", result.reps))
            result.analysis = None if result.history_truncated else analysis
        except Exception as e:  # a failing summary must not lose the set
            log.warning("could not finish the set cleanly: %s", e)
    result.duration_s = time.monotonic() - t_start
    result.dropped = int(getattr(source, "dropped", 0) or 0)
    _count_played(result, speaker, played_before)
    if on_set_end is not None:
        on_set_end(result)
    return result


def _speaker_played(speaker: Any) -> int | None:
    played = getattr(speaker, "played", None)
    return played if isinstance(played, int) and not isinstance(played, bool) else None


def _count_played(result: LiveResult, speaker: Any, before: int | None, wait_s: float = 5.0) -> None:
    """Fill ``cues_played``/``audio_problem`` once the last cue has finished (or failed)."""
    if before is None:
        return
    wait_idle = getattr(speaker, "wait_idle", None)
    if callable(wait_idle):
        try:
            wait_idle(timeout_s=wait_s)  # the last cue may still be playing: count it honestly
        except KeyboardInterrupt:  # a second Ctrl-C must not lose the set
            log.info("interrupted: not waiting for the last cue")
    after = _speaker_played(speaker)
    result.cues_played = None if after is None else after - before
    problem = getattr(speaker, "audio_problem", None)
    result.audio_problem = problem if isinstance(problem, str) else None


def _submit_text(sched: CueScheduler, rule_id: str, text: str, frame: Frame) -> None:
    sched.submit(
        Fault(
            rule_id=rule_id,
            exercise="setup",
            cue=text,
            severity=1,
            t_ns=frame.t_ns,
            frame_index=frame.index,
            value=float("nan"),
            threshold=float("nan"),
        )
    )


def _view_detector() -> Any:
    try:
        from formcoach.kinematics.view import ViewDetector
    except ImportError:
        return None
    return ViewDetector()


def _signal_joint(ex: Any, landmarks: np.ndarray) -> str | None:
    """The joint-angle key (``left_knee``...) of the counting signal, on the more visible side."""
    from formcoach.skeleton import JOINT_TRIPLES

    sig = str(getattr(getattr(ex, "count", None), "signal", ""))
    if sig in JOINT_TRIPLES:
        return sig
    cands = [f"left_{sig}", f"right_{sig}"]
    if not all(c in JOINT_TRIPLES for c in cands):
        return None
    vis = [np.nansum(landmarks[list(JOINT_TRIPLES[c]), 3]) for c in cands]
    return cands[int(np.argmax(vis))]
