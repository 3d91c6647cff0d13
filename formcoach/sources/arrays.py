"""In-memory frames (tests, synthetic data)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from formcoach.errors import InputError
from formcoach.types import Frame, frame_time_ns


class ArraySource:
    """Frames from an in-memory list or array of BGR images (tests, synthetic data)."""

    def __init__(self, images: list[np.ndarray] | np.ndarray, fps: float = 30.0) -> None:
        if len(images) == 0:
            raise InputError("ArraySource needs at least one image")
        self.images = images
        self.fps = float(fps)
        self.size = (int(images[0].shape[1]), int(images[0].shape[0]))

    def __iter__(self) -> Iterator[Frame]:
        for i, img in enumerate(self.images):
            yield Frame(image=np.asarray(img), index=i, t_ns=frame_time_ns(i, self.fps))

    def __len__(self) -> int:
        return len(self.images)

    def close(self) -> None:
        """Nothing to release."""
