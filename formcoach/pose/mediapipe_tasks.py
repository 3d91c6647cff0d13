"""MediaPipe Tasks PoseLandmarker backend (BlazePose lite, full or heavy, from the bundled ``.task``)."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np

from formcoach.errors import InputError, ModelError
from formcoach.pose.base import RunningMode
from formcoach.pose.models import TASK_FILES, ModelName, check_model, model_path, model_sha256
from formcoach.pose.silhouette import back_bulge, needs_silhouette
from formcoach.skeleton import NUM_LANDMARKS
from formcoach.types import PoseResult

log = logging.getLogger(__name__)


#: Where MediaPipe's own HTTP client is pointed: a closed port on loopback (see below).
_DEAD_PROXY = "http://127.0.0.1:9"
#: Hosts that bypass it: loopback only (anything else a user had there could be MediaPipe's).
LOOPBACK_NO_PROXY = "localhost,127.0.0.1,::1"
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _contain_native_telemetry() -> None:
    """Keep MediaPipe's native usage telemetry on this machine.

    mediapipe 1.2.x's libmediapipe.so posts usage logs over HTTPS from a background thread
    (observed with strace: a DNS lookup and a connection from ``HttpAsyncClient``), and offers no
    switch to turn it off. Its HTTP client honours the standard proxy variables, so we point them
    at a closed loopback port: the attempt fails locally, with no DNS query and no byte sent.
    This changes the process environment, so it happens only when the MediaPipe backend is
    chosen; the default ONNX backend never loads libmediapipe. Loopback stays direct
    (``NO_PROXY``): a local client in the same process (``formcoach serve``'s tests, a user's
    own code) still reaches 127.0.0.1, and no telemetry host is on loopback.
    """
    replaced = [v for v in _PROXY_VARS if os.environ.get(v) not in (None, "", _DEAD_PROXY)]
    if replaced:
        log.warning("mediapipe backend: overriding %s so MediaPipe's telemetry cannot leave this "
                    "machine", ", ".join(replaced))
    for v in _PROXY_VARS:
        os.environ[v] = _DEAD_PROXY
    for v in ("NO_PROXY", "no_proxy"):
        os.environ[v] = LOOPBACK_NO_PROXY


def _quiet_native_logs() -> None:
    """Keep MediaPipe's C++ (glog/absl) INFO chatter off the user's terminal."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


_LIVE: weakref.WeakSet[MediaPipeTasksEstimator] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Close graphs still open at exit: MediaPipe's own __del__ fails during interpreter teardown."""
    for est in list(_LIVE):
        est.close()


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Route C++ writes to fd 2 (TFLite/glog banners) into our debug log while loading."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace").strip()
            if text:
                log.debug("mediapipe native log: %s", text)


