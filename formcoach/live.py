"""Live coaching: camera (or a video played as a camera) → pose → Coach → rules → cues.

Sources:

* :class:`CameraSource`: a capture thread reads the camera continuously; the consumer always gets
  the **newest** frame (older ones are dropped and counted), and the thread reconnects when the
  camera stops delivering.
* :class:`PacedVideoSource`: plays a file in real time as if it were a camera (frame ``i`` becomes
  available at its timestamp), dropping frames the consumer was too slow to take.

Both give frames whose ``t_ns`` is their capture time relative to ``start_ns`` (a
:func:`time.monotonic_ns` value): frame capture happened at ``start_ns + t_ns``. That is the
time base of the :class:`~formcoach.rules.scheduler.CueScheduler`, so a cue's staleness and its
latency count from the capture of its fault frame.

:func:`run_live` is the loop: the same :class:`~formcoach.coach.Coach` pipeline as ``analyze``
with the rules engine as observer, a setup check before counting, the cue scheduler, a
non-blocking :class:`~formcoach.speech.Speaker`, and an optional OpenCV window with the overlay
(q quits, m mutes). Ctrl-C ends the set cleanly and returns the summary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError, SourceError
from formcoach.rules.scheduler import Clock, CueScheduler, MonotonicClock
from formcoach.speech import Speaker
from formcoach.types import NS_PER_S, Cue, Fault, Frame, PoseResult, RepEvent

log = logging.getLogger(__name__)


# =========================================================================== sources
class _LatestSlot:
    """A one-frame mailbox: the producer overwrites, the consumer takes the newest."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed = True
            if error is not None and self._error is None:
                self._error = error
            self._cond.notify_all()

    def take(self, timeout_s: float | None = None) -> Frame | None:
        """The newest unseen frame; None once closed and drained. Raises the producer's error."""
        with self._cond:
            while self._frame is None and not self._closed:
                if not self._cond.wait(timeout_s):
                    return None
            if self._frame is None:
                if self._error is not None:
                    raise self._error
                return None
            frame, self._frame = self._frame, None
            self.delivered += 1
            return frame

    @property
    def closed(self) -> bool:
        return self._closed

    def frames(self) -> Iterator[Frame]:
        """Take frames until the producer closes the slot (re-raising its error)."""
        while (frame := self.take(timeout_s=None)) is not None:
            yield frame


class _CaptureTimes:
    """Bounded map ``t_ns -> monotonic capture ns`` (latency measurement)."""

    def __init__(self, size: int = 4096) -> None:
        self._d: OrderedDict[int, int] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, t_ns: int, wall_ns: int) -> None:
        with self._lock:
            self._d[t_ns] = wall_ns
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def get(self, t_ns: int) -> int | None:
        with self._lock:
            return self._d.get(t_ns)


