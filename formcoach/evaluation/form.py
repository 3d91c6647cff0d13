"""Fault-rule accuracy against labelled poses (``formcoach eval form``).

Two layouts are found automatically anywhere under ``--data`` (both may be present):

* **exercise-correction** CSV rows (:func:`formcoach.evaluation.importers.load_landmark_csv`) inside a
  ``<exercise>_model/`` folder (``plank_model``, ``lunge_model``, ``bicep_model``): each row is
  one labelled frame, judged on its own with the pack's rules (:func:`judge_frames`; ``hold_s``
  is ignored since rows are independent). Labels: ``C`` correct, otherwise the fault named in
  :data:`CSV_LABELS`. A file whose labels are not all known fault labels is a stage file
  (lunge ``I/M/D``, squat ``up/down``): its stages are predicted from the knee angle and
  reported under ``stages`` as an extra, outside ``balanced_accuracy``.
* **pose-trainer** OpenPose COCO-18 ``.npy`` sequences (:func:`load_openpose_npy`), one rep per
  file, ``good``/``bad`` in the file name, in ``bicep``/``frontraise``/``shoulderpress``/
  ``shouldershrug`` folders (or with that prefix in the name). Each file is judged as one rep
  (:func:`judge_sequence`) at an assumed :data:`NPY_FPS`; it is ``bad`` when any rule faults.

Metric: balanced accuracy (mean recall over the classes present). Per exercise it is over the
exercise's classes (``C`` and each fault; for pose-trainer good/bad), per fault over the rows
labelled ``C`` or that fault. A rule that cannot be judged on a row (wrong view, joints not
visible) counts as "no fault found"; such rows are counted in ``not_assessed``. The top-level
``balanced_accuracy`` is the mean over exercises of both layouts. No threshold is fitted here:
the rules come from the bundled packs (or ``--exercise-dir``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError

log = logging.getLogger(__name__)

#: exercise-correction model folder -> (exercise id, {label: rule id, None = correct}).
CSV_LABELS: dict[str, tuple[str, dict[str, str | None]]] = {
    "plank_model": ("plank", {"C": None, "H": "hips_high", "L": "hips_low"}),
    "lunge_model": ("lunge", {"C": None, "L": "knee_over_toe"}),
    "bicep_model": ("bicep_curl", {"C": None, "L": "lean_back"}),
}
#: Stage files (an extra, not part of balanced_accuracy): label set -> stage names by knee
#: angle. Standing = the more-bent knee within 20 deg of straight (>= STANDING_KNEE_DEG); the
#: bottom of a lunge = at or past a right angle (<= BOTTOM_KNEE_DEG).
STAGE_LABELS: dict[frozenset[str], str] = {
    frozenset({"up", "down"}): "squat",
    frozenset({"I", "M", "D"}): "lunge",
}
#: Folders holding only stage files (no fault labels); CSVs there that are not landmark rows
#: (e.g. ``analyze_pose.csv``) are skipped instead of failing.
STAGE_ONLY_DIRS = frozenset({"squat_model"})
STANDING_KNEE_DEG = 160.0
BOTTOM_KNEE_DEG = 90.0
#: pose-trainer folder / file-name prefix -> exercise id.
NPY_EXERCISES: dict[str, str] = {
    "bicep": "bicep_curl",
    "frontraise": "front_raise",
    "shoulderpress": "shoulder_press",
    "shouldershrug": "shoulder_shrug",
}
#: Frame rate assumed for pose-trainer sequences (the files carry none); only velocity
#: features would depend on it.
NPY_FPS = 30.0


def balanced_accuracy(truth: Iterable[str], pred: Iterable[str]) -> float:
    """Mean per-class recall over the classes present in ``truth`` (NaN when empty)."""
    t = np.asarray(list(truth), dtype=object)
    p = np.asarray(list(pred), dtype=object)
    if t.size == 0:
        return float("nan")
    recalls = [float(np.mean(p[t == c] == c)) for c in sorted(set(t.tolist()))]
    return float(np.mean(recalls))


def _load_pack(exercise: str, exercise_dir: Path | None) -> Any:
    from formcoach.exercises import load_exercise

    if exercise_dir is not None:
        path = exercise_dir / f"{exercise}.toml"
        if path.is_file():
            return load_exercise(path)
    return load_exercise(exercise)


def _rules_by_id(pack: Any) -> dict[str, Any]:
    from formcoach.rules.engine import parse_rules

    return {r.id: r for r in parse_rules(pack.rules_raw, str(pack.path or pack.id))}


def _csv_files(root: Path) -> list[tuple[Path, str]]:
    """Labelled CSVs under ``root`` with their model folder name."""
    known = set(CSV_LABELS) | STAGE_ONLY_DIRS
    out = []
    for p in sorted(root.rglob("*.csv")):
        names = [q.name for q in p.relative_to(root).parents if q.name] + [root.name]
        model = next((n for n in names if n in known), None)
        if model is not None:
            out.append((p, model))
    return out


def _npy_exercise(p: Path, root: Path) -> str | None:
    for part in [*reversed(p.relative_to(root).parts[:-1]), root.name]:
        if part.lower() in NPY_EXERCISES:
            return NPY_EXERCISES[part.lower()]
    stem = p.stem.lower()
    for prefix, ex in NPY_EXERCISES.items():
        if stem.startswith(prefix):
            return ex
    return None


_GOOD_BAD = re.compile(r"(good|bad)", re.IGNORECASE)


def eval_exercise_correction(root: Path, exercise_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate every labelled CSV under ``root`` (see the module doc)."""
    from formcoach.evaluation.importers import CSV_FRAME_SIZE, load_landmark_csv
    from formcoach.rules.engine import FAULT, judge_frames

    per_ex: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    stages: dict[str, Any] = {}
    for path, model in _csv_files(root):
        if model in STAGE_ONLY_DIRS:
            try:
                poses, labels = load_landmark_csv(path)
            except InputError as e:
                skipped.append(f"{path.relative_to(root)} (not landmark rows: {e})")
                continue
            stage = _stage_eval(poses, labels)
            if stage is not None:
                stages[str(path.relative_to(root))] = stage
            else:
                skipped.append(f"{path.relative_to(root)} (labels {sorted(set(labels))[:6]})")
            continue
        exercise, labels_map = CSV_LABELS[model]
        poses, labels = load_landmark_csv(path)
        if not labels or not set(labels) <= set(labels_map):
            stage = _stage_eval(poses, labels)
            if stage is not None:
                stages[str(path.relative_to(root))] = stage
            else:
                skipped.append(f"{path.relative_to(root)} (labels {sorted(set(labels))[:6]})")
            continue
        pack = _load_pack(exercise, exercise_dir)
        rules = _rules_by_id(pack)
        fault_rules = [r for r in labels_map.values() if r is not None]
        for r in fault_rules:
            if r not in rules:
                raise InputError(f"pack {exercise!r} has no rule {r!r} needed to judge {path}")
        verdict = judge_frames([rules[r] for r in fault_rules], poses)
        rec = per_ex.setdefault(exercise, {"truth": [], "pred": [], "fired": {}, "na": {},
                                           "files": [], "labels_map": labels_map})
        rec["files"].append(str(path.relative_to(root)))
        # Predicted class: the first mapped fault whose rule fires on the row, else correct.
        inv = {r: lab for lab, r in labels_map.items() if r is not None}
        correct = next(lab for lab, r in labels_map.items() if r is None)
        for i, lab in enumerate(labels):
            pred = correct
            for r in fault_rules:
                if verdict[r][i] == FAULT:
                    pred = inv[r]
                    break
            rec["truth"].append(lab)
            rec["pred"].append(pred)
        for r in fault_rules:
            rec["fired"].setdefault(r, []).extend((verdict[r] == FAULT).tolist())
            rec["na"][r] = rec["na"].get(r, 0) + int(np.sum(verdict[r] == "not_assessed"))
    exercises: dict[str, Any] = {}
    for exercise, rec in per_ex.items():
        truth = np.array(rec["truth"], dtype=object)
        correct = next(lab for lab, r in rec["labels_map"].items() if r is None)
        faults: dict[str, Any] = {}
        for lab, r in rec["labels_map"].items():
            if r is None or not np.any(truth == lab):
                continue
            fired = np.array(rec["fired"][r], dtype=bool)
            sel = (truth == correct) | (truth == lab)
            t = np.where(truth[sel] == lab, "fault", "ok")
            p = np.where(fired[sel], "fault", "ok")
            faults[r] = {
                "label": lab,
                "balanced_accuracy": balanced_accuracy(t, p),
                "recall": float(np.mean(fired[truth == lab])),
                "specificity": float(np.mean(~fired[truth == correct]))
                if np.any(truth == correct) else float("nan"),
                "n_fault": int(np.sum(truth == lab)),
                "n_correct": int(np.sum(truth == correct)),
                "not_assessed": rec["na"][r],
            }
        exercises[exercise] = {
            "balanced_accuracy": balanced_accuracy(rec["truth"], rec["pred"]),
            "n": len(rec["truth"]),
            "classes": {c: int(np.sum(truth == c)) for c in sorted(set(rec["truth"]))},
            "files": rec["files"],
            "faults": faults,
        }
    return {
        "balanced_accuracy": _mean([e["balanced_accuracy"] for e in exercises.values()]),
        "frame_size": list(CSV_FRAME_SIZE),
        "exercises": exercises,
        "stages": stages,
        "skipped": skipped,
    }


