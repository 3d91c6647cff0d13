"""The one pipeline behind ``analyze``, ``live``, ``demo`` and ``bench``.

Per frame: pose -> named features -> counting signal (side chosen per the exercise pack) ->
:class:`~formcoach.reps.RepSegmenter` -> observers (e.g. the rules engine). Live and offline
differ only in where poses come from::

    coach = Coach(load_exercise("squat"), fps=30.0, observers=[engine])
    for pose in poses:                 # PoseResult per frame
        state = coach.update(pose)     # FrameState: features, signal, rep_count, phase, new_reps
    result = coach.finish()            # AnalysisResult (flushes reps at the end of the stream)
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from formcoach.exercises import Exercise
from formcoach.kinematics.features import FEATURES, FeatureExtractor, sided
from formcoach.reps import RepSegmenter
from formcoach.skeleton import NUM_LANDMARKS
from formcoach.types import PoseResult, PoseTrack, RepEvent

log = logging.getLogger(__name__)

__all__ = [
    "AnalysisResult",
    "Coach",
    "FrameState",
    "Observer",
    "analyze_track",
    "analyze_video",
    "resolve_feature",
]

#: Visibility below which a side's landmarks are treated as guesses when ``side = "auto"``.
_VIS_FLOOR = 0.3


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
        new_reps: reps completed at this frame.
    """

    index: int
    t_ns: int
    pose: PoseResult
    features: dict[str, float]
    signal: float
    rep_count: int
    phase: str
    new_reps: list[RepEvent] = field(default_factory=list)


@runtime_checkable
class Observer(Protocol):
    """Receives every frame state and every completed rep (e.g. the rules engine)."""

    def on_frame(self, state: FrameState) -> None: ...

    def on_rep(self, rep: RepEvent, state: FrameState) -> None: ...


@dataclass(slots=True)
class AnalysisResult:
    """Everything an offline analysis produced.

    Attributes:
        exercise: the pack used.
        fps: nominal frames per second.
        reps: counted reps, in order.
        features: ``{name: (T,) float64}``.
        signal: ``(T,)`` counting signal.
        t_ns: ``(T,)`` int64 timestamps.
        poses: ``(T, 33, 4)`` float64 poses (pixels, NaN = missing).
        pose_frames: frames with a person.
        frames: frames analysed.
        backend: pose backend name.
        rep_metrics: per rep, ``{metric feature: range (max - min) over the rep}`` plus
            ``<name>_min`` / ``<name>_max``.
    """

    exercise: Exercise
    fps: float
    reps: list[RepEvent]
    features: dict[str, np.ndarray]
    signal: np.ndarray
    t_ns: np.ndarray
    poses: np.ndarray
    pose_frames: int
    frames: int
    backend: str
    rep_metrics: list[dict[str, float]] = field(default_factory=list)

    @property
    def rep_count(self) -> int:
        return len(self.reps)

    @property
    def duration_s(self) -> float:
        """Time from first to last frame plus one frame, s."""
        if self.frames == 0:
            return 0.0
        return float((self.t_ns[-1] - self.t_ns[0]) / 1e9 + 1.0 / self.fps)


def resolve_feature(name: str) -> tuple[str, ...]:
    """``("left_knee", "right_knee")`` for a side-less name, ``(name,)`` for a plain feature.

    Raises:
        KeyError: unknown feature.
    """
    pair = sided(name)
    if pair is not None:
        return pair
    if name in FEATURES:
        return (name,)
    raise KeyError(f"unknown feature {name!r}")


def _min_vis(pose: np.ndarray, idx: list[int]) -> float:
    """Smallest visibility among landmarks ``idx`` (1.0 when there are none to check)."""
    v = 1.0
    for j in idx:
        x = pose[j, 3]
        if not x >= v:  # also catches NaN
            v = x
    return float(v)


class _SideMixer:
    """Combines a sided feature's left/right values per the pack's ``side`` setting.

    The visibility it reports is that of the better-seen side (min over the feature's
    landmarks); the coach treats frames below the pack's ``min_visibility`` as gaps.
    """

    def __init__(self, name: str, side: str, min_vis: float) -> None:
        self.names = resolve_feature(name)
        self.side = side
        self.min_vis = min_vis
        feats = [FEATURES[n] for n in self.names]
        self._idx = [list(f.landmarks) for f in feats]

    def __call__(self, feats: dict[str, float], pose: np.ndarray) -> tuple[float, float, float]:
        """Returns (value, left weight in [0, 1], visibility) for one frame."""
        if len(self.names) == 1:
            return feats[self.names[0]], 0.5, _min_vis(pose, self._idx[0])
        lv, rv = feats[self.names[0]], feats[self.names[1]]
        vl, vr = _min_vis(pose, self._idx[0]), _min_vis(pose, self._idx[1])
        if self.side == "left":
            return lv, 1.0, vl
        if self.side == "right":
            return rv, 0.0, vr
        if lv != lv or rv != rv:
            return (lv, 1.0, vl) if lv == lv else (rv, 0.0, vr)
        if self.side == "both":
            return 0.5 * (lv + rv), 0.5, max(vl, vr)
        # auto: weight each side by how clearly it is seen.
        wl = 1e-3 + (vl - _VIS_FLOOR) ** 2 if vl > _VIS_FLOOR else 1e-3
        wr = 1e-3 + (vr - _VIS_FLOOR) ** 2 if vr > _VIS_FLOOR else 1e-3
        a = wl / (wl + wr)
        return a * lv + (1.0 - a) * rv, a, max(vl, vr)


