"""Rep-count accuracy against labelled clips (``formcoach eval reps``).

A manifest (JSON) lists the clips::

    {"clips": [{"file": "squat_1.mp4", "exercise": "squat", "reps": 5, "accept": [5, 5]}, ...]}

``file`` is relative to the manifest; ``accept`` ([lo, hi], inclusive) defaults to
``[reps, reps]``. A prediction is *correct* inside ``accept``, *OBO* within one of it; MAE is the
mean of ``|predicted - reps| / reps``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.pose.models import DEFAULT_MODEL, ModelName
from formcoach.types import PoseTrack

log = logging.getLogger(__name__)


#: Most clips in one manifest; larger files are refused (see also MAX_MANIFEST_BYTES).
MAX_MANIFEST_CLIPS = 100_000
#: Largest ``reps`` label accepted.
MAX_REPS = 10_000


def _count(value: Any) -> int | None:
    """``value`` as a rep count (an int, or a float with no fraction), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_REPS:
        return value
    return None


def load_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Clips of a manifest with ``file`` resolved to an absolute path and ``accept`` filled in.

    Limits: the file at most :data:`~formcoach.text.MAX_MANIFEST_BYTES`, JSON nesting at most
    :data:`~formcoach.text.MAX_JSON_DEPTH`, at most :data:`MAX_MANIFEST_CLIPS` clips; ``file``
    and ``exercise`` are strings, ``reps`` and ``accept = [lo, hi]`` whole numbers in
    ``0..MAX_REPS`` with ``lo <= hi``.

    Raises:
        InputError: missing/unreadable/oversized file, bad JSON, or a clip with a missing or
            mistyped field (the message names the clip and the field).
    """
    from formcoach.text import MAX_MANIFEST_BYTES, clean_text, parse_json, read_text_capped

    path = Path(path)
    if not path.is_file():
        raise InputError(clean_text(f"manifest not found: {path}", False))
    doc = parse_json(read_text_capped(path, MAX_MANIFEST_BYTES, "manifest", InputError),
                     path, "manifest", InputError)
    clips = doc.get("clips") if isinstance(doc, dict) else doc
    if not isinstance(clips, list):
        raise InputError(clean_text(f"manifest {path} has no 'clips' list (expected "
                                    '{"clips": [{"file": ..., "exercise": ..., "reps": ...}]})',
                                    False))
    if len(clips) > MAX_MANIFEST_CLIPS:
        raise InputError(clean_text(f"manifest {path} lists {len(clips)} clips; the limit is "
                                    f"{MAX_MANIFEST_CLIPS}", False))
    out = []
    for k, c in enumerate(clips):

        def bad(msg: str, _k: int = k) -> InputError:
            return InputError(clean_text(f"manifest {path}: clip {_k}: {msg}", False))

        if not isinstance(c, dict) or not {"file", "exercise", "reps"} <= c.keys():
            raise bad("needs 'file', 'exercise' and 'reps'")
        for key in ("file", "exercise"):
            if not isinstance(c[key], str) or not c[key].strip() or len(c[key]) > 4096:
                raise bad(f"'{key}' must be a non-empty string, got {str(c[key])[:40]!r}")
        if "\x00" in c["file"]:
            raise bad("'file' contains a NUL character")
        reps = _count(c["reps"])
        if reps is None:
            raise bad(f"'reps' must be a whole number 0..{MAX_REPS}, got {str(c['reps'])[:40]!r}")
        accept = c.get("accept")
        if accept is None:
            accept = [reps, reps]
        lo, hi = (_count(v) for v in accept) if isinstance(accept, list) and len(
            accept) == 2 else (None, None)
        if lo is None or hi is None or lo > hi:
            raise bad(f"'accept' must be [lo, hi] whole numbers with lo <= hi, got "
                      f"{str(accept)[:40]!r}")
        out.append({**c, "path": (path.parent / c["file"]).resolve(), "reps": reps,
                    "accept": [lo, hi]})
    return out


def track_for(clip: dict[str, Any], backend: str, tracks: Path | None,
              progress: bool, model: ModelName = DEFAULT_MODEL) -> PoseTrack:
    """The clip's pose track: from the cache when it has one for ``backend`` and ``model`` (or
    for ``backend`` and a model that is none of the bundled rungs: an imported track), else
    computed (and cached, unless the cache holds another backend's or model's track there:
    that one is left as it is)."""
    from formcoach.exercises import load_exercise
    from formcoach.pose.models import model_of_sha256
    from formcoach.pose.track import estimate_track
    from formcoach.rules.engine import uses_silhouette

    silhouette = uses_silhouette(load_exercise(clip["exercise"]))
    cached = tracks / f"{Path(clip['file']).stem}.npz" if tracks is not None else None
    stale = False
    if cached is not None and cached.is_file():
        track = PoseTrack.load(cached)
        made_with = track.model or model_of_sha256(track.backend, track.model_sha256)
        same = track.backend == backend and made_with in (model, None)
        if same and (track.meta.get("silhouette") or not silhouette):
            return track
        # A track without the silhouette a rule needs is replaced: the landmarks of one made
        # with it are the same, bit for bit, plus the measure.
        stale = same
        log.info("%s was made with %s/%s, not %s/%s%s: recomputing", cached, track.backend,
                 made_with, backend, model, " with the silhouette" if stale else "")
    track = estimate_track(clip["path"], backend, progress=progress, meta={"source": clip["file"]},
                           model=model, silhouette=silhouette)
    if cached is not None and (stale or not cached.exists()):
        track.save(cached)
    return track


def track_cache(tracks: str | os.PathLike[str] | None) -> Path | None:
    """The pose-track cache folder (created on first use), or None.

    Raises:
        InputError: ``tracks`` cannot be a folder (a file, no permission).
    """
    if tracks is None:
        return None
    tdir = Path(tracks)
    try:
        tdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--tracks cannot be used as a cache folder: {tdir} ({e})") from e
    return tdir


def evaluate_reps(
    manifest: str | os.PathLike[str],
    backend: str = "onnx",
    tracks: str | os.PathLike[str] | None = None,
    exercises: list[str] | None = None,
    progress: bool = False,
    model: ModelName = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Count reps in every manifest clip (poses from ``backend`` running rung ``model``) and
    score them.

    Returns:
        ``{"clips": [{"file", "exercise", "truth", "accept", "predicted", "correct", "obo",
        "detection_rate"}], "accuracy", "obo", "mae", "detection_rate", "backend", "model",
        "n"}``; ``detection_rate`` is the share of frames with a person (per clip, and over
        all frames).
    """
    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise

    tdir = track_cache(tracks)
    rows = []
    frames = detected = 0
    for clip in load_manifest(manifest):
        if exercises and clip["exercise"] not in exercises:
            continue
        ex = load_exercise(clip["exercise"])
        track = track_for(clip, backend, tdir, progress, model)
        res = analyze_track(track, ex)
        frames += len(track)
        detected += round(track.detection_rate * len(track))
        pred = len(res.reps)
        lo, hi = clip["accept"]
        rows.append({
            "file": clip["file"],
            "exercise": clip["exercise"],
            "truth": clip["reps"],
            "accept": [lo, hi],
            "predicted": pred,
            "correct": lo <= pred <= hi,
            "obo": lo - 1 <= pred <= hi + 1,
            "view": clip.get("view"),
            "rep_bottoms_s": [round((r.bottom_ns - int(res.t_ns[0])) / 1e9, 2) for r in res.reps],
            "detection_rate": round(track.detection_rate, 4),
        })
    n = len(rows)
    mae_terms = [abs(r["predicted"] - r["truth"]) / r["truth"] for r in rows if r["truth"] > 0]
    return {
        "clips": rows,
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else 0.0,
        "obo": sum(r["obo"] for r in rows) / n if n else 0.0,
        "mae": sum(mae_terms) / len(mae_terms) if mae_terms else 0.0,
        "detection_rate": detected / frames if frames else 0.0,
        "backend": backend,
        "model": model,
    }
