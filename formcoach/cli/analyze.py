"""``formcoach analyze``: count reps and measure range of motion in a video or a saved track.

Extending it (reports, CSV, annotated video, history database): a module calls
:func:`register_writer` with an :class:`OutputWriter` (its options plus a function run on the
finished :class:`~formcoach.coach.pipeline.AnalysisResult`) and/or :func:`register_observer` (an observer
factory, e.g. the rules engine), and lists itself in :data:`EXTENSION_MODULES` so ``register``
imports it before building the parser.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from formcoach.coach.pipeline import AnalysisResult, Observer
from formcoach.errors import FormcoachError, InputError
from formcoach.exercises import Exercise, load_exercise
from formcoach.io_utils import check_distinct_outputs, check_output_path, display_path

log = logging.getLogger(__name__)

#: Exit status of ``analyze`` when every requested file was written but the session could not
#: be saved to the history database (a warning line says why): not a full success, and not a
#: user error (2) either.
EXIT_NOT_SAVED = 3

#: Modules that extend ``analyze`` (imported by :func:`register` when importable); each calls
#: :func:`register_writer` / :func:`register_observer` at import.
EXTENSION_MODULES: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutputWriter:
    """A post-processing output of ``analyze``.

    Attributes:
        name: short id (for logs).
        add_arguments: adds its options to the ``analyze`` parser.
        write: ``(args, result, observers) -> None``; runs after the analysis, in registration
            order, and decides from ``args`` whether it has anything to do.
    """

    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    write: Callable[[argparse.Namespace, AnalysisResult, list[Observer]], None]


#: ``(args, exercise, fps) -> Observer | None`` factories attached to the coach.
ObserverFactory = Callable[[argparse.Namespace, Exercise, float], "Observer | None"]

WRITERS: list[OutputWriter] = []
OBSERVERS: list[ObserverFactory] = []


def register_writer(writer: OutputWriter) -> None:
    """Add an output writer (idempotent by name)."""
    if all(w.name != writer.name for w in WRITERS):
        WRITERS.append(writer)


def register_observer(factory: ObserverFactory) -> None:
    """Add an observer factory (idempotent)."""
    if factory not in OBSERVERS:
        OBSERVERS.append(factory)


def _load_extensions() -> None:
    for mod in EXTENSION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                log.warning("analyze extension %s failed to import: %s", mod, e)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``analyze`` subcommand."""
    _load_extensions()
    p = subparsers.add_parser(
        "analyze",
        help="count reps and measure range of motion in a video",
        description="Analyse a video (or a saved pose track): reps, per-rep duration and range "
        "of motion.",
        epilog="Exit status: 0 done; 2 bad input, or an output file could not be written (the "
        "others still are); 3 every file was written but the session could not be saved to the "
        "history database (a warning says why).",
    )
    p.add_argument("video", nargs="?", help="video file (optional with --poses)")
    p.add_argument("--exercise", "-e", required=True,
                   help="exercise id or alias (e.g. squat, push-up) or a path to a .toml pack")
    p.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    p.add_argument("--poses", metavar="TRACK.npz",
                   help="analyse a saved pose track (from 'formcoach poses') instead of the video")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--view", choices=("front", "side", "45", "back"),
                   help="camera view for the form rules (default: detected per frame)")
    p.add_argument("--no-rules", action="store_true", help="count only; skip the form rules")
    p.add_argument("--camera-profile", metavar="NAME",
                   help="undistort landmarks with a camera profile from 'formcoach calibrate camera' "
                        "(a name, a .json path, or 'default')")
    try:
        from formcoach.report.outputs import add_output_arguments
    except ImportError:
        log.debug("report outputs unavailable")
    else:
        add_output_arguments(p)
    for w in WRITERS:
        w.add_arguments(p)
    p.set_defaults(func=run)


