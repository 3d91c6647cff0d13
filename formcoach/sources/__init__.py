"""Stage 1, frames: where images come from.

A :class:`FrameSource` yields :class:`~formcoach.types.Frame` objects (BGR images) with
increasing ``t_ns``. Offline sources (:class:`VideoFileSource`, :class:`ArraySource`) yield every
frame; live sources (:class:`CameraSource`, :class:`PacedVideoSource`) drop stale frames so the
consumer always gets the newest one, and timestamp frames from ``start_ns`` (a
:func:`time.monotonic_ns` value): frame capture happened at ``start_ns + t_ns``.
"""

from formcoach.sources.arrays import ArraySource
from formcoach.sources.base import FrameSource
from formcoach.sources.camera import CameraSource
from formcoach.sources.paced import PacedVideoSource
from formcoach.sources.video import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    VideoFileSource,
    check_video_path,
    load_image,
    prefetch,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "ArraySource",
    "CameraSource",
    "FrameSource",
    "PacedVideoSource",
    "VideoFileSource",
    "check_video_path",
    "load_image",
    "prefetch",
]
