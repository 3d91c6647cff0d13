"""One file's analysis exactly as ``formcoach analyze`` runs it: the exercise (named, or
recognised from the movement), the user's baseline, the pose model, the camera profile and the
session. ``formcoach analyze`` and ``formcoach batch`` both call :func:`analyze_file`, so a
batch's per-file JSON is the one ``analyze --json`` writes.

Use::

    plan = plan_analysis(AnalysisOptions(exercise="squat"))      # bad exercise / --user: here
    result = analyze_file(plan, video="set.mp4", begin=on_start)  # on_start -> SessionSinks
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from formcoach.coach.result import SessionResult
from formcoach.coach.session import SessionSinks
from formcoach.errors import InputError
from formcoach.exercises import Exercise, load_exercise
from formcoach.io_utils import display_path

if TYPE_CHECKING:
    from formcoach.pose.base import PoseEstimator
    from formcoach.pose.undistort import LensModel
    from formcoach.types import PoseTrack

log = logging.getLogger(__name__)

__all__ = ["AnalysisOptions", "AnalysisPlan", "AnalysisStart", "EstimatorCache", "analyze_file",
           "plan_analysis", "user_baseline"]


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """What ``analyze`` was asked for (its options, not its input or output files).

    Attributes:
        exercise: exercise id or alias, a ``.toml`` pack path, or ``"auto"``.
        backend: pose backend, ``"onnx"`` or ``"mediapipe"``.
        model: pose model rung, or ``"auto"`` (see :func:`formcoach.pose.ladder.resolve_model`).
        view: fixed camera view for the rules (None: detected per frame).
        rules: judge form (False: count only).
        user: a user profile name or path for the ROM baseline.
        camera_profile: a camera profile name or path (undistorts the landmarks).
        progress: tqdm bars on stderr.
        stop_at_vl_pct: say "that's the set" past this velocity loss (percent; None: off).
        height_cm: the user's height, for velocities in m/s (None: body heights per second).
    """

    exercise: str
    backend: str = "onnx"
    model: str = "auto"
    view: str | None = None
    rules: bool = True
    user: str | None = None
    camera_profile: str | None = None
    progress: bool = True
    stop_at_vl_pct: float | None = None
    height_cm: float | None = None

    @property
    def auto(self) -> bool:
        """The exercise is recognised from the movement."""
        return self.exercise.strip().lower() == "auto"


@dataclass(frozen=True, slots=True)
class AnalysisPlan:
    """:class:`AnalysisOptions` checked: the exercise (None for ``auto``) and its baseline."""

    options: AnalysisOptions
    exercise: Exercise | None
    baseline_rom_deg: float | None


@dataclass(frozen=True, slots=True)
class AnalysisStart:
    """What is known when the session starts (the store opens its set with it)."""

    exercise: Exercise
    backend: str
    model_sha256: str


def user_baseline(user: str | None, exercise: Exercise) -> float | None:
    """The user's baseline ROM of this exercise's counting joint, or None (no ``user``).

    Raises:
        InputError: no such profile, or it has no range for this exercise's joint.
    """
    if not user:
        return None
    from formcoach.calibration import load_user_profile
    from formcoach.calibration.user import baseline_rom_deg

    rom = baseline_rom_deg(load_user_profile(user), exercise)
    if rom is None:
        raise InputError(f"user profile {user!r} has no range of motion for {exercise.id}'s "
                         f"{exercise.count.signal}; record one with 'formcoach calibrate user "
                         f"--name {user} --exercise {exercise.id}'")
    return rom


def plan_analysis(options: AnalysisOptions) -> AnalysisPlan:
    """Load the exercise and the user's baseline (with ``auto``: once it is known).

    Raises:
        InputError / ConfigError: unknown exercise or bad pack, bad ``user``.
    """
    exercise = None if options.auto else load_exercise(options.exercise)
    baseline = None if exercise is None else user_baseline(options.user, exercise)
    return AnalysisPlan(options, exercise, baseline)


@dataclass
class EstimatorCache:
    """Pose estimators kept across files (one per backend and rung), so a worker loads its
    model once: each file gets the estimator reset (:meth:`PoseEstimator.reset`), which gives
    the same poses as a fresh one. ``num_threads``: onnxruntime intra-op threads (None: the
    backend's default)."""

    num_threads: int | None = None
    _kept: dict[tuple[str, str, bool], PoseEstimator] = field(default_factory=dict)

    def get(self, backend: str, model: str, silhouette: bool = False) -> PoseEstimator:
        """The estimator of ``backend`` and ``model`` (measuring the back's silhouette when
        asked), reset (created on first use)."""
        from formcoach.pose import create_estimator

        key = (backend, model, silhouette)
        est = self._kept.get(key)
        if est is None:
            est = create_estimator(backend, model=model, running_mode="video",  # type: ignore[arg-type]
                                   num_threads=self.num_threads, silhouette=silhouette)
            self._kept[key] = est
        else:
            est.reset()
        return est

    def close(self) -> None:
        """Release every estimator."""
        for est in self._kept.values():
            est.close()
        self._kept.clear()


def _recognise(plan: AnalysisPlan, video: str | None, track: PoseTrack | None,
               lens: LensModel | None, model: str, estimators: EstimatorCache | None,
               say: Callable[[str], None]) -> tuple[PoseTrack, Exercise]:
    """``auto``: the poses (estimated now when only a video was given) and the exercise the
    recogniser names from the movement.

    Raises:
        InputError: the movement fits no exercise clearly (the message says why).
    """
    from formcoach.coach.recognise import recognise_track

    opts = plan.options
    if track is None:
        from formcoach.pose import create_estimator
        from formcoach.pose.track import estimate_track

        assert video is not None
        est = estimators.get(opts.backend, model) if estimators is not None else \
            create_estimator(opts.backend, model=model, running_mode="video")  # type: ignore[arg-type]
        try:
            track = estimate_track(video, est, progress=opts.progress,
                                   meta={"source": display_path(video)})
        finally:
            if estimators is None:
                est.close()
        if lens is not None:
            track.poses = lens.undistort_poses(track.poses)
    found = recognise_track(track)
    if found.exercise is None:
        raise InputError(f"could not tell the exercise from the movement ({found.reason}); "
                         "give --exercise ID")
    exercise = load_exercise(found.exercise)
    at = "" if found.first_sure_s is None else f" from {found.first_sure_s:.1f} s"
    say(f"looks like {exercise.name.lower()} (recognised from the movement{at}; "
        "override with --exercise)")
    return track, exercise


def analyze_file(
    plan: AnalysisPlan,
    *,
    video: str | os.PathLike[str] | None = None,
    poses: str | os.PathLike[str] | None = None,
    begin: Callable[[AnalysisStart], SessionSinks | None] | None = None,
    estimators: EstimatorCache | None = None,
    say: Callable[[str], None] | None = None,
) -> SessionResult:
    """Analyse ``video`` (or the saved pose track ``poses``) as ``formcoach analyze`` does.

    Args:
        plan: from :func:`plan_analysis`.
        video: the video file (its path, as given, is the result's ``source``).
        poses: a pose track from ``formcoach poses`` instead of the video.
        begin: called once the exercise and model are known, just before the session; returns
            its sinks (e.g. the store's per-rep saver).
        estimators: keep pose models across calls (None: one estimator, closed afterwards).
        say: where the ``auto`` recognition line goes (default: the log).

    Raises:
        InputError: unreadable video or track, a model that does not match the track, an
            unrecognisable movement, a bad camera profile; backend errors (BackendUnavailable,
            ModelError).
    """
    from formcoach.coach.offline import analyze_track, analyze_video
    from formcoach.types import PoseTrack

    opts = plan.options
    video_s = os.fspath(video) if video is not None else None
    poses_s = os.fspath(poses) if poses is not None else None
    if video_s is None and poses_s is None:
        raise InputError("give a VIDEO to analyse, or --poses TRACK.npz")
    track = None
    if poses_s is not None:
        track = PoseTrack.load(poses_s)
        if opts.camera_profile:
            from formcoach.calibration import load_camera_profile

            prof = load_camera_profile(opts.camera_profile, track.image_size)
            track.poses = prof.undistort_poses(track.poses)
        if opts.model != "auto" and track.model and opts.model != track.model:
            raise InputError(f"--model {opts.model}: the pose track {display_path(poses_s)} "
                             f"was made with the {track.model} model; --model applies to a VIDEO")
        backend, model_sha = track.backend, track.model_sha256
        model_name = track.model or "full"
    else:
        from formcoach.pose import models
        from formcoach.pose.ladder import resolve_model
        from formcoach.sources import VideoFileSource

        assert video_s is not None
        probe = VideoFileSource(video_s)  # a bad video fails here, before the store is touched
        fps = probe.fps
        probe.close()
        backend = opts.backend
        choice = resolve_model(backend, fps, "offline", opts.model)
        if choice.automatic:
            log.info("pose model %s", choice.describe())
        model_sha = models.model_sha256(*models.backend_files(backend, choice.model))
        model_name = choice.model
    lens = None
    if opts.camera_profile and track is None:
        from formcoach.calibration import load_camera_profile

        lens = load_camera_profile(opts.camera_profile)
    exercise, baseline = plan.exercise, plan.baseline_rom_deg
    from formcoach.rules.engine import uses_silhouette

    if exercise is None:
        track, exercise = _recognise(plan, video_s, track, lens, model_name, estimators,
                                     say or log.info)
        baseline = user_baseline(opts.user, exercise)
        if poses_s is None and opts.rules and uses_silhouette(exercise):
            # The recogniser's poses have no silhouette measure (the exercise was not known
            # then): a second pass over the video measures the back's outline a rule reads.
            log.info("%s: a second pass measures the back's outline", exercise.id)
            track = None
    sinks = begin(AnalysisStart(exercise, backend, model_sha)) if begin is not None else None
    sinks = sinks if sinks is not None else SessionSinks()
    if track is not None:
        return analyze_track(track, exercise, source=display_path(video_s or poses_s or ""),
                             rules=opts.rules, view=opts.view, sinks=sinks,
                             baseline_rom_deg=baseline, stop_at_vl_pct=opts.stop_at_vl_pct,
                             height_cm=opts.height_cm)
    assert video_s is not None
    silhouette = opts.rules and uses_silhouette(exercise)
    est = estimators.get(opts.backend, choice.model, silhouette) if estimators is not None else None
    return analyze_video(video_s, exercise, backend=opts.backend, model=choice.model,
                         progress=opts.progress, lens=lens, rules=opts.rules, view=opts.view,
                         sinks=sinks, baseline_rom_deg=baseline, estimator=est,
                         stop_at_vl_pct=opts.stop_at_vl_pct, height_cm=opts.height_cm)
