"""Which exercise is this? Recognised from the movement of the poses alone.

Each exercise moves a characteristic set of joints from a characteristic body position, so the
recogniser measures a few :class:`Movement` descriptors over a window of poses (which joints
travel how far, how the torso is oriented, where the hands are) and applies a fixed decision
order that follows the biomechanics, not any clip:

1. **Body position** at rest: lying prone (push-up, plank), lying or reclined on the back
   (bench press, sit-up), or upright (everything else). From the world landmarks' torso
   direction when the pose has them (independent of the camera angle), else from the image.
2. **What moves**: legs (knee/hip range), arms at the elbow, arms at the shoulder, the trunk.
3. **Where the hands are**: overhead and fixed while the body travels (pull-up), overhead and
   moving with a still body (shoulder press), below the shoulders (curl), hanging at the hips
   with the trunk hinging (deadlift).
4. **Leg split**: one knee far lower than the other at the bottom (lunge) or level (squat).

It answers ``None`` ("not sure yet") until it has seen enough movement, or when the window fits
no exercise clearly. :class:`Recogniser` keeps a rolling window for live use; the same
:func:`recognise_window` is used offline, so both agree.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from formcoach.coach.pipeline import Coach
from formcoach.exercises import load_exercise
from formcoach.skeleton import LM
from formcoach.types import NS_PER_S, PoseResult, PoseTrack

__all__ = [
    "RECOGNISABLE",
    "Movement",
    "Recogniser",
    "Recognition",
    "TrackRecognition",
    "measure_movement",
    "recognise_track",
    "recognise_window",
]

#: Exercises the recogniser can name (rule packs with these ids must exist).
RECOGNISABLE: tuple[str, ...] = (
    "squat", "lunge", "deadlift", "pushup", "plank", "bench_press", "situp", "bicep_curl",
    "shoulder_press", "pullup", "jumping_jack",
)

#: Joint travel (deg) that counts as "this joint is working"; below it the joint is still.
MOVING_DEG = 40.0
#: Below this every joint is still: no exercise movement yet (or a hold).
STILL_DEG = 20.0
#: A curl keeps the upper arm hanging by the side: shoulder angle (hip-shoulder-elbow) below
#: this, deg (hands on a bar across the back, or reaching for one, hold it at 60-90).
UPPER_ARM_HANGING_DEG = 35.0
#: Frames with a measured pose a window needs before any answer.
MIN_FRAMES = 20
#: Fraction of a window's frames that must carry a pose.
MIN_COVERAGE = 0.5


@dataclass(frozen=True, slots=True)
class Movement:
    """Descriptors of a window of poses (ranges are p95 - p5 over the window).

    Attributes:
        frames: frames with a pose.
        upright: torso direction's vertical component, median (1 standing, 0 lying).
        upright_top: the same, 90th percentile (how upright the body gets at all).
        face_down: nose below the ears / torso length, median (> 0 face towards the floor).
        knee_rom, hip_rom, elbow_rom, arm_rom: range of the knee, hip, elbow and shoulder
            (hip-shoulder-elbow) angles, deg, averaged over the measured sides.
        lean_rom: range of the torso's lean from image-vertical, deg.
        hip_travel, wrist_travel: vertical range of the hip midpoint and the wrist midpoint in
            the image, in torso lengths.
        stance_rom: range of the ankle distance, in torso lengths.
        overhead: fraction of frames with both wrists above the nose.
        wrists_above: wrists above the shoulders, world metres (image torso lengths without
            world landmarks), median.
        knee_split: vertical distance between the knees at the bottom of the movement (the
            lowest fifth of hip heights), in leg lengths, median.
        knee_bent: median knee angle, deg (180 straight).
        arm_angle: median shoulder angle (hip-shoulder-elbow), deg (0 upper arm hanging).
        hip_height: hips above the ankles in the image, torso lengths, median (about 2
            standing, under 1 sitting or lying on the floor).
        elbow_lifts: correlation of the elbow angle with the hips' image height (y down): near
            +1 when bending the elbows lifts the body (pull-up).
        legs_lower: correlation of the knee angle with the hips' image height: near -1 when
            bending the knees lowers the body (squat, lunge, deadlift).
    """

    frames: int
    upright: float
    upright_top: float
    face_down: float
    knee_rom: float
    hip_rom: float
    elbow_rom: float
    arm_rom: float
    lean_rom: float
    hip_travel: float
    wrist_travel: float
    stance_rom: float
    overhead: float
    wrists_above: float
    knee_split: float
    knee_bent: float
    arm_angle: float
    hip_height: float
    elbow_lifts: float
    legs_lower: float


@dataclass(frozen=True, slots=True)
class Recognition:
    """An answer: ``exercise`` (None = not sure yet) and why, in words."""

    exercise: str | None
    reason: str

    @property
    def sure(self) -> bool:
        return self.exercise is not None


def _angle(p: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """(T,) angle at b of a-b-c in the image, deg."""
    u = p[:, a, :2] - p[:, b, :2]
    v = p[:, c, :2] - p[:, b, :2]
    with np.errstate(all="ignore"):
        cos = np.sum(u * v, axis=1) / (np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def _both(p: np.ndarray, left: tuple[int, int, int], right: tuple[int, int, int]) -> np.ndarray:
    """Mean of the left and right angle where both are measured, else the one that is."""
    lft, rgt = _angle(p, *left), _angle(p, *right)
    with np.errstate(all="ignore"):
        return np.where(np.isfinite(lft) & np.isfinite(rgt), (lft + rgt) / 2,
                        np.where(np.isfinite(lft), lft, rgt))


def _range(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, 95) - np.percentile(x, 5)) if x.size else math.nan


def _median(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def _p90(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(np.percentile(x, 90)) if x.size else math.nan


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation over the frames where both are finite (0 when either is flat)."""
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < MIN_FRAMES:
        return 0.0
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def measure_movement(poses: np.ndarray, world: np.ndarray | None = None) -> Movement | None:
    """Descriptors of a window.

    Args:
        poses: ``(T, 33, 4)`` x px, y px, z, visibility (NaN = missing).
        world: optional ``(T, 33, 3)`` world landmarks, metres (y down), NaN where unknown.

    Returns:
        The descriptors, or None when too few frames carry a pose.
    """
    p = np.asarray(poses, dtype=np.float64)
    if p.ndim != 3 or p.shape[1:] != (33, 4):
        raise ValueError(f"poses must be (T, 33, 4), got {p.shape}")
    ok = np.isfinite(p[:, [LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER, LM.LEFT_HIP, LM.RIGHT_HIP], 0]
                     ).all(axis=1)
    if ok.sum() < max(MIN_FRAMES, MIN_COVERAGE * len(p)):
        return None
    p = p[ok]
    w = None if world is None else np.asarray(world, dtype=np.float64)[ok]
    sh = (p[:, LM.LEFT_SHOULDER, :2] + p[:, LM.RIGHT_SHOULDER, :2]) / 2
    hp = (p[:, LM.LEFT_HIP, :2] + p[:, LM.RIGHT_HIP, :2]) / 2
    torso_v = sh - hp
    torso = np.linalg.norm(torso_v, axis=1)
    scale = _median(torso)
    with np.errstate(all="ignore"):
        image_up = np.abs(torso_v[:, 1]) / torso
        upright = image_up
        wrists_above = ((sh[:, 1] - (p[:, LM.LEFT_WRIST, 1] + p[:, LM.RIGHT_WRIST, 1]) / 2)
                        / scale)
        if w is not None and np.isfinite(w[:, [LM.LEFT_SHOULDER, LM.RIGHT_HIP]]).all(axis=2).mean() > 0.5:
            ws = (w[:, LM.LEFT_SHOULDER] + w[:, LM.RIGHT_SHOULDER]) / 2
            wh = (w[:, LM.LEFT_HIP] + w[:, LM.RIGHT_HIP]) / 2
            d = ws - wh
            upright = np.abs(d[:, 1]) / np.linalg.norm(d, axis=1)
            wrists_above = ws[:, 1] - (w[:, LM.LEFT_WRIST, 1] + w[:, LM.RIGHT_WRIST, 1]) / 2
        ears = (p[:, LM.LEFT_EAR, 1] + p[:, LM.RIGHT_EAR, 1]) / 2
        face_down = (p[:, LM.NOSE, 1] - ears) / torso
        lean = np.degrees(np.arccos(np.clip(-torso_v[:, 1] / torso, -1.0, 1.0)))
        wr_y = (p[:, LM.LEFT_WRIST, 1] + p[:, LM.RIGHT_WRIST, 1]) / 2
        overhead = np.nanmax(p[:, [LM.LEFT_WRIST, LM.RIGHT_WRIST], 1], axis=1) < p[:, LM.NOSE, 1]
        ankles = np.linalg.norm(p[:, LM.LEFT_ANKLE, :2] - p[:, LM.RIGHT_ANKLE, :2], axis=1)
        leg = (np.linalg.norm(p[:, LM.LEFT_HIP, :2] - p[:, LM.LEFT_ANKLE, :2], axis=1)
               + np.linalg.norm(p[:, LM.RIGHT_HIP, :2] - p[:, LM.RIGHT_ANKLE, :2], axis=1)) / 2
        split = np.abs(p[:, LM.LEFT_KNEE, 1] - p[:, LM.RIGHT_KNEE, 1]) / _median(leg)
    knee = _both(p, (LM.LEFT_HIP, LM.LEFT_KNEE, LM.LEFT_ANKLE),
                 (LM.RIGHT_HIP, LM.RIGHT_KNEE, LM.RIGHT_ANKLE))
    elbow = _both(p, (LM.LEFT_SHOULDER, LM.LEFT_ELBOW, LM.LEFT_WRIST),
                  (LM.RIGHT_SHOULDER, LM.RIGHT_ELBOW, LM.RIGHT_WRIST))
    arm = _both(p, (LM.LEFT_HIP, LM.LEFT_SHOULDER, LM.LEFT_ELBOW),
                (LM.RIGHT_HIP, LM.RIGHT_SHOULDER, LM.RIGHT_ELBOW))
    hip_y = hp[:, 1]
    finite = np.isfinite(hip_y)
    low = finite & (hip_y >= np.percentile(hip_y[finite], 80)) if finite.any() else finite
    return Movement(
        frames=len(p),
        upright=_median(upright),
        upright_top=_p90(upright),
        face_down=_median(face_down),
        knee_rom=_range(knee),
        hip_rom=_range(_both(p, (LM.LEFT_SHOULDER, LM.LEFT_HIP, LM.LEFT_KNEE),
                             (LM.RIGHT_SHOULDER, LM.RIGHT_HIP, LM.RIGHT_KNEE))),
        elbow_rom=_range(elbow),
        arm_rom=_range(arm),
        lean_rom=_range(lean),
        hip_travel=_range(hip_y) / scale,
        wrist_travel=_range(wr_y) / scale,
        stance_rom=_range(ankles) / scale,
        overhead=float(np.mean(overhead)),
        wrists_above=_median(wrists_above),
        knee_split=_median(split[low]),
        knee_bent=_median(knee),
        arm_angle=_median(arm),
        hip_height=_median(((p[:, LM.LEFT_ANKLE, 1] + p[:, LM.RIGHT_ANKLE, 1]) / 2 - hip_y)
                           / scale),
        elbow_lifts=_corr(elbow, hip_y),
        legs_lower=_corr(knee, hip_y),
    )


