"""The FrameSource protocol every stage-1 source implements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from formcoach.types import Frame


@runtime_checkable
class FrameSource(Protocol):
    """Anything that yields BGR frames with increasing timestamps."""

    fps: float
    size: tuple[int, int]

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


@runtime_checkable
class LiveSource(FrameSource, Protocol):
    """A source that stamps frames with their capture time and drops stale ones.

    Attributes:
        start_ns: :func:`time.monotonic_ns` of source time 0 (set when iteration starts):
            frame capture happened at ``start_ns + frame.t_ns``.
        dropped: frames dropped so far because the consumer was too slow.
    """

    start_ns: int

    @property
    def dropped(self) -> int: ...
