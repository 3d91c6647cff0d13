"""Fault-detection accuracy on labelled clips (``formcoach eval faults``).

A manifest lists clips (``file``, ``exercise``) with a form label, in any of three spellings:

* ``fault_canonical``: ``correct``, ``unspecified`` (faulty, type not given) or a fault id
  (the format of ``../shared/data/faults/manifest.json``);
* ``fault``: a source's free-text label whose first word names it (``correct ...``,
  ``incorrect ...``, ``hip_first ...``) or, failing that, which contains a fault phrase of
  :data:`LABEL_PHRASES` (``... Observed: hips sag ...``); the format of
  ``../shared/data/videos/manifest.json``, where only some clips carry one: clips without a label
  are left out;
* ``faults``: a list of injected fault types, empty for a clean clip (the bundled samples'
  ``samples/manifest.json``).

Labels are mapped to the rule ids of formcoach's packs by :data:`LABEL_ALIASES` (the
vocabulary of the sources and of the synthetic athlete; an id not listed stands for itself).

Per clip: the faults flagged (rule ids and rep indices). Per exercise and overall:

* **named-fault recall**: clips with a named fault on which that fault was flagged (a named
  fault whose rules were judged on no rep, from the views seen, is also counted as *not judged*:
  a miss the coach reported);
* **fault detection**: ``unspecified`` clips on which any fault was flagged;
* **false-fault rate**: ``correct`` clips on which any fault was flagged, and false faults per
  100 counted reps on them.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.evaluation.reps import MAX_MANIFEST_CLIPS, track_cache, track_for
from formcoach.pose.models import DEFAULT_MODEL, ModelName
from formcoach.text import MAX_MANIFEST_BYTES, clean_text, parse_json, read_text_capped

log = logging.getLogger(__name__)

__all__ = ["LABEL_ALIASES", "LABEL_PHRASES", "evaluate_faults", "label_of", "load_fault_manifest"]

#: Source / synthetic fault names -> the rule ids that flag them (any one counts).
LABEL_ALIASES: dict[str, tuple[str, ...]] = {
    "incorrect": ("unspecified",),
    "wrong": ("unspecified",),
    "hip_first": ("hips_rise_first",),
    "knee_first": ("knee_dominant",),
    "shallow_squat": ("depth",),
    "partial_curl": ("partial_rom",),
    "incomplete_lockout": ("no_lockout",),
    "partial_situp": ("partial",),
    "shallow_lunge": ("depth",),
    "partial_jack": ("arms_not_overhead", "feet_not_apart"),
}


#: Phrases of a source's (or an annotator's) free-text label that name a fault, for labels
#: whose first word does not (``incorrect ... Observed: hips sag ...``).
LABEL_PHRASES: dict[str, str] = {
    "hips sag": "hip_sag",
    "hip sag": "hip_sag",
    "narrow base": "narrow_base",
    "rounded back": "rounded_back",
    "hips rose too early": "hips_rise_first",
    "knees cave": "knee_valgus",
}


def label_of(clip: dict[str, Any]) -> list[tuple[str, ...]] | None:
    """The clip's label: ``[]`` correct, ``[("unspecified",)]``, or one tuple of acceptable
    rule ids per named fault; None when the clip carries no form label."""
    def ids(name: str) -> tuple[str, ...]:
        key = name.strip().lower()
        return LABEL_ALIASES.get(key, (key,))

    if isinstance(clip.get("fault_canonical"), str):
        lab = clip["fault_canonical"].strip().lower()
        return [] if lab == "correct" else [ids(lab)]
    if isinstance(clip.get("fault"), str) and clip["fault"].strip():
        first = clip["fault"].strip().split()[0].strip("(),;:").lower()
        if first == "correct":
            return []
        named = ids(first)
        if named[0] in _known_ids():
            return [named]
        text = " ".join(clip["fault"].lower().split())
        phrased = sorted({v for k, v in LABEL_PHRASES.items() if k in text})
        return [(p,) for p in phrased] or [("unspecified",)]
    if isinstance(clip.get("faults"), list):
        return [ids(str(f)) for f in clip["faults"]]
    return None


def _known_ids() -> set[str]:
    """Every rule id of the bundled packs."""
    from formcoach.exercises import list_exercises

    return {str(r.get("id", "")) for e in list_exercises() for r in e.rules_raw}


def load_clip_list(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every clip of a manifest (``{"clips": [{"file", "exercise", ...}]}``) with ``path``
    resolved; other fields are kept as they are.

    Raises:
        InputError: missing/oversized/bad file, or a clip without ``file``/``exercise``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(clean_text(f"manifest not found: {path}", False))
    doc = parse_json(read_text_capped(path, MAX_MANIFEST_BYTES, "manifest", InputError),
                     path, "manifest", InputError)
    clips = doc.get("clips") if isinstance(doc, dict) else doc
    if not isinstance(clips, list) or len(clips) > MAX_MANIFEST_CLIPS:
        raise InputError(clean_text(f"manifest {path} needs a 'clips' list of at most "
                                    f"{MAX_MANIFEST_CLIPS} clips", False))
    out = []
    for k, c in enumerate(clips):
        if not isinstance(c, dict) or not all(isinstance(c.get(f), str) and c[f].strip()
                                              for f in ("file", "exercise")):
            raise InputError(clean_text(f"manifest {path}: clip {k}: needs 'file' and "
                                        "'exercise' strings", False))
        if "\x00" in c["file"]:
            raise InputError(clean_text(f"manifest {path}: clip {k}: 'file' contains a NUL "
                                        "character", False))
        out.append({**c, "path": (path.parent / c["file"]).resolve()})
    return out


def load_fault_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Clips with a form label, ``path`` resolved and ``label`` (see :func:`label_of`) added.

    Raises:
        InputError: as :func:`load_clip_list`.
    """
    out = []
    for c in load_clip_list(path):
        label = label_of(c)
        if label is None:
            continue  # no form label (e.g. a counting-only clip)
        out.append({**c, "label": label})
    return out


