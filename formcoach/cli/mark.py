"""``formcoach mark``: say how a saved set ended (reps in reserve), e.g. after a live set."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from formcoach.cli import add_set_end_arguments, check_set_end_arguments


def register(sub: Any) -> None:
    """Add the ``mark`` subcommand."""
    p = sub.add_parser(
        "mark", help="mark how a saved set ended: --rir N or --to-failure",
        description="Record how a saved set ended (the set's id from 'formcoach history'): "
        "--rir N (you could have done N more reps) or --to-failure. Three or more marked sets "
        "of an exercise fit your own velocity-loss -> reps-in-reserve profile, which then "
        "estimates the reps in reserve of your other sets ('formcoach plan').")
    p.add_argument("set_id", type=int, metavar="SET_ID", help="the set (see 'formcoach history')")
    add_set_end_arguments(p, required=True)
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.errors import InputError
    from formcoach.planning import set_end_lines
    from formcoach.store import Store, default_db_path

    check_set_end_arguments(args)
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():  # marking must not create a database
        raise InputError(f"no sets saved yet (no database at {path})")
    with Store(path) as store:
        row = next((r for r in store.list_sets() if r["id"] == args.set_id), None)
    if row is None:
        raise InputError(f"no set {args.set_id} in {path} (see 'formcoach history')")
    for line in set_end_lines(path, row["exercise"], args.set_id, args.rir, args.to_failure):
        print(line)
    return 0
