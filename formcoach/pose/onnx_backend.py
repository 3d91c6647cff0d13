"""The ``onnx`` pose backend: BlazePose (lite, full or heavy) on onnxruntime with formcoach's own graph.

The two BlazePose models (``models/pose_detector.onnx`` and the rung's landmark model,
``models/pose_landmarks_detector.onnx`` for full, ``..._lite.onnx`` / ``..._heavy.onnx``) run in
onnxruntime on the CPU; pre/post-processing and ROI tracking are formcoach's
re-implementation of MediaPipe's pose graph (:mod:`formcoach.pose._blazepose`). The detector only
runs when there is no tracked person (video mode) or on every frame (image mode).

With ``silhouette=True`` the estimator also measures the back's shape
(:attr:`~formcoach.types.PoseResult.back_bulge`) on the frames where it can be read (hip bent,
trunk joints found): on those frames only, Full's landmark model runs with its segmentation head
(``models/pose_landmarks_detector_full_seg.onnx``, bit-identical landmark outputs), and the mask
of the crop is read by :func:`formcoach.pose.silhouette.back_bulge`.

In video mode the outputs are smoothed with the same filters MediaPipe Tasks applies in its
video mode (one-euro on landmarks and world landmarks, low-pass on visibility), so the two
backends are interchangeable; pass ``smooth=False`` for the raw per-frame model estimates.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from formcoach.errors import BackendUnavailable, InputError, ModelError
from formcoach.pose._blazepose import (
    LANDMARK_SIZE,
    NUM_ANCHORS,
    NUM_MODEL_LANDMARKS,
    NUM_POSE_LANDMARKS,
    BlazePosePipeline,
    LandmarkOutputs,
    PoseSmoother,
    Roi,
    apply_affine,
    image_to_crop_matrix,
    landmark_input,
)
from formcoach.pose.silhouette import back_bulge, needs_silhouette
from formcoach.types import PoseResult

if TYPE_CHECKING:
    import onnxruntime as ort  # type: ignore[import-untyped]

    from formcoach.pose.base import RunningMode
    from formcoach.pose.models import ModelName

log = logging.getLogger(__name__)

#: Intra-op threads per model when the caller does not say: two (or one on a one-core
#: machine), never spinning. On the 2-core test VM, with the decoder thread also running,
#: the 720p offline analysis ran at a median 3.15x real time (5 runs) against 2.93x with one
#: thread. Spinning is off, so an idle pool does not take the core back from capture or speech.
#: Spinning only inside a run (``allow_spinning=1`` + ``session.force_spinning_stop=1``) was
#: measured too (issue 18, Lite, 150 interleaved runs on the shared 2-core VM at load ~4): 2.1x
#: the wall time and 1.9x the CPU of no spinning, since a spinning worker holds a core that
#: the other runnable threads need; denormals-as-zero and ``dynamic_block_base`` changed nothing.
DEFAULT_THREADS = min(2, os.cpu_count() or 1)
#: A longer gap between two frames (ns) makes the next one a fresh start: the detector finds the
#: person again and the filters forget the old pose. A tracked crop is the last frame's body with
#: a margin of an eighth of its extent each side; at a brisk 1 body height/s, 0.2 s moves it by
#: about that. Dropping one to three frames in a busy live loop (33-100 ms at 30 fps) keeps
#: tracking.
MAX_TRACK_GAP_NS = 200_000_000


#: The landmark model's outputs used, by the shape that finds them (batch dimension dropped),
#: in the order :meth:`OnnxPoseEstimator._run_landmarks` unpacks them.
_LANDMARK_OUTPUTS: dict[str, tuple[int, ...]] = {
    "landmarks": (NUM_MODEL_LANDMARKS * 5,),
    "flag": (1,),
    "heatmap": (64, 64, NUM_MODEL_LANDMARKS),
    "world": (NUM_MODEL_LANDMARKS * 3,),
}

_telemetry_warned = False


def _disable_telemetry(ort_module: Any) -> None:
    """Turn onnxruntime's telemetry off; warn once if it may have started before formcoach could.

    The switch that works is ``ORT_DISABLE_TELEMETRY=1``, set by ``formcoach/__init__.py``
    before onnxruntime loads; ``disable_telemetry_events()`` is a belt on top of it.
    """
    global _telemetry_warned
    disable = getattr(ort_module, "disable_telemetry_events", None)
    if disable is not None:
        disable()
    import formcoach

    if formcoach._ORT_IMPORTED_FIRST and not _telemetry_warned:
        _telemetry_warned = True
        log.warning(
            "onnxruntime was imported before formcoach, so its telemetry (network lookups, files "
            "under ~/.cache/Microsoft) may already be on; import formcoach first or set "
            "ORT_DISABLE_TELEMETRY=1 in the environment"
        )


def _session(path: Any, num_threads: int) -> ort.InferenceSession:
    """An onnxruntime CPU session that does not oversubscribe a small machine."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    _disable_telemetry(ort)
    so = ort.SessionOptions()
    so.intra_op_num_threads = num_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types
        raise ModelError(
            f"cannot load ONNX model {path} ({e}); rebuild it with 'python models/build_models.py'"
        ) from e


