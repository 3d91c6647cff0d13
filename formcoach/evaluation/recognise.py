"""Exercise recognition accuracy against labelled clips (``formcoach eval recognise``).

Any manifest whose clips carry ``file`` and ``exercise`` works (the format of
``formcoach eval reps``). Each clip's poses are streamed through
:class:`~formcoach.coach.recognise.Recogniser` as live frames would be; per clip it records the final
answer, when the first sure answer came, and whether a wrong exercise was ever announced. Clip
names are never looked at.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from formcoach.coach.recognise import RECOGNISABLE, recognise_track
from formcoach.evaluation.faults import load_clip_list
from formcoach.evaluation.reps import track_cache, track_for
from formcoach.pose.models import DEFAULT_MODEL, ModelName


def evaluate_recognition(
    manifest: str | os.PathLike[str],
    backend: str = "onnx",
    tracks: str | os.PathLike[str] | None = None,
    exercises: list[str] | None = None,
    progress: bool = False,
    model: ModelName = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Recognise every clip of a manifest and score it.

    A clip is *correct* when the final answer is its exercise, *wrong* when some other
    exercise was ever announced, *unsure* when no answer came. Clips of exercises the
    recogniser does not know (:data:`~formcoach.coach.recognise.RECOGNISABLE`) are listed but not
    scored.

    Returns:
        ``{"clips": [...], "accuracy", "wrong_rate", "unsure_rate", "n", "per_exercise",
        "first_sure_s_median", "backend"}``.
    """
    tdir = track_cache(tracks)
    rows = []
    for clip in load_clip_list(manifest):
        if exercises and clip["exercise"] not in exercises:
            continue
        tr = recognise_track(track_for(clip, backend, tdir, progress, model))
        known = clip["exercise"] in RECOGNISABLE
        rows.append({
            "file": clip["file"], "exercise": clip["exercise"], "scored": known,
            "predicted": tr.exercise, "first_sure_s": tr.first_sure_s,
            "announced": list(tr.announced), "reason": tr.reason,
            "correct": known and tr.exercise == clip["exercise"],
            "wrong": known and any(a != clip["exercise"] for a in tr.announced),
        })
    scored = [r for r in rows if r["scored"]]
    n = len(scored)
    per: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in scored:
        per[r["exercise"]].append(r)
    firsts = sorted(r["first_sure_s"] for r in scored if r["correct"] and r["first_sure_s"]
                    is not None)
    return {
        "clips": rows,
        "n": n,
        "accuracy": sum(r["correct"] for r in scored) / n if n else 0.0,
        "wrong_rate": sum(r["wrong"] for r in scored) / n if n else 0.0,
        "unsure_rate": sum(r["predicted"] is None for r in scored) / n if n else 0.0,
        "per_exercise": {k: {"n": len(v), "correct": sum(r["correct"] for r in v)}
                         for k, v in sorted(per.items())},
        "first_sure_s_median": firsts[len(firsts) // 2] if firsts else None,
        "backend": backend,
        "model": model,
    }
