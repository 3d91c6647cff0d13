"""``formcoach live``: coach a set from the webcam (or a video played as if live)."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from formcoach.cli import add_model_argument, add_velocity_arguments, check_velocity_arguments
from formcoach.coach.result import SessionResult
from formcoach.errors import InputError, StoreError
from formcoach.io_utils import display_path
from formcoach.metrics import RepMetrics
from formcoach.pose import BACKENDS, PoseEstimator
from formcoach.types import PoseTrack

if TYPE_CHECKING:
    from formcoach.clock import Clock
    from formcoach.coach.session import FrameUpdate
    from formcoach.coach.window import Window
    from formcoach.coach.workout import PlannedSet, SetOutcome, WorkoutPlan
    from formcoach.cues.speech import Speaker
    from formcoach.exercises import Exercise

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="coach a set live from the webcam: rep count, spoken form cues, overlay",
        description=(
            "Read the webcam (or --source VIDEO played in real time as if it were a camera), "
            "check the setup (framing, distance, light, camera tilt, view), then count reps and "
            "speak one form correction at a time. Keys in the window: q quits, m mutes, f full "
            "screen, space pauses, n next set. "
            "Ctrl-C ends the set and prints its summary. Without a display it runs headless "
            "and prints the cues."
        ),
    )
    p.add_argument("--exercise", "-e", default=None,
                   help="exercise id, alias or rule-pack .toml, or 'auto': recognised from the "
                        "movement within the first reps (not with --workout)")
    p.add_argument("--workout", default=None, metavar="PLAN",
                   help="run a workout plan (a .toml file, or a bundled one: legs_and_push, "
                        "core_basics): sets x reps (or hold seconds) and rest, announced and "
                        "counted down")
    p.add_argument("--sets", type=int, default=None, metavar="N",
                   help="with --exercise: do N sets (a one-exercise workout)")
    p.add_argument("--reps", type=int, default=None, metavar="N",
                   help="target reps per set: the set ends when they are reached")
    p.add_argument("--hold", type=float, default=None, metavar="S",
                   help="for a hold (plank): seconds per set")
    p.add_argument("--rest", type=float, default=None, metavar="S",
                   help="rest between sets, s (default 60)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", type=int, default=0, help="camera index (default: 0)")
    src.add_argument("--source", type=Path, default=None, metavar="VIDEO",
                     help="play a video file as if it were the camera (real-time pacing)")
    p.add_argument("--backend", choices=BACKENDS, default="onnx", help="pose backend (default: onnx)")
    add_model_argument(p, purpose="live")
    p.add_argument("--camera-profile", metavar="NAME",
                   help="undistort landmarks with a camera profile from 'formcoach calibrate camera' "
                        "(a name, a .json path, or 'default')")
    p.add_argument("--no-window", action="store_true", help="never open a window (headless)")
    p.add_argument("--mute", action="store_true", help="start with speech muted (cues still shown)")
    p.add_argument("--voice", default=None, help="TTS voice id or name (default: system voice)")
    p.add_argument("--rate", type=int, default=None, metavar="WPM",
                   help="speech rate in words per minute (80-450, default 175)")
    p.add_argument("--debug-overlay", action="store_true",
                   help="show fps, camera view and the counting angle on the live screen")
    p.add_argument("--count", action="store_true",
                   help="speak each rep's count ('7', 'three more' near a --reps target)")
    p.add_argument("--praise", nargs="?", const="good rep", default=None, metavar="TEXT",
                   help="praise clean reps (default text: 'good rep')")
    p.add_argument("--skip-setup", action="store_true", help="start counting at once, no setup check")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="end the set after S seconds")
    p.add_argument("--db", metavar="PATH", type=Path, default=None,
                   help="history database to save the set in (default: FORMCOACH_DB or the "
                        "user data folder)")
    p.add_argument("--no-save", action="store_true", help="do not save the set in the history")
    p.add_argument("--patient", metavar="NAME",
                   help="save the sets as this patient's (a name or pseudonym; added when new; "
                        "default: the plan's 'patient'), linked to their prescription")
    add_velocity_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.clock import MonotonicClock
    from formcoach.coach.live import cue_texts
    from formcoach.coach.window import display_available
    from formcoach.cues.speech import (
        DEFAULT_RATE_WPM,
        MAX_RATE_WPM,
        MIN_RATE_WPM,
        TextSpeaker,
        create_speaker,
    )
    from formcoach.exercises import load_exercise

    check_velocity_arguments(args)
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise InputError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.rate is not None and not MIN_RATE_WPM <= args.rate <= MAX_RATE_WPM:
        raise InputError(f"--rate {args.rate} is out of range; use {MIN_RATE_WPM}..{MAX_RATE_WPM} wpm")
    plan = _plan_of(args)
    if args.patient is not None:
        from formcoach.store import check_name

        if args.no_save:
            raise InputError("--patient links the saved sets to a patient; drop --no-save")
        args.patient = check_name(args.patient, "--patient")
    elif plan is not None and plan.patient and not args.no_save:
        args.patient = plan.patient
    auto = plan is None and args.exercise.strip().lower() == "auto"
    exercises = ([load_exercise(it.exercise) for it in plan.items] if plan is not None
                 else [] if auto else [load_exercise(args.exercise)])
    window = not args.no_window and display_available()
    clock = MonotonicClock()
    if auto:
        from formcoach.coach.recognise import RECOGNISABLE

        known = [load_exercise(e) for e in RECOGNISABLE]
        texts = [t for ex in known for t in cue_texts(ex)] + [
            f"looks like {ex.name.lower()}" for ex in known] + _setup_texts()
    else:
        texts = [t for ex in exercises for t in cue_texts(ex)] + _setup_texts()
    if args.praise:
        texts.append(args.praise)
    speaker: Speaker
    if args.mute and not window:
        # Text only: without a window nothing can unmute.
        speaker = TextSpeaker(rate=args.rate or DEFAULT_RATE_WPM, clock=clock, reason="muted")
        speaker.muted = True
    else:
        speaker = create_speaker(
            mute=args.mute, voice=args.voice, rate=args.rate, preload=texts, clock=clock
        )
    if not window:
        why = "--no-window" if args.no_window else "no display"
        print(f"formcoach: running headless ({why}); cues are printed here", file=sys.stderr)
    try:
        if plan is None:
            result = _one_set(args, exercises[0] if exercises else None, speaker, clock, window)
            if result is None:
                raise InputError("could not tell the exercise from the movement before the "
                                 "source ended; give --exercise ID")
            for line in result.summary_lines():
                print(line)
            _say_summary(speaker, clock, result)
            if result.error:
                print(f"formcoach: error: {result.error}", file=sys.stderr)
                return 1
            return 0
        return _workout(args, plan, speaker, clock, window)
    finally:
        speaker.close()


def _say_summary(speaker: Speaker, clock: Clock, result: SessionResult) -> None:
    """Say the end-of-set summary ("10 reps, 8 clean, knee valgus on 2") and let it finish."""
    from formcoach.coach.workout import set_summary_text
    from formcoach.cues.kinds import SUMMARY_RULE_ID
    from formcoach.types import Cue

    if speaker.muted or (not result.reps and result.exercise.kind != "hold"):
        return
    text = set_summary_text(result)
    now = clock.now_ns()
    print(f">> {text}", flush=True)
    speaker.say(Cue(text, 0, SUMMARY_RULE_ID, now, now))
    speaker.wait_idle(timeout_s=8.0)


def _plan_of(args: argparse.Namespace) -> WorkoutPlan | None:
    """The workout plan of ``--workout`` or ``--sets/--reps/--hold/--rest``, None for one set."""
    from formcoach.coach.workout import load_plan, plan_from_args

    if args.workout is not None:
        if any(v is not None for v in (args.sets, args.reps, args.hold)):
            raise InputError("--workout already gives sets and reps; drop --sets/--reps/--hold")
        return load_plan(args.workout)
    if args.exercise is None:
        raise InputError("give --exercise ID (or --workout PLAN.toml)")
    if args.sets is None and args.reps is None and args.hold is None:
        return None
    if args.exercise.strip().lower() == "auto":
        raise InputError("--exercise auto recognises the exercise of one set; name it (e.g. "
                         "--exercise squat) to use --sets/--reps/--hold")
    # --sets 0 is refused like --sets -1 (it used to be read as "not given": one set).
    return plan_from_args(args.exercise, 1 if args.sets is None else args.sets, args.reps,
                          60.0 if args.rest is None else args.rest, args.hold)


def _one_set(args: argparse.Namespace, ex: Exercise | None, speaker: Speaker, clock: Clock,
             window: bool, *, stop: threading.Event | None = None,
             on_rep: Callable[[RepMetrics], None] | None = None,
             target_reps: int | None = None,
             hold_target_s: float | None = None,
             on_key: Callable[[str], None] | None = None,
             prescription_id: int | None = None) -> SessionResult | None:
    """Coach one set from the camera or ``--source`` (opened for this set, closed after),
    saving it rep by rep unless ``--no-save``. ``ex`` None: recognise the exercise first
    (``--exercise auto``; None is returned when it never could)."""
    from formcoach.coach.live import recognise_then_coach, run_live
    from formcoach.coach.result import CueEvent
    from formcoach.cues.counting import COUNT_RULE_ID
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.pose import create_estimator
    from formcoach.pose.ladder import resolve_model
    from formcoach.sources import CameraSource, FrameSource, PacedVideoSource

    source: FrameSource
    if args.source is not None:
        source = PacedVideoSource(args.source)
        name = display_path(args.source)
    else:
        source = CameraSource(args.camera)
        name = f"camera:{args.camera}"
    try:
        choice = resolve_model(args.backend, float(source.fps or 30.0), "live", args.model)
        if not getattr(args, "model_said", False):  # once per run, not once per set
            print(f"formcoach: pose model {choice.describe()}", file=sys.stderr)
            args.model_said = True
        from formcoach.rules.engine import uses_silhouette

        estimator: PoseEstimator = create_estimator(
            args.backend, model=choice.model, running_mode="video",
            silhouette=ex is not None and uses_silhouette(ex))
        if args.camera_profile:
            from formcoach.calibration import load_camera_profile
            from formcoach.pose.undistort import UndistortingEstimator

            estimator = UndistortingEstimator(estimator, load_camera_profile(args.camera_profile))
        sched = CueScheduler(clock, praise=args.praise, cooldown_s={COUNT_RULE_ID: 0.0})

        def on_cue(cue: CueEvent) -> None:
            # Cue times are printed in session seconds (source time of the fault frame).
            print(f"[{cue.fault_t_s:7.2f} s] {cue.text}", flush=True)

        saver: _RepByRepSaver | None = None
        poses = None if args.no_save else _PoseRecorder(source.fps or 30.0, estimator)

        def start_saving(exercise: Exercise, why: str = "") -> None:
            nonlocal saver
            if why:
                print(f">> looks like {exercise.name.lower()} ({why})", flush=True)
            if not args.no_save:
                saver = _RepByRepSaver(args.db, exercise.id, name, estimator,
                                       getattr(args, "patient", None), prescription_id)

        def each_rep(rm: RepMetrics) -> None:
            if saver is not None:
                saver.on_rep(rm)
            if on_rep is not None:
                on_rep(rm)

        live = dict(max_seconds=args.max_seconds, scheduler=sched, on_cue=on_cue,
                    source_name=name, on_rep=each_rep, stop=stop, target_reps=target_reps,
                    hold_target_s=hold_target_s, speak_counts=args.count, on_update=poses,
                    debug_overlay=args.debug_overlay, on_key=on_key,
                    stop_at_vl_pct=args.stop_at_vl, height_cm=args.height_cm)
        try:
            if ex is not None:
                start_saving(ex)
                result: SessionResult | None = run_live(
                    source, ex, estimator, speaker, window=window, skip_setup=args.skip_setup,
                    clock=clock, **live)  # type: ignore[arg-type]
            else:
                result = recognise_then_coach(source, estimator, speaker, clock=clock,
                                              window=window, on_recognised=start_saving, **live)
            if result is not None and saver is not None and poses is not None:
                saver.finish(result, poses.track(result.image_size))
        finally:
            estimator.close()
            if saver is not None:
                saver.close()
    finally:
        source.close()
    return result


def _workout(args: argparse.Namespace, plan: WorkoutPlan, speaker: Speaker, clock: Clock,
             window: bool) -> int:
    """Run every set of ``plan``; prints each set's summary and the workout's at the end."""
    from formcoach.coach.workout import WorkoutRunner
    from formcoach.exercises import load_exercise

    def run_set(ps: PlannedSet, stop: threading.Event,
                on_rep: Callable[[RepMetrics], None]) -> SessionResult:
        def key(action: str) -> None:
            if action == "quit":
                stop_workout.set()  # q ends the workout; n (next) only this set

        res = _one_set(args, load_exercise(ps.item.exercise), speaker, clock, window,
                       stop=stop, on_rep=on_rep, target_reps=ps.target,
                       hold_target_s=ps.item.hold_s, on_key=key,
                       prescription_id=ps.item.prescription_id)
        assert res is not None  # the exercise was given
        for line in res.summary_lines():
            print(f"  {line}")
        return res

    stop_workout, nxt = threading.Event(), threading.Event()
    card = _RestCard(window, stop_workout, nxt)
    runner = WorkoutRunner(plan, run_set, speaker, clock, stop=stop_workout, next_set=nxt,
                           on_announce=lambda text: print(f">> {text}", flush=True),
                           on_rest=card)
    try:
        out = runner.run()
    except KeyboardInterrupt:
        stop_workout.set()
        print("formcoach: workout stopped", file=sys.stderr)
        return 130
    finally:
        card.close()
    done = sum(1 for s in out.sets if s.ended_by == "target")
    print(f"workout {plan.name}: {len(out.sets)} of {len(plan.sets())} sets done, {done} to "
          "target")
    errors = [s.result.error for s in out.sets if s.result.error]
    for e in errors:
        print(f"formcoach: error: {e}", file=sys.stderr)
    return 1 if errors else 0


class _RestCard:
    """Shows the end-of-set card (reps, clean, faults, ROM, tempo, rest countdown, what is
    next) in a window during a workout's rest; n skips the rest, q ends the workout."""

    def __init__(self, window: bool, stop: threading.Event, nxt: threading.Event) -> None:
        self.enabled, self.stop, self.nxt = window, stop, nxt
        self.win: Window | None = None

    def __call__(self, done: SetOutcome, left_s: float, upcoming: PlannedSet) -> None:
        from formcoach.coach.screen import render_card, set_card
        from formcoach.coach.window import open_window
        from formcoach.coach.workout import announce_set

        if not self.enabled:
            return
        if self.win is None:
            self.win = open_window("formcoach - rest")
            if self.win is None:
                self.enabled = False
                return
        ps = done.planned
        card = set_card(done.result, f"set {ps.number} of {ps.of}, {ps.item.name}",
                        ps.target, left_s, "next: " + announce_set(upcoming))
        action = self.win.show(render_card(self.win.size(), card))
        if action == "next":
            self.nxt.set()
        elif action == "quit":
            self.stop.set()

    def close(self) -> None:
        if self.win is not None:
            self.win.close()