def classify_movement(m: Movement | None) -> Recognition:
    """The exercise a window's :class:`Movement` shows, or ``None`` with the reason.

    The order and the limits follow the biomechanics in the module docstring; each answer
    says which descriptors decided it."""
    if m is None:
        return Recognition(None, "no person seen long enough")
    moving = max(m.knee_rom, m.hip_rom, m.elbow_rom, m.arm_rom)
    if not np.isfinite(moving):
        return Recognition(None, "joints not visible")
    lying = m.upright_top < 0.8
    if moving < STILL_DEG and m.lean_rom < 15.0:
        if m.upright_top < 0.5 and m.face_down > 0.05:
            return Recognition("plank", "still, lying face down")
        return Recognition(None, "not moving yet")
    if lying and m.face_down >= 0.08 and m.elbow_rom >= MOVING_DEG:
        return Recognition("pushup", "lying face down, elbows working")
    if (m.hip_height < 0.45 and m.knee_bent < 120.0 and m.lean_rom >= 20.0
            and m.hip_rom >= MOVING_DEG and m.face_down < 0.08):
        return Recognition("situp", "on the floor, knees bent, trunk rising at the hips")
    if lying:
        if m.face_down < 0.05 and m.elbow_rom >= MOVING_DEG and m.wrists_above > 0.1:
            return Recognition("bench_press", "lying face up, pressing above the shoulders")
        return Recognition(None, "lying, movement unclear")
    if (m.overhead >= 0.3 and m.elbow_lifts >= 0.3 and m.legs_lower > -0.4
            and m.hip_travel >= 0.4):
        return Recognition("pullup", "hands overhead, bending the elbows lifts the body")
    if m.arm_rom >= 100.0 and m.stance_rom >= 0.6 and m.knee_rom < MOVING_DEG:
        return Recognition("jumping_jack", "arms sweep overhead as the feet jump apart")
    if max(m.knee_rom, m.hip_rom) >= MOVING_DEG and m.legs_lower <= -0.4:
        if m.knee_split >= 0.28:
            return Recognition("lunge", "legs lower the body with one knee far below the other")
        if m.lean_rom >= 48.0 and m.elbow_rom < MOVING_DEG and m.hip_rom >= m.knee_rom:
            return Recognition("deadlift", "hips hinge the trunk forward, arms hanging")
        return Recognition("squat", "knees and hips lower the body, knees level")
    if m.elbow_rom >= MOVING_DEG:
        if m.overhead >= 0.3 and m.hip_travel < 0.4:
            return Recognition("shoulder_press", "pressing overhead, body still")
        if (m.overhead < 0.1 and m.wrists_above < 0.0 and m.arm_rom < MOVING_DEG
                and m.arm_angle < UPPER_ARM_HANGING_DEG):
            return Recognition("bicep_curl", "elbows bend, upper arms still by the sides")
    return Recognition(None, "movement unclear")


