"""``formcoach live``: coach a set from the webcam (or a video played as if live)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from formcoach.cli import add_model_argument
from formcoach.coach.result import SessionResult
from formcoach.errors import InputError, StoreError
from formcoach.io_utils import display_path
from formcoach.metrics import RepMetrics
from formcoach.pose import BACKENDS, PoseEstimator

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="coach a set live from the webcam: rep count, spoken form cues, overlay",
        description=(
            "Read the webcam (or --source VIDEO played in real time as if it were a camera), "
            "check the setup (framing, distance, light, camera tilt, view), then count reps and "
            "speak one form correction at a time. Keys in the window: q quits, m mutes. "
            "Ctrl-C ends the set and prints its summary. Without a display it runs headless "
            "and prints the cues."
        ),
    )
    p.add_argument("--exercise", "-e", required=True, help="exercise id, alias or rule-pack .toml")
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
    p.add_argument("--praise", nargs="?", const="good rep", default=None, metavar="TEXT",
                   help="praise clean reps (default text: 'good rep')")
    p.add_argument("--skip-setup", action="store_true", help="start counting at once, no setup check")
    p.add_argument("--max-seconds", type=float, default=None, metavar="S",
                   help="end the set after S seconds")
    p.add_argument("--db", metavar="PATH", type=Path, default=None,
                   help="history database to save the set in (default: FORMCOACH_DB or the "
                        "user data folder)")
    p.add_argument("--no-save", action="store_true", help="do not save the set in the history")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.clock import MonotonicClock
    from formcoach.coach.live import cue_texts, run_live
    from formcoach.coach.result import CueEvent
    from formcoach.coach.window import display_available
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.cues.speech import (
        DEFAULT_RATE_WPM,
        MAX_RATE_WPM,
        MIN_RATE_WPM,
        Speaker,
        TextSpeaker,
        create_speaker,
    )
    from formcoach.exercises import load_exercise
    from formcoach.pose import create_estimator
    from formcoach.pose.ladder import resolve_model
    from formcoach.sources import CameraSource, FrameSource, PacedVideoSource

    if args.max_seconds is not None and not args.max_seconds > 0:
        raise InputError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.rate is not None and not MIN_RATE_WPM <= args.rate <= MAX_RATE_WPM:
        raise InputError(f"--rate {args.rate} is out of range; use {MIN_RATE_WPM}..{MAX_RATE_WPM} wpm")
    ex = load_exercise(args.exercise)
    source: FrameSource
    if args.source is not None:
        source = PacedVideoSource(args.source)
        name = display_path(args.source)
    else:
        source = CameraSource(args.camera)
        name = f"camera:{args.camera}"
    try:
        choice = resolve_model(args.backend, float(source.fps or 30.0), "live", args.model)
        print(f"formcoach: pose model {choice.describe()}", file=sys.stderr)
        estimator: PoseEstimator = create_estimator(args.backend, model=choice.model,
                                                    running_mode="video")
        if args.camera_profile:
            from formcoach.calibration import load_camera_profile
            from formcoach.pose.undistort import UndistortingEstimator

            estimator = UndistortingEstimator(estimator, load_camera_profile(args.camera_profile))
        window = not args.no_window and display_available()
        clock = MonotonicClock()
        texts = [*cue_texts(ex), *_setup_texts()]
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
        sched = CueScheduler(clock, praise=args.praise)

        def on_cue(cue: CueEvent) -> None:
            # Cue times are printed in session seconds (source time of the fault frame).
            print(f"[{cue.fault_t_s:7.2f} s] {cue.text}", flush=True)

        saver = None if args.no_save else _RepByRepSaver(args.db, ex.id, name, estimator)
        try:
            result = run_live(
                source, ex, estimator, speaker,
                window=window, skip_setup=args.skip_setup, max_seconds=args.max_seconds,
                scheduler=sched, clock=clock, on_cue=on_cue, source_name=name,
                on_rep=saver.on_rep if saver is not None else None,
            )
            if saver is not None:
                saver.finish(result)
        finally:
            speaker.close()
            estimator.close()
            if saver is not None:
                saver.close()
    finally:
        source.close()
    for line in result.summary_lines():
        print(line)
    if result.error:
        print(f"formcoach: error: {result.error}", file=sys.stderr)
        return 1
    return 0


def _setup_texts() -> list[str]:
    from formcoach.coach.setup_gate import GUIDANCE

    return [*GUIDANCE.values(), "ready, start when you are"]


class _RepByRepSaver:
    """Saves the live set to the history store as it happens: one transaction per finished rep
    (a crash loses at most the current rep), completed with whole-set metrics at the end."""

    def __init__(self, db: Path | None, exercise_id: str, source: str,
                 estimator: PoseEstimator) -> None:
        from formcoach.store import SetRecorder, Store

        self.store = Store(db)  # a corrupt --db fails here, before coaching starts
        self.recorder = SetRecorder.begin(self.store, exercise_id, source, None, estimator.name,
                                          estimator.model_sha256 or None, "live")

    def on_rep(self, rm: RepMetrics) -> None:
        try:
            self.recorder.on_rep(rm)
        except StoreError as e:  # saving must never stop the coaching
            log.warning("could not save rep %d: %s", rm.index + 1, e)

    def finish(self, result: SessionResult) -> None:
        try:
            self.recorder.finish(result.metrics,
                                 status="interrupted" if result.error else "complete")
            print(f"saved as set {self.recorder.set_id} (see 'formcoach history')", file=sys.stderr)
        except StoreError as e:  # saving the summary must never lose the printed result
            log.warning("could not complete the saved set: %s", e)

    def close(self) -> None:
        self.store.close()
