"""``formcoach plan``: the next session of an exercise from its history, with reasons."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from formcoach.io_utils import check_output_path, display_path


def register(sub: Any) -> None:
    """Add the ``plan`` subcommand."""
    p = sub.add_parser(
        "plan", help="suggest the next session from history: progress, hold or back off",
        description="Suggest the next session of an exercise from its saved sets: progress "
        "(more reps or load) when the recent sets were clean and stopped early in velocity "
        "loss, hold when borderline, back off when faults or velocity loss rose. Every "
        "suggestion gives its reasons, one line each. The rules are a TOML file "
        "(formcoach/plan_rules.toml; --rules for your own).")
    p.add_argument("--exercise", "-e", required=True, help="exercise id or alias (e.g. squat)")
    p.add_argument("--rules", type=Path, metavar="FILE.toml",
                   help="plan rules (default: the bundled formcoach/plan_rules.toml)")
    p.add_argument("--json", type=Path, metavar="OUT", dest="json_out",
                   help="also write the plan as JSON, with every set's velocity loss and "
                   "reps in reserve (marked, or estimated with a 90%% interval)")
    p.add_argument("--csv", type=Path, metavar="OUT", dest="csv_out",
                   help="also write one CSV row per set: reps, faulty reps, final velocity "
                   "loss, reps in reserve marked or estimated")
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.exercises import load_exercise
    from formcoach.io_utils import atomic_write_text, check_distinct_outputs
    from formcoach.planning import load_rules, plan_from_store, set_rows
    from formcoach.store import Store, default_db_path

    exercise = load_exercise(args.exercise).id
    rules = load_rules(args.rules)
    outs = [(label, p) for label, p in (("--json", args.json_out), ("--csv", args.csv_out))
            if p is not None]
    for label, out in outs:
        check_output_path(out, label.lstrip("-").upper())
    check_distinct_outputs([("--db", args.db)], outs)
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if path.exists():  # planning must not create a database
        with Store(path) as store:
            plan, summaries = plan_from_store(store, exercise, rules)
    else:
        plan, summaries = plan_from_store(None, exercise, rules)
    for line in plan.lines():
        print(line)
    rows = set_rows(summaries)
    if args.json_out is not None:
        doc = {**plan.to_dict(), "set_rows": rows}
        atomic_write_text(args.json_out, json.dumps(doc, indent=2) + "\n")
        print(f"wrote {display_path(args.json_out)}")
    if args.csv_out is not None:
        atomic_write_text(args.csv_out, _csv(rows))
        print(f"wrote {display_path(args.csv_out)}")
    return 0


#: Columns of ``plan --csv``, in order (keys of :func:`formcoach.planning.set_rows`).
CSV_COLUMNS = ("set_id", "started_at", "reps", "fault_reps", "final_vl_pct", "rir_marked",
               "to_failure", "rir_estimate", "rir_low", "rir_high", "rir_extrapolated")


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(["" if r[c] is None else r[c] for c in CSV_COLUMNS])
    return buf.getvalue()