def _output_by_shape(sess: ort.InferenceSession, want: dict[str, tuple[int, ...]]) -> dict[str, str]:
    """Map roles to output names by their static trailing shape (names vary across converters)."""
    found: dict[str, str] = {}
    for o in sess.get_outputs():
        shape = tuple(d if isinstance(d, int) else -1 for d in o.shape)[1:]
        for role, tail in want.items():
            if role not in found and shape == tail:
                found[role] = o.name
    missing = sorted(set(want) - set(found))
    if missing:
        got = ", ".join(f"{o.name}{o.shape}" for o in sess.get_outputs())
        raise ModelError(
            f"ONNX model lacks outputs {missing} (has {got}); rebuild with 'python models/build_models.py'"
        )
    return found


class OnnxPoseEstimator:
    """BlazePose on onnxruntime; implements :class:`formcoach.pose.PoseEstimator`.

    Args:
        model: the landmark rung, ``"lite"``, ``"full"`` (default) or ``"heavy"``.
        running_mode: ``"video"`` (track between frames, timestamps must increase strictly) or
            ``"image"`` (detector on every call).
        num_threads: onnxruntime intra-op threads per model; None -> :data:`DEFAULT_THREADS`
            (2, without spinning: the two sessions run one after the other, and idle threads
            sleep instead of competing with capture and speech threads).
        min_detection_confidence: person detector score threshold in [0, 1].
        min_tracking_confidence: landmark presence score in [0, 1] below which the pose is
            dropped and the detector runs again.
        smooth: temporal filtering as MediaPipe Tasks does in video mode; None -> on in
            video mode (never in image mode).
        silhouette: also measure :attr:`~formcoach.types.PoseResult.back_bulge` where the
            back can be read (costs one run of Full with its segmentation head on those frames:
            about 11.5 ms against Full's 6 ms here).

    Raises:
        InputError: an unknown model, a confidence outside [0, 1] or a bad thread count.
        ModelError: a model file is missing, corrupt or unloadable.
    """

    name = "onnx"

    def __init__(
        self,
        *,
        model: ModelName = "full",
        running_mode: RunningMode = "video",
        num_threads: int | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        smooth: bool | None = None,
        silhouette: bool = False,
    ) -> None:
        if running_mode not in ("video", "image"):
            raise InputError(f"unknown running mode {running_mode!r}; use 'video' or 'image'")
        for label, v in (
            ("min_detection_confidence", min_detection_confidence),
            ("min_tracking_confidence", min_tracking_confidence),
        ):
            if not 0.0 <= float(v) <= 1.0:
                raise InputError(f"{label}={v} is outside [0, 1]; pass a value such as 0.5")
        threads = DEFAULT_THREADS if num_threads is None else int(num_threads)
        if threads < 1:
            raise InputError(f"num_threads={num_threads} must be >= 1 (or None for the default)")

        try:
            import onnxruntime  # type: ignore[import-untyped]  # noqa: F401
        except ImportError as e:
            raise BackendUnavailable(
                f"the onnx backend needs onnxruntime ({e}); install it with 'pip install onnxruntime'"
            ) from e
        from formcoach.pose import models

        self.model: ModelName = models.check_model(model)
        files = models.backend_files("onnx", self.model)
        det_path = models.model_path(files[0])
        lmk_path = models.model_path(files[1])
        self.model_sha256: str = models.model_sha256(*files)
        self.running_mode: RunningMode = running_mode
        self.num_threads = threads

        self._det = _session(det_path, threads)
        self._lmk = _session(lmk_path, threads)
        self._det_in = self._det.get_inputs()[0].name
        self._lmk_in = self._lmk.get_inputs()[0].name
        det_out = _output_by_shape(self._det, {"regressors": (NUM_ANCHORS, 12), "logits": (NUM_ANCHORS, 1)})
        self._det_outs = [det_out["regressors"], det_out["logits"]]
        lmk_out = _output_by_shape(self._lmk, _LANDMARK_OUTPUTS)
        self._lmk_outs = [lmk_out[k] for k in _LANDMARK_OUTPUTS]
        self._silhouette = False
        self._seg_path: Any = None
        self._seg: Any = None
        self._seg_outs: list[str] = []
        self._want_mask = False
        self._mask: np.ndarray | None = None
        self.silhouette = silhouette
        self._pipeline = BlazePosePipeline(
            self._run_detector,
            self._run_landmarks,
            min_detection_confidence=min_detection_confidence,
            min_presence=min_tracking_confidence,
            track=running_mode == "video",
        )
        use_smoothing = running_mode == "video" if smooth is None else smooth and running_mode == "video"
        self._smoother = PoseSmoother() if use_smoothing else None
        self._last_t_ns: int | None = None
        self._closed = False

    @property
    def silhouette(self) -> bool:
        """Whether the back's silhouette is measured (settable, e.g. once a recognised
        exercise turns out to need it; the mask model file is checked when it is turned on)."""
        return self._silhouette

    @silhouette.setter
    def silhouette(self, on: bool) -> None:
        from formcoach.pose import models

        if on and self._seg_path is None:
            # Checked now (a missing or corrupt file fails at start, not mid-video); loaded on
            # the first frame that needs it.
            self._seg_path = models.model_path(models.ONNX_SEGMENTER)
        self._silhouette = bool(on)
        self._want_mask = self._want_mask and self._silhouette

    # -- model runners ------------------------------------------------------------------------

    def _run_detector(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        regressors, logits = self._det.run(self._det_outs, {self._det_in: x})
        return regressors[0], logits[0, :, 0]

    def _segmenter(self) -> Any:
        if self._seg is None:
            self._seg = _session(self._seg_path, self.num_threads)
            layout = {**_LANDMARK_OUTPUTS, "mask": (LANDMARK_SIZE, LANDMARK_SIZE, 1)}
            outs = _output_by_shape(self._seg, layout)
            self._seg_outs = [outs[k] for k in layout]
        return self._seg

    def _run_mask(self, x: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Full-with-segmentation outputs for one crop: the four landmark outputs and the
        ``(256, 256)`` mask logits."""
        seg = self._segmenter()
        *outs, mask = seg.run(self._seg_outs, {seg.get_inputs()[0].name: x})
        return outs, mask[0, :, :, 0]

    def _run_landmarks(self, x: np.ndarray) -> LandmarkOutputs:
        self._mask = None
        if self._want_mask and self.model == "full":
            # The same network with its mask head: the landmark outputs are bit-identical.
            (landmarks, flag, heatmap, world), self._mask = self._run_mask(x)
        else:
            landmarks, flag, heatmap, world = self._lmk.run(self._lmk_outs, {self._lmk_in: x})
            if self._want_mask:
                self._mask = self._run_mask(x)[1]
        # The pose flag is already a probability: the model ends in a sigmoid and MediaPipe reads
        # it without an activation (checked: ~1.0 on people, ~0.0004 on a grey crop).
        presence = float(np.clip(flag.reshape(-1)[0], 0.0, 1.0))
        return LandmarkOutputs(
            landmarks[0].reshape(NUM_MODEL_LANDMARKS, 5),
            presence,
            world[0].reshape(NUM_MODEL_LANDMARKS, 3),
            heatmap[0],
        )

    # -- PoseEstimator ------------------------------------------------------------------------

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        """Estimate the pose in one ``(H, W, 3)`` uint8 BGR frame taken at ``t_ns`` (ns).

        Raises:
            InputError: not an HxWx3 uint8 image, a closed estimator, or (video mode) a
                timestamp not strictly greater than the previous one.
        """
        if self._closed:
            raise InputError("this pose estimator was closed; create a new one with create_estimator()")
        if not (
            isinstance(image_bgr, np.ndarray)
            and image_bgr.ndim == 3
            and image_bgr.shape[2] == 3
            and image_bgr.dtype == np.uint8
        ):
            desc = (
                f"{image_bgr.shape} {image_bgr.dtype}"
                if isinstance(image_bgr, np.ndarray)
                else type(image_bgr).__name__
            )
            raise InputError(f"expected an (H, W, 3) uint8 BGR image, got {desc}")
        h, w = image_bgr.shape[:2]
        if h < 2 or w < 2:
            raise InputError(f"image of {w}x{h} px is too small; pass a real camera frame")
        t_ns = int(t_ns)
        if self.running_mode == "video":
            if self._last_t_ns is not None and t_ns <= self._last_t_ns:
                raise InputError(
                    f"timestamps must increase in video mode: got {t_ns} ns after {self._last_t_ns} ns; "
                    "pass strictly increasing t_ns (or call reset() before a new video)"
                )
            if self._last_t_ns is not None and t_ns - self._last_t_ns > MAX_TRACK_GAP_NS:
                # The tracked crop is where the body was: after a gap (frames dropped by a
                # busy live loop, a stalled camera) it no longer holds it, and the first
                # frames' landmarks are garbage (a squat read 107 deg on its way down).
                self._pipeline.reset()
                if self._smoother is not None:
                    self._smoother.reset()
            self._last_t_ns = t_ns
        image = np.ascontiguousarray(image_bgr)
        pose = self._pipeline.step(image)
        if pose is None:
            self._want_mask = False
            if self._smoother is not None:
                self._smoother.reset()
            return PoseResult.empty(t_ns, (w, h))
        bulge = self._back_bulge(image, pose.landmarks[:NUM_POSE_LANDMARKS])
        landmarks = pose.landmarks[:NUM_POSE_LANDMARKS]
        world = pose.world[:NUM_POSE_LANDMARKS]
        if self._smoother is not None:
            step = self._pipeline.last
            roi = step.next_roi or step.roi
            size = roi.size if roi is not None else float(max(w, h))
            landmarks, world = self._smoother(t_ns, landmarks, world, size)
        return PoseResult(
            landmarks=np.array(landmarks, dtype=np.float64),
            world=np.array(world, dtype=np.float64),
            t_ns=t_ns,
            image_size=(w, h),
            score=pose.presence,
            back_bulge=bulge,
        )

    def _back_bulge(self, image: np.ndarray, landmarks: np.ndarray) -> float:
        """The back's bulge on this frame's crop (NaN unless :attr:`silhouette` and the back can
        be read); decides whether the next frame runs the mask head too."""
        if not self.silhouette:
            return float("nan")
        roi: Roi | None = self._pipeline.last.roi
        need = needs_silhouette(landmarks)
        self._want_mask = need  # a bent hip now is most likely still bent next frame
        if not need or roi is None:
            return float("nan")
        mask = self._mask
        if mask is None:  # the hip bent on this frame: run the mask head on its crop now
            mask = self._run_mask(landmark_input(image, roi))[1]
        crop_xy = apply_affine(image_to_crop_matrix(roi, LANDMARK_SIZE), landmarks[:, :2])
        return back_bulge(mask > 0.0, crop_xy)  # logit 0 = probability 0.5

    def reset(self) -> None:
        """Forget the tracked person, the filters and the last timestamp (start of a new video)."""
        self._want_mask = False
        self._pipeline.reset()
        if self._smoother is not None:
            self._smoother.reset()
        self._last_t_ns = None

    def close(self) -> None:
        """Release the onnxruntime sessions."""
        self._closed = True
        self._det = None  # type: ignore[assignment]
        self._lmk = None  # type: ignore[assignment]
        self._seg = None

    def __enter__(self) -> OnnxPoseEstimator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
