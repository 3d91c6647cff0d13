"""``formcoach history`` (list stored sets) and ``formcoach report --history`` (progress report)."""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path
from typing import Any

from formcoach.io_utils import check_output_path, display_path


def _since(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since must be a date like 2026-01-31, got {text!r}"
        ) from None


def _exercise_id(name: str | None) -> str | None:
    """Canonical exercise id for a name or alias (unknown names are used as given).

    Raises:
        InputError: ``name`` is not UTF-8 text (bytes from the command line that SQLite
            cannot take: it used to be an internal UnicodeEncodeError).
    """
    if not name:
        return None
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        from formcoach.errors import InputError

        raise InputError(f"--exercise '{display_path(name)}' is not UTF-8 text; give an "
                         "exercise id such as squat") from None
    try:
        from formcoach.exercises import load_exercise

        return str(load_exercise(name).id)
    except Exception:  # a set saved with a custom pack may have any id
        return name


def _db_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")


def register(sub: Any) -> None:
    """Add the ``history`` subcommand."""
    p = sub.add_parser("history", help="list saved sets (session history)",
                       description="List the sets saved by 'formcoach analyze' and 'live'.")
    p.add_argument("--exercise", metavar="E", help="only this exercise")
    p.add_argument("--since", metavar="DATE", type=_since, help="only sets on/after this date")
    _db_args(p)
    p.set_defaults(func=run_history)


def register_report(sub: Any) -> None:
    """Add the ``report`` subcommand."""
    p = sub.add_parser(
        "report", help="progress report across sessions, or one saved live set (HTML)",
        description="Write a self-contained HTML report: progress across the session history "
        "(--history --exercise E), or one saved live set (--set ID, from 'formcoach history'). "
        "For a report of one video use 'formcoach analyze VIDEO --report out.html'.",
    )
    p.add_argument("out", type=Path, metavar="OUT.html", help="HTML file to write")
    p.add_argument("--history", action="store_true",
                   help="report progress across stored sessions")
    p.add_argument("--set", type=int, metavar="ID", dest="set_id",
                   help="report one saved live set, like 'analyze --report' does for a video")
    p.add_argument("--exercise", metavar="E", help="exercise to report on (with --history)")
    p.add_argument("--since", metavar="DATE", type=_since, help="only sets on/after this date")
    _db_args(p)
    p.set_defaults(func=run_report)


def _report_set(args: argparse.Namespace) -> int:
    """``report --set ID``: a saved live set's report, rebuilt from its poses (a deterministic
    replay: the same reps, metrics and faults live measured) with the cues live spoke."""
    from formcoach.coach.offline import analyze_track
    from formcoach.errors import InputError
    from formcoach.exercises import load_exercise
    from formcoach.report.html import write_html_report
    from formcoach.store import Store, default_db_path, load_set_record

    out: Path = args.out
    check_output_path(out)
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():
        raise InputError(f"no sets saved yet (no database at {path})")
    with Store(path) as store:
        row = next((r for r in store.list_sets() if r["id"] == args.set_id), None)
    if row is None:
        raise InputError(f"no set {args.set_id} in {path} (see 'formcoach history')")
    track, cues = load_set_record(path, args.set_id)
    result = analyze_track(track, load_exercise(row["exercise"]),
                           source=f"live set {args.set_id} ({row['source_path'] or 'camera'})")
    result.cues = cues  # what live coaching said, as it said it
    write_html_report(result, out)
    print(f"wrote {display_path(out)} (set {args.set_id}: {row['exercise']}, {len(result.reps)} reps, "
          f"{len(cues)} cues)")
    return 0


def _fmt(x: Any, nd: int = 1) -> str:
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def run_history(args: argparse.Namespace) -> int:
    from formcoach.store import Store, default_db_path

    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():  # listing must not create a database
        print(f"no sets saved yet (no database at {display_path(path)})")
        return 0
    with Store(path) as store:
        rows = store.list_sets(exercise=_exercise_id(args.exercise), since=args.since)
    if not rows:
        print(f"no sets saved in {display_path(path)}")
        return 0
    print(f"{'set':>4}  {'started (UTC)':16}  {'exercise':12} {'status':11} {'reps':>4} "
          f"{'ROM':>6} {'score':>5}  source")
    for r in rows:
        src = Path(r["source_path"]).name if r["source_path"] else "-"
        print(f"{r['id']:>4}  {r['started_at'][:16].replace('T', ' '):16}  {r['exercise']:12} "
              f"{r['status']:11} {r['rep_count']:>4} {_fmt(r['mean_rom_deg']):>6} "
              f"{_fmt(r['mean_score'], 0):>5}  {src}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from formcoach.errors import InputError
    from formcoach.report.history import summaries_from_store, write_history_report
    from formcoach.store import Store, default_db_path

    out: Path = args.out
    if args.set_id is not None:
        if args.history or args.exercise or args.since:
            raise InputError("--set reports one set; drop --history/--exercise/--since")
        return _report_set(args)
    if not args.history or not args.exercise:
        raise InputError("give --history --exercise E (progress), or --set ID (one live set)")
    check_output_path(out)
    ex = _exercise_id(args.exercise) or ""
    path = Path(args.db).expanduser() if args.db else default_db_path()
    sets = []
    plan, rows = None, None
    if path.exists():
        from formcoach.planning import load_rules, plan_from_store, set_rows

        with Store(path) as store:
            sets = summaries_from_store(store, ex, args.since)
            if sets:
                planned, summaries = plan_from_store(store, ex, load_rules())
                plan, rows = planned.lines(), set_rows(summaries)
    write_history_report(sets, ex, out, plan, rows)
    print(f"wrote {display_path(out)} ({len(sets)} sets of {ex})")
    return 0
