"""``formcoach eval``: accuracy against labelled clips.

``formcoach eval reps --manifest data/videos/manifest.json`` counts reps in every clip of a
manifest and compares with the labels. Manifest format (JSON)::

    {"clips": [{"file": "squat_1.mp4", "exercise": "squat", "reps": 5, "accept": [5, 5]}, ...]}

``file`` is relative to the manifest; ``accept`` ([lo, hi], inclusive) defaults to
``[reps, reps]``. A prediction is *correct* inside ``accept``, *OBO* within one of it; MAE is the
mean of ``|predicted - reps| / reps``.

``eval`` is a group: other modules add sub-subcommands through :data:`SUBCOMMAND_MODULES`
(each with ``register(eval_subparsers)``), e.g. ``formcoach.cli.eval_form`` adds ``eval form``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from formcoach.errors import InputError

log = logging.getLogger(__name__)

#: Modules adding ``formcoach eval <name>`` subcommands, imported when present.
SUBCOMMAND_MODULES: tuple[str, ...] = ("formcoach.cli.eval_form",)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``eval`` command group."""
    p = subparsers.add_parser("eval", help="measure accuracy on labelled clips",
                              description="Measure formcoach's accuracy on labelled clips.")
    sub = p.add_subparsers(dest="eval_command", metavar="WHAT", parser_class=type(p))
    r = sub.add_parser("reps", help="rep-count accuracy on a manifest of videos",
                       description="Count reps in every clip of a manifest and compare with "
                       "the labels.")
    r.add_argument("--manifest", required=True, help="manifest.json (clips relative to it)")
    r.add_argument("--json", metavar="OUT", help="write per-clip results and totals as JSON")
    r.add_argument("--backend", default="onnx", choices=("mediapipe", "onnx"),
                   help="pose backend (default: onnx)")
    r.add_argument("--tracks", metavar="DIR",
                   help="pose-track cache: reuse DIR/<clip stem>.npz, write missing ones")
    r.add_argument("--exercise", action="append", metavar="ID",
                   help="only clips of this exercise (repeatable)")
    r.add_argument("--min-accuracy", type=float, metavar="X",
                   help="exit 1 when accuracy is below X (0..1), for CI")
    r.set_defaults(func=run_reps)
    for mod in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                log.warning("eval subcommand module %s failed to import: %s", mod, e)
            continue
        module.register(sub)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


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


def _track_for(clip: dict[str, Any], backend: str, tracks: Path | None, progress: bool) -> Any:
    """The clip's pose track: from the cache when it has one for ``backend``, else computed
    (and cached)."""
    from formcoach.pose import create_estimator
    from formcoach.sources import VideoFileSource
    from formcoach.types import PoseTrack

    cached = tracks / f"{Path(clip['file']).stem}.npz" if tracks is not None else None
    if cached is not None and cached.is_file():
        track = PoseTrack.load(cached)
        if track.backend == backend:
            return track
        log.info("%s was made with %s, not %s: recomputing", cached, track.backend, backend)
    src = VideoFileSource(clip["path"])
    est = create_estimator(backend, running_mode="video")
    results = []
    try:
        frames = src
        if progress:
            from tqdm import tqdm  # type: ignore[import-untyped]

            frames = tqdm(src, total=len(src) or None, unit="frame", leave=False,
                          desc=Path(clip["file"]).name[:40])
        for frame in frames:
            results.append(est.process(frame.image, frame.t_ns))
    finally:
        est.close()
    track = PoseTrack.from_results(results, src.fps, src.size, backend,
                                   getattr(est, "model_sha256", ""), {"source": clip["file"]})
    if cached is not None and not cached.exists():
        track.save(cached)
    return track


def evaluate_reps(
    manifest: str | os.PathLike[str],
    backend: str = "onnx",
    tracks: str | os.PathLike[str] | None = None,
    exercises: list[str] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Count reps in every manifest clip and score them.

    Returns:
        ``{"clips": [{"file", "exercise", "truth", "accept", "predicted", "correct", "obo"}],
        "accuracy", "obo", "mae", "backend", "n"}``.
    """
    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise

    tdir = Path(tracks) if tracks is not None else None
    if tdir is not None:
        try:
            tdir.mkdir(parents=True, exist_ok=True)  # a cache: create it on first use
        except OSError as e:
            raise InputError(f"--tracks cannot be used as a cache folder: {tdir} ({e})") from e
    rows = []
    for clip in load_manifest(manifest):
        if exercises and clip["exercise"] not in exercises:
            continue
        ex = load_exercise(clip["exercise"])
        track = _track_for(clip, backend, tdir, progress)
        res = analyze_track(track, ex)
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
        })
    n = len(rows)
    mae_terms = [abs(r["predicted"] - r["truth"]) / r["truth"] for r in rows if r["truth"] > 0]
    return {
        "clips": rows,
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else 0.0,
        "obo": sum(r["obo"] for r in rows) / n if n else 0.0,
        "mae": sum(mae_terms) / len(mae_terms) if mae_terms else 0.0,
        "backend": backend,
    }


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
    print(f"\n{n} clips, backend {summary['backend']}: accuracy {summary['accuracy']:.3f} "
          f"({sum(r['correct'] for r in rows)}/{n}), OBO {summary['obo']:.3f}, "
          f"MAE {summary['mae']:.3f}")


def run_reps(args: argparse.Namespace) -> int:
    """Run ``eval reps``."""
    summary = evaluate_reps(args.manifest, backend=args.backend, tracks=args.tracks,
                            exercises=args.exercise, progress=True)
    if summary["n"] == 0:
        raise InputError(f"no clips to evaluate in {args.manifest}")
    print_table(summary)
    if args.json:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(summary, indent=2))
    if args.min_accuracy is not None and summary["accuracy"] < args.min_accuracy:
        print(f"accuracy {summary['accuracy']:.3f} is below --min-accuracy {args.min_accuracy}")
        return 1
    return 0
