"""Saved profiles: a camera's intrinsics and lens distortion, and a user's baseline angles.

* :class:`CameraProfile`: pinhole ``fx, fy, cx, cy`` (px) and OpenCV distortion ``(k1, k2, p1,
  p2, k3)`` of one camera at one image size, saved as ``<config dir>/cameras/NAME.json``;
  :meth:`CameraProfile.undistort_poses` maps landmark pixels to where an ideal pinhole camera
  would have put them. Made by :mod:`formcoach.calibration.fit`.
* :class:`UserProfile`: a user's neutral joint angles and range of motion per joint (degrees),
  saved as ``<config dir>/users/NAME.json``. Made by :mod:`formcoach.calibration.user`.

The config dir is ``platformdirs.user_config_dir("formcoach")``, or ``$FORMCOACH_CONFIG_DIR``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import ConfigError, InputError
from formcoach.io_utils import atomic_write_text, config_dir
from formcoach.skeleton import JOINT_TRIPLES

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
#: Horizontal field of view assumed by the default (uncalibrated) profile, degrees.
DEFAULT_HFOV_DEG = 70.0
#: Image size the default profile is written for; it is rescaled to the real size on load.
DEFAULT_IMAGE_SIZE = (1280, 720)
#: Name of the built-in profile (a guess, not a calibration).
DEFAULT_PROFILE_NAME = "default"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# --------------------------------------------------------------------------------------------
# Config directory and names


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


def now_iso() -> str:
    """The current UTC time, to the second, ISO 8601 (for profile metadata)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def ensure_dir(path: Path) -> None:
    """Create ``path`` (and parents, mode 0700) if missing.

    Raises:
        InputError: it cannot be created.
    """
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
            ensure_dir(folder)
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
# User profile


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
            ensure_dir(folder)
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
