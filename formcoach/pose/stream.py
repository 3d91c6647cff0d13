"""THE frames -> poses loop: a pose per frame, with the clock instants the session times."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from formcoach.clock import Clock
from formcoach.pose import PoseEstimator
from formcoach.types import Frame, PoseResult, PoseTrack

__all__ = ["PosedFrame", "estimate_poses", "replay_track"]


@dataclass(slots=True)
class PosedFrame:
    """One frame and its pose.

    Attributes:
        frame: the image (None when replaying a saved pose track).
        pose: the pose estimated from it (``pose.t_ns`` is the frame's source time).
        index: 0-based frame number in the stream.
        taken_ns: clock ns when the loop took the frame; ``pose_ns``: when its pose was ready.
    """

    frame: Frame | None
    pose: PoseResult
    index: int
    taken_ns: int = 0
    pose_ns: int = 0


def estimate_poses(
    frames: Iterable[Frame], estimator: PoseEstimator, clock: Clock | None = None
) -> Iterator[PosedFrame]:
    """Run ``estimator`` on every frame (``video`` running mode: timestamps must increase)."""
    for k, frame in enumerate(frames):
        taken = clock.now_ns() if clock is not None else 0
        pose = estimator.process(frame.image, frame.t_ns)
        done = clock.now_ns() if clock is not None else 0
        yield PosedFrame(frame, pose, k, taken, done)


def replay_track(track: PoseTrack) -> Iterator[PosedFrame]:
    """The poses of a saved track, as if estimated now (no images)."""
    size = track.image_size
    world = track.world
    bulge = track.back_bulge if track.back_bulge is not None else np.full(len(track), np.nan)
    for k in range(len(track)):
        pose = PoseResult(track.poses[k], world[k], int(track.t_ns[k]), size, 1.0,
                          float(bulge[k]))
        yield PosedFrame(None, pose, k)
