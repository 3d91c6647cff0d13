"""Cue latency: from the capture of the frame that reveals a fault to the start of its audio.

:func:`measure_cue_latency` plays a synthetic sample (known faults, from the synth ground-truth
JSON) through the **real live loop** (:func:`formcoach.live.run_live`) as if it came from a
camera: :class:`~formcoach.sources.PacedVideoSource` releases frame ``i`` at its timestamp and drops
frames the loop is too slow for. The speaker is a real :class:`~formcoach.cues.speech.Pyttsx3Speaker`
(espeak-ng WAVs, pre-synthesised as in ``formcoach live``) whose sink is a
:class:`~formcoach.cues.speech.FileSink` that records when each "playback" starts and stays busy for
the WAV's duration like a real player.

Per spoken fault cue::

    latency = audio start (FileSink) - capture time of the fault frame (PacedVideoSource)

where the fault frame is the frame whose processing produced the fault: for a frame rule the
frame where it fired, for a rep rule (judged at the bottom, decided when the segmenter closes the
rep) the frame that closed the rep. The time from the ground-truth fault onset to the audio is
reported too (``onset_to_audio_ms``), but it mostly measures how long a rep takes.

Used by ``formcoach bench`` (``cue_latency_ms``); run it alone with::

    python -m formcoach.bench.latency [VIDEO TRUTH_JSON] [--backend onnx]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError
from formcoach.pose.models import ModelName
from formcoach.types import NS_PER_S

log = logging.getLogger(__name__)

__all__ = ["default_latency_sample", "measure_cue_latency"]


def default_latency_sample(out_dir: str | os.PathLike[str], quick: bool = False) -> tuple[Path, Path]:
    """Render a side-view bicep curl with a torso swing on every rep (one cue per rep).

    Returns ``(video, truth_json)`` in ``out_dir``.
    """
    from formcoach import synth

    spec = synth.SynthSpec(
        name="latency_curl_side",
        exercise="bicep_curl",
        view="side",
        reps=4 if quick else 10,
        seed=11,
        setup_s=1.0,
        faults=(synth.FaultSpec("torso_swing", None),),
    )
    return synth.render_sample(spec, out_dir)


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def measure_cue_latency(
    sample_video: str | os.PathLike[str] | None = None,
    truth_json: str | os.PathLike[str] | None = None,
    backend: str = "onnx",
    *,
    quick: bool = False,
    exercise: str | None = None,
    cooldown_s: float = 0.0,
    model: ModelName = "full",
) -> dict[str, Any]:
    """Fault-frame capture to audio start, over every spoken fault cue of a sample (pose model
    rung ``model``).

    Args:
        sample_video: a video with known faults (default: a rendered synthetic squat,
            :func:`default_latency_sample`).
        truth_json: its synth ground truth (``<video>.json`` next to it when None).
        backend: pose backend (``onnx`` or ``mediapipe``).
        quick: shorter default sample (4 reps instead of 10).
        exercise: exercise id (default: the truth file's ``exercise``).
        cooldown_s: per-rule cooldown of the scheduler during the measurement (0 so that every
            faulty rep yields a sample; the live default is 4 s).

    Returns:
        ``{"p50", "p95", "max", "n"}`` in ms, plus ``samples`` (per cue: rule, text, fault and
        capture times, ``latency_ms``, ``onset_to_audio_ms``), ``truth_faults``, ``frames``,
        ``dropped_frames``, ``backend``, ``video``.

    Raises:
        InputError: missing video or truth file.
    """
    from formcoach.clock import MonotonicClock
    from formcoach.coach.live import cue_texts, run_live
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.cues.speech import FileSpeaker
    from formcoach.exercises import load_exercise
    from formcoach.pose import create_estimator
    from formcoach.sources import PacedVideoSource

    with tempfile.TemporaryDirectory(prefix="formcoach-latency-") as tmp:
        if sample_video is None:
            sample_video, truth_json = default_latency_sample(tmp, quick=quick)
        video = Path(sample_video)
        truth_path = Path(truth_json) if truth_json is not None else video.with_suffix(".json")
        if not truth_path.is_file():
            raise InputError(f"ground-truth JSON not found: {truth_path} (from 'formcoach synth')")
        truth = json.loads(truth_path.read_text())
        ex = load_exercise(exercise or truth.get("exercise", "squat"))

        clock = MonotonicClock()
        estimator = create_estimator(backend, model=model, running_mode="video")
        speaker = FileSpeaker(
            Path(tmp) / "audio", realtime=True, clock=clock, preload=cue_texts(ex),
            stale_after_s=0.5,
        )
        source = PacedVideoSource(video, clock=clock)
        sched = CueScheduler(clock, cooldown_s=cooldown_s, stale_after_s=0.5)
        try:
            # Warm the pose model (first inference allocates) before the clock starts.
            first = next(iter(_first_frame(video)))
            estimator.process(first.image, 0)
            estimator.reset()
            result = run_live(
                source, ex, estimator, speaker, window=False, skip_setup=True,
                scheduler=sched, clock=clock,
            )
            speaker.wait_idle(timeout_s=10)
        finally:
            speaker.close()
            estimator.close()
            source.close()

        events = list(speaker.history)
        records = list(speaker.file_sink.records)
        base = sched.time_base_ns
        onsets = sorted(float(f["start_s"]) for f in truth.get("faults", []))
        by_key = {(e.rule_id, e.created_ns): e for e in result.cues}
        samples: list[dict[str, Any]] = []
        for ev, rec in zip(events, records, strict=False):
            if ev.cue.rule_id.startswith("setup.") or ev.cue.rule_id == "praise":
                continue
            t_src = ev.cue.fault_t_ns - base  # source time of the fault (decision) frame
            captured = source.capture_times.get(t_src) or ev.cue.fault_t_ns
            onset = max((o for o in onsets if o <= t_src / NS_PER_S), default=None)
            sample: dict[str, Any] = {
                "rule_id": ev.cue.rule_id,
                "text": ev.cue.text,
                "fault_frame_s": round(t_src / NS_PER_S, 3),
                "latency_ms": round((rec.start_ns - captured) / 1e6, 1),
                "onset_to_audio_ms": None
                if onset is None
                else round((rec.start_ns - (base + round(onset * NS_PER_S))) / 1e6, 1),
            }
            loop = by_key.get((ev.cue.rule_id, ev.cue.created_ns))
            if loop is not None:  # where the time went, ms
                sample["breakdown_ms"] = {
                    "wait_for_loop": round((loop.taken_ns - captured) / 1e6, 1),
                    "pose": round((loop.pose_ns - loop.taken_ns) / 1e6, 1),
                    "coach_rules": round((loop.coach_ns - loop.pose_ns) / 1e6, 1),
                    "schedule": round((loop.say_ns - loop.coach_ns) / 1e6, 1),
                    "speaker": round((rec.start_ns - loop.say_ns) / 1e6, 1),
                }
            samples.append(sample)
    lat = [s["latency_ms"] for s in samples]
    return {
        "p50": _pct(lat, 50),
        "p95": _pct(lat, 95),
        "max": round(max(lat), 1) if lat else None,
        "n": len(lat),
        "samples": samples,
        "truth_faults": len(onsets),
        "cues_dropped_stale": len(speaker.dropped) + sched.stats.stale_dropped,
        "frames": result.frames,
        "dropped_frames": result.dropped,
        "reps": result.rep_count,
        "backend": backend,
        "video": video.name,
    }


def _first_frame(video: Path) -> Any:
    from formcoach.sources import VideoFileSource

    return VideoFileSource(video, max_frames=1)


def main(argv: list[str] | None = None) -> int:
    """``python -m formcoach.bench.latency``: print the measurement as JSON."""
    p = argparse.ArgumentParser(prog="python -m formcoach.bench.latency", description=__doc__)
    p.add_argument("video", nargs="?", type=Path, default=None)
    p.add_argument("truth", nargs="?", type=Path, default=None)
    p.add_argument("--backend", default="onnx")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    r = measure_cue_latency(args.video, args.truth, args.backend, quick=args.quick)
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


def _exact_track(npz: Path, truth: dict[str, Any]) -> Any:
    """A sample's exact 2D poses (``joints_2d_px``, ``pose_z``) as a pose track."""
    from formcoach.types import PoseTrack, frame_time_ns

    with np.load(npz) as z:
        xy, depth = z["joints_2d_px"].astype(np.float64), z["pose_z"].astype(np.float64)
    n, fps = len(xy), float(truth["fps"])
    poses = np.concatenate([xy, depth[..., None], np.ones((n, 33, 1))], axis=2)
    t = np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)
    return PoseTrack(poses, np.full((n, 33, 3), np.nan), t, fps, tuple(truth["image_size"]),
                     "synthetic")