class MediaPipeTasksEstimator:
    """BlazePose through ``mediapipe.tasks.vision.PoseLandmarker``.

    Video mode feeds strictly increasing millisecond timestamps (from ``t_ns``) so MediaPipe's
    graph tracks the person's ROI between frames; image mode runs detection on every call.
    ``num_threads`` is accepted for API symmetry; MediaPipe Tasks picks its own thread count.
    ``model`` is the rung (``"lite"``, ``"full"``, ``"heavy"``): ``models/pose_landmarker_<model>.task``.
    """

    name = "mediapipe"

    def __init__(
        self,
        running_mode: RunningMode = "video",
        num_threads: int | None = None,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        model: ModelName = "full",
        silhouette: bool = False,
    ) -> None:
        self._landmarker: Any = None  # set first: close() runs even when __init__ failed
        self.model: ModelName = check_model(model)
        self._task_file = TASK_FILES[self.model]
        _quiet_native_logs()
        _contain_native_telemetry()
        import mediapipe as mp
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core import base_options

        del num_threads
        self._mp = mp
        self.running_mode: RunningMode = running_mode
        path = model_path(self._task_file)
        self.model_sha256 = model_sha256(self._task_file)
        mode = vision.RunningMode.VIDEO if running_mode == "video" else vision.RunningMode.IMAGE
        self._options = vision.PoseLandmarkerOptions(
            base_options=base_options.BaseOptions(model_asset_path=str(path)),
            running_mode=mode,
            num_poses=1,
            min_pose_detection_confidence=min_detection_confidence,
            min_pose_presence_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            output_segmentation_masks=bool(silhouette),
        )
        self._silhouette = bool(silhouette)
        self._vision = vision
        self._landmarker = self._create()
        _LIVE.add(self)
        self._last_ms = 0  # the warm-up call used timestamp 0
        self._last_t_ns: int | None = None
        self._first_person_call = True

    @property
    def silhouette(self) -> bool:
        """Whether the back's silhouette is measured from MediaPipe's mask (settable: turning
        it on or off starts a new graph, which forgets the tracked person)."""
        return self._silhouette

    @silhouette.setter
    def silhouette(self, on: bool) -> None:
        if bool(on) == self._silhouette:
            return
        self._silhouette = bool(on)
        self._options.output_segmentation_masks = self._silhouette
        if self._landmarker is not None:
            self.close()
            self._landmarker = self._create()
            self._first_person_call = True

    def _create(self):
        try:
            with _native_stderr_to_log():
                lm = self._vision.PoseLandmarker.create_from_options(self._options)
                # The first inference prints more native banners; run it on a blank image here.
                blank = self._mp.Image(
                    image_format=self._mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8)
                )
                if self.running_mode == "video":
                    lm.detect_for_video(blank, 0)
                else:
                    lm.detect(blank)
                return lm
        except (RuntimeError, ValueError) as e:
            raise ModelError(f"MediaPipe could not load {self._task_file}: {e}") from e

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        """Landmarks of the most prominent person in a BGR image (see PoseEstimator)."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise InputError(
                f"expected an (H, W, 3) uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}"
            )
        h, w = image_bgr.shape[:2]
        rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])  # BGR -> RGB for MediaPipe
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        if self.running_mode == "video":
            if self._last_t_ns is not None and t_ns <= self._last_t_ns:
                raise InputError(
                    f"video-mode timestamps must increase: got {t_ns} ns after {self._last_t_ns} ns"
                )
            self._last_t_ns = t_ns
            ms = max(self._last_ms + 1, t_ns // 1_000_000)
            self._last_ms = ms
            call = lambda: self._landmarker.detect_for_video(image, ms)  # noqa: E731
        else:
            call = lambda: self._landmarker.detect(image)  # noqa: E731
        if self._first_person_call:
            # MediaPipe logs a one-off native warning on its first ROI projection.
            with _native_stderr_to_log():
                res = call()
            self._first_person_call = not res.pose_landmarks
        else:
            res = call()
        if not res.pose_landmarks:
            return PoseResult.empty(t_ns, (w, h))
        lms = res.pose_landmarks[0]
        arr = np.empty((NUM_LANDMARKS, 4), dtype=np.float64)
        for i, lm in enumerate(lms[:NUM_LANDMARKS]):
            # Normalised -> pixels; z shares x's scale (MediaPipe's convention).
            arr[i] = (lm.x * w, lm.y * h, lm.z * w, lm.visibility if lm.visibility is not None else 1.0)
        world = np.full((NUM_LANDMARKS, 3), np.nan)
        if res.pose_world_landmarks:
            for i, lm in enumerate(res.pose_world_landmarks[0][:NUM_LANDMARKS]):
                world[i] = (lm.x, lm.y, lm.z)
        presence = lms[0].presence
        score = float(presence) if presence is not None else 1.0
        bulge = float("nan")
        if self.silhouette and res.segmentation_masks and needs_silhouette(arr):
            mask = np.squeeze(res.segmentation_masks[0].numpy_view())  # (H, W) in [0, 1]
            bulge = back_bulge(mask, arr[:, :2])
        return PoseResult(landmarks=arr, world=world, t_ns=t_ns, image_size=(w, h), score=score,
                          back_bulge=bulge)

    def reset(self) -> None:
        """Start a fresh graph: forget tracking and the timestamp sequence."""
        self.close()
        self._landmarker = self._create()
        self._last_ms = 0
        self._last_t_ns = None
        self._first_person_call = True

    def close(self) -> None:
        """Release the MediaPipe graph (safe to call twice)."""
        lm, self._landmarker = self._landmarker, None
        if lm is not None:
            try:
                lm.close()
            except Exception as e:
                log.debug("PoseLandmarker.close failed: %s", e)

    def __del__(self) -> None:
        self.close()