def _num(x: float, nd: int = 3) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def result_to_dict(result: AnalysisResult, source: str = "") -> dict[str, Any]:
    """The JSON document of ``analyze --json``."""
    t0 = int(result.t_ns[0]) if len(result.t_ns) else 0
    events = []
    for rep, metrics in zip(result.reps, result.rep_metrics or [{}] * len(result.reps),
                            strict=False):
        events.append({
            "index": rep.index,
            "start_s": _num((rep.start_ns - t0) / 1e9),
            "bottom_s": _num((rep.bottom_ns - t0) / 1e9),
            "end_s": _num((rep.end_ns - t0) / 1e9),
            "duration_s": _num((rep.end_ns - rep.start_ns) / 1e9),
            "rom_deg": _num(rep.rom_deg, 2),
            "min_deg": _num(rep.min_deg, 2),
            "max_deg": _num(rep.max_deg, 2),
            "start_frame": rep.start_frame,
            "bottom_frame": rep.bottom_frame,
            "end_frame": rep.end_frame,
            "side": rep.side,
            "partial": rep.partial,
            "metrics": {k: _num(v, 2) for k, v in metrics.items()},
        })
    ex = result.exercise
    return {
        "source": source,
        "exercise": ex.id,
        "kind": ex.kind,
        "signal": ex.count.signal,
        "reps": len(result.reps),
        "hold_s": _num(sum((r.end_ns - r.start_ns) for r in result.reps) / 1e9)
        if ex.kind == "hold" else None,
        "rep_events": events,
        "frames": result.frames,
        "pose_frames": result.pose_frames,
        "fps": _num(result.fps, 4),
        "duration_s": _num(result.duration_s),
        "backend": result.backend,
    }


