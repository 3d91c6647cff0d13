"""``formcoach eval``: accuracy against labelled clips (the logic is in :mod:`formcoach.evaluation`).

``formcoach eval reps --manifest data/videos/manifest.json`` counts reps in every clip of a
manifest and compares with the labels (format: :mod:`formcoach.evaluation.reps`).
``formcoach eval faults`` scores the faults flagged on form-labelled clips, ``formcoach eval
recognise`` the exercise recogniser, ``formcoach eval form`` (:mod:`formcoach.cli.eval_form`)
judges the fault rules on labelled poses, ``formcoach eval velocity`` the per-rep velocity loss
and the stop cue on rendered synthetic sets with a known velocity profile.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from formcoach.cli import check_eval_arguments, eval_form
from formcoach.errors import InputError
from formcoach.pose.models import DEFAULT_MODEL, MODELS

#: Most ``eval velocity --jobs`` (a huge number overflowed the process pool).
MAX_JOBS = 256


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``eval`` command group."""
    p = subparsers.add_parser("eval", help="measure accuracy on labelled clips",
                              description="Measure formcoach's accuracy on labelled clips.")
    sub = p.add_subparsers(dest="eval_command", metavar="WHAT", parser_class=type(p))
    r = sub.add_parser("reps", help="rep-count accuracy on a manifest of videos",
                       description="Count reps in every clip of a manifest and compare with "
                       "the labels.")
    _clip_set_arguments(r)
    r.add_argument("--min-accuracy", type=float, metavar="X",
                   help="exit 1 when accuracy is below X (0..1), for CI")
    r.set_defaults(func=run_reps)
    f = sub.add_parser("faults", help="fault-detection accuracy on a manifest of labelled videos",
                       description="Run the coach on every labelled clip of a manifest and score "
                       "the faults it flags: named-fault recall, detection on clips labelled "
                       "only 'unspecified', false-fault rate on 'correct' clips. Labels: "
                       "'fault_canonical', a 'fault' text, or a 'faults' list (see "
                       "formcoach/evaluation/faults.py).")
    _clip_set_arguments(f)
    f.set_defaults(func=run_faults)
    g = sub.add_parser("recognise", aliases=["recognize"],
                       help="exercise-recognition accuracy on a manifest of videos",
                       description="Stream every clip of a manifest through the exercise "
                       "recogniser (poses only, never the file name) and score its answers: "
                       "right, never sure, or a wrong exercise announced on the way.")
    _clip_set_arguments(g)
    g.add_argument("--min-accuracy", type=float, metavar="X",
                   help="exit 1 when accuracy is below X (0..1), for CI")
    g.set_defaults(func=run_recognise)
    v = sub.add_parser("velocity", help="velocity loss and the stop cue on rendered synthetic sets",
                       description="Render synthetic sets whose per-rep velocity loss is known "
                       "(VL 0 to 60%% over 7 reps), run them through the pose model and score "
                       "each: every rep detected, every rep's VL within 5 points of the truth, "
                       "the --stop-at-vl cue on the right rep. Renders and pose tracks are "
                       "cached (--cache).")
    v.add_argument("--json", metavar="OUT", help="write per-set results and totals as JSON")
    v.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    v.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL,
                   help=f"pose model (default: {DEFAULT_MODEL})")
    v.add_argument("--cache", metavar="DIR",
                   help="render and pose-track cache (default: formcoach-eval-velocity in the "
                        "temp folder)")
    v.add_argument("--full", action="store_true",
                   help="every exercise/view at every fps and seed (36 sets; default: one set "
                        "per exercise/view, fps and seed in turn: 9 sets)")
    v.add_argument("--exercise", action="append", metavar="ID",
                   help="only sets of this exercise (repeatable)")
    v.add_argument("--stop-at-vl", type=float, default=25.0, metavar="PCT",
                   help="the stop rule's threshold, percent (default 25: every true VL is 5 "
                        "points from it)")
    v.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="worker processes rendering and posing (default 2)")
    v.add_argument("--strict", action="store_true",
                   help="exit 1 when any set misses a target, for CI")
    v.set_defaults(func=run_velocity)
    eval_form.register(sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _clip_set_arguments(p: argparse.ArgumentParser) -> None:
    """The options every manifest-driven evaluation takes."""
    p.add_argument("--manifest", required=True, help="manifest.json (clips relative to it)")
    p.add_argument("--json", metavar="OUT", help="write per-clip results and totals as JSON")
    p.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    p.add_argument("--model", choices=MODELS, default=DEFAULT_MODEL,
                   help=f"pose model (default: {DEFAULT_MODEL}, the rung the accuracy floors were "
                        "measured with; use one --tracks folder per model)")
    p.add_argument("--tracks", metavar="DIR",
                   help="pose-track cache: reuse DIR/<clip stem>.npz, write missing ones")
    p.add_argument("--exercise", action="append", metavar="ID",
                   help="only clips of this exercise (repeatable)")


def print_table(summary: dict[str, Any]) -> None:
    """Per-clip table and totals on stdout."""
    from formcoach.text import clean_text

    rows = summary["clips"]
    w = max([len(clean_text(r["file"], False)) for r in rows] + [4])
    w = min(w, 70)
    print(f"{'clip':<{w}} {'exercise':<15} {'truth':>5} {'accept':>7} {'pred':>4}  ok")
    for r in rows:
        acc = f"{r['accept'][0]}-{r['accept'][1]}"
        mark = "yes" if r["correct"] else ("obo" if r["obo"] else "NO")
        name, ex = clean_text(r["file"], False), clean_text(r["exercise"], False)
        print(f"{name[:w]:<{w}} {ex:<15} {r['truth']:>5} {acc:>7} "
              f"{r['predicted']:>4}  {mark}")
    n = summary["n"]
    print(f"\n{n} clips, backend {summary['backend']}, model {summary.get('model', '?')}: "
          f"accuracy {summary['accuracy']:.3f} ({sum(r['correct'] for r in rows)}/{n}), "
          f"OBO {summary['obo']:.3f}, MAE {summary['mae']:.3f}, "
          f"detection {summary.get('detection_rate', float('nan')):.3f}")


def run_reps(args: argparse.Namespace) -> int:
    """Run ``eval reps``."""
    from formcoach.evaluation.reps import evaluate_reps

    check_eval_arguments(args)
    summary = evaluate_reps(args.manifest, backend=args.backend, tracks=args.tracks,
                            exercises=args.exercise, progress=True, model=args.model)
    if summary["n"] == 0:
        raise InputError(f"no clips to evaluate in {args.manifest}")
    print_table(summary)
    return _json_and_floor(args, summary)


def _json_and_floor(args: argparse.Namespace, summary: dict[str, Any]) -> int:
    """Write ``--json`` and apply ``--min-accuracy``: the exit status of an evaluation."""
    if args.json:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(summary, indent=2))
    if args.min_accuracy is not None and summary["accuracy"] < args.min_accuracy:
        print(f"accuracy {summary['accuracy']:.3f} is below --min-accuracy {args.min_accuracy}")
        return 1
    return 0


