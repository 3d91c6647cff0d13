"""Offline frame sources: every frame of a video file, in order; image loading; a prefetch thread."""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError
from formcoach.io_utils import cv2_input_path, display_path
from formcoach.sources.base import FrameSource
from formcoach.types import Frame, frame_time_ns

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def _cv2():
    import cv2

    return cv2


class VideoFileSource:
    """Every frame of a video file, in order, timestamped from the frame index and fps.

    Timestamps come from the container's position where it gives increasing values
    (variable-frame-rate files), else ``index / fps``.

    Args:
        path: video file.
        max_frames: stop after this many frames (None: all).

    Raises:
        InputError: the file is missing, a directory, an image, empty, or not decodable video.
    """

    def __init__(self, path: str | os.PathLike[str], max_frames: int | None = None) -> None:
        self.path = Path(path)
        self.max_frames = max_frames
        check_video_path(self.path)
        name = display_path(self.path)
        cv2 = _cv2()
        with cv2_input_path(self.path) as cv_name:
            cap = cv2.VideoCapture(cv_name)
            try:
                if not cap.isOpened():
                    raise InputError(
                        f"cannot open video (not a video, or unsupported codec): {name}"
                    )
                ok, first = cap.read()
                if not ok or first is None or first.size == 0:
                    raise InputError(f"video has no decodable frames: {name}")
                fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
                n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            finally:
                cap.release()
        if not np.isfinite(fps) or fps <= 0 or fps > 1000:
            log.warning("%s reports fps=%r; assuming 30", name, fps)
            fps = 30.0
        self.fps = fps
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.frame_count: int | None = n if n > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        cv2 = _cv2()
        with cv2_input_path(self.path) as cv_name:
            yield from self._frames(cv2, cv2.VideoCapture(cv_name))

    def _frames(self, cv2: Any, cap: Any) -> Iterator[Frame]:
        try:
            index = 0
            last_t = -1
            while self.max_frames is None or index < self.max_frames:
                ok, img = cap.read()
                if not ok or img is None:
                    break
                if img.ndim == 2:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                pos_ms = cap.get(cv2.CAP_PROP_POS_MSEC)
                t = frame_time_ns(index, self.fps)
                if pos_ms and np.isfinite(pos_ms) and pos_ms > 0:
                    t_pos = round(pos_ms * 1e6)
                    # Trust container time only when it moves forward (VFR files).
                    if t_pos > last_t and abs(t_pos - t) < 5_000_000_000:
                        t = t_pos
                if t <= last_t:
                    t = last_t + 1
                last_t = t
                yield Frame(image=img, index=index, t_ns=t)
                index += 1
        finally:
            cap.release()

    def __len__(self) -> int:
        n = self.frame_count or 0
        return min(n, self.max_frames) if self.max_frames is not None else n

    def close(self) -> None:
        """Nothing to release: each iteration opens and closes its own capture."""


def check_video_path(path: Path) -> None:
    """Fail early, with one clear line, on paths that cannot be a video.

    Raises:
        InputError: missing, a directory, empty, unreadable or an image file.
    """
    name = display_path(path)
    if not path.exists():
        raise InputError(f"video not found: {name}")
    if path.is_dir():
        raise InputError(f"expected a video file, got a directory: {name}")
    if path.stat().st_size == 0:
        raise InputError(f"video file is empty (0 bytes): {name}")
    if not os.access(path, os.R_OK):
        raise InputError(f"video file is not readable (permissions): {name}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(f"expected a video, got an image file: {name}")


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 BGR.

    Raises:
        InputError: missing or undecodable file.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"image not found: {display_path(p)}")
    with cv2_input_path(p) as cv_name:
        img = _cv2().imread(cv_name, 1)
    if img is None:
        raise InputError(f"cannot decode image: {display_path(p)}")
    return img


def prefetch(
    frames: Iterator[Frame] | FrameSource, depth: int = 4
) -> Generator[Frame, None, None]:
    """Decode ahead on a worker thread so decoding and inference use both cores.

    Yields the same frames, in order. OpenCV's decoder and the pose runtimes release the GIL,
    so the two overlap. An exception in the decoder is re-raised in the consumer; closing the
    generator early stops the worker.
    """
    import queue
    import threading

    q: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def work() -> None:
        try:
            for fr in frames:
                while not stop.is_set():
                    try:
                        q.put(fr, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as e:
            q.put(e)

    t = threading.Thread(target=work, name="formcoach-decode", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        t.join(timeout=2.0)