def _setup_texts() -> list[str]:
    from formcoach.coach.setup_gate import GUIDANCE

    return [*GUIDANCE.values(), "ready, start when you are"]


class _PoseRecorder:
    """Keeps every frame's pose of a live set (about 1 KB a frame) for its saved record."""

    def __init__(self, fps: float, estimator: PoseEstimator) -> None:
        self.fps, self.estimator = float(fps), estimator
        self.landmarks: list[np.ndarray] = []
        self.world: list[np.ndarray] = []
        self.bulge: list[float] = []
        self.t_ns: list[int] = []

    def __call__(self, u: FrameUpdate) -> None:
        pose = u.posed.pose
        self.landmarks.append(pose.landmarks.astype(np.float32))
        self.world.append(pose.world.astype(np.float32))
        self.bulge.append(pose.back_bulge)
        self.t_ns.append(pose.t_ns)

    def track(self, image_size: tuple[int, int]) -> PoseTrack | None:
        if not self.t_ns:
            return None
        return PoseTrack(np.stack(self.landmarks).astype(np.float64),
                         np.stack(self.world).astype(np.float64),
                         np.array(self.t_ns, dtype=np.int64), self.fps, image_size,
                         self.estimator.name, self.estimator.model_sha256 or "",
                         back_bulge=np.array(self.bulge, dtype=np.float64))


