"""``formcoach live``: coach a set from the webcam (or a video played as if live)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.pose import BACKENDS
from formcoach.types import NS_PER_S, Cue

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
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.cues.speech import MAX_RATE_WPM, MIN_RATE_WPM, TextSpeaker, create_speaker
    from formcoach.exercises import load_exercise
    from formcoach.live import cue_texts, display_available, run_live
    from formcoach.pose import create_estimator
    from formcoach.sources import CameraSource, PacedVideoSource

    if args.max_seconds is not None and not args.max_seconds > 0:
        raise InputError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.rate is not None and not MIN_RATE_WPM <= args.rate <= MAX_RATE_WPM:
        raise InputError(f"--rate {args.rate} is out of range; use {MIN_RATE_WPM}..{MAX_RATE_WPM} wpm")
    ex = load_exercise(args.exercise)
    source: Any
    if args.source is not None:
        source = PacedVideoSource(args.source)
    else:
        source = CameraSource(args.camera)
    try:
        estimator = create_estimator(args.backend, running_mode="video")
        if args.camera_profile:
            from formcoach.calibration import load_camera_profile
            from formcoach.pose.undistort import UndistortingEstimator

            estimator = UndistortingEstimator(estimator, load_camera_profile(args.camera_profile))
        window = not args.no_window and display_available()
        clock = MonotonicClock()
        texts = [*cue_texts(ex), *_setup_texts()]
        if args.praise:
            texts.append(args.praise)
        if args.mute and not window:
            # Text only: without a window nothing can unmute.
            speaker: Any = TextSpeaker(rate=args.rate or 175, clock=clock, reason="muted")
            speaker.muted = True
        else:
            speaker = create_speaker(
                mute=args.mute, voice=args.voice, rate=args.rate, preload=texts, clock=clock
            )
        if not window:
            why = "--no-window" if args.no_window else "no display"
            print(f"formcoach: running headless ({why}); cues are printed here", file=sys.stderr)
        sched = CueScheduler(clock, praise=args.praise)

        def on_cue(cue: Cue) -> None:
            # Cue times are printed in video/session seconds (source time of the fault frame).
            print(f"[{(cue.fault_t_ns - sched.time_base_ns) / NS_PER_S:7.2f} s] {cue.text}", flush=True)

        saver = None if args.no_save else _RepByRepSaver(args, ex, estimator)
        try:
            result = run_live(
                source, ex, estimator, speaker,
                window=window, skip_setup=args.skip_setup, max_seconds=args.max_seconds,
                scheduler=sched, clock=clock, on_cue=on_cue,
                extra_observers=saver.observers if saver is not None else None,
                on_set_end=saver.finish if saver is not None else None,
            )
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
    from formcoach.setup_check import GUIDANCE

    return [*GUIDANCE.values(), "ready, start when you are"]


class _RepByRepSaver:
    """Saves the live set to the history store as it happens: one transaction per finished rep
    (a crash loses at most the current rep), completed with whole-set metrics at the end."""

    def __init__(self, args: Any, exercise: Any, estimator: Any) -> None:
        self.args, self.exercise, self.estimator = args, exercise, estimator
        self.store: Any = None
        self.recorder: Any = None

    def observers(self, engine: Any, fps: float) -> list[Any]:
        from formcoach.store import SetRecorder, Store

        self.store = Store(self.args.db)  # a corrupt --db fails here, before coaching starts
        from formcoach.io_utils import display_path

        src = (display_path(self.args.source) if self.args.source is not None
               else f"camera:{self.args.camera}")
        self.recorder = SetRecorder.begin(
            self.store, self.exercise, src, None, self.args.backend,
            getattr(self.estimator, "model_sha256", None), "live", fault_source=engine, fps=fps,
        )
        return [self.recorder]

    def finish(self, result: Any) -> None:
        if self.recorder is None:
            return
        try:
            sm = None
            analysis = getattr(result, "analysis", None)
            if analysis is not None and len(getattr(analysis, "signal", ())):
                from formcoach.metrics import set_metrics

                sm = set_metrics(analysis, faults=list(result.faults))
            self.recorder.finish(sm, status="interrupted" if result.error else "complete")
            print(f"saved as set {self.recorder.set_id} (see 'formcoach history')", file=sys.stderr)
        except Exception as e:  # saving the summary must never lose the printed result
            log.warning("could not complete the saved set: %s", e)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None
