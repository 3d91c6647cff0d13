"""``formcoach history`` (list stored sets) and ``formcoach report --history`` (progress report)."""

from __future__ import annotations

import argparse
import math
from datetime import date
from pathlib import Path
from typing import Any

from formcoach.io_utils import check_output_path


def _since(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--since must be a date like 2026-01-31, got {text!r}"
        ) from None


def _exercise_id(name: str | None) -> str | None:
    """Canonical exercise id for a name or alias (unknown names are used as given)."""
    if not name:
        return None
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
        "report", help="progress report across sessions (HTML)",
        description="Write a self-contained HTML progress report from the session history. "
        "For a report of one video use 'formcoach analyze VIDEO --report out.html'.",
    )
    p.add_argument("out", type=Path, metavar="OUT.html", help="HTML file to write")
    p.add_argument("--history", action="store_true", required=True,
                   help="report progress across stored sessions")
    p.add_argument("--exercise", metavar="E", required=True, help="exercise to report on")
    p.add_argument("--since", metavar="DATE", type=_since, help="only sets on/after this date")
    _db_args(p)
    p.set_defaults(func=run_report)


def _fmt(x: Any, nd: int = 1) -> str:
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and math.isfinite(x) else "-"


def run_history(args: argparse.Namespace) -> int:
    from formcoach.store import Store, default_db_path

    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():  # listing must not create a database
        print(f"no sets saved yet (no database at {path})")
        return 0
    with Store(path) as store:
        rows = store.list_sets(exercise=_exercise_id(args.exercise), since=args.since)
    if not rows:
        print(f"no sets saved in {path}")
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
    from formcoach.report.history import summaries_from_store, write_history_report
    from formcoach.store import Store, default_db_path

    out: Path = args.out
    check_output_path(out)
    ex = _exercise_id(args.exercise) or ""
    path = Path(args.db).expanduser() if args.db else default_db_path()
    sets = []
    if path.exists():
        with Store(path) as store:
            sets = summaries_from_store(store, ex, args.since)
    write_history_report(sets, ex, out)
    print(f"wrote {out} ({len(sets)} sets of {ex})")
    return 0
