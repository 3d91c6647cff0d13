"""A webcam as a frame source: a capture thread; the consumer always gets the newest frame."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError, SourceError
from formcoach.sources._latest import CaptureTimes, LatestSlot
from formcoach.types import NS_PER_S, Frame

log = logging.getLogger(__name__)


class CameraSource:
    """Frames from a webcam; the newest frame wins.

    Args:
        index: OpenCV camera index (0 = default camera) or a device path / stream URL.
        width, height: requested capture size (the camera may choose another).
        fps: requested capture rate.
        stall_s: no frame for this long counts as a stall and triggers a reconnect.
        max_reconnects: consecutive failed reconnects before giving up (SourceError).
        open_timeout_s: how long to wait for the first frame.

    Raises:
        InputError: no camera at ``index`` (one line, with the fix).
    """

    def __init__(
        self,
        index: int | str = 0,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
        stall_s: float = 2.0,
        max_reconnects: int = 5,
        open_timeout_s: float = 5.0,
    ) -> None:
        self.index = index
        self._req = (width, height, fps)
        self.stall_ns = round(stall_s * NS_PER_S)
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        cap = self._open()
        if cap is None:
            raise InputError(
                f"no camera at index {index!r} (not connected, busy in another app, or no "
                "permission); try --camera 1, or --source VIDEO to coach from a file"
            )
        deadline = time.monotonic() + open_timeout_s
        first = None
        while time.monotonic() < deadline:
            ok, img = cap.read()
            if ok and img is not None and img.size:
                first = img
                break
            time.sleep(0.05)
        if first is None:
            cap.release()
            raise InputError(
                f"camera {index!r} opened but sent no frames within {open_timeout_s:g} s; "
                "close other apps using it or try another --camera index"
            )
        self._cap = cap
        self.size = (int(first.shape[1]), int(first.shape[0]))
        cv2 = _cv2()
        f = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = f if np.isfinite(f) and 1.0 <= f <= 240.0 else 30.0
        self.start_ns = 0
        self.capture_times = CaptureTimes()
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self) -> Any:
        cv2 = _cv2()
        index = self.index
        if isinstance(index, int) and os.name == "posix" and os.uname().sysname == "Linux":
            if not Path(f"/dev/video{index}").exists():
                return None
        # OpenCV logs multi-line warnings for every backend it tries; keep the user's one line.
        old = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
        try:
            cap = cv2.VideoCapture(index)
        finally:
            cv2.utils.logging.setLogLevel(old)
        if not cap.isOpened():
            cap.release()
            return None
        w, h, fps = self._req
        if w:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, w)
        if h:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, h)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        try:
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep the driver's queue short (stale frames)
        except Exception:  # some backends reject the property
            pass
        return cap

    def _run(self) -> None:
        index = 0
        last_ok = time.monotonic_ns()
        failures = 0
        try:
            while not self._stop.is_set():
                ok, img = self._cap.read()
                now = time.monotonic_ns()
                if ok and img is not None and img.size:
                    last_ok, failures = now, 0
                    t = max(now - self.start_ns, 0)
                    self.capture_times.add(t, now)
                    self._slot.put(Frame(image=img, index=index, t_ns=t))
                    index += 1
                    continue
                if now - last_ok < self.stall_ns:
                    time.sleep(0.01)
                    continue
                # Stalled: reconnect.
                failures += 1
                self.reconnects += 1
                if failures > self.max_reconnects:
                    raise SourceError(
                        f"camera {self.index!r} stopped delivering frames and "
                        f"{self.max_reconnects} reconnects failed; check the cable/driver"
                    )
                log.warning("camera %r stalled; reconnecting (try %d)", self.index, failures)
                self._cap.release()
                time.sleep(min(0.5 * failures, 2.0))
                cap = self._open()
                if cap is not None:
                    self._cap = cap
                last_ok = time.monotonic_ns()
        except BaseException as e:
            self._slot.close(e)
            return
        self._slot.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is None:
            self.start_ns = time.monotonic_ns()
            self._thread = threading.Thread(target=self._run, name="formcoach-camera", daemon=True)
            self._thread.start()
        yield from self._slot.frames()

    @property
    def dropped(self) -> int:
        """Frames overwritten before the consumer took them."""
        return self._slot.dropped

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self._cap.release()
        self._slot.close()


def _cv2() -> Any:  # cv2 has no stubs

    import cv2

    return cv2
