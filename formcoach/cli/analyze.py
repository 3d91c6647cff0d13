"""``formcoach analyze``: count reps, judge form and measure range of motion in a video or a
saved pose track; argument parsing and printing only (the work is
:mod:`formcoach.analysis` and :mod:`formcoach.report.outputs`)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from formcoach.analysis import AnalysisOptions
from formcoach.cli import (
    add_model_argument,
    add_set_end_arguments,
    add_velocity_arguments,
    check_set_end_arguments,
    check_velocity_arguments,
)
from formcoach.coach.result import SessionResult
from formcoach.errors import FormcoachError, InputError
from formcoach.io_utils import check_distinct_outputs, display_path
from formcoach.metrics import rom_label
from formcoach.report.outputs import OutputHook, OutputPaths

log = logging.getLogger(__name__)

#: Exit status of ``analyze`` when every requested file was written but the session could not
#: be saved to the history database (a warning line says why): not a full success, and not a
#: user error (2) either.
EXIT_NOT_SAVED = 3


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--report --csv --frames-csv --video`` to an analyze-like parser."""
    g = parser.add_argument_group("PT outputs")
    g.add_argument("--report", metavar="OUT.html", type=Path,
                   help="write a self-contained HTML report (plots, per-rep table, thumbnails)")
    g.add_argument("--csv", metavar="OUT.csv", type=Path,
                   help="write per-rep metrics as CSV (columns: docs/csv_columns.md)")
    g.add_argument("--frames-csv", metavar="OUT.csv", type=Path,
                   help="write per-frame angles as CSV")
    g.add_argument("--video", metavar="OUT.mp4", type=Path, dest="annotated_video",
                   help="write the video with skeleton, angles, rep counter and cues drawn")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--db --no-save`` to an analyze-like parser."""
    g = parser.add_argument_group("session history")
    g.add_argument("--db", metavar="PATH", type=Path,
                   help="session history database (default: $FORMCOACH_DB or the user data dir)")
    g.add_argument("--no-save", action="store_true",
                   help="do not save this set to the session history")
    g.add_argument("--patient", metavar="NAME",
                   help="the set's patient (a name or pseudonym; added when new): the set is "
                        "linked to their active prescription of the exercise and shows in "
                        "'formcoach serve'")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every PT output option (:func:`add_report_arguments` + :func:`add_store_arguments`)."""
    add_report_arguments(parser)
    add_store_arguments(parser)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``analyze`` subcommand."""
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
                   help="exercise id or alias (e.g. squat, push-up), a path to a .toml pack, or "
                        "'auto' (recognised from the movement)")
    p.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    add_model_argument(p)
    p.add_argument("--poses", metavar="TRACK.npz",
                   help="analyse a saved pose track (from 'formcoach poses') instead of the video")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--view", choices=("front", "side", "45", "back"),
                   help="camera view for the form rules (default: detected per frame)")
    p.add_argument("--no-rules", action="store_true", help="count only; skip the form rules")
    p.add_argument("--user", metavar="NAME",
                   help="score ROM against this user's baseline from 'formcoach calibrate user' "
                        "(a name or a .json path; default: the set's best rep)")
    p.add_argument("--camera-profile", metavar="NAME",
                   help="undistort landmarks with a camera profile from 'formcoach calibrate camera' "
                        "(a name, a .json path, or 'default')")
    add_velocity_arguments(p)
    add_set_end_arguments(p)
    add_output_arguments(p)
    p.set_defaults(func=run)


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


def print_summary(result: SessionResult) -> None:
    """Human-readable summary on stdout (the numbers of ``result.metrics``)."""
    ex = result.exercise
    sm = result.metrics
    det = result.pose_frames / result.frames if result.frames else 0.0
    say(f"{result.source}: {ex.name} ({ex.id}), {result.frames} frames at "
        f"{result.fps:.2f} fps, person in {det:.0%}, backend {result.backend}"
        + (f", model {result.model}" if result.model else ""))
    for line in result.coverage_lines():  # what was not judged, first
        say(line)
    if ex.kind == "hold":
        say(result.hold_line())
    else:
        say(f"reps: {len(sm.reps)}")
    if not sm.reps:
        return
    if ex.kind == "hold":  # a hold has no way down and up: its line above says what it did
        for line in result.technique_lines():
            say(line)
        return
    unit = "deg" if ex.count.signal not in ("hip_height", "nose_height", "shoulder_elevation") \
        else "torso"
    say(f"  ROM = {rom_label(ex.count.signal)} range ({unit})")
    say(f"  {'#':>3} {'start s':>8} {'bottom s':>8} {'end s':>7} {'dur s':>6} "
        f"{'down s':>6} {'up s':>5} {'ROM':>6} {'side':>5}")
    for rm in sm.reps:
        flag = (" (edge)" if rm.partial else "") + ("" if rm.judged else " (not judged)")
        say(f"  {rm.index + 1:>3} {rm.start_s:8.2f} {rm.bottom_s:8.2f} {rm.end_s:7.2f} "
            f"{rm.duration_s:6.2f} {rm.eccentric_s:6.2f} {rm.concentric_s:5.2f} "
            f"{rm.rom_deg:6.1f} {rm.side:>5}{flag}")
    for line in result.technique_lines():
        say(line)
    for line in result.velocity_lines():
        say(line)
    for line in result.fatigue_lines():
        say(line)


def _reps_in_reserve(args: argparse.Namespace, hook: OutputHook, exercise_id: str) -> None:
    """Save the set's ``--rir`` / ``--to-failure`` mark and say what the history knows of its
    reps in reserve; a database failure here is the store warning (exit 3), not an error."""
    from formcoach.errors import StoreError
    from formcoach.planning import set_end_lines

    assert hook.set_id is not None
    try:
        lines = set_end_lines(hook.paths.db, exercise_id, hook.set_id, args.rir, args.to_failure)
    except StoreError as e:
        hook.store_failed(e)
        return
    for line in lines:
        say(line)


def _file_input(spec: str | None) -> str | None:
    """``spec`` when it names an existing file (a pack or profile path), else None."""
    return spec if spec and os.path.isfile(spec) else None


def options_of(args: argparse.Namespace) -> AnalysisOptions:
    """The analysis options of an analyze-like command line."""
    return AnalysisOptions(
        exercise=args.exercise, backend=args.backend, model=args.model, view=args.view,
        rules=not args.no_rules, user=args.user, camera_profile=args.camera_profile,
        progress=not args.no_progress, stop_at_vl_pct=args.stop_at_vl, height_cm=args.height_cm,
    )


def _paths(args: argparse.Namespace) -> OutputPaths:
    return OutputPaths(
        json=Path(args.json) if args.json else None, report=args.report, csv=args.csv,
        frames_csv=args.frames_csv, video=args.annotated_video, db=args.db,
        save=not args.no_save, poses=Path(args.poses) if args.poses else None,
        patient=_patient_of(args),
    )


def _patient_of(args: argparse.Namespace) -> str | None:
    """``--patient`` checked (one line on a bad name); None when not given."""
    name = getattr(args, "patient", None)
    if name is None:
        return None
    from formcoach.store import check_name

    if args.no_save:
        raise InputError("--patient links the saved set to a patient; drop --no-save")
    return check_name(name, "--patient")


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
    from formcoach.analysis import (
        AnalysisStart,
        analyze_file,
        plan_analysis,
    )
    from formcoach.cli import printable
    from formcoach.coach.session import SessionSinks

    check_velocity_arguments(args)
    check_set_end_arguments(args)
    # A bad --exercise or --user fails before anything starts (with 'auto' once it is known).
    plan = plan_analysis(options_of(args))
    if not args.video and not args.poses:
        raise InputError("give a VIDEO to analyse, or --poses TRACK.npz")
    paths = _paths(args)
    hook = OutputHook(paths)  # checks output paths before the (long) analysis
    inputs = [("VIDEO", args.video), ("--poses", args.poses),
              ("--exercise", None if plan.options.auto else _file_input(args.exercise)),
              ("--camera-profile", _file_input(args.camera_profile))]
    check_distinct_outputs(inputs, paths.options())
    if paths.video is not None and not args.video:
        raise InputError(
            f"--video {display_path(paths.video)} needs a video input (this analysis used a "
            "pose track); give the VIDEO too"
        )

    def begin(start: AnalysisStart) -> SessionSinks:
        on_rep = hook.begin(start.exercise.id, args.video or args.poses, start.backend,
                            start.model_sha256)
        return SessionSinks(on_rep=on_rep)

    try:
        result = analyze_file(plan, video=args.video, poses=args.poses,
                              begin=begin, say=say)
    except BaseException:
        hook.abort()
        raise
    exercise, rules = result.exercise, plan.options.rules
    try:
        hook.write(result, video_path=args.video, progress=not args.no_progress)
    except BaseException:
        hook.abort()
        raise
    hook.end_set()
    print_summary(result)
    if rules and exercise.rules_raw:
        faults = result.faults
        say(f"form faults: {len(faults)}" + (
            " (" + ", ".join(sorted({f.rule_id for f in faults})) + ")" if faults else ""))
        for line in result.fault_lines():
            say(f"  {line}")
    if hook.set_id is not None and hook.store_warning is None and exercise.kind == "reps":
        _reps_in_reserve(args, hook, exercise.id)
    for path in hook.written:
        say(f"wrote {display_path(path)}")
    warning = hook.store_warning
    if warning:
        print(f"formcoach: warning: session not saved: {printable(warning)}", file=sys.stderr)
    if hook.errors:
        for e in hook.errors[1:]:
            kind = "error" if isinstance(e, FormcoachError) else "internal error"
            print(f"formcoach: {kind}: {printable(e)}", file=sys.stderr)
        raise hook.errors[0]
    return EXIT_NOT_SAVED if warning else 0
