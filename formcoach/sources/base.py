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