class _RepByRepSaver:
    """Saves the live set to the history store as it happens: one transaction per finished rep
    (a crash loses at most the current rep), completed with whole-set metrics at the end."""

    def __init__(self, db: Path | None, exercise_id: str, source: str,
                 estimator: PoseEstimator, patient: str | None = None,
                 prescription_id: int | None = None) -> None:
        from formcoach.store import SetRecorder, Store

        self.store = Store(db, skippable=True)  # a corrupt --db fails here, before coaching starts
        patient_id = None if not patient else self.store.ensure_patient(patient).id
        plan_rx = prescription_id  # the workspace's id: kept for 'formcoach export-sets'
        if prescription_id is not None:
            rx = self.store.prescription(prescription_id)
            if rx is None:  # a home database: the workspace that wrote the plan has it
                log.info("prescription %d of the plan is not in %s; the set keeps it for "
                         "'formcoach export-sets'", prescription_id, self.store.path)
                prescription_id = None
            elif rx.patient_id != patient_id or rx.exercise != exercise_id:
                log.warning("prescription %d of the plan is not %s's %s in %s; the set is "
                            "linked by date instead", prescription_id, patient or "no patient",
                            exercise_id, self.store.path)
                prescription_id = None
        # Live sets are recorded now: the clock is their recording time.
        self.recorder = SetRecorder.begin(self.store, exercise_id, source, None, estimator.name,
                                          estimator.model_sha256 or None, "live",
                                          patient_id=patient_id, prescription_id=prescription_id,
                                          plan_prescription_id=plan_rx)

    def on_rep(self, rm: RepMetrics) -> None:
        try:
            self.recorder.on_rep(rm)
        except StoreError as e:  # saving must never stop the coaching
            log.warning("could not save rep %d: %s", rm.index + 1, e)

    def finish(self, result: SessionResult, track: PoseTrack | None = None) -> None:
        from formcoach.store import save_set_record

        try:
            from formcoach.report.outputs import angles_text, json_text

            self.recorder.finish(result.metrics,
                                 status="interrupted" if result.error else "complete",
                                 document=json_text(result), angles=angles_text(result))
            if track is not None and len(track):
                save_set_record(self.store.path, self.recorder.set_id, track, result.cues)
            print(f"saved as set {self.recorder.set_id} (see 'formcoach history'; report: "
                  f"'formcoach report --set {self.recorder.set_id} OUT.html')", file=sys.stderr)
        except StoreError as e:  # saving the summary must never lose the printed result
            log.warning("could not complete the saved set: %s", e)
            return
        if result.exercise.kind == "reps" and result.reps and not result.error:
            self._next_session(result.exercise.id)

    def _next_session(self, exercise_id: str) -> None:
        """The end of a live set: the next session's suggestion from the history so far, and
        this set's reps in reserve when a profile exists (``formcoach plan`` says the same)."""
        from formcoach.planning import estimate_rir, load_rules, load_summaries, plan_next

        try:
            summaries = load_summaries(self.store, exercise_id)
            profile, why = estimate_rir(summaries)
            plan = plan_next(summaries, load_rules(), exercise_id)
        except StoreError as e:
            log.warning("could not read the history for the next session: %s", e)
            return
        this = summaries[-1] if summaries and summaries[-1].set_id == self.recorder.set_id \
            else None
        if this is not None and this.rir_estimate is not None:
            print(this.rir_estimate.text)
        elif profile is None:
            print(why)
        for line in plan.lines():
            print(line)

    def close(self) -> None:
        self.store.close()
