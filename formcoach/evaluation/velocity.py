"""Per-rep velocity loss through the pose model, against synthetic sets with a known profile
(``formcoach eval velocity``).

Each set is a :class:`~formcoach.synth.SynthSpec` with ``velocity_loss``: rep ``i``'s
concentric takes ``T_0 / (1 - VL_i / 100)`` along the same path, VL rising linearly from 0 to
``loss`` % (its truth file holds each rep's ``velocity_loss_pct``). The set is rendered to a
video (:func:`~formcoach.synth.render_sample`), run through the pose model
(:func:`~formcoach.pose.track.estimate_track`) and analysed with ``--stop-at-vl``
(:func:`~formcoach.coach.offline.analyze_track`), and scored against the targets of issue 19:
every rep detected, every rep's VL within :data:`VL_TOLERANCE_PP` points of the truth, the
stop cue on the rep the truth's VL profile puts it on.

Renders and pose tracks are cached per spec (a digest of the spec and the formcoach version)
in a folder, so a second run only re-analyses.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.pose.models import DEFAULT_MODEL, ModelName
from formcoach.synth.spec import SynthSpec

log = logging.getLogger(__name__)

__all__ = [
    "GRID",
    "LOSS_PCT",
    "REPS",
    "STOP_PCT",
    "VL_TOLERANCE_PP",
    "default_cache",
    "evaluate_velocity",
    "score_set",
    "truth_stop_rep",
    "velocity_specs",
]

#: (exercise, view) pairs of the synthetic athlete's exercises with a moving point, from the
#: views whose counting signal sees the movement (a front-view squat's 2D knee angle barely
#: changes). Deadlift and bench press have no synthetic athlete.
GRID: tuple[tuple[str, str], ...] = (
    ("squat", "side"), ("squat", "45"), ("pushup", "side"), ("bicep_curl", "side"),
    ("bicep_curl", "45"), ("shoulder_press", "front"), ("shoulder_press", "45"),
    ("lunge", "side"), ("situp", "side"),
)
#: Reps per set and the last rep's velocity loss, %: VL 0, 10, ... 60 over 7 reps.
REPS, LOSS_PCT = 7, 60.0
#: The ``--stop-at-vl`` threshold, %: past it from rep 4 (30 %), so said at rep 5; every truth
#: VL is 5 points from it.
STOP_PCT = 25.0
#: Largest accepted |measured - true| VL of a rep, percentage points (issue 19's target).
VL_TOLERANCE_PP = 5.0
#: Frame size of the renders, px (the bundled samples' size).
SIZE = (512, 384)


def velocity_specs(grid: Iterable[tuple[str, str]] = GRID, fps: Sequence[float] = (30.0, 60.0),
                   seeds: Sequence[int] = (3, 11), *, full: bool = False,
                   reps: int = REPS, loss_pct: float = LOSS_PCT) -> list[SynthSpec]:
    """The sets to evaluate. With ``full``, every (exercise, view) of ``grid`` at every fps and
    seed; else one set per (exercise, view), its fps and seed taken in turn from ``fps`` and
    ``seeds`` (so every fps and every seed is seen, at a fraction of the frames)."""
    out: list[SynthSpec] = []
    for k, (ex, view) in enumerate(grid):
        combos = [(f, sd) for f in fps for sd in seeds] if full else \
            [(fps[k % len(fps)], seeds[(k // len(fps)) % len(seeds)])]
        for f, seed in combos:
            name = f"vl_{ex}_{view}_{f:g}fps_s{seed}"
            out.append(SynthSpec(name=name, exercise=ex, view=view, reps=reps, seed=seed,
                                 fps=float(f), velocity_loss=loss_pct, sway=0.0,
                                 width=SIZE[0], height=SIZE[1]))
    return out


def truth_stop_rep(vl_pct: Sequence[float], threshold: float, reps: int = 2) -> int:
    """1-based rep :class:`~formcoach.kinematics.velocity.StopAtVL` fires on for the true VL
    profile (0: never)."""
    from formcoach.kinematics.velocity import StopAtVL

    stop = StopAtVL(threshold, reps)
    for v in vl_pct:
        if stop.add(1.0 - v / 100.0):
            return (stop.stop_rep or 0) + 1
    return 0


def default_cache() -> Path:
    """The default render / pose-track cache: ``<temp dir>/formcoach-eval-velocity``."""
    return Path(tempfile.gettempdir()) / "formcoach-eval-velocity"


def _digest(spec: SynthSpec) -> str:
    from formcoach import __version__

    d = dataclasses.asdict(spec)
    d["faults"] = [dataclasses.asdict(f) for f in spec.faults]
    raw = json.dumps({"spec": d, "formcoach": __version__}, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _rendered(spec: SynthSpec, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The spec's video and ground truth, rendered into ``cache`` unless already there."""
    from formcoach.synth import load_truth, render_sample

    folder = cache / "renders" / f"{spec.name}-{_digest(spec)}"
    video, truth = folder / f"{spec.name}.mp4", folder / f"{spec.name}.json"
    if not (video.is_file() and truth.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        render_sample(spec, folder)
    return video, load_truth(truth)


def _track(video: Path, spec: SynthSpec, cache: Path, backend: str, model: ModelName,
           threads: int | None = None) -> Path:
    """The video's pose track in ``cache`` (estimated with ``threads`` CPU threads and cached
    unless already there); returns its path."""
    path = cache / "tracks" / f"{spec.name}-{_digest(spec)}-{backend}-{model}.npz"
    if not path.is_file():
        from formcoach.pose import create_estimator
        from formcoach.pose.track import estimate_track

        est = create_estimator(backend, model=model, num_threads=threads)
        try:
            track = estimate_track(video, est, meta={"source": video.name})
        finally:
            est.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        track.save(tmp)
        os.replace(tmp, path)
    return path


def _prepare(spec: SynthSpec, cache: Path, backend: str, model: ModelName,
             threads: int | None) -> tuple[Path, dict[str, Any]]:
    """Render and pose one set (cached): its track path and ground truth."""
    video, truth = _rendered(spec, cache)
    return _track(video, spec, cache, backend, model, threads), truth


def score_set(measured_vl: Sequence[float], measured_bottoms: Sequence[int],
              truth_reps: Sequence[dict[str, Any]], stop_rep: int, threshold: float
              ) -> dict[str, Any]:
    """Score one set's measured reps against its truth.

    Args:
        measured_vl: each detected rep's VL, %.
        measured_bottoms: each detected rep's bottom frame.
        truth_reps: the truth file's ``reps`` (``bottom_frame``, ``velocity_loss_pct``).
        stop_rep: the 1-based rep the stop cue came on (0: none).
        threshold: the ``--stop-at-vl`` threshold, %.

    Returns:
        ``reps_truth``, ``reps_detected``, ``reps_ok``; ``vl_truth`` and ``vl_measured`` per
        truth rep (matched in order when the counts agree, else by the nearest bottom within
        half the distance to the neighbouring truth reps; None where none is);
        ``vl_error_pp`` (signed, per matched rep), ``vl_max_abs_error_pp``, ``vl_ok``;
        ``stop_truth``, ``stop_rep``, ``stop_ok``; ``ok`` (all three).
    """
    vt = [float(r["velocity_loss_pct"]) for r in truth_reps]
    got: list[float | None] = [None] * len(vt)
    if len(measured_vl) == len(vt):  # in order: a pack may count from another rest
        got = [float(v) for v in measured_vl]  # (a press: lockout to lockout)
    else:  # the nearest bottom within half the distance to the neighbouring truth reps
        tb = [int(r["bottom_frame"]) for r in truth_reps]
        for k, b in enumerate(tb):
            lo = (tb[k - 1] + b) / 2 if k else -math.inf
            hi = (tb[k + 1] + b) / 2 if k + 1 < len(tb) else math.inf
            near = [(abs(mb - b), v) for mb, v in zip(measured_bottoms, measured_vl,
                                                       strict=True) if lo <= mb < hi]
            if near:
                got[k] = float(min(near)[1])
    err = [None if g is None or not math.isfinite(g) else round(g - t, 2)
           for g, t in zip(got, vt, strict=True)]
    known = [abs(e) for e in err if e is not None]
    max_err = max(known) if known else None
    truth_stop = truth_stop_rep(vt, threshold)
    reps_ok = len(measured_vl) == len(vt)
    vl_ok = reps_ok and len(known) == len(vt) and max_err is not None \
        and max_err <= VL_TOLERANCE_PP
    stop_ok = stop_rep == truth_stop
    return {
        "reps_truth": len(vt), "reps_detected": len(measured_vl), "reps_ok": reps_ok,
        "vl_truth": [round(v, 2) for v in vt],
        "vl_measured": [None if g is None or not math.isfinite(g) else round(g, 2)
                        for g in got],
        "vl_error_pp": err, "vl_max_abs_error_pp": max_err, "vl_ok": vl_ok,
        "stop_truth": truth_stop, "stop_rep": stop_rep, "stop_ok": stop_ok,
        "ok": reps_ok and vl_ok and stop_ok,
    }


def evaluate_velocity(
    specs: Sequence[SynthSpec] | None = None,
    *,
    backend: str = "onnx",
    model: ModelName = DEFAULT_MODEL,
    cache: str | os.PathLike[str] | None = None,
    stop_at_vl_pct: float = STOP_PCT,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Render, pose and analyse every set of ``specs`` (default :func:`velocity_specs`) and
    score it (:func:`score_set`).

    Args:
        specs: synthetic sets with ``velocity_loss`` > 0.
        backend, model: the pose backend and rung.
        cache: folder for renders and pose tracks (default :func:`default_cache`).
        stop_at_vl_pct: the stop rule's threshold, %.
        progress: called with one line per set as it is done.
        jobs: worker processes rendering and posing sets (1 CPU thread each when > 1).

    Returns:
        ``{"sets": [{"name", "exercise", "view", "fps", "seed", **score_set, "mean_bhps",
        "peak_bhps", "stop_cues"}], "n", "reps_ok", "vl_ok", "stop_ok", "ok" (counts of sets),
        "vl_max_abs_error_pp" (over all sets), "backend", "model", "stop_at_vl_pct",
        "tolerance_pp"}``.

    Raises:
        InputError: a spec without ``velocity_loss``, or a cache that cannot be a folder.
    """
    specs = velocity_specs() if specs is None else list(specs)
    for s in specs:
        if not s.velocity_loss > 0:
            raise InputError(f"set {s.name!r} has no velocity_loss: nothing to score")
    root = default_cache() if cache is None else Path(cache)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"the velocity cache cannot be a folder: {root} ({e})") from e
    jobs = max(1, int(jobs))
    threads = 1 if jobs > 1 else None
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs) as pool:
            futures = [pool.submit(_prepare, s, root, backend, model, threads) for s in specs]
            ready = (f.result() for f in futures)
            rows = [_score(spec, *got, stop_at_vl_pct, progress)
                    for spec, got in zip(specs, ready, strict=True)]
    else:
        rows = [_score(spec, *_prepare(spec, root, backend, model, threads), stop_at_vl_pct,
                       progress) for spec in specs]
    errs = [r["vl_max_abs_error_pp"] for r in rows if r["vl_max_abs_error_pp"] is not None]
    return {
        "sets": rows, "n": len(rows),
        **{k: sum(bool(r[k]) for r in rows) for k in ("reps_ok", "vl_ok", "stop_ok", "ok")},
        "vl_max_abs_error_pp": max(errs) if errs else None,
        "backend": backend, "model": model, "stop_at_vl_pct": stop_at_vl_pct,
        "tolerance_pp": VL_TOLERANCE_PP,
    }


def _score(spec: SynthSpec, track_path: Path, truth: dict[str, Any], stop_at_vl_pct: float,
           progress: Callable[[str], None] | None) -> dict[str, Any]:
    """Analyse one set's cached track with the stop rule and score it against ``truth``."""
    from formcoach.coach.offline import analyze_track
    from formcoach.coach.session import STOP_RULE_ID
    from formcoach.exercises import load_exercise
    from formcoach.types import PoseTrack

    res = analyze_track(PoseTrack.load(track_path), load_exercise(spec.exercise),
                        stop_at_vl_pct=stop_at_vl_pct, height_cm=100.0 * spec.body_height_m)
    reps = res.metrics.reps
    row = {"name": spec.name, "exercise": spec.exercise, "view": spec.view, "fps": spec.fps,
           "seed": spec.seed,
           **score_set([r.velocity_loss_pct for r in reps], [r.bottom_frame for r in reps],
                       truth["reps"], res.metrics.stop_rep, stop_at_vl_pct),
           "mean_bhps": [round(r.mean_velocity_bhps, 4) for r in reps],
           "peak_bhps": [round(r.peak_velocity_bhps, 4) for r in reps],
           "stop_cues": sum(c.rule_id == STOP_RULE_ID for c in res.cues)}
    if progress is not None:
        progress(_line(row))
    return row


def _line(r: dict[str, Any]) -> str:
    err = r["vl_max_abs_error_pp"]
    return (f"{r['name']:<36} reps {r['reps_detected']}/{r['reps_truth']}  VL err "
            f"{'-' if err is None else f'{err:4.1f}'} pp  stop {r['stop_rep']} (truth "
            f"{r['stop_truth']})  {'ok' if r['ok'] else 'MISS'}")