def run_recognise(args: argparse.Namespace) -> int:
    """Run ``eval recognise``: per clip the answer and when it came, then the totals."""
    from formcoach.evaluation.recognise import evaluate_recognition
    from formcoach.text import clean_text

    check_eval_arguments(args)
    s = evaluate_recognition(args.manifest, backend=args.backend, tracks=args.tracks,
                             exercises=args.exercise, progress=True, model=args.model)
    if not s["clips"]:
        raise InputError(f"no clips to evaluate in {args.manifest}")
    w = min(max(len(clean_text(r["file"], False)) for r in s["clips"]), 60)
    print(f"{'clip':<{w}} {'exercise':<15} {'answer':<15} {'sure at':>8}  ok")
    for r in s["clips"]:
        ans = r["predicted"] or "not sure"
        at = "-" if r["first_sure_s"] is None else f"{r['first_sure_s']:.1f} s"
        mark = ("n/a" if not r["scored"] else "WRONG" if r["wrong"]
                else "yes" if r["correct"] else "unsure")
        print(f"{clean_text(r['file'], False)[:w]:<{w}} {r['exercise']:<15} {ans:<15} "
              f"{at:>8}  {mark}")
    first = s["first_sure_s_median"]
    print(f"\n{s['n']} clips, backend {s['backend']}: accuracy {s['accuracy']:.3f}, wrong "
          f"{s['wrong_rate']:.3f}, not sure {s['unsure_rate']:.3f}; median time to a sure "
          f"answer {'-' if first is None else f'{first:.1f} s'}")
    return _json_and_floor(args, s)


