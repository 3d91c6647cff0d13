"""``formcoach eval form``: judge the fault rules against labelled poses.

The data layouts and the metric are described in :mod:`formcoach.evaluation.form`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and not np.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``form`` to the ``eval`` group's subparsers."""
    p = sub.add_parser(
        "form",
        help="judge the form-fault rules against labelled poses (balanced accuracy)",
        description=(
            "Find labelled pose data under DIR (exercise-correction CSV rows in <exercise>_model/ "
            "folders; pose-trainer OpenPose .npy files named *good*/*bad*), judge the bundled "
            "rule packs on it and report balanced accuracy per exercise and fault."
        ),
    )
    p.add_argument("--data", type=Path, required=True, metavar="DIR", help="labelled data folder")
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="write results as JSON")
    p.add_argument("--exercise-dir", type=Path, default=None,
                   help="folder of <exercise>.toml packs to use instead of the bundled ones")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``formcoach eval form``."""
    from formcoach.text import clean_text

    def _out(line: str) -> None:
        print(clean_text(line))  # file names and CSV labels come from the user's data

    from formcoach.cli import check_eval_arguments
    from formcoach.evaluation.form import evaluate

    check_eval_arguments(args)
    if args.exercise_dir is not None and not args.exercise_dir.is_dir():
        from formcoach.errors import InputError
        from formcoach.io_utils import display_path

        raise InputError(f"--exercise-dir must be a folder of <exercise>.toml packs, got "
                         f"{display_path(args.exercise_dir)}")
    result = _json_safe(evaluate(args.data, args.exercise_dir))
    for name, lay in result["layouts"].items():
        _out(f"{name}: balanced accuracy {_fmt(lay['balanced_accuracy'])}")
        for fname, st in lay.get("stages", {}).items():
            _out(f"  (extra) stages {fname}: {_fmt(st['balanced_accuracy'])} n={st['n']} "
                  f"[{st['rule']}]")
        for ex, e in lay["exercises"].items():
            _out(f"  {ex:16s} {_fmt(e['balanced_accuracy'])}  n={e['n']} {e['classes']}")
            for rid, f in e.get("faults", {}).items():
                _out(f"    {rid:22s} {_fmt(f['balanced_accuracy'])}  recall "
                      f"{_fmt(f['recall'])} specificity {_fmt(f['specificity'])} "
                      f"not assessed {f['not_assessed']}")
            for rid, c in e.get("rules", {}).items():
                _out(f"    {rid:22s} fired on good {c['fired_good']}, bad {c['fired_bad']}, "
                      f"not assessed {c['not_assessed']}")
    _out(f"balanced_accuracy {_fmt(result['balanced_accuracy'])}")
    if args.json is not None:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
    return 0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"