def recognise_window(poses: np.ndarray, world: np.ndarray | None = None) -> Recognition:
    """:func:`classify_movement` of :func:`measure_movement` of a ``(T, 33, 4)`` window."""
    return classify_movement(measure_movement(poses, world))


class Recogniser:
    """Live recognition over a rolling window of poses.

    Every ``every_s`` the last ``window_s`` of poses are classified. An answer becomes *sure*
    when the same exercise came ``confirm`` evaluations in a row **and** that exercise's own
    rep counter (its rule pack, counting only) has counted ``reps`` reps in the window (one at
    the end of a recorded clip): a guess from a setup movement or half a rep is never
    announced. A sure answer changes only when another exercise is
    confirmed ``2 * confirm`` times in a row (the person switched). Until then
    :attr:`current` is ``None`` with the reason ("not sure yet").

    Args:
        fps: frames per second of the stream (float).
        window_s: seconds of poses classified at each evaluation.
        every_s: seconds between evaluations.
        confirm: consecutive agreeing evaluations before an answer is sure.
        min_s: seconds of poses before the first evaluation.
        reps: reps the exercise's own counter must have counted in the window.
        candidates: exercise ids it may answer (default :data:`RECOGNISABLE`).
    """

    def __init__(self, fps: float, *, window_s: float = 10.0, every_s: float = 0.5,
                 confirm: int = 3, min_s: float = 2.0, reps: int = 2,
                 candidates: tuple[str, ...] = RECOGNISABLE) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        if confirm < 1:
            raise ValueError(f"confirm must be >= 1, got {confirm}")
        unknown = set(candidates) - set(RECOGNISABLE)
        if unknown:
            raise ValueError(f"cannot recognise {sorted(unknown)}; known: {RECOGNISABLE}")
        self.fps = float(fps)
        n = max(MIN_FRAMES, round(window_s * self.fps))
        self._poses: deque[np.ndarray] = deque(maxlen=n)
        self._world: deque[np.ndarray] = deque(maxlen=n)
        self._every = max(1, round(every_s * self.fps))
        self._min = max(MIN_FRAMES, round(min_s * self.fps))
        self._confirm = confirm
        self._reps = max(1, int(reps))
        self._candidates = tuple(candidates)
        self._counters = {c: Coach(load_exercise(c), self.fps) for c in candidates
                          if load_exercise(c).kind == "reps"}
        self._rep_ends: dict[str, list[int]] = {c: [] for c in self._counters}
        self._seen = 0
        self._streak: tuple[str | None, int] = (None, 0)
        self._streak1: tuple[str | None, int] = (None, 0)
        self._best: tuple[str, int, str] | None = None
        self.current = Recognition(None, "not sure yet: watching")
        #: Frame index at which :attr:`current` last changed (None: never sure).
        self.since_frame: int | None = None

    def update(self, pose: PoseResult) -> Recognition:
        """Add one frame (every frame, also those with nobody in them) and return the current
        answer."""
        self._poses.append(np.asarray(pose.landmarks, dtype=np.float64))
        self._world.append(np.asarray(pose.world, dtype=np.float64))
        for c, coach in self._counters.items():
            self._rep_ends[c] += [self._seen] * len(coach.update(pose).new_reps)
        self._seen += 1
        if self._seen >= self._min and self._seen % self._every == 0:
            self._evaluate()
        return self.current

    def finish(self) -> Recognition:
        """End of the stream: count the reps still open and evaluate once more on what is
        buffered. Never sure yet, the answer is the exercise seen longest with one rep counted
        (a recorded set of a single rep, or shorter than one evaluation cycle)."""
        for c, coach in self._counters.items():
            reps, _ = coach.finish()
            self._rep_ends[c] += [self._seen - 1] * len(reps)
        if self._seen >= MIN_FRAMES:
            self._evaluate(final=True)
        return self.current

    def _has_reps(self, name: str, need: int) -> bool:
        """Whether ``name``'s counter counted ``need`` reps inside the window (holds: always)."""
        if name not in self._counters:
            return True
        first = self._seen - len(self._poses)
        return sum(e >= first for e in self._rep_ends[name]) >= need

    def _evaluate(self, final: bool = False) -> None:
        r = recognise_window(np.stack(self._poses), np.stack(self._world))
        name = r.exercise if r.exercise in self._candidates else None
        # One rep is enough for a set that ends after it: remember the longest such run.
        one = name if name is not None and self._has_reps(name, 1) else None
        prev1, n1 = self._streak1
        self._streak1 = (one, n1 + 1 if one == prev1 else 1)
        if one is not None and self._streak1[1] >= self._confirm and (
                self._best is None or self._streak1[1] > self._best[1]):
            self._best = (one, self._streak1[1], r.reason)
        if name is not None and not self._has_reps(name, self._reps):
            r, name = Recognition(None, f"{r.reason}; waiting for a full rep"), None
        prev, n = self._streak
        self._streak = (name, n + 1 if name == prev else 1)
        n = self._streak[1]
        cur = self.current.exercise
        if final and cur is None and (self._best is not None or one is not None):
            best = self._best or (str(one), 1, r.reason)
            self.current = Recognition(best[0], best[2].split("; waiting")[0])
            self.since_frame = self._seen - 1
            return
        if name is None:
            if cur is None:
                self.current = Recognition(None, f"not sure yet: {r.reason}")
            return
        need = self._confirm if cur is None else 2 * self._confirm
        if name != cur and n >= need:
            self.current = Recognition(name, r.reason)
            self.since_frame = self._seen - 1


@dataclass(frozen=True, slots=True)
class TrackRecognition:
    """A recorded clip streamed through :class:`Recogniser`: the final answer (None = never
    sure), when the first sure answer came (s from the first frame), every exercise announced
    in order, and the last reason."""

    exercise: str | None
    first_sure_s: float | None
    announced: tuple[str, ...]
    reason: str


def recognise_track(track: PoseTrack) -> TrackRecognition:
    """Stream a saved pose track through a :class:`Recogniser` as live frames would be."""
    from formcoach.pose.stream import replay_track

    rec = Recogniser(track.fps)
    announced: list[str] = []
    first: float | None = None
    t0 = int(track.t_ns[0]) if len(track) else 0
    last = t0

    def note(r: Recognition, t_ns: int) -> None:
        nonlocal first
        if r.exercise is not None and (not announced or announced[-1] != r.exercise):
            announced.append(r.exercise)
            if first is None:
                first = (t_ns - t0) / NS_PER_S

    for posed in replay_track(track):
        last = posed.pose.t_ns
        note(rec.update(posed.pose), last)
    r = rec.finish()
    note(r, last)
    return TrackRecognition(r.exercise, first, tuple(announced), r.reason)
