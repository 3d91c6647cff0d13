"""``formcoach mark``: say how a saved set ended (reps in reserve) and how it felt (pain,
effort), e.g. after a live set."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from formcoach.cli import add_set_end_arguments, check_set_end_arguments


def register(sub: Any) -> None:
    """Add the ``mark`` subcommand."""
    p = sub.add_parser(
        "mark", help="mark a saved set: --rir N / --to-failure, --pain N, --rpe N",
        description="Record how a saved set ended and how it felt (the set's id from "
        "'formcoach history'; default: the last set saved): --rir N (you could have done N "
        "more reps) or --to-failure, --pain N (0-10) and --rpe N (effort, 0-10). Three or more "
        "sets of an exercise marked with --rir/--to-failure fit your own velocity-loss -> "
        "reps-in-reserve profile ('formcoach plan'); pain and RPE show in the PT workspace "
        "('formcoach serve').")
    p.add_argument("set_id", type=int, metavar="SET_ID", nargs="?", default=None,
                   help="the set (see 'formcoach history'; default: the last set saved)")
    add_set_end_arguments(p)
    g = p.add_argument_group("how the set felt")
    g.add_argument("--pain", type=int, metavar="N", default=None,
                   help="pain during the set, 0 (none) .. 10 (worst imaginable)")
    g.add_argument("--rpe", type=float, metavar="N", default=None,
                   help="rating of perceived exertion, 0 (rest) .. 10 (maximal); halves allowed")
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")
    p.set_defaults(func=run)


def check_feel_arguments(args: argparse.Namespace) -> None:
    """Raise a one-line :class:`~formcoach.errors.InputError` on a bad ``--pain``/``--rpe``, or
    when ``mark`` was given nothing to record."""
    from formcoach.errors import InputError

    pain, rpe = args.pain, args.rpe
    if pain is not None and not 0 <= pain <= 10:
        raise InputError(f"--pain must be a whole number 0..10, got {pain}")
    if rpe is not None and not (math.isfinite(rpe) and 0 <= rpe <= 10):
        raise InputError(f"--rpe must be a number 0..10, got {rpe:g}")
    if args.rir is None and not args.to_failure and pain is None and rpe is None:
        raise InputError("nothing to mark: give --rir N, --to-failure, --pain N and/or --rpe N")


def run(args: argparse.Namespace) -> int:
    from formcoach.errors import InputError
    from formcoach.planning import set_end_lines
    from formcoach.store import Store, default_db_path

    check_set_end_arguments(args)
    check_feel_arguments(args)
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if not path.exists():  # marking must not create a database
        raise InputError(f"no sets saved yet (no database at {path})")
    with Store(path) as store:
        sets = store.list_sets()
        if args.set_id is None:  # the last set saved (one still being recorded is not done)
            row = max((r for r in sets if r["status"] != "in_progress"),
                      key=lambda r: int(r["id"]), default=None)
            if row is None:
                raise InputError(f"no finished set in {path} to mark")
        else:
            row = next((r for r in sets if r["id"] == args.set_id), None)
            if row is None:
                raise InputError(f"no set {args.set_id} in {path} (see 'formcoach history')")
        set_id = int(row["id"])
        if args.pain is not None or args.rpe is not None:
            store.set_details(set_id, pain=args.pain, rpe=args.rpe)
            got = store.get_set(set_id) or {}
            felt = ", ".join(f"{k} {v:g}" for k, v in (("pain", got.get("pain")),
                                                         ("RPE", got.get("rpe"))) if v is not None)
            when = str(got.get("recorded_at") or row["started_at"])[:16].replace("T", " ")
            print(f"set {set_id} ({row['exercise']}, recorded {when}): {felt}")
    if args.rir is not None or args.to_failure:
        for line in set_end_lines(path, row["exercise"], set_id, args.rir, args.to_failure):
            print(line)
    return 0
