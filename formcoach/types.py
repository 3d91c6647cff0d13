"""Typed values that flow between formcoach's stages.

Conventions (all stages):

* Images are ``(H, W, 3)`` uint8 in **BGR** order (OpenCV's), unless a name says ``rgb``.
* Poses are ``(33, 4)`` float64: x, y in **pixels** of the analysed image, z (BlazePose relative
  depth, same scale as x), visibility in [0, 1]. A missing joint or person is NaN.
* World landmarks are ``(33, 3)`` float64 metres, hip-centred (NaN where unavailable).
* Time is integer **nanoseconds** (``t_ns``) or a frame index plus a float ``fps``; fps is never
  truncated to an int.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import InputError
from formcoach.skeleton import NUM_LANDMARKS, empty_pose

NS_PER_S = 1_000_000_000


def frame_time_ns(index: int, fps: float) -> int:
    """Timestamp in ns of frame ``index`` at ``fps`` frames/s (exact rounding, no int fps)."""
    return round(index * NS_PER_S / fps)


@dataclass(slots=True)
class Frame:
    """One image from a :class:`~formcoach.sources.FrameSource`.

    Attributes:
        image: ``(H, W, 3)`` uint8, BGR.
        index: 0-based frame number within the source.
        t_ns: presentation time in ns since the source started (monotonic, increasing).
    """

    image: np.ndarray
    index: int
    t_ns: int

    @property
    def size(self) -> tuple[int, int]:
        """Image size as ``(width, height)`` in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(slots=True)
class PoseResult:
    """The pose of the coached person in one frame.

    Attributes:
        landmarks: ``(33, 4)`` float64 x px, y px, z, visibility; all NaN when nobody is found.
        world: ``(33, 3)`` float64 metres (hip-centred) or all NaN where the backend has none.
        t_ns: timestamp of the frame it came from, ns.
        image_size: ``(width, height)`` of the analysed image, px.
        score: person presence score in [0, 1]; 0 when nobody is found.
    """

    landmarks: np.ndarray
    world: np.ndarray
    t_ns: int
    image_size: tuple[int, int]
    score: float = 0.0

    def __post_init__(self) -> None:
        if self.landmarks.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"landmarks must be (33, 4), got {self.landmarks.shape}")
        if self.world.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"world must be (33, 3), got {self.world.shape}")

    @property
    def detected(self) -> bool:
        """True when a person was found in this frame."""
        return bool(np.isfinite(self.landmarks[:, 0]).any())

    @classmethod
    def empty(cls, t_ns: int, image_size: tuple[int, int]) -> PoseResult:
        """The result for a frame with no person: every value NaN, score 0."""
        return cls(
            landmarks=empty_pose(),
            world=np.full((NUM_LANDMARKS, 3), np.nan),
            t_ns=t_ns,
            image_size=image_size,
            score=0.0,
        )