class Coach:
    """Per-frame pipeline: features, counting signal, rep segmenter, observers.

    Args:
        exercise: the rule pack.
        fps: nominal frames per second (float) of the stream.
        observers: notified after every frame (``on_frame``) and every rep (``on_rep``).
        keep_history: store per-frame poses/features for :meth:`finish` (off for endless live
            sessions: then ``finish`` returns empty arrays but still the reps).
    """

    def __init__(
        self,
        exercise: Exercise,
        fps: float,
        observers: Sequence[Observer] = (),
        keep_history: bool = True,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        self.exercise = exercise
        self.fps = float(fps)
        self.observers = list(observers)
        self.keep_history = keep_history
        cfg = exercise.count
        self.extractor = FeatureExtractor(self.fps)
        self._mixer = _SideMixer(cfg.signal, cfg.side, cfg.min_visibility)
        self._gate = _SideMixer(cfg.gate, "both", cfg.min_visibility) if cfg.gate else None
        self.segmenter = RepSegmenter(cfg, self.fps, kind=exercise.kind, side=cfg.side)
        self.index = 0
        self.pose_frames = 0
        self.backend = "unknown"
        self._poses: list[np.ndarray] = []
        self._rows: list[list[float]] = []
        self._t: list[int] = []
        self._signal: list[float] = []
        self._lw: list[float] = []
        self._last: FrameState | None = None

    @property
    def lag(self) -> int:
        """Frames the segmenter looks ahead before deciding a frame."""
        return self.segmenter.lag

    @property
    def rep_count(self) -> int:
        return self.segmenter.count

    def _signal_of(
        self, feats: dict[str, float], landmarks: np.ndarray
    ) -> tuple[float, float, bool]:
        """(signal value, left-side weight, gated) of one frame."""
        value, lw, vis = self._mixer(feats, landmarks)
        gated = False
        cfg = self.exercise.count
        if not vis >= cfg.min_visibility:
            return math.nan, lw, False  # the model is guessing: a gap, not a pose
        if feats["torso_lean"] > cfg.max_lean:
            return math.nan, lw, False  # upside-down skeleton: a tracking failure, not a pose
        if self._gate is not None and value == value:
            g, _, _ = self._gate(feats, landmarks)
            gated = not (cfg.gate_min <= g <= cfg.gate_max)
            if gated:
                value = math.nan
        return value, lw, gated

    def update(self, pose: PoseResult) -> FrameState:
        """Analyse one frame (call for every frame, also those with nobody in them)."""
        lm = pose.landmarks
        feats = self.extractor.update(lm, pose.world)
        value, lw, gated = self._signal_of(feats, lm)
        if lm[0, 0] == lm[0, 0] or np.isfinite(lm[:, 0]).any():
            self.pose_frames += 1
        new = self.segmenter.update(value, pose.t_ns, gated)
        self._label(new)
        state = FrameState(
            index=self.index,
            t_ns=pose.t_ns,
            pose=pose,
            features=feats,
            signal=value,
            rep_count=self.segmenter.count,
            phase=self.segmenter.phase,
            new_reps=new,
        )
        if self.keep_history:
            self._poses.append(lm)
            self._rows.append(list(feats.values()))
            self._t.append(pose.t_ns)
            self._signal.append(value)
            self._lw.append(lw)
        self.index += 1
        self._last = state
        for obs in self.observers:
            obs.on_frame(state)
            for rep in new:
                obs.on_rep(rep, state)
        return state

    def _label(self, reps: list[RepEvent]) -> None:
        """For ``side = "auto"``, name the side that dominated each rep."""
        if self.exercise.count.side != "auto" or not self._lw or len(self._mixer.names) != 2:
            return
        for rep in reps:
            w = self._lw[rep.start_frame : rep.end_frame + 1]
            if w:
                rep.side = "left" if sum(w) / len(w) >= 0.5 else "right"

    def finish(self) -> AnalysisResult:
        """Flush the segmenter (reps completed in the last ``lag`` frames) and collect results."""
        new = self.segmenter.finish()
        self._label(new)
        if new and self._last is not None:
            state = self._last
            state.new_reps = state.new_reps + new
            state.rep_count = self.segmenter.count
            for obs in self.observers:
                for rep in new:
                    obs.on_rep(rep, state)
        n = len(self._t)
        names = self.extractor.names
        rows = np.array(self._rows, dtype=np.float64).reshape(n, len(names))
        features = {name: rows[:, k].copy() for k, name in enumerate(names)}
        poses = np.stack(self._poses) if n else np.zeros((0, NUM_LANDMARKS, 4))
        reps = list(self.segmenter.events)
        return AnalysisResult(
            exercise=self.exercise,
            fps=self.fps,
            reps=reps,
            features=features,
            signal=np.array(self._signal, dtype=np.float64),
            t_ns=np.array(self._t, dtype=np.int64),
            poses=poses,
            pose_frames=self.pose_frames,
            frames=self.index,
            backend=self.backend,
            rep_metrics=_rep_metrics(self.exercise, features, reps),
        )


def _rep_metrics(
    exercise: Exercise, features: dict[str, np.ndarray], reps: list[RepEvent]
) -> list[dict[str, float]]:
    """Per-rep min/max/range of each ``[metrics] joints`` feature (side of the rep for sided
    names; the mean of both sides when the rep's side is ``both``)."""
    out: list[dict[str, float]] = []
    for rep in reps:
        m: dict[str, float] = {}
        for name in exercise.metrics:
            names = resolve_feature(name)
            if not all(n in features for n in names) or not len(features[names[0]]):
                continue
            if len(names) == 2:
                left, right = features[names[0]], features[names[1]]
                if rep.side in ("left", "right"):
                    series = left if rep.side == "left" else right
                else:
                    both = np.stack([left, right])
                    cnt = np.isfinite(both).sum(axis=0)
                    series = np.where(cnt > 0, np.nansum(both, axis=0) / np.maximum(cnt, 1), np.nan)
            else:
                series = features[names[0]]
            seg = series[rep.start_frame : rep.end_frame + 1]
            seg = seg[np.isfinite(seg)]
            lo = float(seg.min()) if seg.size else math.nan
            hi = float(seg.max()) if seg.size else math.nan
            m[f"{name}_min"], m[f"{name}_max"], m[name] = lo, hi, hi - lo
        out.append(m)
    return out


def analyze_track(
    track: PoseTrack, exercise: Exercise, observers: Sequence[Observer] = ()
) -> AnalysisResult:
    """Run the coach over a saved pose track (same per-frame path as live)."""
    coach = Coach(exercise, track.fps, observers)
    coach.backend = track.backend
    size = track.image_size
    world = track.world
    for k in range(len(track)):
        coach.update(PoseResult(track.poses[k], world[k], int(track.t_ns[k]), size, 1.0))
    return coach.finish()


def analyze_video(
    path: str | os.PathLike[str],
    exercise: Exercise,
    backend: str = "onnx",
    observers: Sequence[Observer] = (),
    progress: bool = True,
    track_out: list[PoseTrack] | None = None,
    max_frames: int | None = None,
    camera_profile: str | os.PathLike[str] | None = None,
) -> AnalysisResult:
    """Decode a video, estimate poses and run the coach over every frame.

    Args:
        path: video file.
        exercise: the rule pack.
        backend: pose backend (``"mediapipe"`` or ``"onnx"``).
        observers: as for :class:`Coach`.
        progress: show a tqdm bar on stderr.
        track_out: if given, the pose track is appended to it (to cache it).
        max_frames: analyse at most this many frames (None: all).
        camera_profile: undistort landmarks with this camera profile (name, .json path or
            ``"default"``; see ``formcoach calibrate camera``).

    Raises:
        InputError: unreadable video; BackendUnavailable / ModelError from the pose backend.
    """
    from formcoach.pose import create_estimator
    from formcoach.sources import VideoFileSource, prefetch

    src = VideoFileSource(path, max_frames=max_frames)
    est = create_estimator(backend, running_mode="video")
    if camera_profile is not None:
        from formcoach.calibration import load_camera_profile
        from formcoach.pose.undistort import UndistortingEstimator

        est = UndistortingEstimator(est, load_camera_profile(camera_profile))
    coach = Coach(exercise, src.fps, observers)
    coach.backend = backend
    results: list[PoseResult] = []
    try:
        frames = prefetch(src)  # decode on its own thread: decoding overlaps inference
        if progress:
            from tqdm import tqdm  # type: ignore[import-untyped]

            frames = iter(tqdm(frames, total=len(src) or None, unit="frame", leave=False,
                               desc=os.path.basename(str(path))))
        for frame in frames:
            res = est.process(frame.image, frame.t_ns)
            coach.update(res)
            if track_out is not None:
                results.append(res)
    finally:
        est.close()
    if track_out is not None:
        track_out.append(
            PoseTrack.from_results(
                results, src.fps, src.size, backend, getattr(est, "model_sha256", ""),
                {"source": os.path.basename(str(path))},
            )
        )
    return coach.finish()
