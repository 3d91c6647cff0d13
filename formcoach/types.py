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
import math
import os
import zipfile
import zlib
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from formcoach.errors import InputError
from formcoach.skeleton import NUM_LANDMARKS, empty_pose
from formcoach.text import MAX_JSON_DEPTH, clean_text, json_depth

NS_PER_S = 1_000_000_000

#: Most frames a saved pose track may hold: 4 h at 30 fps (2 h at 60 fps); its poses and world
#: arrays then take about 800 MB. A file claiming more is refused from its headers.
MAX_TRACK_FRAMES = 432_000
#: Most members in a pose-track ``.npz`` (formcoach writes 10).
MAX_TRACK_MEMBERS = 32
#: Largest text member (``meta``, ``backend``, ``model_sha256``, ``model``) of a pose track, bytes.
MAX_TRACK_TEXT_BYTES = 1 << 20
#: Largest frame rate / image side accepted in a pose track.
MAX_TRACK_FPS = 1000.0
MAX_IMAGE_SIDE = 100_000


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
        back_bulge: the back's outline bowing beyond its chord, per hip-shoulder length
            (``+`` rounded; :func:`formcoach.pose.silhouette.back_bulge`); NaN where the
            backend measured no silhouette (not asked for, or no bent hip in this frame).
    """

    landmarks: np.ndarray
    world: np.ndarray
    t_ns: int
    image_size: tuple[int, int]
    score: float = 0.0
    back_bulge: float = float("nan")

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
        model: the BlazePose rung that produced it (``"lite"``, ``"full"``, ``"heavy"``);
            ``""`` when unknown (another importer, or a track saved before tracks recorded it).
        back_bulge: ``(T,)`` float64, as :attr:`PoseResult.back_bulge` (None: all NaN, as in
            a track saved without silhouettes).
    """

    poses: np.ndarray
    world: np.ndarray
    t_ns: np.ndarray
    fps: float
    image_size: tuple[int, int]
    backend: str = "unknown"
    model_sha256: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    back_bulge: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = self.poses.shape[0] if self.poses.ndim == 3 else -1
        if self.back_bulge is None:
            self.back_bulge = np.full(max(t, 0), np.nan)
        if self.back_bulge.shape != (t,):
            raise ValueError(f"back_bulge must be (T,), got {self.back_bulge.shape}")
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
        model: str = "",
    ) -> PoseTrack:
        """Stack per-frame results into a track."""
        n = len(results)
        poses = np.stack([r.landmarks for r in results]) if n else np.zeros((0, NUM_LANDMARKS, 4))
        world = np.stack([r.world for r in results]) if n else np.zeros((0, NUM_LANDMARKS, 3))
        t_ns = np.array([r.t_ns for r in results], dtype=np.int64)
        bulge = np.array([r.back_bulge for r in results], dtype=np.float64)
        return cls(poses, world, t_ns, float(fps), image_size, backend, model_sha256, meta or {},
                   model, bulge)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the track as ``.npz`` atomically (temp file, then rename)."""
        path = Path(path)
        buf = io.BytesIO()
        arrays: dict[str, Any] = {
            "poses": self.poses,
            "world": self.world,
            "t_ns": self.t_ns,
            "fps": np.float64(self.fps),
            "image_size": np.array(self.image_size, dtype=np.int64),
            "backend": np.str_(self.backend),
            "model_sha256": np.str_(self.model_sha256),
            "model": np.str_(self.model),
            "meta": np.str_(json.dumps(self.meta)),
            "format_version": np.int64(1),
        }
        if self.back_bulge is not None and np.isfinite(self.back_bulge).any():
            arrays["back_bulge"] = self.back_bulge  # optional: tracks without it read as NaN
        np.savez_compressed(buf, **arrays)
        from formcoach.io_utils import atomic_write_bytes

        atomic_write_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PoseTrack:
        """Read a track written by :meth:`save`; raises :class:`InputError` on a bad file.

        The zip's members and each array's header (shape, dtype, declared size) are checked
        against :data:`MAX_TRACK_FRAMES` and the other limits before any array is read, so a
        small crafted file cannot make it allocate gigabytes; a corrupt zip (bad CRC,
        truncated) is an InputError, not a crash.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(clean_text(f"pose track not found: {path}", False))
        try:
            with zipfile.ZipFile(path) as zf:
                arrays = _read_track_members(zf)
            meta_text = str(arrays["meta"][()])
            if json_depth(meta_text) > MAX_JSON_DEPTH:
                raise _TrackError(f"'meta' nested deeper than {MAX_JSON_DEPTH} levels")
            meta = json.loads(meta_text)
            if not isinstance(meta, dict):
                raise _TrackError("'meta' is not a JSON object")
            fps = float(arrays["fps"].reshape(-1)[0])
            if not (math.isfinite(fps) and 0 < fps <= MAX_TRACK_FPS):
                raise _TrackError(f"fps must be in (0, {MAX_TRACK_FPS:g}], got {fps}")
            w, h = (int(v) for v in arrays["image_size"])
            if not (0 <= w <= MAX_IMAGE_SIDE and 0 <= h <= MAX_IMAGE_SIDE):
                raise _TrackError(f"image_size out of range: {w}x{h}")
            return cls(
                poses=np.asarray(arrays["poses"], dtype=np.float64),
                world=np.asarray(arrays["world"], dtype=np.float64),
                t_ns=np.asarray(arrays["t_ns"], dtype=np.int64),
                fps=fps,
                image_size=(w, h),
                backend=clean_text(str(arrays["backend"][()]), False),
                model_sha256=clean_text(str(arrays["model_sha256"][()]), False),
                meta=meta,
                model=clean_text(str(arrays["model"][()]), False) if "model" in arrays else "",
                back_bulge=(np.asarray(arrays["back_bulge"], dtype=np.float64)
                            if "back_bulge" in arrays else None),
            )
        except (_TrackError, OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile,
                zlib.error, NotImplementedError, RecursionError) as e:
            if isinstance(e, KeyError):
                why = f"missing field {e}"
            elif isinstance(e, _TrackError | zipfile.BadZipFile):
                why = str(e)
            else:
                why = f"{type(e).__name__}: {str(e)[:80]}"
            raise InputError(clean_text(
                f"not a formcoach pose track (.npz from 'formcoach poses'): {path} ({why})",
                False)) from e


