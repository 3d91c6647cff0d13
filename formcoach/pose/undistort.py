"""A pose estimator whose landmark pixels are corrected for the camera's lens distortion."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from formcoach.pose.base import PoseEstimator, RunningMode
from formcoach.types import PoseResult


class LensModel(Protocol):
    """What undistortion needs of a camera model; :class:`formcoach.calibration.CameraProfile`
    is one (it lives with the calibration tool, above this stage, so it is named only here)."""

    @property
    def has_distortion(self) -> bool: ...

    def scaled(self, image_size: tuple[int, int]) -> LensModel:
        """The same camera at ``(width, height)`` px."""
        ...

    def undistort_poses(self, poses: np.ndarray) -> np.ndarray:
        """``(33, 4)`` landmarks (x, y px) -> the same with x, y undistorted."""
        ...


class UndistortingEstimator:
    """Wraps any :class:`~formcoach.pose.PoseEstimator`; its landmarks are undistorted.

    Args:
        inner: the estimator to wrap (reset and closed through this one).
        profile: the camera, e.g. ``formcoach.calibration.load_camera_profile(name)``; it is
            rescaled to each frame's size (cached per size).

    Pixel x, y are corrected; z, visibility and NaN are kept. World landmarks come from the
    model's own metric estimate and are left as they are. A profile without distortion (the
    built-in ``default``) changes nothing.
    """

    def __init__(self, inner: PoseEstimator, profile: LensModel) -> None:
        self.inner = inner
        self.profile = profile
        self.name: str = inner.name
        self.model: str = inner.model
        self.model_sha256: str = inner.model_sha256
        self.running_mode: RunningMode = inner.running_mode
        self._by_size: dict[tuple[int, int], LensModel] = {}

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult:
        """The inner estimator's result for ``image_bgr`` (BGR), landmarks undistorted."""
        res = self.inner.process(image_bgr, t_ns)
        if not self.profile.has_distortion:
            return res
        size = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        prof = self._by_size.get(size)
        if prof is None:
            prof = self._by_size[size] = self.profile.scaled(size)
        res.landmarks = prof.undistort_poses(res.landmarks)
        return res

    @property
    def silhouette(self) -> bool:
        """The inner estimator's silhouette setting (False when it has none)."""
        return bool(getattr(self.inner, "silhouette", False))

    @silhouette.setter
    def silhouette(self, on: bool) -> None:
        from formcoach.pose import set_silhouette

        set_silhouette(self.inner, on)

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()
