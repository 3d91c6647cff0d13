"""Camera calibration: fit intrinsics and lens distortion to checkerboard views.

Views come from a folder of photos (:func:`images_from_dir`), frames spread over a video
(:func:`sample_video_frames`) or periodic captures from a camera (:func:`capture_camera_frames`).
:func:`calibrate_camera` finds the board in each (:class:`~formcoach.calibration.board.ViewCollector`
drops blurry and near-duplicate views) and fits ``fx, fy, cx, cy`` (px) and distortion ``(k1, k2,
p1, p2, k3)`` with OpenCV, giving a :class:`~formcoach.calibration.profiles.CameraProfile`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.calibration.board import BoardView, ViewCollector, board_object_points
from formcoach.calibration.profiles import CameraProfile, now_iso
from formcoach.errors import InputError
from formcoach.types import NS_PER_S

log = logging.getLogger(__name__)

#: Fewest views with the whole board found that :func:`calibrate_camera` accepts.
MIN_VIEWS = 5


def calibrate_views(
    collector: ViewCollector,
    square_mm: float,
    name: str = "camera",
    max_views: int = 40,
    min_views: int = MIN_VIEWS,
    meta: Mapping[str, Any] | None = None,
) -> CameraProfile:
    """Fit intrinsics and distortion to the collected views (``cv2.calibrateCamera``).

    Uses at most ``max_views`` views spread over the collection order; k3 is fitted only with
    20+ views (with fewer it overfits and extrapolates badly). Views whose reprojection error
    exceeds 3x the median are dropped once and the fit is redone.

    Raises:
        InputError: fewer than ``min_views`` usable views (the message says how many and why).
    """
    import cv2

    views = list(collector.views)
    if len(views) < min_views:
        raise InputError(
            f"only {len(views)} usable checkerboard views found, need at least {min_views} "
            f"({collector.summary()}); show the whole {collector.board[0]}x{collector.board[1]} "
            "board, sharp and well lit, at more positions and tilts"
        )
    if len(views) > max_views:
        idx = np.linspace(0, len(views) - 1, max_views).round().astype(int)
        views = [views[i] for i in idx]
    assert collector.image_size is not None
    obj = board_object_points(collector.board, square_mm)

    def fit(vs: list[BoardView]) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        flags = 0 if len(vs) >= 20 else cv2.CALIB_FIX_K3
        rms, k, d, _r, _t, _si, _se, per_view = cv2.calibrateCameraExtended(  # type: ignore[call-overload]
            [obj] * len(vs),
            [v.corners.reshape(-1, 1, 2) for v in vs],
            collector.image_size,
            None,
            None,
            flags=flags,
        )
        return float(rms), k, d.reshape(-1), np.asarray(per_view).reshape(-1)

    rms, k, d, per_view = fit(views)
    med = float(np.median(per_view))
    keep = per_view <= max(3.0 * med, 0.5)
    if not keep.all() and keep.sum() >= min_views:
        log.info("dropping %d views with reprojection error > 3x median", int((~keep).sum()))
        views = [v for v, kk in zip(views, keep, strict=True) if kk]
        rms, k, d, per_view = fit(views)
    d5 = np.zeros(5)
    d5[: min(5, d.size)] = d[:5]
    info = {
        "board": f"{collector.board[0]}x{collector.board[1]}",
        "square_mm": float(square_mm),
        "created": now_iso(),
        "views_seen": collector.seen,
        "views_rejected": {
            "no_board": collector.no_board,
            "blurry": collector.blurry,
            "duplicate": collector.duplicates,
        },
        **(meta or {}),
    }
    return CameraProfile(
        name=name,
        image_size=collector.image_size,
        fx=float(k[0, 0]),
        fy=float(k[1, 1]),
        cx=float(k[0, 2]),
        cy=float(k[1, 2]),
        dist=tuple(float(x) for x in d5),
        rms=rms,
        images_used=len(views),
        meta=info,
    )


def calibrate_camera(
    images: Iterable[tuple[str, np.ndarray]],
    board: tuple[int, int],
    square_mm: float,
    name: str = "camera",
    max_views: int = 40,
    min_views: int = MIN_VIEWS,
    progress: Callable[[str, str], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> CameraProfile:
    """Calibrate from ``(label, BGR image)`` pairs: find corners, drop bad views, fit.

    Args:
        images: labelled images (files, sampled video frames, camera captures).
        board: inner corners ``(cols, rows)``, e.g. ``(9, 6)``.
        square_mm: printed square size, mm (sets the units of the board poses only; the
            intrinsics in px do not depend on it).
        name: profile name.
        max_views: most views passed to the fit.
        min_views: fewest usable views accepted.
        progress: called with ``(label, verdict)`` per image.

    Raises:
        InputError: too few usable views, or images of different sizes.
    """
    col = ViewCollector(board)
    for label, img in images:
        verdict = col.add(img, label)
        if progress is not None:
            progress(label, verdict)
    log.info("%s", col.summary())
    return calibrate_views(col, square_mm, name, max_views, min_views, meta)


def images_from_dir(folder: str | os.PathLike[str]) -> list[tuple[str, np.ndarray]]:
    """All images in ``folder`` (sorted by name) as ``(file name, BGR image)``.

    Raises:
        InputError: the folder is missing or holds no readable images.
    """
    from formcoach.sources import IMAGE_SUFFIXES, load_image

    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"image folder not found: {d}")
    files = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(
            f"no images in {d} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}); "
            "put photos of the checkerboard there"
        )
    return [(p.name, load_image(p)) for p in files]


def sample_video_frames(
    path: str | os.PathLike[str], count: int = 120
) -> Iterable[tuple[str, np.ndarray]]:
    """Yield about ``count`` frames spread evenly over a video, as ``("frame N", BGR)``.

    Decodes sequentially (seeking is unreliable in many containers) and keeps every k-th frame.

    Raises:
        InputError: the video cannot be opened.
    """
    from formcoach.sources import VideoFileSource

    src = VideoFileSource(path)
    n = len(src)
    step = max(1, n // max(1, count)) if n else max(1, round(src.fps / 2))
    for frame in src:
        if frame.index % step == 0:
            yield f"frame {frame.index}", frame.image


def capture_camera_frames(
    index: int, seconds: float = 30.0, interval_s: float = 0.5
) -> Iterator[tuple[str, np.ndarray]]:
    """Yield a camera frame every ``interval_s`` for ``seconds``, as ``("capture N", BGR)``.

    Raises:
        InputError: the camera cannot be opened (see :class:`formcoach.sources.CameraSource`).
    """
    from formcoach.sources import CameraSource

    src = CameraSource(index)
    try:
        end_ns = round(seconds * NS_PER_S)
        next_ns = 0
        n = 0
        for frame in src:
            if frame.t_ns >= end_ns:
                break
            if frame.t_ns >= next_ns:
                next_ns = frame.t_ns + round(interval_s * NS_PER_S)
                yield f"capture {n}", frame.image
                n += 1
    finally:
        src.close()