def _stage_eval(poses: np.ndarray, labels: list[str]) -> dict[str, Any] | None:
    """Balanced accuracy of knee-angle stage labels (squat up/down, lunge I/M/D), or None."""
    from formcoach.kinematics.derived import compute_rule_features

    kind = next((k for lab, k in STAGE_LABELS.items() if labels and set(labels) <= lab), None)
    if kind is None:
        return None
    knee = compute_rule_features(poses, 30.0, ["knee_min"])["knee_min"]
    standing = knee >= STANDING_KNEE_DEG
    if kind == "squat":
        pred = np.where(standing, "up", "down")
    else:
        pred = np.where(standing, "I", np.where(knee <= BOTTOM_KNEE_DEG, "D", "M"))
    pred = np.where(np.isfinite(knee), pred, "?")
    return {"exercise": kind, "balanced_accuracy": balanced_accuracy(labels, pred.tolist()),
            "n": len(labels), "rule": f"knee_min >= {STANDING_KNEE_DEG:g} standing"
            + ("" if kind == "squat" else f", <= {BOTTOM_KNEE_DEG:g} down")}


def eval_pose_trainer(root: Path, exercise_dir: Path | None = None) -> dict[str, Any]:
    """Evaluate every good/bad OpenPose ``.npy`` under ``root`` (see the module doc)."""
    from formcoach.evaluation.importers import load_openpose_npy
    from formcoach.rules.engine import FAULT, NOT_ASSESSED, judge_sequence

    per_ex: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    packs: dict[str, Any] = {}
    for path in sorted(root.rglob("*.npy")):
        exercise = _npy_exercise(path, root)
        m = _GOOD_BAD.search(path.stem)
        if exercise is None or m is None:
            skipped.append(str(path.relative_to(root)))
            continue
        truth = m.group(1).lower()
        if exercise not in packs:
            packs[exercise] = _load_pack(exercise, exercise_dir)
        poses = load_openpose_npy(path)
        status, _ = judge_sequence(packs[exercise], poses, NPY_FPS)
        fired = sorted(k for k, v in status.items() if v == FAULT)
        rec = per_ex.setdefault(exercise, {"truth": [], "pred": [], "files": {}, "rules": {}})
        rec["truth"].append(truth)
        rec["pred"].append("bad" if fired else "good")
        rec["files"][str(path.relative_to(root))] = {"label": truth, "faults": fired}
        for rid, st in status.items():
            c = rec["rules"].setdefault(rid, {"fired_good": 0, "fired_bad": 0,
                                               "not_assessed": 0})
            if st == FAULT:
                c[f"fired_{truth}"] += 1
            elif st == NOT_ASSESSED:
                c["not_assessed"] += 1
    exercises = {
        ex: {
            "balanced_accuracy": balanced_accuracy(rec["truth"], rec["pred"]),
            "n": len(rec["truth"]),
            "classes": {c: rec["truth"].count(c) for c in sorted(set(rec["truth"]))},
            "rules": rec["rules"],
            "files": rec["files"],
        }
        for ex, rec in per_ex.items()
    }
    return {
        "balanced_accuracy": _mean([e["balanced_accuracy"] for e in exercises.values()]),
        "fps_assumed": NPY_FPS,
        "exercises": exercises,
        "skipped": skipped,
    }


def _mean(xs: list[float]) -> float:
    xs = [x for x in xs if np.isfinite(x)]
    return float(np.mean(xs)) if xs else float("nan")


def evaluate(data: Path, exercise_dir: Path | None = None) -> dict[str, Any]:
    """Run every layout found under ``data``; raises InputError when none is found."""
    if not data.is_dir():
        raise InputError(f"--data must be a folder, got {data}")
    layouts: dict[str, Any] = {}
    if _csv_files(data):
        layouts["exercise-correction"] = eval_exercise_correction(data, exercise_dir)
    if any(data.rglob("*.npy")):
        layouts["pose-trainer"] = eval_pose_trainer(data, exercise_dir)
    layouts = {k: v for k, v in layouts.items() if v["exercises"]}
    if not layouts:
        raise InputError(
            f"no labelled form data under {data}: expected <exercise>_model/*.csv "
            f"({', '.join(CSV_LABELS)}) or good/bad OpenPose .npy files "
            f"({', '.join(NPY_EXERCISES)})"
        )
    all_ba = [e["balanced_accuracy"] for lay in layouts.values() for e in lay["exercises"].values()]
    return {"balanced_accuracy": _mean(all_ba), "layouts": layouts}