class CameraSource:
    """Frames from a webcam; the newest frame wins.

    Args:
        index: OpenCV camera index (0 = default camera) or a device path / stream URL.
        width, height: requested capture size (the camera may choose another).
        fps: requested capture rate.
        stall_s: no frame for this long counts as a stall and triggers a reconnect.
        max_reconnects: consecutive failed reconnects before giving up (SourceError).
        open_timeout_s: how long to wait for the first frame.

    Raises:
        InputError: no camera at ``index`` (one line, with the fix).
    """

    def __init__(
        self,
        index: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        stall_s: float = 2.0,
        max_reconnects: int = 5,
        open_timeout_s: float = 5.0,
    ) -> None:
        self.index = index
        self._req = (width, height, fps)
        self.stall_ns = round(stall_s * NS_PER_S)
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        cap = self._open()
        if cap is None:
            raise InputError(
                f"no camera at index {index!r} (not connected, busy in another app, or no "
                "permission); try --camera 1, or --source VIDEO to coach from a file"
            )
        deadline = time.monotonic() + open_timeout_s
        first = None
        while time.monotonic() < deadline:
            ok, img = cap.read()
            if ok and img is not None and img.size:
                first = img
                break
            time.sleep(0.05)
        if first is None:
            cap.release()
            raise InputError(
                f"camera {index!r} opened but sent no frames within {open_timeout_s:g} s; "
                "close other apps using it or try another --camera index"
            )
        self._cap = cap
        self.size = (int(first.shape[1]), int(first.shape[0]))
        cv2 = _cv2()
        f = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = f if np.isfinite(f) and 1.0 <= f <= 240.0 else 30.0
        self.start_ns = 0
        self.capture_times = _CaptureTimes()
        self._slot = _LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> Any:
        cv2 = _cv2()
        index = self.index
        if isinstance(index, int) and os.name == "posix" and os.uname().sysname == "Linux":
            if not Path(f"/dev/video{index}").exists():
                return None
        # OpenCV logs multi-line warnings for every backend it tries; keep the user's one line.
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            cap = cv2.VideoCapture(index)
        finally:
            cv2.utils.logging.setLogLevel(old)
        if not cap.isOpened():
            cap.release()
            return None
        w, h, fps = self._req
        if w:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        if h:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        try:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's queue short (stale frames)
        except Exception:  # some backends reject the property
            pass
        return cap

    def _run(self) -> None:
        index = 0
        last_ok = time.monotonic_ns()
        failures = 0
        try:
            while not self._stop.is_set():
                ok, img = self._cap.read()
                now = time.monotonic_ns()
                if ok and img is not None and img.size:
                    last_ok, failures = now, 0
                    t = max(now - self.start_ns, 0)
                    self.capture_times.add(t, now)
                    self._slot.put(Frame(image=img, index=index, t_ns=t))
                    index += 1
                    continue
                if now - last_ok < self.stall_ns:
                    time.sleep(0.01)
                    continue
                # Stalled: reconnect.
                failures += 1
                self.reconnects += 1
                if failures > self.max_reconnects:
                    raise SourceError(
                        f"camera {self.index!r} stopped delivering frames and "
                        f"{self.max_reconnects} reconnects failed; check the cable/driver"
                    )
                log.warning("camera %r stalled; reconnecting (try %d)", self.index, failures)
                self._cap.release()
                time.sleep(min(0.5 * failures, 2.0))
                cap = self._open()
                if cap is not None:
                    self._cap = cap
                last_ok = time.monotonic_ns()
        except BaseException as e:
            self._slot.close(e)
            return
        self._slot.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            self.start_ns = time.monotonic_ns()
            self._thread = threading.Thread(target=self._run, name="formcoach-camera", daemon=True)
            self._thread.start()
        yield from self._slot.frames()

    @property
    def dropped(self) -> int:
        """Frames overwritten before the consumer took them."""
        return self._slot.dropped

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._cap.release()
        self._slot.close()


class PacedVideoSource:
    """A video file played in real time as if it were a camera.

    Frame ``i`` (file timestamp ``t_i``) becomes available at ``start_ns + t_i``; if the
    consumer has not taken the previous frame by then, that one is dropped (``dropped``).

    Args:
        path: video file.
        max_seconds: stop after this much video time (None: whole file).
        clock: time source (:class:`~formcoach.rules.scheduler.MonotonicClock`).

    Raises:
        InputError: the file is not a readable video.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        from formcoach.sources import VideoFileSource

        self._file = VideoFileSource(path)
        self.path = Path(path)
        self.fps = self._file.fps
        self.size = self._file.size
        self.max_ns = None if max_seconds is None else round(max_seconds * NS_PER_S)
        self.clock = clock if clock is not None else MonotonicClock()
        self.start_ns = 0
        self.capture_times = _CaptureTimes()
        self._slot = _LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def _run(self) -> None:
        try:
            for frame in self._file:
                if self._stop.is_set():
                    break
                if self.max_ns is not None and frame.t_ns > self.max_ns:
                    break
                due = self.start_ns + frame.t_ns
                while True:
                    now = self.clock.now_ns()
                    if now >= due or self._stop.is_set():
                        break
                    time.sleep(min((due - now) / NS_PER_S, 0.05))
                self.capture_times.add(frame.t_ns, self.clock.now_ns())
                self._slot.put(frame)
                self.published += 1
        except BaseException as e:
            self._slot.close(e)
            return
        self._slot.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise SourceError("a PacedVideoSource can be iterated only once; create a new one")
        self.start_ns = self.clock.now_ns()
        self._thread = threading.Thread(target=self._run, name="formcoach-paced", daemon=True)
        self._thread.start()
        yield from self._slot.frames()

    def __len__(self) -> int:
        return len(self._file)

    @property
    def dropped(self) -> int:
        """Frames that became stale before the consumer took them."""
        return self._slot.dropped

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._slot.close()


def _cv2() -> Any:  # cv2 has no stubs

    import cv2

    return cv2


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
    from formcoach.coach import Coach
    from formcoach.exercises import load_exercise
    from formcoach.overlay import OverlayState, draw_overlay
    from formcoach.setup_check import SetupChecker

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
        from formcoach.view import ViewDetector
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