def fault_to_cue(samples: Path, early: bool = True) -> dict[str, Any]:
    """Seconds from the first frame of each injected fault of the synthetic samples (exact
    truth: the fault's ``start_s``) to the start of its cue, over the samples' exact poses.

    A fault's cue is the first cue of one of the fault's rules (see
    :data:`~formcoach.evaluation.faults.LABEL_ALIASES`) emitted inside the fault's span (or up
    to one rep length after it: a lockout is judged at the next top). ``early=False`` measures
    the reference that judges a rep only when it is counted.

    Returns:
        ``{"n", "found", "p50", "p95", "max", "per_fault": [...]}`` (seconds).
    """
    import json

    from formcoach.clock import FrameClock
    from formcoach.coach.offline import make_coach
    from formcoach.coach.session import run_session
    from formcoach.cues.scheduler import CueScheduler
    from formcoach.cues.speech import NullSpeaker
    from formcoach.evaluation.faults import LABEL_ALIASES
    from formcoach.exercises import load_exercise
    from formcoach.pose.stream import replay_track
    from formcoach.rules.engine import judge_frames

    rows: list[dict[str, Any]] = []
    manifest = json.loads((samples / "manifest.json").read_text())
    for clip in manifest["clips"]:
        truth = json.loads((samples / f"{Path(clip['file']).stem}.json").read_text())
        if truth.get("kind") != "reps" or not truth.get("faults"):
            continue
        track = _exact_track(samples / f"{Path(clip['file']).stem}.npz", truth)
        clock = FrameClock()
        res = run_session(replay_track(track), make_coach(load_exercise(truth["exercise"]),
                                                          track.fps, early=early),
                          CueScheduler(clock), NullSpeaker(), clock, fps=track.fps,
                          backend=track.backend, source=clip["file"])
        ex = res.exercise
        statuses = judge_frames([r for r in coach_rules(ex)], track.poses, track.fps)
        for f in truth["faults"]:
            rules = set(LABEL_ALIASES.get(f["type"], (f["type"],)))
            # This rep's cue: decided inside the rep, or just after it (a lockout is judged
            # once the rep's end is final), not the next rep's cue of the same rule.
            tail = 0.5 * (f["end_s"] - f["start_s"])
            cues = [c for c in res.cues if c.rule_id in rules
                    and f["start_s"] <= c.fault_t_s <= f["end_s"] + tail]
            cue_s = min((c.t_s for c in cues), default=None)
            flagged = any(g.rule_id in rules and f["start_s"] <= g.t_ns / NS_PER_S
                          <= f["end_s"] + tail for g in res.faults)
            seen_s = _visible_s(f, truth, ex, statuses)
            rows.append({"sample": truth["name"], "fault": f["type"], "rep": f.get("rep_index"),
                         "flagged": flagged, "cued": cue_s is not None,
                         "start_s": f["start_s"], "visible_s": seen_s,
                         "to_cue_s": None if cue_s is None else round(cue_s - f["start_s"], 3),
                         "visible_to_cue_s": None if cue_s is None or seen_s is None
                         else round(cue_s - seen_s, 3)})
    got = [r["to_cue_s"] for r in rows if r["to_cue_s"] is not None]
    seen = [r["visible_to_cue_s"] for r in rows if r["visible_to_cue_s"] is not None]
    # A fault flagged but not cued: its rule was said moments before (the scheduler's cooldown)
    # or a more important cue held the voice until this one was stale.
    return {"n": len(rows), "found": len(got),
            "flagged_not_cued": sum(r["flagged"] and not r["cued"] for r in rows),
            **_stats("", got),
            **_stats("visible_", seen), "per_fault": rows}


