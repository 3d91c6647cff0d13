"""Offline sessions: a video file or a saved pose track through the one session loop.

The clock is a :class:`~formcoach.clock.FrameClock` and the speaker a
:class:`~formcoach.cues.recording.RecordingSpeaker`, so the cues recorded here are the cues
``live`` would have said on the same frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from formcoach.clock import FrameClock
from formcoach.coach.pipeline import Coach
from formcoach.coach.result import SessionResult
from formcoach.coach.session import SessionSinks, run_session
from formcoach.cues.recording import RecordingSpeaker
from formcoach.cues.scheduler import CueScheduler
from formcoach.exercises import Exercise
from formcoach.io_utils import display_path
from formcoach.pose.base import PoseEstimator
from formcoach.pose.models import DEFAULT_MODEL, ModelName
from formcoach.pose.stream import PosedFrame, estimate_poses, replay_track
from formcoach.pose.undistort import LensModel, UndistortingEstimator
from formcoach.rules.engine import RulesEngine
from formcoach.types import PoseTrack

__all__ = ["analyze_stream", "analyze_track", "analyze_video", "make_coach"]


def make_coach(exercise: Exercise, fps: float, rules: bool = True, view: str | None = None,
               early: bool = True) -> Coach:
    """The coach of ``exercise`` with its rules engine (none with ``rules=False`` or a pack
    without rules); ``view`` fixes the camera view instead of detecting it per frame;
    ``early=False`` judges reps only when counted (the reference, see the rules engine)."""
    engine = RulesEngine(exercise, fps, view=view, early=early) \
        if rules and exercise.rules_raw else None
    return Coach(exercise, fps, rules=engine, view=view)


def analyze_stream(
    stream: Iterable[PosedFrame],
    exercise: Exercise,
    *,
    fps: float,
    backend: str,
    source: str,
    image_size: tuple[int, int] = (0, 0),
    model_sha256: str = "",
    rules: bool = True,
    view: str | None = None,
    sinks: SessionSinks | None = None,
    praise: str | None = None,
    baseline_rom_deg: float | None = None,
    model: str = "",
    stop_at_vl_pct: float | None = None,
    height_cm: float | None = None,
) -> SessionResult:
    """Run the session loop offline over ``stream`` (see module docstring); ``model`` is the
    pose model (rung) that produced the stream, recorded in the result; ``stop_at_vl_pct``,
    ``height_cm``: as in :func:`~formcoach.coach.session.run_session`."""
    clock = FrameClock()
    result = run_session(
        stream, make_coach(exercise, fps, rules, view), CueScheduler(clock, praise=praise),
        RecordingSpeaker(clock), clock, fps=fps, backend=backend, source=source,
        image_size=image_size, model_sha256=model_sha256, sinks=sinks,
        baseline_rom_deg=baseline_rom_deg, interrupt_ends_set=False,
        stop_at_vl_pct=stop_at_vl_pct, height_cm=height_cm,
    )
    result.model = model
    return result


def analyze_track(track: PoseTrack, exercise: Exercise, *, source: str = "",
                  rules: bool = True, view: str | None = None,
                  sinks: SessionSinks | None = None,
                  baseline_rom_deg: float | None = None,
                  stop_at_vl_pct: float | None = None,
                  height_cm: float | None = None) -> SessionResult:
    """Analyse a saved pose track (its model: the track's, else the rung its model digest
    names)."""
    from formcoach.pose.models import model_of_sha256

    model = track.model or model_of_sha256(track.backend, track.model_sha256) or ""
    return analyze_stream(
        replay_track(track), exercise, fps=track.fps, backend=track.backend,
        source=source, image_size=track.image_size, model_sha256=track.model_sha256,
        rules=rules, view=view, sinks=sinks, baseline_rom_deg=baseline_rom_deg, model=model,
        stop_at_vl_pct=stop_at_vl_pct, height_cm=height_cm,
    )


def analyze_video(
    path: str | os.PathLike[str],
    exercise: Exercise,
    backend: str = "onnx",
    *,
    model: ModelName = DEFAULT_MODEL,
    progress: bool = True,
    max_frames: int | None = None,
    lens: LensModel | None = None,
    rules: bool = True,
    view: str | None = None,
    sinks: SessionSinks | None = None,
    baseline_rom_deg: float | None = None,
    stop_at_vl_pct: float | None = None,
    height_cm: float | None = None,
    estimator: PoseEstimator | None = None,
) -> SessionResult:
    """Decode a video, estimate poses and run the session over every frame.

    Args:
        path: video file.
        exercise: the rule pack.
        backend: pose backend (``"mediapipe"`` or ``"onnx"``).
        model: pose model rung (``"lite"``, ``"full"``, ``"heavy"``; see
            :func:`formcoach.pose.ladder.choose_model` for picking one).
        progress: show a tqdm bar on stderr.
        max_frames: analyse at most this many frames (None: all).
        lens: undistort landmarks with this lens model (a loaded camera profile from
            ``formcoach calibrate camera``).
        estimator: an existing estimator of ``backend`` to use (reset first, not closed; e.g. a
            batch worker's, loaded once); None: one of ``model`` is created and closed.

    Raises:
        InputError: unreadable video; BackendUnavailable / ModelError from the pose backend.
    """
    from formcoach.pose import create_estimator
    from formcoach.sources import VideoFileSource, prefetch

    src = VideoFileSource(path, max_frames=max_frames)
    own = estimator is None
    est: PoseEstimator
    if estimator is None:
        from formcoach.rules.engine import uses_silhouette

        est = create_estimator(backend, model=model, running_mode="video",
                               silhouette=rules and uses_silhouette(exercise))
    else:
        estimator.reset()
        est = estimator
    if lens is not None:
        est = UndistortingEstimator(est, lens)
    try:
        frames = prefetch(src)  # decode on its own thread: decoding overlaps inference
        if progress:
            from tqdm import tqdm  # type: ignore[import-untyped]

            frames = iter(tqdm(frames, total=len(src) or None, unit="frame", leave=False,
                               desc=os.path.basename(str(path))))
        return analyze_stream(
            estimate_poses(frames, est), exercise, fps=src.fps, backend=backend,
            source=display_path(path), image_size=src.size, model_sha256=est.model_sha256,
            rules=rules, view=view, sinks=sinks, baseline_rom_deg=baseline_rom_deg,
            model=est.model, stop_at_vl_pct=stop_at_vl_pct, height_cm=height_cm,
        )
    finally:
        if own:
            est.close()
