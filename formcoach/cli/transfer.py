"""``formcoach export-sets`` and ``formcoach import-sets``: sets recorded at home (``live
--workout``, ``analyze --patient``) carried into the clinician's workspace database
(:mod:`formcoach.transfer`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from formcoach.cli.history import _since
from formcoach.io_utils import display_path


def register(sub: Any) -> None:
    """Add the ``export-sets`` and ``import-sets`` subcommands."""
    p = sub.add_parser(
        "export-sets", help="write the saved sets to one file for the PT workspace",
        description="Write the finished sets of a session database (e.g. the one 'formcoach "
        "live --workout plan.toml' filled at home) to one JSON file, with their patient, "
        "prescription, pain, RPE, reps, faults and joint angles (no video). "
        "'formcoach import-sets FILE' (or the workspace's import page) reads it into the "
        "clinician's database.")
    p.add_argument("--out", type=Path, metavar="FILE", required=True,
                   help="the file to write (e.g. home_sets.json; private: mode 0600)")
    p.add_argument("--patient", metavar="NAME", help="only this patient's sets")
    p.add_argument("--since", metavar="DATE", type=_since,
                   help="only sets recorded on/after this date")
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database to export (default: $FORMCOACH_DB or the user data "
                        "dir)")
    p.set_defaults(func=run_export)

    p = sub.add_parser(
        "import-sets", help="import sets exported with 'formcoach export-sets'",
        description="Import files written by 'formcoach export-sets' into a session database "
        "(the PT workspace's). Patients are matched by name (a new one is added, and said so); "
        "prescriptions by the plan's prescription id, else exercise and dates, else the one "
        "active on the recording day. A set already there is skipped; a newer analysis of the "
        "same video replaces the older one. A bad file imports nothing.")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="export file(s)")
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database to import into (default: $FORMCOACH_DB or the user "
                        "data dir)")
    p.set_defaults(func=run_import)


def run_export(args: argparse.Namespace) -> int:
    from formcoach.store import default_db_path
    from formcoach.transfer import export_sets

    path = Path(args.db).expanduser() if args.db else default_db_path()
    n = export_sets(path, args.out, patient=args.patient, since=args.since)
    print(f"exported {n} set{'s' if n != 1 else ''} from {display_path(path)} to "
          f"{display_path(args.out)}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from formcoach.cli import printable
    from formcoach.store import default_db_path
    from formcoach.transfer import import_sets

    path = Path(args.db).expanduser() if args.db else default_db_path()
    summary = import_sets(path, args.files)
    for line in summary.lines:
        print(printable(line))
    print(f"{summary.headline()} into {display_path(path)}")
    return 0
