"""Pose estimation: one protocol, several backends, imported lazily.

Use :func:`create_estimator`::

    est = create_estimator("onnx")                  # or "mediapipe"
    est = create_estimator("onnx", model="heavy")   # or "lite"; default "full"
    for frame in VideoFileSource("set.mp4"):
        res = est.process(frame.image, frame.t_ns)   # BGR in, PoseResult out

Backends:
    ``mediapipe``: MediaPipe Tasks PoseLandmarker from ``models/pose_landmarker_<model>.task``.
    ``onnx``: onnxruntime with formcoach's own BlazePose pre/post-processing and ROI tracking.

Models (rungs of the BlazePose ladder, :data:`MODELS`): ``lite``, ``full``, ``heavy``. Which one
keeps real time on this machine is :func:`formcoach.pose.ladder.choose_model`'s job.
"""

from __future__ import annotations

from formcoach.errors import BackendUnavailable, InputError
from formcoach.pose.base import PoseEstimator, RunningMode
from formcoach.pose.models import DEFAULT_MODEL, MODELS, ModelName, check_model

__all__ = ["BACKENDS", "DEFAULT_MODEL", "MODELS", "ModelName", "PoseEstimator", "RunningMode",
           "create_estimator", "set_silhouette"]

BACKENDS = ("mediapipe", "onnx")


def create_estimator(
    backend: str = "onnx",
    *,
    model: ModelName = DEFAULT_MODEL,
    running_mode: RunningMode = "video",
    num_threads: int | None = None,
    min_detection_confidence: float = 0.5,
    min_tracking_confidence: float = 0.5,
    silhouette: bool = False,
) -> PoseEstimator:
    """Build a pose estimator.

    Args:
        backend: ``"mediapipe"`` or ``"onnx"``.
        model: the BlazePose rung, ``"lite"``, ``"full"`` or ``"heavy"``.
        running_mode: ``"video"`` (tracking, increasing timestamps) or ``"image"``.
        num_threads: CPU threads for inference; None picks a default that does not
            oversubscribe a 2-core laptop.
        min_detection_confidence: person detector score threshold.
        min_tracking_confidence: landmark presence score below which tracking is dropped.
        silhouette: also measure the back's shape from the person mask where it can be read
            (:attr:`formcoach.types.PoseResult.back_bulge`); slower on those frames.

    Raises:
        InputError: unknown backend, model or running mode.
        BackendUnavailable: the backend's package is not installed.
        ModelError: a model file is missing or corrupt.
    """
    if running_mode not in ("video", "image"):
        raise InputError(f"unknown running mode {running_mode!r}; use 'video' or 'image'")
    model = check_model(model)
    kwargs = dict(
        model=model,
        running_mode=running_mode,
        num_threads=num_threads,
        min_detection_confidence=min_detection_confidence,
        min_tracking_confidence=min_tracking_confidence,
        silhouette=silhouette,
    )
    if backend == "mediapipe":
        try:
            from formcoach.pose.mediapipe_tasks import MediaPipeTasksEstimator
        except ImportError as e:
            raise BackendUnavailable(
                f"the mediapipe backend needs mediapipe ({e}); install it with 'pip install mediapipe'"
            ) from e
        return MediaPipeTasksEstimator(**kwargs)  # type: ignore[arg-type]
    if backend == "onnx":
        try:
            from formcoach.pose.onnx_backend import OnnxPoseEstimator
        except ImportError as e:
            raise BackendUnavailable(
                f"the onnx backend needs onnxruntime ({e}); install it with 'pip install onnxruntime'"
            ) from e
        return OnnxPoseEstimator(**kwargs)  # type: ignore[arg-type]
    raise InputError(f"unknown pose backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


def set_silhouette(estimator: object, on: bool) -> bool:
    """Turn the back-silhouette measure of ``estimator`` on or off (a recognised exercise
    that needs it); False when the estimator has no such setting (another backend, a test
    double): its poses then carry no measure and the rule reading it says "not judged"."""
    if not hasattr(estimator, "silhouette"):
        return False
    estimator.silhouette = bool(on)  # type: ignore[attr-defined]
    return True