class _TrackError(ValueError):
    """A pose-track member breaks a limit or the layout (message: which and why)."""


#: Pose-track members: name -> (dtype kinds accepted, shape pattern; "T" = the frame count).
_TRACK_LAYOUT: dict[str, tuple[str, tuple[Any, ...] | None]] = {
    "poses": ("f", ("T", NUM_LANDMARKS, 4)),
    "world": ("f", ("T", NUM_LANDMARKS, 3)),
    "t_ns": ("iu", ("T",)),
    "fps": ("fiu", None),  # one number: shape () or (1,)
    "image_size": ("iu", (2,)),
    "backend": ("U", ()),
    "model_sha256": ("U", ()),
    "meta": ("U", ()),
}
#: Members a track may lack (written since the model ladder; older tracks have none).
_OPTIONAL_TRACK_LAYOUT: dict[str, tuple[str, tuple[Any, ...] | None]] = {
    "model": ("U", ()),
    "back_bulge": ("f", ("T",)),
}


def read_npy_header(f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]] | None:
    """Shape and dtype from the ``.npy`` header at ``f``'s position (left just past it), or
    None for an unknown format version; the array data is not read.

    Raises:
        ValueError: not a valid ``.npy`` header.
    """
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        return None
    return tuple(shape), dtype


def npy_member_header(zf: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of member ``name``.npy of an ``.npz``, read from its header only.

    Raises:
        ValueError: the declared uncompressed size differs from what the header describes,
            or the header is not a plain .npy header (the array data is not read).
        KeyError: no such member.
    """
    info = zf.getinfo(f"{name}.npy")
    with zf.open(info) as f:
        header = read_npy_header(f)
        if header is None:
            raise _TrackError(f"'{name}' has an unknown .npy version")
        shape, dtype = header
        header_len = f.tell()
    if dtype.hasobject:
        raise _TrackError(f"'{name}' holds Python objects")
    count = math.prod(shape)
    if info.file_size != header_len + count * dtype.itemsize:
        raise _TrackError(f"'{name}' declares {info.file_size} bytes but its header describes "
                          f"{header_len + count * dtype.itemsize}")
    return shape, dtype


def _read_track_members(zf: zipfile.ZipFile) -> dict[str, np.ndarray]:
    """Check every member's header against :data:`_TRACK_LAYOUT` and the limits, then read."""
    if len(zf.infolist()) > MAX_TRACK_MEMBERS:
        raise _TrackError(f"{len(zf.infolist())} members (a track has 10)")
    names = set(zf.namelist())
    for name in _TRACK_LAYOUT:
        if f"{name}.npy" not in names:
            raise KeyError(name)
    layout = {**_TRACK_LAYOUT,
              **{k: v for k, v in _OPTIONAL_TRACK_LAYOUT.items() if f"{k}.npy" in names}}
    frames: int | None = None
    for name, (kinds, pattern) in layout.items():
        shape, dtype = npy_member_header(zf, name)
        if dtype.kind not in kinds or dtype.itemsize > (
                MAX_TRACK_TEXT_BYTES if kinds == "U" else 8):
            raise _TrackError(f"'{name}' has dtype {dtype}")
        if pattern is None:
            ok = math.prod(shape) == 1 and len(shape) <= 1
        else:
            ok = len(shape) == len(pattern) and all(
                p == "T" or p == n for p, n in zip(pattern, shape, strict=True))
            if ok and "T" in pattern:
                t = shape[pattern.index("T")]
                if t > MAX_TRACK_FRAMES:
                    raise _TrackError(f"'{name}' claims {t} frames; the limit is "
                                      f"{MAX_TRACK_FRAMES} (4 h at 30 fps)")
                ok = frames is None or t == frames
                frames = t
        if not ok:
            raise _TrackError(f"'{name}' has shape {shape}, expected "
                              f"{pattern if pattern is not None else 'one number'}")
    out = {}
    for name in layout:
        with zf.open(f"{name}.npy") as f:
            out[name] = np.lib.format.read_array(f, allow_pickle=False)
    return out


@dataclass(frozen=True, slots=True)
class RepProgress:
    """The rep in progress, as far as the segmenter has decided (its lag behind).

    Attributes:
        start_frame: last frame at the top before the descent began (estimate; the counted
            rep's ``start_frame`` is refined by the ease lead).
        bottom_frame: the turnaround once the body is on its way back up, else None.
        frame: the newest frame the segmenter has decided.
        deep_enough: the excursion so far already spans what a counted rep needs (so this
            is a rep, not a wiggle or the start of an attempt).
        window_start: where the rep's frames begin as seen now: the top it left, by the same
            scan back as the counted rep's start (a setup step or a walk-in before it is not
            the rep's); -1: ``start_frame``. Rules judge the rep under way from here.
        turn_frame: the turnaround as soon as the signal has come back half the way that
            confirms it (``bottom_frame`` once confirmed; None while still going down). Not yet
            certain: a short rise and a further descent moves it.
        still_frame: the lowest point so far while the signal has held still there for a tenth
            of a second (a pause at the bottom, or one on the way), or ``turn_frame``.
    """

    start_frame: int
    bottom_frame: int | None
    frame: int
    deep_enough: bool = False
    window_start: int = -1
    turn_frame: int | None = None
    still_frame: int | None = None

    @property
    def first_frame(self) -> int:
        """The first frame of the rep under way (``window_start`` when known)."""
        return self.window_start if self.window_start >= 0 else self.start_frame


@dataclass(slots=True)
class RepEvent:
    """One repetition found by the :class:`~formcoach.reps.RepSegmenter`.

    Frames index the analysed sequence; ``*_ns`` are the same instants in ns. Angles in degrees
    of the counting signal. ``partial`` marks a rep cut by the clip edge but still counted.

    Boundaries (see :mod:`formcoach.reps` for the exact rules): ``start`` the body leaves the
    top, ``bottom`` the turnaround, ``end`` the body is back at the top (or the next rep's start,
    a long gap or the end of the stream if it never gets there). ``counted`` is the moment the
    rep was counted, on the way up, ``counted <= end``: live feedback (praise, rep judging, the
    rep count) happens then.

    Streaming: the segmenter returns the event at ``counted`` with ``end == counted``
    (provisional) and then moves ``end_frame``/``end_ns`` of **the same object** later as frames
    arrive, until the body is back at the top, the next rep starts, a long gap, or
    ``finish()``. Code that acts when a rep is emitted must read ``counted_*``; only after
    ``finish()`` is every ``end_*`` final. For holds, ``counted == end``.

    Raises:
        ValueError: ``counted_frame > end_frame`` or ``counted_ns > end_ns``.
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
    _: KW_ONLY
    counted_frame: int
    counted_ns: int

    def __post_init__(self) -> None:
        if self.counted_frame > self.end_frame or self.counted_ns > self.end_ns:
            raise ValueError(
                f"a rep is counted at or before its end, got counted frame {self.counted_frame}"
                f" ({self.counted_ns} ns) after end frame {self.end_frame} ({self.end_ns} ns)")

    @property
    def start_s(self) -> float:
        return self.start_ns / NS_PER_S

    @property
    def bottom_s(self) -> float:
        return self.bottom_ns / NS_PER_S

    @property
    def end_s(self) -> float:
        return self.end_ns / NS_PER_S


@dataclass(frozen=True, slots=True)
class NotCounted:
    """A stretch the counter could not count through because part of the body was out of view
    (see :mod:`formcoach.coach.framing`): reps there may be missing, never made up.

    Attributes:
        start_frame, end_frame: first and last frame of the stretch (inclusive).
        start_ns, end_ns: the same instants, ns.
        reason: code (``head_out``, ``feet_out``, ``knees_hidden``, ``feet_hidden``, ``too_close``,
            ``unreliable``).
        text: the reason in words ("head out of frame").
    """

    start_frame: int
    end_frame: int
    start_ns: int
    end_ns: int
    reason: str
    text: str

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / NS_PER_S


@dataclass(slots=True)
class Attempt:
    """A movement that began a rep and turned around without reaching the counted range.

    Found by the :class:`~formcoach.reps.RepSegmenter` (see ``ATTEMPT_MIN_FRAC`` there); never
    counted as a rep. Frames index the analysed sequence, ``*_ns`` are the same instants.

    Attributes:
        index: 0-based attempt number in the set.
        start_frame, bottom_frame, end_frame: left the top, turned around, back up.
        rom: excursion reached, signal units (degrees for angles).
        needed: excursion a rep needed at that moment, same units.
        after_rep: reps counted before it (it came after rep ``after_rep``, 1-based).
    """

    index: int
    start_frame: int
    bottom_frame: int
    end_frame: int
    start_ns: int
    bottom_ns: int
    end_ns: int
    rom: float
    needed: float
    after_rep: int = 0

    @property
    def reached_frac(self) -> float:
        """Fraction of the needed excursion reached, in [0, 1)."""
        return self.rom / self.needed if self.needed > 0 else float("nan")


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


@dataclass(slots=True)
class FrameState:
    """What the coach knows after one frame.

    Attributes:
        index: 0-based frame index in the stream.
        t_ns: frame timestamp, ns.
        pose: the pose the frame was analysed from.
        features: ``{feature name: value}`` (degrees / torso lengths / ratios; NaN unmeasurable).
        signal: the counting signal for this frame (signal units, NaN when unmeasurable).
        rep_count: reps counted so far.
        phase: ``idle``, ``eccentric``, ``bottom``, ``concentric`` or ``top`` (of the segmenter's
            decided frame, which lags ``Coach.lag`` frames behind).
        new_reps: reps counted at this frame.
        view: camera view of the person (``front``/``side``/``45``/``back``/``unknown``), detected
            once per frame for every stage that needs it (rules, setup gate, display).
        faults: form faults the rules reported at this frame (frame rules, and rep rules of
            ``new_reps``).
        new_attempts: attempts (movements short of a rep, not counted) found at this frame.
        framing: what of the body is out of view in this frame (a
            :data:`formcoach.coach.framing.REASONS` code), or None.
        dropped: the pose was implausible (a collapsing estimate) and was not used.
    """

    index: int
    t_ns: int
    pose: PoseResult
    features: dict[str, float]
    signal: float
    rep_count: int
    phase: str
    new_reps: list[RepEvent] = field(default_factory=list)
    view: str = "unknown"
    faults: list[Fault] = field(default_factory=list)
    new_attempts: list[Attempt] = field(default_factory=list)
    framing: str | None = None
    dropped: bool = False
