"""User calibration: a user's neutral stance and range of motion, from a pose track.

:func:`calibrate_user` finds the first still second of a :class:`~formcoach.types.PoseTrack`
(the neutral stance: median joint angles there) and the user's range of motion per joint over
the whole recording (robust 2nd/98th percentiles), giving a
:class:`~formcoach.calibration.profiles.UserProfile`. What uses it:

* :func:`baseline_rom_deg`: the user's own excursion of an exercise's counted joint, the
  reference of the ``rom`` score (``metrics.set_metrics(baseline_rom_deg=...)``);
* :func:`rom_percent`: a measured ROM as a percentage of the user's baseline;
* :func:`personalise`: a rep counter's ``min_rom`` scaled to the user's range.

Angles are degrees at the :data:`~formcoach.skeleton.JOINT_TRIPLES` joints, in pixel space.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from formcoach.calibration.profiles import UserProfile, check_name, now_iso
from formcoach.errors import InputError
from formcoach.skeleton import JOINT_TRIPLES, LM
from formcoach.types import NS_PER_S, PoseTrack

if TYPE_CHECKING:
    from formcoach.exercises import CountConfig, Exercise

log = logging.getLogger(__name__)

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


def _frame_rate(track: PoseTrack) -> float:
    """Frames per second the track really holds (a live source drops frames), from ``t_ns``."""
    n = len(track)
    span = int(track.t_ns[-1]) - int(track.t_ns[0]) if n >= 2 else 0
    return (n - 1) * NS_PER_S / span if span > 0 else float(track.fps)


def calibrate_user(
    track: PoseTrack,
    name: str,
    *,
    exercise: str | None = None,
    existing: UserProfile | None = None,
    still_s: float = 1.0,
    min_rom_deg: float = 15.0,
    min_frames: int = 10,
    meta: Mapping[str, Any] | None = None,
) -> UserProfile:
    """Build (or update) a user profile from a pose track.

    Args:
        track: the recording; ``poses (T, 33, 4)`` px, NaN = missing. Its frame rate is taken
            from ``t_ns`` (a camera recording drops frames), not the nominal ``fps``.
        name: profile name.
        exercise: exercise id the recording shows (its ROM is also stored under that id).
        existing: a profile to update (neutral and this exercise's ROM are replaced).
        still_s: length of the still window that defines the neutral stance, s.
        min_rom_deg: joints that moved less than this are left out of the ROM baseline.
        min_frames: fewest valid frames a joint needs.
        meta: extras stored in the profile's ``meta`` (e.g. the source).

    Raises:
        InputError: no still window (neutral stance) in the recording, or no person.
    """
    check_name(name, "user profile")
    p = np.asarray(track.poses, dtype=np.float64)
    fps = _frame_rate(track)
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
    neutral = _neutral(angles, s, e)
    rom = _rom(angles, min_rom_deg, min_frames)
    prof = existing if existing is not None else UserProfile(name=name)
    prof = dataclasses.replace(
        prof,
        name=name,
        neutral=neutral,
        rom_baseline=rom if rom else prof.rom_baseline,
        rom_by_exercise=dict(prof.rom_by_exercise),
        meta={
            **prof.meta,
            "updated": now_iso(),
            "still_window_s": [round(s / fps, 3), round(e / fps, 3)],
            "frames": int(p.shape[0]),
            "fps": round(fps, 3),
            **(meta or {}),
        },
    )
    if exercise is not None and rom:
        prof.rom_by_exercise[exercise] = rom
    if exercise is not None:
        prof.meta["exercise"] = exercise
    return prof


def _neutral(angles: Mapping[str, np.ndarray], start: int, stop: int) -> dict[str, float]:
    """Median angle (deg) of each joint seen in at least half of frames ``start:stop``."""
    out = {}
    for joint, a in angles.items():
        seg = a[start:stop]
        if np.isfinite(seg).sum() >= max(3, (stop - start) // 2):
            out[joint] = float(np.nanmedian(seg))
    return out


def _rom(
    angles: Mapping[str, np.ndarray], min_rom_deg: float, min_frames: int
) -> dict[str, tuple[float, float]]:
    """Robust ``(2nd, 98th)`` percentile range (deg) of each joint seen in ``min_frames``
    frames that moved at least ``min_rom_deg``."""
    out: dict[str, tuple[float, float]] = {}
    for joint, a in angles.items():
        v = a[np.isfinite(a)]
        if v.size < min_frames:
            continue
        lo, hi = (float(x) for x in np.percentile(v, [2.0, 98.0]))
        if hi - lo >= min_rom_deg:
            out[joint] = (lo, hi)
    return out


def signal_joint(signal: str) -> str | None:
    """The joint a counting signal measures (``"knee_fused"`` -> ``"knee"``, ``"left_elbow"``
    stays), or None when it is not a joint angle (``"torso_lean"``)."""
    joint = signal.removesuffix("_fused")
    side_less = joint.removeprefix("left_").removeprefix("right_")
    return joint if f"left_{side_less}" in JOINT_TRIPLES else None


def rom_percent(
    profile: UserProfile, joint: str, rom_deg: float, exercise: str | None = None
) -> float:
    """``rom_deg`` as a percentage of the user's baseline excursion of ``joint``.

    ``joint`` may be side-less (``"knee"``: the mean of both sides). NaN when the joint has no
    (or a zero) baseline, or ``rom_deg`` is not finite.
    """
    r = profile.baseline_range(joint, exercise)
    if not (math.isfinite(r) and r > 0 and math.isfinite(rom_deg)):
        return math.nan
    return 100.0 * float(rom_deg) / r


def baseline_rom_deg(profile: UserProfile, exercise: Exercise) -> float | None:
    """The user's own excursion of ``exercise``'s counted joint, degrees, or None.

    The range recorded for this exercise when there is one, else the general baseline; the
    side the pack counts (``count.side`` left/right), else the mean of both sides. None when
    the counting signal is not a joint angle (plank, sit-up, shrug) or the profile has no
    range for that joint: the ``rom`` score then falls back to the best rep in the set.
    """
    joint = signal_joint(exercise.count.signal)
    if joint is None:
        return None
    if exercise.count.side in ("left", "right") and not joint.startswith(("left_", "right_")):
        sided = profile.baseline_range(f"{exercise.count.side}_{joint}", exercise.id)
        if math.isfinite(sided) and sided > 0:
            return sided
    r = profile.baseline_range(joint, exercise.id)
    return r if math.isfinite(r) and r > 0 else None


def personalise(
    config: CountConfig, profile: UserProfile, exercise: str | None = None,
    fraction: float = 0.5, floor_deg: float = 10.0,
) -> CountConfig:
    """Adapt a rep counter's ``[count]`` config to the user's own range of motion.

    A rep must cover ``fraction`` of the user's baseline excursion of the counted joint; the
    resulting ``min_rom`` never exceeds the pack's (a user with a big range keeps the default)
    and never drops below ``floor_deg`` (noise is not a rep). Without a baseline for the joint
    the config is returned unchanged.

    Args:
        config: the pack's count config; ``signal`` names the joint (side-less allowed).
        profile: the user's profile.
        exercise: exercise id, to prefer that exercise's recorded ROM.

    Returns:
        A new config (the input is not modified), or ``config`` itself when unchanged.
    """
    joint = signal_joint(config.signal)
    r = profile.baseline_range(joint, exercise) if joint is not None else math.nan
    if not (math.isfinite(r) and r > 0):
        log.info("no ROM baseline for %r in profile %r; thresholds unchanged", config.signal,
                 profile.name)
        return config
    return dataclasses.replace(config, min_rom=min(config.min_rom, max(floor_deg, fraction * r)))