def say(text: str = "") -> None:
    """Print one line to stdout; a closed stdout (``| head -1``) is harmless: it is pointed at
    /dev/null and the run goes on (the files are already written by then)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass


def print_summary(result: AnalysisResult, source: str) -> None:
    """Human-readable summary on stdout."""
    ex = result.exercise
    det = result.pose_frames / result.frames if result.frames else 0.0
    say(f"{display_path(source)}: {ex.name} ({ex.id}), {result.frames} frames at "
        f"{result.fps:.2f} fps, person in {det:.0%}, backend {result.backend}")
    if ex.kind == "hold":
        total = sum((r.end_ns - r.start_ns) for r in result.reps) / 1e9
        say(f"holds: {len(result.reps)}, total {total:.1f} s")
    else:
        say(f"reps: {len(result.reps)}")
    if not result.reps:
        return
    t0 = int(result.t_ns[0]) if len(result.t_ns) else 0
    unit = "deg" if ex.count.signal not in ("hip_height", "nose_height", "shoulder_elevation") \
        else "torso"
    say(f"  {'#':>3} {'start s':>8} {'bottom s':>8} {'end s':>7} {'dur s':>6} "
        f"{'ROM ' + unit:>9} {'side':>5}")
    for rep in result.reps:
        flag = " (edge)" if rep.partial else ""
        say(f"  {rep.index + 1:>3} {(rep.start_ns - t0) / 1e9:8.2f} {(rep.bottom_ns - t0) / 1e9:8.2f}"
            f" {(rep.end_ns - t0) / 1e9:7.2f} {(rep.end_ns - rep.start_ns) / 1e9:6.2f}"
            f" {rep.rom_deg:9.1f} {rep.side:>5}{flag}")


def _rules_engine(args: argparse.Namespace, exercise: Exercise, fps: float) -> Any:
    """The form-rules observer, or None (``--no-rules``, no rules, or rules not installed)."""
    if getattr(args, "no_rules", False) or not exercise.rules_raw:
        return None
    try:
        from formcoach.rules.engine import RulesEngine
    except ImportError as e:
        log.warning("form rules unavailable (%s); counting only", e)
        return None
    return RulesEngine(exercise, fps, view=getattr(args, "view", None))


def _output_hook(args: argparse.Namespace) -> Any:
    try:
        from formcoach.report.outputs import OutputHook
    except ImportError:
        return None
    return OutputHook(args)


def _file_input(spec: str | None) -> str | None:
    """``spec`` when it names an existing file (a pack or profile path), else None."""
    return spec if spec and os.path.isfile(spec) else None


def _check_paths(args: argparse.Namespace, hook: Any) -> None:
    """Before the analysis: every output can be written, none is an input, no two are one file.

    Raises:
        InputError: one line naming the options and the file.
    """
    if args.json:
        check_output_path(args.json, "JSON")
    outputs: list[tuple[str, Any]] = [("--json", args.json)]
    if hook is not None:
        outputs += hook.outputs()
    inputs = [("VIDEO", args.video), ("--poses", args.poses),
              ("--exercise", _file_input(args.exercise)),
              ("--camera-profile", _file_input(getattr(args, "camera_profile", None)))]
    check_distinct_outputs(inputs, outputs)
    video_out = getattr(args, "annotated_video", None)
    if video_out is not None and not args.video:
        raise InputError(
            f"--video {display_path(video_out)} needs a video input (this analysis used a pose "
            "track); give the VIDEO too"
        )


def _json_doc(result: AnalysisResult, source: str, engine: Any, cues: Any) -> dict[str, Any]:
    doc = result_to_dict(result, display_path(source))
    if engine is not None:
        faults = list(getattr(engine, "faults", []) or [])
        doc["faults"] = [
            {"rule_id": f.rule_id, "cue": f.cue, "severity": f.severity,
             "t_s": _num((f.t_ns - int(result.t_ns[0])) / 1e9) if len(result.t_ns) else None,
             "frame": f.frame_index, "value": _num(f.value), "threshold": f.threshold,
             "rep": f.rep_index}
            for f in faults
        ]
    if cues is not None:
        doc["cues"] = cues.cue_log
    return doc


def run(args: argparse.Namespace) -> int:
    """Run ``analyze``.

    Every requested file is written before anything is printed (a closed stdout cannot cost
    them), and the stored set is marked complete only after the last one.

    Returns:
        0; :data:`EXIT_NOT_SAVED` when every file was written but the session database failed
        (one warning line says why).

    Raises:
        InputError: bad input or output paths (before the analysis), or the first output that
            could not be written (after every other output was attempted).
    """
    from formcoach.cli import printable
    from formcoach.coach.pipeline import analyze_track, analyze_video
    from formcoach.types import PoseTrack

    exercise = load_exercise(args.exercise)
    track = None
    if args.poses:
        track = PoseTrack.load(args.poses)
        if args.camera_profile:
            from formcoach.calibration import load_camera_profile

            prof = load_camera_profile(args.camera_profile, track.image_size)
            track.poses = prof.undistort_poses(track.poses)
        fps, source, backend = track.fps, args.video or str(args.poses), track.backend
    elif args.video:
        from formcoach.sources import VideoFileSource

        fps, source, backend = VideoFileSource(args.video).fps, args.video, args.backend
    else:
        raise InputError("give a VIDEO to analyse, or --poses TRACK.npz")
    hook = _output_hook(args)  # checks output paths before the (long) analysis
    _check_paths(args, hook)
    engine = _rules_engine(args, exercise, fps)
    observers: list[Observer] = [engine] if engine is not None else []
    cues = None
    if engine is not None:
        from formcoach.cues.recording import CueLog

        cues = CueLog(engine)  # the cues live coaching would have spoken, on the video's clock
        observers.append(cues)
    observers += _observers(args, exercise, fps)
    if hook is not None:
        observers += hook.observers(exercise, source=args.video or args.poses, backend=backend,
                                    engine=engine, fps=fps)
    try:
        if track is not None:
            result = analyze_track(track, exercise, observers)
        else:
            result = analyze_video(args.video, exercise, backend=args.backend,
                                   observers=observers, progress=not args.no_progress,
                                   camera_profile=args.camera_profile)
    except BaseException:
        if hook is not None:
            hook.abort()
        raise
    faults = list(getattr(engine, "faults", []) or [])
    errors: list[BaseException] = []
    written: list[Any] = []
    if hook is not None:
        try:
            hook.write(result, engine=engine, video_path=args.video,
                       cue_log=cues.cue_log if cues is not None else None,
                       progress=not args.no_progress)
            if args.json:
                hook.attempt("JSON", lambda: _write_json(args.json, result, source, engine, cues))
            for w in WRITERS:
                hook.attempt(w.name, lambda w=w: w.write(args, result, observers))
        except BaseException:
            hook.abort()
            raise
        hook.end_set()
        errors, written = hook.errors, hook.written
    else:
        if args.json:
            written.append(_write_json(args.json, result, source, engine, cues))
        for w in WRITERS:
            w.write(args, result, observers)
    print_summary(result, source)
    if engine is not None:
        say(f"form faults: {len(faults)}" + (
            " (" + ", ".join(sorted({f.rule_id for f in faults})) + ")" if faults else ""))
    for path in written:
        say(f"wrote {display_path(path)}")
    warning = hook.store_warning if hook is not None else None
    if warning:
        print(f"formcoach: warning: session not saved: {printable(warning)}", file=sys.stderr)
    if errors:
        for e in errors[1:]:
            kind = "error" if isinstance(e, FormcoachError) else "internal error"
            print(f"formcoach: {kind}: {printable(e)}", file=sys.stderr)
        raise errors[0]
    return EXIT_NOT_SAVED if warning else 0


def _write_json(out: str, result: AnalysisResult, source: str, engine: Any, cues: Any) -> Path:
    from formcoach.io_utils import atomic_write_text

    atomic_write_text(Path(out), json.dumps(_json_doc(result, source, engine, cues), indent=2))
    return Path(out)


def _observers(args: argparse.Namespace, exercise: Exercise, fps: float) -> list[Observer]:
    out: list[Observer] = []
    for factory in OBSERVERS:
        obs = factory(args, exercise, fps)
        if obs is not None:
            out.append(obs)
    return out
