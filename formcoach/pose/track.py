"""Run a pose estimator over a whole source and collect a :class:`PoseTrack` (``formcoach poses``,
calibration, evaluation), through :func:`~formcoach.pose.stream.estimate_poses`, the one
frames -> poses loop."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from formcoach.io_utils import sha256_file
from formcoach.pose.base import PoseEstimator
from formcoach.pose.models import DEFAULT_MODEL, ModelName
from formcoach.pose.stream import estimate_poses
from formcoach.sources import FrameSource, VideoFileSource, prefetch
from formcoach.types import NS_PER_S, Frame, PoseResult, PoseTrack

log = logging.getLogger(__name__)


def estimate_track(
    source: FrameSource | str | os.PathLike[str],
    estimator: PoseEstimator | str = "onnx",
    *,
    max_frames: int | None = None,
    duration_s: float | None = None,
    progress: bool = False,
    meta: Mapping[str, object] | None = None,
    model: ModelName = DEFAULT_MODEL,
    silhouette: bool = False,
) -> PoseTrack:
    """Poses for every frame a source yields.

    Args:
        source: a video path (opened, decoded ahead on a thread, closed), or any
            :class:`~formcoach.sources.FrameSource` (a camera, a paced video, arrays), which is
            iterated as it is and left open: the caller closes it.
        estimator: a backend name (an estimator of rung ``model`` is created in ``video`` mode
            and closed), or an existing estimator (reset before use; not closed; ``model`` is
            then ignored: the track records the estimator's own).
        silhouette: with a backend name, also measure the back's silhouette
            (:attr:`~formcoach.types.PoseTrack.back_bulge`); an estimator brings its own
            setting. The track's ``meta["silhouette"]`` records it.
        max_frames: stop after this many frames.
        duration_s: stop at the first frame this many seconds after the first one (a camera
            never ends by itself).
        progress: show a tqdm progress bar on stderr.
        meta: extras for the track's ``meta``; a video path adds ``source`` and its
            ``source_sha256``.

    Returns:
        A track with ``poses (T, 33, 4)`` in pixels, NaN where nobody was found, timestamped
        as the source timestamps its frames, at the source's nominal ``fps``.

    Raises:
        InputError: unusable video. ModelError / BackendUnavailable: backend problems.
        SourceError: a live source stops delivering frames.
    """
    from formcoach.pose import create_estimator

    path: Path | None = None
    if isinstance(source, FrameSource):
        src = source
    else:
        path = Path(source)
        src = VideoFileSource(path, max_frames=max_frames)
    own = isinstance(estimator, str)
    est = (create_estimator(estimator, model=model, silhouette=silhouette)
           if isinstance(estimator, str) else estimator)
    est.reset()
    results: list[PoseResult] = []
    decoder = prefetch(src) if isinstance(src, VideoFileSource) else None
    end_ns = None if duration_s is None else round(duration_s * NS_PER_S)
    bar = None
    if progress:
        from tqdm import tqdm

        total = len(src) if isinstance(src, VideoFileSource) else None
        bar = tqdm(total=total or None, unit="frame", leave=False,
                   desc=path.name[:40] if path is not None else None)
    try:
        for posed in estimate_poses(_until(decoder if decoder is not None else src, max_frames,
                                           end_ns), est):
            results.append(posed.pose)
            if bar is not None:
                bar.update(1)
    finally:
        if decoder is not None:
            decoder.close()
        if bar is not None:
            bar.close()
        if own:
            est.close()
        if path is not None:
            src.close()
    info: dict[str, object] = {}
    if path is not None:
        info = {"source": str(path), "source_sha256": sha256_file(path)}
    if getattr(est, "silhouette", False):
        info["silhouette"] = True
    info.update(meta or {})
    return PoseTrack.from_results(results, src.fps, src.size, est.name, est.model_sha256, info,
                                  model=est.model)


def _until(frames: Iterable[Frame], max_frames: int | None, end_ns: int | None
           ) -> Iterator[Frame]:
    """``frames`` up to ``max_frames`` or until ``end_ns`` after the first one."""
    t0: int | None = None
    for k, frame in enumerate(frames):
        if max_frames is not None and k >= max_frames:
            return
        t0 = frame.t_ns if t0 is None else t0
        if end_ns is not None and frame.t_ns - t0 >= end_ns:
            return
        yield frame
