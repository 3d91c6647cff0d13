"""The PoseEstimator protocol every stage-2 backend implements, and its running modes."""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import numpy as np

from formcoach.types import PoseResult

RunningMode = Literal["video", "image"]


@runtime_checkable
class PoseEstimator(Protocol):
    """Estimates the 33 BlazePose landmarks of one person per frame.

    ``process`` takes a ``(H, W, 3)`` uint8 **BGR** image and its timestamp in ns. In ``video``
    mode timestamps must increase strictly and the estimator may track the person between frames;
    in ``image`` mode every call is independent.

    ``name`` is the backend, ``model`` the BlazePose rung it runs (``lite``, ``full``, ``heavy``;
    another string for other estimators) and ``model_sha256`` the digest of its model files.
    """

    name: str
    model_sha256: str
    running_mode: RunningMode

    @property
    def model(self) -> str:
        """The model (rung) this estimator runs."""
        ...

    def process(self, image_bgr: np.ndarray, t_ns: int) -> PoseResult: ...

    def reset(self) -> None:
        """Forget tracking state (start of a new, unrelated video)."""
        ...

    def close(self) -> None: ...