def _kind(label: list[tuple[str, ...]]) -> str:
    if not label:
        return "correct"
    return "unspecified" if label == [("unspecified",)] else "named"


def evaluate_faults(
    manifest: str | os.PathLike[str],
    backend: str = "onnx",
    tracks: str | os.PathLike[str] | None = None,
    exercises: list[str] | None = None,
    progress: bool = False,
    model: ModelName = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Run the coach on every labelled clip (poses from ``backend`` running rung ``model``) and
    score the faults it flags (module docstring).

    Returns:
        ``{"clips": [...], "totals": {exercise | "all": {...}}, "backend", "model", "n"}``.
    """
    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise

    tdir = track_cache(tracks)
    rows: list[dict[str, Any]] = []
    for clip in load_fault_manifest(manifest):
        if exercises and clip["exercise"] not in exercises:
            continue
        ex = load_exercise(clip["exercise"])
        res = analyze_track(track_for(clip, backend, tdir, progress, model), ex)
        flagged: dict[str, list[int | None]] = defaultdict(list)
        for f in res.faults:
            flagged[f.rule_id].append(f.rep_index)
        kind = _kind(clip["label"])
        found = [any(i in flagged for i in named) for named in clip["label"]] \
            if kind == "named" else []
        # A named fault whose rules were judged on no rep (a view they need was never seen) is
        # "not judged": a miss the coach said it could not see, not a silent one.
        unjudged = [bool(res.metrics.reps) and not f and all(
            set(named) <= set(r.not_judged) | set(res.metrics.not_assessed)
            for r in res.metrics.reps) for named, f in zip(clip["label"], found, strict=False)]
        rows.append({
            "file": clip["file"], "exercise": clip["exercise"], "view": clip.get("view"),
            "label": kind if kind != "named" else [list(n) for n in clip["label"]],
            "kind": kind, "reps": len(res.reps),
            "flagged": {k: v for k, v in sorted(flagged.items())},
            "named_found": found,
            "named_not_judged": unjudged,
            "not_assessed": res.metrics.not_assessed,
        })
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["exercise"]].append(r)
        groups["all"].append(r)
    return {"clips": rows, "totals": {k: _totals(v) for k, v in sorted(groups.items())},
            "backend": backend, "model": model, "n": len(rows)}


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    named = [f for r in rows if r["kind"] == "named" for f in r["named_found"]]
    unspec = [bool(r["flagged"]) for r in rows if r["kind"] == "unspecified"]
    correct = [r for r in rows if r["kind"] == "correct"]
    false_faults = sum(len(v) for r in correct for v in r["flagged"].values())
    reps = sum(r["reps"] for r in correct)
    return {
        "named_recall": _ratio(sum(named), len(named)), "named_n": len(named),
        "named_not_judged": sum(u for r in rows for u in r.get("named_not_judged", [])),
        "detection": _ratio(sum(unspec), len(unspec)), "unspecified_n": len(unspec),
        "false_fault_rate": _ratio(sum(bool(r["flagged"]) for r in correct), len(correct)),
        "correct_n": len(correct),
        "false_faults_per_100_reps": round(100.0 * false_faults / reps, 1) if reps else None,
    }
