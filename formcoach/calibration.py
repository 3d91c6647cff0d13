"""Camera calibration (intrinsics + lens distortion) and user calibration (neutral stance, ROM).

Camera
    A printed checkerboard (:func:`write_board_files`) is filmed from several angles; OpenCV finds
    its inner corners in each view (sub-pixel), blurry and near-duplicate views are dropped, and
    :func:`calibrate_camera` fits ``fx, fy, cx, cy`` (pixels) and distortion ``(k1, k2, p1, p2,
    k3)``. The result is a named :class:`CameraProfile` saved as JSON under
    ``<config dir>/cameras/NAME.json``; :meth:`CameraProfile.undistort_poses` maps landmark pixels
    to where an ideal pinhole camera would have put them, so angles are not bent by the lens.

User
    :func:`calibrate_user` finds a still window in a pose track (the neutral stance: median joint
    angles) and the user's range of motion per joint over the recording (robust min/max), stored
    as a :class:`UserProfile` under ``<config dir>/users/NAME.json``. Reports use
    :meth:`UserProfile.rom_percent`; :func:`personalise` adapts a rep counter's thresholds.

The config dir is ``platformdirs.user_config_dir("formcoach")``, or ``$FORMCOACH_CONFIG_DIR``.
Angles are degrees, computed in pixel space; pose arrays follow :mod:`formcoach.types`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from formcoach.errors import ConfigError, InputError
from formcoach.io_utils import atomic_write_text
from formcoach.pose import RunningMode
from formcoach.skeleton import JOINT_TRIPLES, LM

if TYPE_CHECKING:
    from formcoach.types import PoseTrack

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Fewest views with the whole board found that :func:`calibrate_camera` accepts.
MIN_VIEWS = 5
#: Horizontal field of view assumed by the default (uncalibrated) profile, degrees.
DEFAULT_HFOV_DEG = 70.0
#: Image size the default profile is written for; it is rescaled to the real size on load.
DEFAULT_IMAGE_SIZE = (1280, 720)
#: Name of the built-in profile (a guess, not a calibration).
DEFAULT_PROFILE_NAME = "default"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_A4_MM = (210.0, 297.0)
_MM_PER_INCH = 25.4


# --------------------------------------------------------------------------------------------
# Config directory and names


def config_dir() -> Path:
    """formcoach's per-user config folder (``$FORMCOACH_CONFIG_DIR`` overrides platformdirs)."""
    env = os.environ.get("FORMCOACH_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("formcoach"))


def check_name(name: str, what: str = "profile") -> str:
    """Return ``name`` if it is a safe file stem (letters, digits, ``_ . -``), else raise.

    Raises:
        InputError: empty, too long, or has other characters (e.g. a path separator).
    """
    if not _NAME_RE.match(name or ""):
        raise InputError(
            f"bad {what} name {name!r}: use 1-64 letters, digits, '_', '.' or '-' "
            "(starting with a letter or digit)"
        )
    return name


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as e:
        raise InputError(f"cannot create folder {path}: {e.strerror or e}") from e


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A profile's JSON object; size (:data:`~formcoach.text.MAX_CONFIG_BYTES`), encoding and
    nesting are checked before parsing."""
    from formcoach.text import MAX_CONFIG_BYTES, clean_text, parse_json, read_text_capped

    text = read_text_capped(path, MAX_CONFIG_BYTES, what, ConfigError, read_error=InputError)
    data = parse_json(text, path, what, ConfigError)
    if not isinstance(data, dict):
        raise ConfigError(clean_text(f"{path}: {what} must be a JSON object", False))
    return data


def _clean_id(value: Any) -> str:
    """An exercise id from a profile file, printable."""
    from formcoach.text import clean_text

    return clean_text(str(value), keep_newlines=False)[:200]


def _profile_name(data: Mapping[str, Any], source: str) -> str:
    """The ``name`` of a profile, printable (control characters escaped)."""
    from formcoach.text import clean_text

    return clean_text(str(data.get("name", Path(source).stem)), keep_newlines=False)[:200]


# --------------------------------------------------------------------------------------------
# Camera profile


@dataclass(slots=True)
class CameraProfile:
    """Pinhole intrinsics and OpenCV distortion of one camera at one image size.

    Attributes:
        name: profile name (file stem).
        image_size: ``(width, height)`` px the intrinsics refer to.
        fx, fy: focal lengths, px.
        cx, cy: principal point, px (OpenCV convention: pixel centres at integer coordinates).
        dist: OpenCV distortion coefficients ``(k1, k2, p1, p2[, k3, ...])``; all zero = none.
        rms: RMS reprojection error of the calibration, px (NaN for a guessed profile).
        images_used: number of board views the fit used (0 for a guessed profile).
        meta: extras (board, square size, source, creation time, ...).
    """

    name: str
    image_size: tuple[int, int]
    fx: float
    fy: float
    cx: float
    cy: float
    dist: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    rms: float = math.nan
    images_used: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        w, h = self.image_size
        if w <= 0 or h <= 0:
            raise ConfigError(f"camera profile {self.name!r}: bad image_size {self.image_size}")
        vals = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in vals) or self.fx <= 0 or self.fy <= 0:
            raise ConfigError(
                f"camera profile {self.name!r}: focal lengths must be positive and finite, "
                f"got fx={self.fx}, fy={self.fy}"
            )
        if len(self.dist) not in (4, 5, 8, 12, 14) or not all(math.isfinite(d) for d in self.dist):
            raise ConfigError(
                f"camera profile {self.name!r}: dist must be 4, 5, 8, 12 or 14 finite numbers, "
                f"got {list(self.dist)}"
            )

    # -- derived values ------------------------------------------------------------------
    @property
    def camera_matrix(self) -> np.ndarray:
        """``(3, 3)`` float64 OpenCV camera matrix K."""
        return np.array(
            [[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]], dtype=np.float64
        )

    @property
    def dist_array(self) -> np.ndarray:
        """Distortion coefficients as a float64 ``(n,)`` array."""
        return np.asarray(self.dist, dtype=np.float64)

    @property
    def has_distortion(self) -> bool:
        """True when any distortion coefficient is non-zero."""
        return bool(np.any(self.dist_array != 0.0))

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view of the pinhole model, degrees."""
        return math.degrees(2.0 * math.atan(self.image_size[0] / (2.0 * self.fx)))

    # -- geometry ------------------------------------------------------------------------
    def scaled(self, image_size: tuple[int, int]) -> CameraProfile:
        """The same camera at another image size (the video was resized, not cropped).

        A different aspect ratio usually means the camera crops; that is logged as a warning,
        because the result is then only approximate (recalibrate at that resolution).
        """
        w0, h0 = self.image_size
        w1, h1 = int(image_size[0]), int(image_size[1])
        if (w1, h1) == (w0, h0):
            return self
        if w1 <= 0 or h1 <= 0:
            raise InputError(f"bad image size {image_size}; width and height must be positive")
        sx, sy = w1 / w0, h1 / h0
        if abs(sx / sy - 1.0) > 0.01:
            log.warning(
                "camera profile %r was calibrated at %dx%d but the video is %dx%d (another "
                "aspect ratio, so the camera probably crops); intrinsics are approximate - "
                "recalibrate at this resolution",
                self.name, w0, h0, w1, h1,
            )
        return dataclasses.replace(
            self,
            image_size=(w1, h1),
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
            meta={**self.meta, "scaled_from": [w0, h0]},
        )

    def undistort_points(self, xy: np.ndarray) -> np.ndarray:
        """Map distorted pixel coordinates to ideal pinhole pixel coordinates.

        Args:
            xy: ``(N, 2)`` pixels in the image this profile describes; NaN rows allowed.

        Returns:
            ``(N, 2)`` float64 pixels with the same K (only the lens distortion is removed);
            rows with any NaN stay NaN. The inverse of ``cv2.projectPoints`` distortion.
        """
        pts = np.asarray(xy, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise InputError(f"undistort_points needs (N, 2) pixel coordinates, got {pts.shape}")
        out = pts.copy()
        if not self.has_distortion or pts.shape[0] == 0:
            return out
        ok = np.isfinite(pts).all(axis=1)
        if not ok.any():
            return out
        import cv2

        k = self.camera_matrix
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
        und = cv2.undistortPoints(pts[ok].reshape(-1, 1, 2), k, self.dist_array, P=k, criteria=crit)
        out[ok] = und.reshape(-1, 2)
        return out

    def undistort_poses(self, poses: np.ndarray) -> np.ndarray:
        """Undistort the x, y pixels of poses; z and visibility are kept.

        Args:
            poses: ``(T, 33, 4)`` or ``(33, 4)`` float64 (x px, y px, z, visibility), NaN allowed.

        Returns:
            A new array of the same shape; NaN stays NaN.
        """
        arr = np.asarray(poses, dtype=np.float64)
        if arr.ndim not in (2, 3) or arr.shape[-1] != 4:
            raise InputError(f"undistort_poses needs (T, 33, 4) or (33, 4) poses, got {arr.shape}")
        out = arr.copy()
        if not self.has_distortion:
            return out
        flat = out.reshape(-1, 4)
        flat[:, :2] = self.undistort_points(flat[:, :2])
        return out

    # -- persistence ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (keys fx, fy, cx, cy, dist, rms, images_used, image_size...)."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": "formcoach-camera",
            "name": self.name,
            "image_size": [int(self.image_size[0]), int(self.image_size[1])],
            "fx": float(self.fx),
            "fy": float(self.fy),
            "cx": float(self.cx),
            "cy": float(self.cy),
            "dist": [float(d) for d in self.dist],
            "rms": None if not math.isfinite(self.rms) else float(self.rms),
            "images_used": int(self.images_used),
            "hfov_deg": round(self.hfov_deg, 3),
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> CameraProfile:
        """Build a profile from :meth:`to_dict` output.

        Raises:
            ConfigError: a required key is missing or has the wrong type.
        """
        try:
            size = data["image_size"]
            rms = data.get("rms")
            if len(size) != 2 or not all(0 < int(v) <= 100_000 for v in size):
                raise ValueError(f"image_size must be [width, height] px, got {str(size)[:40]}")
            return cls(
                name=_profile_name(data, source),
                image_size=(int(size[0]), int(size[1])),
                fx=float(data["fx"]),
                fy=float(data["fy"]),
                cx=float(data["cx"]),
                cy=float(data["cy"]),
                dist=tuple(float(d) for d in data.get("dist", (0.0,) * 5)),
                rms=math.nan if rms is None else float(rms),
                images_used=int(data.get("images_used", 0)),
                meta=dict(data.get("meta", {})),
            )
        except KeyError as e:
            raise ConfigError(f"{source}: camera profile lacks key {e.args[0]!r}") from e
        except (TypeError, ValueError, IndexError, OverflowError) as e:
            raise ConfigError(f"{source}: malformed camera profile ({str(e)[:100]})") from e

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the profile as JSON (atomic, 0600); default ``<config>/cameras/NAME.json``."""
        if path is None:
            folder = config_dir() / "cameras"
            _mkdir(folder)
            path = folder / f"{check_name(self.name, 'camera profile')}.json"
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def default_camera_profile(
    image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE, hfov_deg: float = DEFAULT_HFOV_DEG
) -> CameraProfile:
    """A typical laptop webcam guess: ``hfov_deg`` horizontal FOV, square pixels, centred
    principal point, no distortion, at ``image_size`` ``(width, height)`` px."""
    w, h = int(image_size[0]), int(image_size[1])
    f = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    return CameraProfile(
        name=DEFAULT_PROFILE_NAME,
        image_size=(w, h),
        fx=f,
        fy=f,
        cx=(w - 1) / 2.0,
        cy=(h - 1) / 2.0,
        dist=(0.0, 0.0, 0.0, 0.0, 0.0),
        rms=math.nan,
        images_used=0,
        meta={
            "guess": True,
            "assumes": f"{hfov_deg:g} deg horizontal FOV, square pixels, centred principal "
            "point, no lens distortion",
        },
    )


def camera_profile_path(name: str) -> Path:
    """Where the camera profile ``name`` lives: ``<config dir>/cameras/NAME.json``."""
    return config_dir() / "cameras" / f"{check_name(name, 'camera profile')}.json"


def list_camera_profiles() -> list[str]:
    """Names of the saved camera profiles (sorted); the built-in ``default`` is not listed."""
    folder = config_dir() / "cameras"
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_camera_profile(
    name_or_path: str | os.PathLike[str], image_size: tuple[int, int] | None = None
) -> CameraProfile:
    """Load a camera profile by name (config dir), by ``.json`` path, or ``"default"``.

    Args:
        name_or_path: a saved profile's name, a path to a profile JSON, or ``"default"`` (the
            built-in guess, see :func:`default_camera_profile`).
        image_size: ``(width, height)`` of the images it will be used on; intrinsics are
            rescaled when this differs from the calibrated size. None keeps the stored size.

    Raises:
        InputError: no such profile (the message lists the available ones and how to make one).
        ConfigError: the file is not a valid profile.
    """
    text = os.fspath(name_or_path)
    if text == DEFAULT_PROFILE_NAME:
        prof = default_camera_profile(image_size or DEFAULT_IMAGE_SIZE)
        return prof
    p = Path(text).expanduser()
    looks_like_path = p.suffix.lower() == ".json" or os.sep in text or "/" in text
    if looks_like_path:
        if not p.is_file():
            raise InputError(f"camera profile file not found: {p}")
    else:
        p = camera_profile_path(text)
        if not p.is_file():
            have = list_camera_profiles()
            raise InputError(
                f"no camera profile named {text!r} in {p.parent} (available: "
                f"{', '.join(have) if have else 'none'}, or 'default'); create it with "
                f"'formcoach calibrate camera --name {text} --camera 0 --board 9x6 --square-mm 25'"
            )
    prof = CameraProfile.from_dict(_read_json(p, "camera profile"), source=str(p))
    return prof.scaled(image_size) if image_size is not None else prof


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
    _mkdir(out)
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
        "created": _now_iso(),
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
        end_ns = round(seconds * 1e9)
        next_ns = 0
        n = 0
        for frame in src:
            if frame.t_ns >= end_ns:
                break
            if frame.t_ns >= next_ns:
                next_ns = frame.t_ns + round(interval_s * 1e9)
                yield f"capture {n}", frame.image
                n += 1
    finally:
        src.close()


# --------------------------------------------------------------------------------------------
# User calibration

#: Landmarks whose spread decides whether the person is still.
_STILL_LANDMARKS = np.array(
    [
        LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_ELBOW, LM.RIGHT_ELBOW, LM.LEFT_WRIST,
        LM.RIGHT_WRIST, LM.LEFT_HIP, LM.RIGHT_HIP, LM.LEFT_KNEE, LM.RIGHT_KNEE, LM.LEFT_ANKLE,
        LM.RIGHT_ANKLE,
    ],
    dtype=np.int64,
)


def joint_angles(poses: np.ndarray, min_visibility: float = 0.5) -> dict[str, np.ndarray]:
    """Angles at every :data:`~formcoach.skeleton.JOINT_TRIPLES` joint, in pixel space.

    Args:
        poses: ``(T, 33, 4)`` float64 (x px, y px, z, visibility), NaN = missing.
        min_visibility: landmarks below this visibility count as missing.

    Returns:
        ``{joint name: (T,) float64 degrees in [0, 180]}``, NaN where a point is missing or two
        coincide.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (33, 4):
        raise InputError(f"poses must be (T, 33, 4), got {p.shape}")
    from formcoach.kinematics.angles import joint_angles as _angles

    masked = p[:, :, :2].copy()
    vis = p[:, :, 3]
    masked[~(vis >= min_visibility) & np.isfinite(vis)] = np.nan
    out = _angles(masked)
    return out


def find_still_window(
    poses: np.ndarray, fps: float, still_s: float = 1.0, max_spread: float = 0.03,
    min_detected: float = 0.8,
) -> tuple[int, int] | None:
    """The earliest window of ``still_s`` seconds in which the person holds still.

    Stillness: the median over key landmarks of their positional spread (RMS distance from
    their mean position in the window) is below ``max_spread`` torso lengths (shoulder-mid to
    hip-mid distance), with at least ``min_detected`` of the frames detected.

    Returns:
        ``(start, stop)`` frame indices (stop exclusive) or None.
    """
    p = np.asarray(poses, dtype=np.float64)
    t = p.shape[0]
    win = max(3, round(still_s * fps))
    if t < win:
        return None
    xy = p[:, :, :2]
    sh = (xy[:, LM.LEFT_SHOULDER] + xy[:, LM.RIGHT_SHOULDER]) / 2
    hp = (xy[:, LM.LEFT_HIP] + xy[:, LM.RIGHT_HIP]) / 2
    torso = np.linalg.norm(sh - hp, axis=1)
    key = xy[:, _STILL_LANDMARKS]
    step = max(1, win // 5)
    for s in range(0, t - win + 1, step):
        seg = key[s : s + win]
        ok = np.all(np.isfinite(seg), axis=2)
        frames_ok = ok.all(axis=1)
        if frames_ok.mean() < min_detected:
            continue
        segf = seg[frames_ok]
        tl = float(np.median(torso[s : s + win][frames_ok]))
        if not tl > 0:
            continue
        spread = np.sqrt(((segf - segf.mean(axis=0)) ** 2).sum(axis=2).mean(axis=0))
        if float(np.median(spread)) / tl < max_spread:
            return s, s + win
    return None


@dataclass(slots=True)
class UserProfile:
    """A user's personal baseline.

    Attributes:
        name: profile name (file stem).
        neutral: ``{joint: degrees}`` median joint angles while standing still.
        rom_baseline: ``{joint: (min_deg, max_deg)}`` the user's own range per joint, from the
            latest calibration recording (robust 2nd/98th percentiles).
        rom_by_exercise: ``{exercise id: {joint: (min_deg, max_deg)}}`` per exercise recorded.
        meta: extras (source, times, still window).
    """

    name: str
    neutral: dict[str, float] = field(default_factory=dict)
    rom_baseline: dict[str, tuple[float, float]] = field(default_factory=dict)
    rom_by_exercise: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def baseline(self, exercise: str | None = None) -> dict[str, tuple[float, float]]:
        """The ROM baseline for ``exercise`` if recorded, else the general one."""
        if exercise is not None and exercise in self.rom_by_exercise:
            return self.rom_by_exercise[exercise]
        return self.rom_baseline

    def baseline_range(self, joint: str, exercise: str | None = None) -> float:
        """The baseline excursion ``max - min`` of ``joint`` in degrees, NaN when unknown.

        A joint name without side (``"knee"``) uses the mean of its left/right ranges.
        """
        base = self.baseline(exercise)
        if joint in base:
            lo, hi = base[joint]
            return float(hi - lo)
        sides = [base[f"{s}_{joint}"] for s in ("left", "right") if f"{s}_{joint}" in base]
        if sides:
            return float(np.mean([hi - lo for lo, hi in sides]))
        return math.nan

    def rom_percent(self, joint: str, rom_deg: float, exercise: str | None = None) -> float:
        """``rom_deg`` as a percentage of the user's baseline excursion of ``joint``.

        Returns NaN when the joint has no baseline (or a zero one).
        """
        r = self.baseline_range(joint, exercise)
        if not (math.isfinite(r) and r > 0 and math.isfinite(rom_deg)):
            return math.nan
        return 100.0 * float(rom_deg) / r

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""

        def rom(d: Mapping[str, tuple[float, float]]) -> dict[str, list[float]]:
            return {k: [round(float(v[0]), 3), round(float(v[1]), 3)] for k, v in d.items()}

        return {
            "format_version": FORMAT_VERSION,
            "kind": "formcoach-user",
            "name": self.name,
            "neutral": {k: round(float(v), 3) for k, v in self.neutral.items()},
            "rom_baseline": rom(self.rom_baseline),
            "rom_by_exercise": {ex: rom(d) for ex, d in self.rom_by_exercise.items()},
            "meta": self.meta,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "<dict>") -> UserProfile:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: wrong types or unknown joints.
        """

        def deg(x: Any) -> float:
            v = float(x)
            if not -720.0 <= v <= 720.0:  # NaN fails too
                raise ValueError(f"angle out of range: {v}")
            return v

        def rom(d: Any) -> dict[str, tuple[float, float]]:
            out = {}
            for k, v in dict(d).items():
                _check_joint(k, source)
                lo, hi = (deg(x) for x in v)
                out[k] = (lo, hi)
            return out

        try:
            neutral = {}
            for k, v in dict(data.get("neutral", {})).items():
                _check_joint(k, source)
                neutral[k] = deg(v)
            return cls(
                name=_profile_name(data, source),
                neutral=neutral,
                rom_baseline=rom(data.get("rom_baseline", {})),
                rom_by_exercise={
                    _clean_id(ex): rom(d)
                    for ex, d in dict(data.get("rom_by_exercise", {})).items()
                },
                meta=dict(data.get("meta", {})),
            )
        except (TypeError, ValueError, OverflowError) as e:
            raise ConfigError(f"{source}: malformed user profile ({str(e)[:100]})") from e

    def save(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write as JSON (atomic, 0600); default ``<config>/users/NAME.json``."""
        if path is None:
            folder = config_dir() / "users"
            _mkdir(folder)
            path = user_profile_path(self.name)
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _check_joint(name: str, source: str) -> None:
    if name not in JOINT_TRIPLES:
        raise ConfigError(
            f"{source}: unknown joint {name[:40]!r}; use one of {', '.join(JOINT_TRIPLES)}"
        )


def user_profile_path(name: str) -> Path:
    """``<config dir>/users/NAME.json``."""
    return config_dir() / "users" / f"{check_name(name, 'user profile')}.json"


def load_user_profile(name_or_path: str | os.PathLike[str]) -> UserProfile:
    """Load a user profile by name (config dir) or by ``.json`` path.

    Raises:
        InputError: no such profile (the message says how to create one).
        ConfigError: malformed file.
    """
    text = os.fspath(name_or_path)
    p = Path(text).expanduser()
    if p.suffix.lower() == ".json" or os.sep in text or "/" in text:
        if not p.is_file():
            raise InputError(f"user profile file not found: {p}")
    else:
        p = user_profile_path(text)
        if not p.is_file():
            raise InputError(
                f"no user profile named {text!r} in {p.parent}; create it with "
                f"'formcoach calibrate user --name {text} --camera 0'"
            )
    return UserProfile.from_dict(_read_json(p, "user profile"), source=str(p))


def calibrate_user(
    poses: np.ndarray,
    fps: float,
    name: str,
    exercise: str | None = None,
    existing: UserProfile | None = None,
    still_s: float = 1.0,
    min_rom_deg: float = 15.0,
    min_frames: int = 10,
    meta: Mapping[str, Any] | None = None,
) -> UserProfile:
    """Build (or update) a user profile from a pose track.

    Args:
        poses: ``(T, 33, 4)`` float64 pose track (px), NaN = missing.
        fps: frames per second of the track.
        name: profile name.
        exercise: exercise id the recording shows (its ROM is also stored under that id).
        existing: a profile to update (neutral and this exercise's ROM are replaced).
        still_s: length of the still window that defines the neutral stance, s.
        min_rom_deg: joints that moved less than this are left out of the ROM baseline.
        min_frames: fewest valid frames a joint needs.

    Raises:
        InputError: no still window (neutral stance) in the recording, or no person.
    """
    check_name(name, "user profile")
    p = np.asarray(poses, dtype=np.float64)
    angles = joint_angles(p)
    if not any(np.isfinite(a).sum() >= min_frames for a in angles.values()):
        raise InputError(
            f"no person found in enough frames ({p.shape[0]} frames); stand fully in view, "
            "facing or side-on to the camera"
        )
    win = find_still_window(p, fps, still_s)
    if win is None:
        raise InputError(
            f"no still moment of {still_s:g} s found for the neutral stance; stand still, arms "
            "relaxed, for 2 s at the start of the recording"
        )
    s, e = win
    neutral = {}
    for j, a in angles.items():
        seg = a[s:e]
        if np.isfinite(seg).sum() >= max(3, (e - s) // 2):
            neutral[j] = float(np.nanmedian(seg))
    rom: dict[str, tuple[float, float]] = {}
    for j, a in angles.items():
        v = a[np.isfinite(a)]
        if v.size < min_frames:
            continue
        lo, hi = (float(x) for x in np.percentile(v, [2.0, 98.0]))
        if hi - lo >= min_rom_deg:
            rom[j] = (lo, hi)
    prof = existing if existing is not None else UserProfile(name=name)
    prof = dataclasses.replace(
        prof,
        name=name,
        neutral=neutral,
        rom_baseline=rom if rom else prof.rom_baseline,
        rom_by_exercise=dict(prof.rom_by_exercise),
        meta={
            **prof.meta,
            "updated": _now_iso(),
            "still_window_s": [round(s / fps, 3), round(e / fps, 3)],
            "frames": int(p.shape[0]),
            "fps": float(fps),
            **(meta or {}),
        },
    )
    if exercise is not None and rom:
        prof.rom_by_exercise[exercise] = rom
    if exercise is not None:
        prof.meta["exercise"] = exercise
    return prof


_C = TypeVar("_C")


def _signal_joint(signal: str) -> str:
    return signal.removeprefix("left_").removeprefix("right_") if signal else signal


def personalise(
    config: _C, profile: UserProfile, exercise: str | None = None, fraction: float = 0.5,
    floor_deg: float = 10.0,
) -> _C:
    """Adapt a rep counter's ``[count]`` config to the user's own range of motion.

    A rep must cover ``fraction`` of the user's baseline excursion of the counted joint; the
    result (``min_rom``, or ``min_rom_deg`` in raw TOML dicts) never exceeds the pack's value
    (a user with a big range keeps the default)
    and never drops below ``floor_deg`` (noise is not a rep). An ``expected_rom_deg`` field, when
    the config has one, is set to the baseline excursion. Without a baseline for the joint the
    config is returned unchanged.

    Args:
        config: a mapping or dataclass (e.g. :class:`formcoach.exercises.CountConfig`) with
            ``signal`` (joint name, side-less allowed) and ``min_rom`` / ``min_rom_deg``.
        profile: the user's profile.
        exercise: exercise id, to prefer that exercise's recorded ROM.

    Returns:
        A new config of the same type (the input is not modified).
    """
    get: Callable[[str], Any]
    if isinstance(config, Mapping):
        get = config.get
    elif dataclasses.is_dataclass(config) and not isinstance(config, type):
        def get(k: str) -> Any:
            return getattr(config, k, None)
    else:
        raise TypeError(f"personalise needs a mapping or dataclass config, got {type(config)}")
    signal = str(get("signal") or "")
    r = profile.baseline_range(signal, exercise)
    if not math.isfinite(r):
        r = profile.baseline_range(_signal_joint(signal), exercise)
    if not (math.isfinite(r) and r > 0):
        log.info("no ROM baseline for %r in profile %r; thresholds unchanged", signal, profile.name)
        return config
    changes: dict[str, Any] = {}
    for key in ("min_rom", "min_rom_deg"):
        default_min = get(key)
        if default_min is not None:
            changes[key] = float(min(float(default_min), max(floor_deg, fraction * r)))
    if get("expected_rom_deg") is not None or (
        isinstance(config, Mapping) and "expected_rom_deg" in config
    ):
        changes["expected_rom_deg"] = float(r)
    if isinstance(config, Mapping):
        return {**config, **changes}  # type: ignore[return-value]
    return dataclasses.replace(config, **changes)  # type: ignore[type-var]


# --------------------------------------------------------------------------------------------
# Pose tracks for user calibration


def track_from_video(path: str | os.PathLike[str], backend: str = "onnx") -> PoseTrack:
    """Run the pose model over every frame of a video (see :func:`formcoach.pose.track.estimate_track`)."""
    from formcoach.pose.track import estimate_track

    return estimate_track(path, backend)


def track_from_camera(index: int, seconds: float = 15.0, backend: str = "onnx") -> PoseTrack:
    """Record ``seconds`` of poses from camera ``index`` (newest frame wins); a :class:`PoseTrack`.

    Raises:
        InputError: the camera cannot be opened.
        SourceError: the camera stops delivering frames.
    """
    from formcoach.pose import create_estimator
    from formcoach.sources import CameraSource
    from formcoach.types import PoseResult, PoseTrack

    src = CameraSource(index)
    est = create_estimator(backend)
    results: list[PoseResult] = []
    try:
        end_ns = round(seconds * 1e9)
        for frame in src:
            if frame.t_ns >= end_ns:
                break
            results.append(est.process(frame.image, frame.t_ns))
    finally:
        src.close()
        est.close()
    if len(results) < 2:
        raise InputError(f"camera {index} gave {len(results)} frames in {seconds:g} s; try again")
    dur = (results[-1].t_ns - results[0].t_ns) / 1e9
    fps = (len(results) - 1) / dur if dur > 0 else src.fps
    return PoseTrack.from_results(
        results, fps, src.size, backend, getattr(est, "model_sha256", ""),
        {"source": f"camera {index}"},
    )


class UndistortingEstimator:
    """A pose estimator whose landmarks are undistorted through a camera profile.

    Wraps any :class:`~formcoach.pose.PoseEstimator`; the profile is rescaled to each frame's
    size (cached per size). Pixel x, y are corrected; z, visibility and NaN are kept. World
    landmarks come from the model's own metric estimate and are left as they are.

    Raises:
        InputError / ConfigError: from :func:`load_camera_profile` on the first frame.
    """

    def __init__(self, inner: Any, profile: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.profile = profile
        self.name: str = str(inner.name)
        self.model_sha256: str = str(inner.model_sha256)
        self.running_mode: RunningMode = inner.running_mode
        self._by_size: dict[tuple[int, int], CameraProfile] = {}
        load_camera_profile(profile)  # fail now, not on the first frame

    def process(self, image_bgr: np.ndarray, t_ns: int) -> Any:
        res = self.inner.process(image_bgr, t_ns)
        size = (int(image_bgr.shape[1]), int(image_bgr.shape[0]))
        prof = self._by_size.get(size)
        if prof is None:
            prof = self._by_size[size] = load_camera_profile(self.profile, size)
        res.landmarks = prof.undistort_poses(res.landmarks)
        return res

    def reset(self) -> None:
        self.inner.reset()

    def close(self) -> None:
        self.inner.close()
