"""``formcoach rules``: list every form rule of the rule packs, or write the fault catalogue
(``docs/faults.md``) as Markdown; the rendering is :mod:`formcoach.rules.catalog`."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``rules`` to the subcommands."""
    p = sub.add_parser(
        "rules",
        help="list the form rules of the exercise packs (or write docs/faults.md)",
        description=(
            "List every form rule of the bundled rule packs (or of the packs given with "
            "--exercise): what it compares, its threshold and the views it is judged from. "
            "--markdown renders the fault catalogue (docs/faults.md) with each rule's rationale "
            "and reference."
        ),
    )
    p.add_argument("--exercise", "-e", action="append", default=None, metavar="ID",
                   help="exercise id, alias or .toml pack (repeatable; default: every bundled pack)")
    p.add_argument("--markdown", action="store_true", help="the full catalogue as Markdown")
    p.add_argument("--out", type=Path, default=None, metavar="PATH",
                   help="write the output to this file instead of printing it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``formcoach rules``."""
    from formcoach.cli import printable
    from formcoach.exercises import load_exercise
    from formcoach.io_utils import atomic_write_text, check_output_path, display_path
    from formcoach.rules.catalog import catalog, catalog_markdown, fault_condition, views_text

    packs = None if args.exercise is None else [load_exercise(e) for e in args.exercise]
    if args.out is not None:
        check_output_path(args.out, "rule catalogue")
    if args.markdown:
        text = catalog_markdown(packs)
    else:
        rows = [f"{e.exercise.id:15s} {e.rule.id:24s} {fault_condition(e.rule)}  "
                f"[{views_text(e.rule)}]" for e in catalog(packs)]
        text = "\n".join(rows) + "\n"
    if args.out is not None:
        atomic_write_text(args.out, text, mode=0o644)
        print(f"wrote {printable(display_path(args.out))}")
    else:
        print("\n".join(printable(line) for line in text.splitlines()))
    return 0
