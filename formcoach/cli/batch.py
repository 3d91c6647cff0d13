"""``formcoach batch``: analyse many recordings (files, folders, manifests) into one folder,
locally or on a Ray or Dask cluster; argument parsing and printing only (the work is
:mod:`formcoach.batch`)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from formcoach.cli import add_model_argument
from formcoach.errors import InputError

#: Most ``--workers``: a bigger number overflowed the process pool (internal OverflowError) or
#: forked until the system ran out of processes.
MAX_WORKERS = 1024
#: Most ``--threads`` per worker: 100000 made every worker hang sizing its thread pools.
MAX_THREADS = 256

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``batch`` subcommand."""
    p = subparsers.add_parser(
        "batch",
        help="analyse many videos (files, folders, manifests), resumable; local, Ray or Dask",
        description="Analyse every video of the INPUTs as 'formcoach analyze VIDEO --json' would "
        "and write OUT/<sha256 of the video>.json for each, a summary table of every set "
        "(OUT/summary.csv, and summary.parquet with pyarrow) and OUT/failures.json. A rerun skips "
        "the files already done; a stopped or killed batch resumes. See docs/batch.md.",
        epilog="Exit status: 0 every file done; 1 some files failed twice (OUT/failures.json says "
        "why); 2 bad input; 130 interrupted (rerun the same command to resume).",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, folders (searched recursively) or a .csv/.json manifest "
                        "with columns path, exercise, patient")
    p.add_argument("--exercise", "-e",
                   help="exercise id or alias, a .toml pack, or 'auto' (a manifest's exercise "
                        "column overrides it)")
    p.add_argument("--out", "-o", required=True, type=Path, metavar="DIR",
                   help="output folder (created if missing; reuse it to resume)")
    p.add_argument("--engine", choices=("local", "ray", "dask"), default="local",
                   help="local: a process pool here (default); ray / dask: pip install "
                        "'formcoach[ray]' / 'formcoach[dask]'")
    p.add_argument("--workers", "-j", type=int, default=None,
                   help="worker processes (default: the CPU cores here; with --address: the "
                        "cluster's workers)")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="threads per worker (onnxruntime, numba, OpenMP; default 0: the cores "
                        "here divided by the workers, so they never oversubscribe the CPU)")
    p.add_argument("--address", metavar="ADDR",
                   help="join a running cluster (ray: HOST:6379 or 'auto'; dask: "
                        "tcp://HOST:8786); the videos must be at the same paths on every node")
    p.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    add_model_argument(p)
    p.add_argument("--view", choices=("front", "side", "45", "back"),
                   help="camera view for the form rules (default: detected per frame)")
    p.add_argument("--no-rules", action="store_true", help="count only; skip the form rules")
    g = p.add_argument_group("session history")
    g.add_argument("--db", metavar="PATH", type=Path,
                   help="session history database (default: $FORMCOACH_DB or the user data dir)")
    g.add_argument("--no-save", action="store_true",
                   help="do not save the sets to the session history")
    p.add_argument("--no-progress", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def _model(args: argparse.Namespace) -> str:
    """The rung every file uses: ``--model``, else the one ``analyze`` would choose here,
    measured once (not per worker, so one batch never mixes models)."""
    from formcoach.pose.ladder import resolve_model

    choice = resolve_model(args.backend, 30.0, "offline", args.model)
    if choice.automatic:
        log.info("pose model %s", choice.describe())
    return choice.model


def run(args: argparse.Namespace) -> int:
    """Run ``batch``.

    Returns:
        0 all done; 1 some files failed (each in OUT/failures.json); 130 on Ctrl-C.

    Raises:
        InputError: bad inputs, exercise, output folder or engine (before any analysis).
    """
    from formcoach.analysis import AnalysisOptions
    from formcoach.batch.inputs import check_exercises, expand_inputs
    from formcoach.batch.runner import BatchConfig, run_batch
    from formcoach.cli import printable
    from formcoach.exercises import load_exercise
    from formcoach.io_utils import display_path

    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise InputError(f"--workers {args.workers}: give 1 to {MAX_WORKERS}")
    if not 0 <= args.threads <= MAX_THREADS:
        raise InputError(f"--threads must be 0 (automatic) to {MAX_THREADS}, got {args.threads}")
    if args.exercise and args.exercise.strip().lower() != "auto":
        load_exercise(args.exercise)  # an unknown --exercise: its own one-line error, first
    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out {display_path(args.out)} is a file; give a folder")
    items = expand_inputs(args.inputs, args.exercise)
    check_exercises(items)
    if args.address and args.engine == "local":
        raise InputError("--address needs --engine ray or --engine dask (local runs here)")
    # 0: the engine decides (cores here; the cluster's CPUs or workers with --address)
    workers = args.workers if args.workers is not None else 0
    options = AnalysisOptions(exercise=args.exercise or "auto", backend=args.backend,
                              model=_model(args), view=args.view, rules=not args.no_rules,
                              progress=False)
    config = BatchConfig(out=args.out, options=options, engine=args.engine, workers=workers,
                         address=args.address, db=args.db, save=not args.no_save,
                         progress=not args.no_progress, threads=args.threads)
    try:
        report = run_batch(items, config)
    except KeyboardInterrupt:
        print("formcoach: interrupted; the files finished so far are saved: rerun the same "
              "command to resume", file=sys.stderr)
        return 130
    dup = f", {report.duplicates} duplicate(s) analysed once" if report.duplicates else ""
    print(f"batch: {report.done} analysed, {report.skipped} done earlier, {report.failed} failed"
          f"{dup}; {report.video_s / 60:.2f} video-min in {report.wall_s / 60:.2f} min "
          f"({report.video_min_per_min:.2f} video-min/min)")
    for key, f in sorted(report.failures.items(), key=lambda kv: str(kv[1].get("path"))):
        print(f"failed: {printable(f.get('path'))}: {printable(f.get('reason'))}", file=sys.stderr)
        del key
    for path in report.summary:
        print(f"wrote {display_path(path)}")
    return 1 if report.failures else 0
