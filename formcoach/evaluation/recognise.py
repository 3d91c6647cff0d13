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

from formcoach.coach.recognise import RECOGNISABLE, Recogniser
from formcoach.evaluation.faults import load_clip_list
from formcoach.evaluation.reps import track_cache, track_for
from formcoach.pose.stream import replay_track
from formcoach.types import PoseTrack


def recognise_track(track: PoseTrack) -> dict[str, Any]:
    """Stream a track through the recogniser.

    Returns:
        ``{"predicted": id | None, "first_sure_s": s | None, "announced": [ids in order],
        "reason": str}``.
    """
    rec = Recogniser(track.fps)
    announced: list[str] = []
    first: float | None = None
    t0 = int(track.t_ns[0]) if len(track) else 0
    last = t0
    for posed in replay_track(track):
        pose = posed.pose
        r = rec.update(pose)
        if r.exercise is not None and (not announced or announced[-1] != r.exercise):
            announced.append(r.exercise)
            if first is None:
                first = (pose.t_ns - t0) / 1e9
        last = pose.t_ns
    r = rec.finish()
    if r.exercise is not None and (not announced or announced[-1] != r.exercise):
        announced.append(r.exercise)
        if first is None and len(track):
            first = (last - t0) / 1e9
    return {"predicted": rec.current.exercise, "first_sure_s": first, "announced": announced,
            "reason": rec.current.reason}


def evaluate_recognition(
    manifest: str | os.PathLike[str],
    backend: str = "onnx",
    tracks: str | os.PathLike[str] | None = None,
    exercises: list[str] | None = None,
    progress: bool = False,
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
        res = recognise_track(track_for(clip, backend, tdir, progress))
        known = clip["exercise"] in RECOGNISABLE
        rows.append({
            "file": clip["file"], "exercise": clip["exercise"], "scored": known, **res,
            "correct": known and res["predicted"] == clip["exercise"],
            "wrong": known and any(a != clip["exercise"] for a in res["announced"]),
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
    }