def _pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:3.0f}%"


def run_faults(args: argparse.Namespace) -> int:
    """Run ``eval faults``: a per-clip table, totals per exercise, optional JSON."""
    from formcoach.evaluation.faults import evaluate_faults
    from formcoach.text import clean_text

    check_eval_arguments(args)
    s = evaluate_faults(args.manifest, backend=args.backend, tracks=args.tracks,
                        exercises=args.exercise, progress=True, model=args.model)
    if s["n"] == 0:
        raise InputError(f"no clips with a form label in {args.manifest}")
    w = min(max(len(clean_text(r["file"], False)) for r in s["clips"]), 60)
    print(f"{'clip':<{w}} {'exercise':<13} {'label':<22} reps  flagged (rule: reps)")
    for r in s["clips"]:
        lab = r["kind"] if r["kind"] != "named" else "/".join(n[0] for n in r["label"])
        flagged = ", ".join(f"{k}: {' '.join('-' if i is None else str(i + 1) for i in v)}"
                            for k, v in r["flagged"].items()) or "none"
        print(f"{clean_text(r['file'], False)[:w]:<{w}} {r['exercise']:<13} {lab[:22]:<22} "
              f"{r['reps']:>4}  {flagged}")
    print(f"\n{'exercise':<13} {'named recall':>13} {'detection':>10} {'false-fault':>12} "
          f"{'false/100 reps':>15}  named not judged")
    for ex, t in s["totals"].items():
        print(f"{ex:<13} {_pct(t['named_recall']):>8} of {t['named_n']:<2} "
              f"{_pct(t['detection']):>5} of {t['unspecified_n']:<2} "
              f"{_pct(t['false_fault_rate']):>7} of {t['correct_n']:<2} "
              f"{'-' if t['false_faults_per_100_reps'] is None else t['false_faults_per_100_reps']:>15}"
              f"  {t['named_not_judged'] if t['named_n'] else '-'}")
    if args.json:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(s, indent=2))
    return 0


def run_velocity(args: argparse.Namespace) -> int:
    """Run ``eval velocity``: one line per set as it is scored, then the totals."""
    from formcoach.evaluation.velocity import evaluate_velocity, velocity_specs
    from formcoach.synth import EXERCISES

    for ex in args.exercise or ():
        if ex not in EXERCISES:
            raise InputError(f"unknown exercise {ex!r} for synthetic sets; choose from: "
                             f"{', '.join(EXERCISES)}")
    if not (0 < args.stop_at_vl < 100):
        raise InputError(f"--stop-at-vl must be in (0, 100) percent, got {args.stop_at_vl}")
    if not 1 <= args.jobs <= MAX_JOBS:
        raise InputError(f"--jobs must be 1 to {MAX_JOBS}, got {args.jobs}")
    check_eval_arguments(args)
    specs = [s for s in velocity_specs(full=args.full)
             if not args.exercise or s.exercise in args.exercise]
    if not specs:
        raise InputError("no synthetic set has a moving point for the chosen exercise(s)")
    s = evaluate_velocity(specs, backend=args.backend, model=args.model, cache=args.cache,
                          stop_at_vl_pct=args.stop_at_vl, progress=print, jobs=args.jobs)
    err = s["vl_max_abs_error_pp"]
    print(f"\n{s['n']} sets, backend {s['backend']}, model {s['model']}: reps all detected "
          f"{s['reps_ok']}/{s['n']}, VL within {s['tolerance_pp']:g} pp {s['vl_ok']}/{s['n']} "
          f"(largest error {'-' if err is None else f'{err:.1f}'} pp), stop cue on the right "
          f"rep {s['stop_ok']}/{s['n']}")
    if args.json:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(s, indent=2))
    return 1 if args.strict and s["ok"] < s["n"] else 0
