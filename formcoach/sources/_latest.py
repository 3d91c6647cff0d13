"""Thread helpers of the live sources: a newest-frame mailbox and a capture-time map."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

from formcoach.types import Frame


class LatestSlot:
    """A one-frame mailbox: the producer overwrites, the consumer takes the newest."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self._error: BaseException | None = None
        self.dropped = 0
        self.delivered = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._closed = True
            if error is not None and self._error is None:
                self._error = error
            self._cond.notify_all()

    def take(self, timeout_s: float | None = None) -> Frame | None:
        """The newest unseen frame; None once closed and drained. Raises the producer's error."""
        with self._cond:
            while self._frame is None and not self._closed:
                if not self._cond.wait(timeout_s):
                    return None
            if self._frame is None:
                if self._error is not None:
                    raise self._error
                return None
            frame, self._frame = self._frame, None
            self.delivered += 1
            return frame

    @property
    def closed(self) -> bool:
        return self._closed

    def frames(self) -> Iterator[Frame]:
        """Take frames until the producer closes the slot (re-raising its error)."""
        while (frame := self.take(timeout_s=None)) is not None:
            yield frame


class CaptureTimes:
    """Bounded map ``t_ns -> monotonic capture ns`` (latency measurement)."""

    def __init__(self, size: int = 4096) -> None:
        self._d: OrderedDict[int, int] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, t_ns: int, wall_ns: int) -> None:
        with self._lock:
            self._d[t_ns] = wall_ns
            while len(self._d) > self._size:
                self._d.popitem(last=False)

    def get(self, t_ns: int) -> int | None:
        with self._lock:
            return self._d.get(t_ns)
