"""The printed checkerboard: rendering it, and finding its corners in camera images.

:func:`write_board_files` writes a printable A4 board (PNG and PDF). :func:`find_board` finds its
inner corners (sub-pixel) in one image; :class:`ViewCollector` keeps the sharp, distinct views
that :func:`formcoach.calibration.fit.calibrate_views` fits a camera to. ``board`` is always
``(cols, rows)`` of *inner* corners; corner positions are pixels, board geometry millimetres.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formcoach.calibration.profiles import ensure_dir
from formcoach.errors import InputError

log = logging.getLogger(__name__)

_A4_MM = (210.0, 297.0)
_MM_PER_INCH = 25.4

# --------------------------------------------------------------------------------------------
# Checkerboard


def parse_board(text: str) -> tuple[int, int]:
    """Parse ``"9x6"`` (inner corners per row x per column) into ``(9, 6)``.

    Raises:
        InputError: not two integers >= 2 separated by 'x'.
    """
    m = re.fullmatch(r"\s*(\d+)\s*[xX*]\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 2 or int(m.group(2)) < 2:
        raise InputError(
            f"bad board size {text!r}: give inner corners as COLSxROWS, e.g. 9x6 "
            "(a board of 10x7 squares)"
        )
    return int(m.group(1)), int(m.group(2))


def board_object_points(board: tuple[int, int], square_mm: float) -> np.ndarray:
    """``(cols*rows, 3)`` float32 corner positions on the board plane, mm, row-major (z=0)."""
    cols, rows = board
    grid = np.zeros((rows * cols, 3), np.float32)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * float(square_mm)
    return grid


def render_board(
    board: tuple[int, int] = (9, 6), square_mm: float = 25.0, dpi: int = 300
) -> np.ndarray:
    """A printable A4 page with the checkerboard centred, as ``(H, W)`` uint8 gray.

    ``board`` counts inner corners, so the board has ``(cols+1) x (rows+1)`` squares. The page is
    portrait A4 when the board fits, else landscape. A line of text under the board states the
    board and square size and says to print at 100 %.

    Raises:
        InputError: the board does not fit on A4 with a 10 mm margin.
    """
    import cv2

    cols, rows = board
    if not (square_mm > 0 and math.isfinite(square_mm)):
        raise InputError(f"bad square size {square_mm} mm; give a positive number, e.g. 25")
    nx, ny = cols + 1, rows + 1
    bw, bh = nx * square_mm, ny * square_mm
    pw, ph = _A4_MM
    if bw + 20 > pw or bh + 30 > ph:
        pw, ph = ph, pw
    if bw + 20 > pw or bh + 30 > ph:
        biggest = min((297.0 - 20) / nx, (210.0 - 30) / ny)
        raise InputError(
            f"a {cols}x{rows} board with {square_mm:g} mm squares ({bw:g}x{bh:g} mm) does not "
            f"fit on A4; use --square-mm {math.floor(biggest)} or less"
        )
    px_per_mm = dpi / _MM_PER_INCH
    width, height = round(pw * px_per_mm), round(ph * px_per_mm)
    page = np.full((height, width), 255, np.uint8)
    x0 = (pw - bw) / 2.0
    y0 = (ph - bh) / 2.0 - 5.0
    xs = [round((x0 + i * square_mm) * px_per_mm) for i in range(nx + 1)]
    ys = [round((y0 + j * square_mm) * px_per_mm) for j in range(ny + 1)]
    for j in range(ny):
        for i in range(nx):
            if (i + j) % 2 == 0:
                page[ys[j] : ys[j + 1], xs[i] : xs[i + 1]] = 0
    label = (
        f"formcoach calibration board: {cols}x{rows} inner corners, {square_mm:g} mm squares. "
        f"Print at 100% (no 'fit to page'); check one square measures {square_mm:g} mm."
    )
    scale = dpi / 300.0 * 1.0
    thick = max(1, round(2 * dpi / 300.0))
    (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    if tw > width - 2 * round(10 * px_per_mm):
        scale *= (width - 2 * round(10 * px_per_mm)) / tw
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    ty = ys[-1] + round(8 * px_per_mm) + th
    cv2.putText(
        page, label, ((width - tw) // 2, ty), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thick,
        cv2.LINE_AA,
    )
    return page


def write_board_files(
    out_dir: str | os.PathLike[str],
    board: tuple[int, int] = (9, 6),
    square_mm: float = 25.0,
    dpi: int = 300,
) -> list[Path]:
    """Write the printable board as PNG (with its dpi) and PDF (A4) into ``out_dir``.

    Files are named ``checkerboard_{cols}x{rows}_{square}mm.{png,pdf}``. Returns their paths.
    """
    import io

    from PIL import Image

    from formcoach.io_utils import atomic_write_bytes

    out = Path(out_dir)
    ensure_dir(out)
    page = render_board(board, square_mm, dpi)
    stem = f"checkerboard_{board[0]}x{board[1]}_{square_mm:g}mm"
    img = Image.fromarray(page).convert("1", dither=Image.Dither.NONE)
    paths = []
    for ext, kwargs in (("png", {"dpi": (dpi, dpi), "optimize": True}), ("pdf", {"resolution": dpi})):
        buf = io.BytesIO()
        img.save(buf, format=ext.upper(), **kwargs)
        path = out / f"{stem}.{ext}"
        atomic_write_bytes(path, buf.getvalue(), mode=0o644)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------------
# Corner finding and view selection


@dataclass(slots=True)
class BoardView:
    """The board's inner corners found in one image.

    Attributes:
        corners: ``(cols*rows, 2)`` float32 sub-pixel corner positions, px.
        sharpness_px: OpenCV's average black-to-white edge width, px, the worse of the two
            edge directions (smaller = sharper).
        label: where the image came from (file name or frame number).
    """

    corners: np.ndarray
    sharpness_px: float
    label: str


def _gray(image: np.ndarray) -> np.ndarray:
    import cv2

    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(image, code)
    raise InputError(f"expected a gray or BGR image, got shape {image.shape}")


def find_board(
    image: np.ndarray, board: tuple[int, int], label: str = "", detect_max_px: int = 960
) -> BoardView | None:
    """Find the board's inner corners (sub-pixel) in a BGR or gray image, or None.

    Detection (``findChessboardCornersSB``, then the classic detector as a fallback) runs on a
    copy downscaled to ``detect_max_px`` on its long side (about 0.3 s per 1080p frame on a
    laptop core), then ``cv2.cornerSubPix`` refines the corners at full resolution.
    """
    import cv2

    gray = _gray(image)
    h, w = gray.shape
    s = min(1.0, detect_max_px / max(h, w))
    small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
    found, corners = cv2.findChessboardCornersSB(small, board, flags=cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not found:
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
        found, corners = cv2.findChessboardCorners(small, board, flags=flags)
        if not found:
            return None
    pts = corners.reshape(-1, 2).astype(np.float32) / np.float32(s)
    # Refinement window: a third of the smallest corner spacing, at least 2 px.
    grid = pts.reshape(board[1], board[0], 2)
    spacing = min(
        float(np.min(np.linalg.norm(np.diff(grid, axis=1), axis=2))),
        float(np.min(np.linalg.norm(np.diff(grid, axis=0), axis=2))),
    )
    win = int(max(2, min(11, spacing / 3)))
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-3)
    refined = cv2.cornerSubPix(gray, pts.reshape(-1, 1, 2), (win, win), (-1, -1), crit)
    pts = np.asarray(refined, dtype=np.float32).reshape(-1, 2)
    # Edge width across both edge directions: motion blur widens only one of them.
    try:
        c = pts.reshape(-1, 1, 2)
        sharp = max(
            float(np.ravel(cv2.estimateChessboardSharpness(gray, board, c, 0.8, vertical)[0])[0])
            for vertical in (False, True)
        )
    except cv2.error:
        sharp = math.nan
    return BoardView(corners=pts.astype(np.float32), sharpness_px=sharp, label=label)


def _is_duplicate(view: BoardView, kept: list[BoardView], tol_px: float) -> bool:
    """True when ``view``'s corners are within ``tol_px`` (mean) of a kept view's (either order)."""
    for k in kept:
        d = float(np.mean(np.linalg.norm(view.corners - k.corners, axis=1)))
        d_rev = float(np.mean(np.linalg.norm(view.corners[::-1] - k.corners, axis=1)))
        if min(d, d_rev) < tol_px:
            return True
    return False


@dataclass(slots=True)
class ViewCollector:
    """Accumulates usable board views, rejecting blurry and near-duplicate ones.

    Args:
        board: inner corners ``(cols, rows)``.
        max_blur_frac: largest accepted edge width (``BoardView.sharpness_px``), as a fraction
            of the board's mean square size in px; views softer than this are dropped.
        duplicate_frac: views whose corners move less than this fraction of the image diagonal
            (mean over corners) from an accepted view are duplicates.
    """

    board: tuple[int, int]
    max_blur_frac: float = 0.2
    duplicate_frac: float = 0.02
    views: list[BoardView] = field(default_factory=list)
    image_size: tuple[int, int] | None = None
    seen: int = 0
    no_board: int = 0
    blurry: int = 0
    duplicates: int = 0

    def add(self, image: np.ndarray, label: str = "") -> str:
        """Examine one image; returns ``"ok"``, ``"no board"``, ``"blurry"``, ``"duplicate"``.

        Raises:
            InputError: the image size differs from the first image's.
        """
        size = (int(image.shape[1]), int(image.shape[0]))
        if self.image_size is None:
            self.image_size = size
        elif size != self.image_size:
            raise InputError(
                f"image {label or self.seen} is {size[0]}x{size[1]} but earlier ones are "
                f"{self.image_size[0]}x{self.image_size[1]}; calibrate one resolution at a time"
            )
        self.seen += 1
        view = find_board(image, self.board, label)
        if view is None:
            self.no_board += 1
            return "no board"
        grid = view.corners.reshape(self.board[1], self.board[0], 2)
        square_px = float(np.mean(np.linalg.norm(np.diff(grid, axis=1), axis=2)))
        if math.isfinite(view.sharpness_px) and view.sharpness_px > self.max_blur_frac * square_px:
            self.blurry += 1
            log.debug("%s: blurry (edge %.1f px, square %.1f px)", label, view.sharpness_px, square_px)
            return "blurry"
        diag = math.hypot(*size)
        if _is_duplicate(view, self.views, self.duplicate_frac * diag):
            self.duplicates += 1
            return "duplicate"
        self.views.append(view)
        return "ok"

    def summary(self) -> str:
        """One line: how many images were seen and why each was dropped."""
        return (
            f"{len(self.views)} usable views of {self.seen} images ({self.no_board} without the "
            f"whole board, {self.blurry} blurry, {self.duplicates} near-duplicates)"
        )
