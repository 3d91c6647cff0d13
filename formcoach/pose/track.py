"""Run a pose estimator over a whole source and collect a :class:`PoseTrack`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from formcoach.io_utils import sha256_file
from formcoach.pose import PoseEstimator, create_estimator
from formcoach.sources import VideoFileSource, prefetch
from formcoach.types import PoseResult, PoseTrack

log = logging.getLogger(__name__)


def estimate_track(
    video: str | os.PathLike[str],
    backend: str = "onnx",
    *,
    estimator: PoseEstimator | None = None,
    max_frames: int | None = None,
    progress: bool = False,
) -> PoseTrack:
    """Poses for every frame of a video file.

    Args:
        video: path of the video.
        backend: pose backend when ``estimator`` is None.
        estimator: an existing estimator (reset before use; not closed).
        max_frames: stop after this many frames.
        progress: show a tqdm progress bar on stderr.

    Returns:
        A track with ``poses (T, 33, 4)`` in pixels, NaN where nobody was found.

    Raises:
        InputError: unusable video. ModelError / BackendUnavailable: backend problems.
    """
    src = VideoFileSource(video, max_frames=max_frames)
    own = estimator is None
    est = estimator if estimator is not None else create_estimator(backend)
    est.reset()
    results: list[PoseResult] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(src) or None, unit="frame", desc=Path(video).name, leave=False)
    try:
        for frame in prefetch(src):
            results.append(est.process(frame.image, frame.t_ns))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if own:
            est.close()
    meta = {"source": str(video), "source_sha256": sha256_file(video)}
    return PoseTrack.from_results(results, src.fps, src.size, est.name, est.model_sha256, meta)
