"""A video file played in real time as if it were a camera (frames the consumer misses are dropped)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from formcoach.clock import Clock, MonotonicClock
from formcoach.errors import SourceError
from formcoach.sources._latest import CaptureTimes, LatestSlot
from formcoach.types import NS_PER_S, Frame

log = logging.getLogger(__name__)


class PacedVideoSource:
    """A video file played in real time as if it were a camera.

    Frame ``i`` (file timestamp ``t_i``) becomes available at ``start_ns + t_i``; if the
    consumer has not taken the previous frame by then, that one is dropped (``dropped``).

    Args:
        path: video file.
        max_seconds: stop after this much video time (None: whole file).
        clock: time source (:class:`~formcoach.cues.scheduler.MonotonicClock`).

    Raises:
        InputError: the file is not a readable video.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        from formcoach.sources.video import VideoFileSource

        self._file = VideoFileSource(path)
        self.path = Path(path)
        self.fps = self._file.fps
        self.size = self._file.size
        self.max_ns = None if max_seconds is None else round(max_seconds * NS_PER_S)
        self.clock = clock if clock is not None else MonotonicClock()
        self.start_ns = 0
        self.capture_times = CaptureTimes()
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.published = 0

    def _run(self) -> None:
        try:
            for frame in self._file:
                if self._stop.is_set():
                    break
                if self.max_ns is not None and frame.t_ns > self.max_ns:
                    break
                due = self.start_ns + frame.t_ns
                while True:
                    now = self.clock.now_ns()
                    if now >= due or self._stop.is_set():
                        break
                    time.sleep(min((due - now) / NS_PER_S, 0.05))
                self.capture_times.add(frame.t_ns, self.clock.now_ns())
                self._slot.put(frame)
                self.published += 1
        except BaseException as e:
            self._slot.close(e)
            return
        self._slot.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._thread is not None:
            raise SourceError("a PacedVideoSource can be iterated only once; create a new one")
        self.start_ns = self.clock.now_ns()
        self._thread = threading.Thread(target=self._run, name="formcoach-paced", daemon=True)
        self._thread.start()
        yield from self._slot.frames()

    def __len__(self) -> int:
        return len(self._file)

    @property
    def dropped(self) -> int:
        """Frames that became stale before the consumer took them."""
        return self._slot.dropped

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self._slot.close()