@dataclass(slots=True)
class PoseTrack:
    """A sequence of poses from one video, as saved by ``formcoach poses``.

    Attributes:
        poses: ``(T, 33, 4)`` float64, as :class:`PoseResult.landmarks`.
        world: ``(T, 33, 3)`` float64 metres, NaN where unavailable.
        t_ns: ``(T,)`` int64 frame timestamps, ns.
        fps: nominal frames per second of the source (float, e.g. 29.97).
        image_size: ``(width, height)`` px.
        backend: pose backend name (``"mediapipe"`` or ``"onnx"``), or another importer's name.
        model_sha256: sha256 of the model file(s) that produced the track.
        meta: free-form JSON-serialisable extras (source file, its sha256, ...).
    """

    poses: np.ndarray
    world: np.ndarray
    t_ns: np.ndarray
    fps: float
    image_size: tuple[int, int]
    backend: str = "unknown"
    model_sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.poses.shape[0] if self.poses.ndim == 3 else -1
        if self.poses.shape != (t, NUM_LANDMARKS, 4):
            raise ValueError(f"poses must be (T, 33, 4), got {self.poses.shape}")
        if self.world.shape != (t, NUM_LANDMARKS, 3):
            raise ValueError(f"world must be (T, 33, 3), got {self.world.shape}")
        if self.t_ns.shape != (t,):
            raise ValueError(f"t_ns must be (T,), got {self.t_ns.shape}")
        if not (np.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    @property
    def detection_rate(self) -> float:
        """Fraction of frames with a person, in [0, 1] (0 for an empty track)."""
        if len(self) == 0:
            return 0.0
        return float(np.isfinite(self.poses[:, :, 0]).any(axis=1).mean())

    @classmethod
    def from_results(
        cls,
        results: list[PoseResult],
        fps: float,
        image_size: tuple[int, int],
        backend: str,
        model_sha256: str = "",
        meta: dict[str, Any] | None = None,
    ) -> PoseTrack:
        """Stack per-frame results into a track."""
        n = len(results)
        poses = np.stack([r.landmarks for r in results]) if n else np.zeros((0, NUM_LANDMARKS, 4))
        world = np.stack([r.world for r in results]) if n else np.zeros((0, NUM_LANDMARKS, 3))
        t_ns = np.array([r.t_ns for r in results], dtype=np.int64)
        return cls(poses, world, t_ns, float(fps), image_size, backend, model_sha256, meta or {})

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the track as ``.npz`` atomically (temp file, then rename)."""
        path = Path(path)
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            poses=self.poses,
            world=self.world,
            t_ns=self.t_ns,
            fps=np.float64(self.fps),
            image_size=np.array(self.image_size, dtype=np.int64),
            backend=np.str_(self.backend),
            model_sha256=np.str_(self.model_sha256),
            meta=np.str_(json.dumps(self.meta)),
            format_version=np.int64(1),
        )
        from formcoach.io_utils import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PoseTrack:
        """Read a track written by :meth:`save`; raises :class:`InputError` on a bad file."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"pose track not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    poses=np.asarray(z["poses"], dtype=np.float64),
                    world=np.asarray(z["world"], dtype=np.float64),
                    t_ns=np.asarray(z["t_ns"], dtype=np.int64),
                    fps=float(z["fps"]),
                    image_size=(int(z["image_size"][0]), int(z["image_size"][1])),
                    backend=str(z["backend"]),
                    model_sha256=str(z["model_sha256"]),
                    meta=json.loads(str(z["meta"])),
                )
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as e:
            why = f"missing field {e}" if isinstance(e, KeyError) else type(e).__name__
            raise InputError(
                f"not a formcoach pose track (.npz from 'formcoach poses'): {path} ({why})"
            ) from e


@dataclass(slots=True)
class RepEvent:
    """One repetition found by the :class:`~formcoach.reps.RepSegmenter`.

    Frames index the analysed sequence; ``*_ns`` are the same instants in ns. Angles in degrees
    of the counting signal. ``partial`` marks a rep cut by the clip edge but still counted.
    """

    index: int
    start_frame: int
    bottom_frame: int
    end_frame: int
    start_ns: int
    bottom_ns: int
    end_ns: int
    rom_deg: float
    min_deg: float
    max_deg: float
    side: str = "left"
    partial: bool = False

    @property
    def start_s(self) -> float:
        return self.start_ns / NS_PER_S

    @property
    def bottom_s(self) -> float:
        return self.bottom_ns / NS_PER_S

    @property
    def end_s(self) -> float:
        return self.end_ns / NS_PER_S


@dataclass(slots=True)
class Fault:
    """A form fault detected by a rule at one instant (or for one rep).

    ``value`` is the measured feature (degrees or a unitless ratio), ``threshold`` the rule's.
    """

    rule_id: str
    exercise: str
    cue: str
    severity: int
    t_ns: int
    frame_index: int
    value: float
    threshold: float
    rep_index: int | None = None


@dataclass(slots=True)
class Cue:
    """A cue to speak/show: text, priority (higher wins), and when its fault happened (ns)."""

    text: str
    priority: int
    rule_id: str
    fault_t_ns: int
    created_ns: int