def _stats(prefix: str, xs: list[float]) -> dict[str, float | None]:
    """``{prefix}p50``, ``p95`` and ``max`` of ``xs`` (s), None when empty."""
    return {f"{prefix}p50": round(float(np.percentile(xs, 50)), 3) if xs else None,
            f"{prefix}p95": round(float(np.percentile(xs, 95)), 3) if xs else None,
            f"{prefix}max": round(max(xs), 3) if xs else None}


def coach_rules(exercise: Any) -> list[Any]:
    """The exercise's parsed rules."""
    from formcoach.rules.engine import parse_rules

    return parse_rules(exercise.rules_raw, str(exercise.path))


def _visible_s(fault: dict[str, Any], truth: dict[str, Any], exercise: Any,
               statuses: dict[str, np.ndarray]) -> float | None:
    """When an injected fault first became visible on the exact poses, s: for a rule whose
    violation stands as soon as it is seen (a sag, a cave-in: see
    :func:`~formcoach.rules.engine.grows_with_window`), the first frame of the fault's rep
    that violates it inside the rule's phase; for a "must reach" rule, the moment the rep
    could have reached it (the turnaround for depth, the rep's end for a top rule such as
    lockout). None when none of the fault's rules is violated there (the rule cannot see it
    from this view)."""
    from formcoach.evaluation.faults import LABEL_ALIASES
    from formcoach.rules.engine import grows_with_window, phase_window
    from formcoach.types import RepEvent

    k = fault.get("rep_index")
    if k is None or k >= len(truth["reps"]):
        return None
    rep = truth["reps"][k]
    fps = float(truth["fps"])
    s, b, e = rep["start_frame"], rep["bottom_frame"], rep["end_frame"]
    times = []
    for rule in coach_rules(exercise):
        if rule.id not in LABEL_ALIASES.get(fault["type"], (fault["type"],)):
            continue
        st = statuses.get(rule.id)
        if st is None:
            continue
        window = phase_window(RepEvent(k, s, b, e, 0, 0, 0, math.nan, math.nan, math.nan,
                                   counted_frame=e, counted_ns=0),
                              rule.phase)
        hit = [int(i) for i in window if st[i] == "fault"]
        if not hit:
            continue
        if grows_with_window(rule):
            times.append(hit[0] / fps)
        else:
            times.append((e if rule.phase == "top" else b) / fps)
    return round(min(times), 3) if times else None
