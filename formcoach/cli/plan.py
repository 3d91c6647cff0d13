"""``formcoach plan``: the next session of an exercise from its history, with reasons."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from formcoach.io_utils import check_output_path


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
                   help="also write the plan as JSON")
    p.add_argument("--db", metavar="PATH", type=Path,
                   help="session database (default: $FORMCOACH_DB or the user data dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.exercises import load_exercise
    from formcoach.io_utils import atomic_write_text
    from formcoach.planning import Plan, estimate_rir, load_rules, load_summaries, plan_next
    from formcoach.store import Store, default_db_path

    exercise = load_exercise(args.exercise).id
    rules = load_rules(args.rules)
    if args.json_out is not None:
        check_output_path(args.json_out, "JSON")
    path = Path(args.db).expanduser() if args.db else default_db_path()
    if path.exists():  # planning must not create a database
        with Store(path) as store:
            summaries = load_summaries(store, exercise)
    else:
        summaries = []
    profile, why = estimate_rir(summaries)
    plan: Plan = plan_next(summaries, rules, exercise)
    if plan.decision:
        plan.rir = [profile.text] if profile is not None else [why]
    for line in plan.lines():
        print(line)
    if args.json_out is not None:
        atomic_write_text(args.json_out, json.dumps(plan.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json_out}")
    return 0
