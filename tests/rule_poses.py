"""Exact synthetic poses for rule tests: a pose (or a one-rep sequence) whose rule feature has a
chosen value, built from geometry.

:func:`set_feature` moves the landmarks one registered feature reads so that the feature (as
computed by formcoach's own code) equals the value, up to float rounding. Kernel features are
handled by their op (an angle at a joint, a segment's tilt, a height, a distance ratio);
rule-only features of :mod:`formcoach.kinematics.derived` each have a builder in
:data:`DERIVED_BUILDERS`. A feature with neither raises :class:`NoBuilder`, so a rule on a new
feature fails its threshold test by name until a builder is added here.

:func:`rule_sequence` lays the value out over a one-rep sequence so that the rule's reduction
over its phase gives exactly that value (constant poses for ``min``/``max``/``mean``/``p10``/
``p90`` and frame rules, two levels for ``range``/``spread``/``rise``/``fall``, a ramp for a
``<feature>_velocity``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from formcoach.kinematics import _kernels as K
from formcoach.kinematics.derived import RULE_FEATURES
from formcoach.kinematics.features import FEATURES
from formcoach.rules.engine import VELOCITY_SUFFIX, Rule, phase_window
from formcoach.skeleton import LM, NUM_LANDMARKS
from formcoach.types import RepEvent

__all__ = ["DERIVED_BUILDERS", "NoBuilder", "base_pose", "rule_sequence", "set_feature"]


class NoBuilder(LookupError):
    """No geometric builder for a feature (add one to this module)."""


# A standing person, facing image right (nose ahead of the ears), limbs apart: every landmark
# finite, no two landmarks of a segment at the same place. Pixels, y down.
_BASE = {
    LM.NOSE: (325, 100), LM.LEFT_EYE_INNER: (318, 92), LM.LEFT_EYE: (315, 92),
    LM.LEFT_EYE_OUTER: (312, 92), LM.RIGHT_EYE_INNER: (318, 93), LM.RIGHT_EYE: (315, 93),
    LM.RIGHT_EYE_OUTER: (312, 93), LM.LEFT_EAR: (300, 100), LM.RIGHT_EAR: (300, 100),
    LM.MOUTH_LEFT: (320, 115), LM.MOUTH_RIGHT: (320, 116),
    LM.LEFT_SHOULDER: (350, 150), LM.RIGHT_SHOULDER: (250, 150),
    LM.LEFT_ELBOW: (360, 240), LM.RIGHT_ELBOW: (240, 240),
    LM.LEFT_WRIST: (365, 320), LM.RIGHT_WRIST: (235, 320),
    LM.LEFT_PINKY: (362, 335), LM.RIGHT_PINKY: (238, 335),
    LM.LEFT_INDEX: (368, 338), LM.RIGHT_INDEX: (232, 338),
    LM.LEFT_THUMB: (370, 330), LM.RIGHT_THUMB: (230, 330),
    LM.LEFT_HIP: (330, 350), LM.RIGHT_HIP: (270, 350),
    LM.LEFT_KNEE: (335, 450), LM.RIGHT_KNEE: (265, 450),
    LM.LEFT_ANKLE: (340, 550), LM.RIGHT_ANKLE: (260, 550),
    LM.LEFT_HEEL: (330, 560), LM.RIGHT_HEEL: (250, 560),
    LM.LEFT_FOOT_INDEX: (370, 565), LM.RIGHT_FOOT_INDEX: (290, 565),
}


def base_pose() -> np.ndarray:
    """The ``(33, 4)`` base pose (z = 0, visibility 1)."""
    p = np.zeros((NUM_LANDMARKS, 4))
    for i, (x, y) in _BASE.items():
        p[int(i)] = (x, y, 0.0, 1.0)
    return p


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _mid(p: np.ndarray, a: int, b: int) -> np.ndarray:
    return 0.5 * (p[a, :2] + p[b, :2])


def _torso(p: np.ndarray) -> float:
    s = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    h = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)
    return float(np.hypot(*(s - h)))


def _place_angle(p: np.ndarray, a: int, b: int, c: int, deg: float) -> None:
    """Move ``c`` (same distance from ``b``) so that the angle a-b-c is ``deg``."""
    u = p[a, :2] - p[b, :2]
    length = float(np.hypot(*(p[c, :2] - p[b, :2])))
    p[c, :2] = p[b, :2] + _rot(u / np.hypot(*u), deg) * length


_TORSO = {int(LM.LEFT_SHOULDER), int(LM.RIGHT_SHOULDER), int(LM.LEFT_HIP), int(LM.RIGHT_HIP)}


def _shift(p: np.ndarray, idx: tuple[int, ...], d: np.ndarray) -> None:
    for i in sorted(set(idx)):
        p[i, :2] += d


def _kernel_builder(p: np.ndarray, op: int, idx: tuple[int, int, int, int], v: float) -> None:
    i0, i1, i2, i3 = (int(i) for i in idx)
    if op == K.OP_ANGLE:
        _place_angle(p, i0, i1, i2, v)
    elif op == K.OP_VERTICAL:  # mid(i0, i1) -> mid(i2, i3) tilted v deg from image-up
        a, b = _mid(p, i0, i1), _mid(p, i2, i3)
        length = float(np.hypot(*(b - a)))
        r = math.radians(v)
        _shift(p, (i2, i3), a + length * np.array([math.sin(r), -math.cos(r)]) - b)
    elif op == K.OP_HEIGHT:  # mid(i0, i1) above mid(i2, i3) by v torso lengths
        t = _torso(p)
        if not {i0, i1} & _TORSO:
            want = _mid(p, i2, i3)[1] - v * t
            _shift(p, (i0, i1), np.array([0.0, want - _mid(p, i0, i1)[1]]))
        elif not {i2, i3} & _TORSO:
            want = _mid(p, i0, i1)[1] + v * t
            _shift(p, (i2, i3), np.array([0.0, want - _mid(p, i2, i3)[1]]))
        else:
            raise NoBuilder("a height between torso landmarks")
    elif op == K.OP_RATIO:  # |i0 - i1| = v |i2 - i3|, i0 and i1 moved about their midpoint
        if {i0, i1} & {i2, i3}:
            raise NoBuilder("a ratio of segments sharing a landmark")
        m = _mid(p, i0, i1)
        u = p[i0, :2] - p[i1, :2]
        half = 0.5 * v * float(np.hypot(*(p[i2, :2] - p[i3, :2])))
        p[i0, :2] = m + u / np.hypot(*u) * half
        p[i1, :2] = m - u / np.hypot(*u) * half
    else:
        raise NoBuilder(f"kernel op {op}")


# --------------------------------------------------------------------------- derived features
def _trunk_angle(p: np.ndarray, v: float) -> None:
    """Shoulders placed so that hip mid -> shoulder mid leans ``v`` deg (+ = image right)."""
    h = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)
    s = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    length = float(np.hypot(*(s - h)))
    r = math.radians(v)
    _shift(p, (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER),
           h + length * np.array([math.sin(r), -math.cos(r)]) - s)


def _hip_line_dev(p: np.ndarray, v: float) -> None:
    """Hips moved off the (vertical) shoulder-ankle line by ``v`` of its length, to the side
    the feature calls "above"."""
    s = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    a = _mid(p, LM.LEFT_ANKLE, LM.RIGHT_ANKLE)
    d = a - s
    length = float(np.hypot(*d))
    n = np.array([-d[1], d[0]]) / length
    if n[1] > 0:
        n = -n
    h = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)
    along = s + np.dot(h - s, d) / length**2 * d
    _shift(p, (LM.LEFT_HIP, LM.RIGHT_HIP), along + v * length * n - h)


def _front_knee_past_toe(p: np.ndarray, v: float) -> None:
    """Facing image right, the left leg in front: its toe tip put ``v`` shank lengths behind
    the knee."""
    k, an = p[LM.LEFT_KNEE, :2], p[LM.LEFT_ANKLE, :2]
    assert p[LM.LEFT_ANKLE, 0] > p[LM.RIGHT_ANKLE, 0] and p[LM.NOSE, 0] > p[LM.LEFT_EAR, 0]
    p[LM.LEFT_FOOT_INDEX, 0] = k[0] - v * float(np.hypot(*(k - an)))


def _knee_min(p: np.ndarray, v: float) -> None:
    for s in ("LEFT", "RIGHT"):
        _place_angle(p, LM[f"{s}_HIP"], LM[f"{s}_KNEE"], LM[f"{s}_ANKLE"], v)


def _heel_rise(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        toe = p[LM[f"{side}_FOOT_INDEX"], :2]
        foot = float(np.hypot(*(toe - p[LM[f"{side}_HEEL"], :2])))
        p[LM[f"{side}_HEEL"], :2] = toe - foot * np.array([math.sqrt(1.0 - v * v), v])

    return build


def _arm_raise(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        _place_angle(p, LM[f"{side}_HIP"], LM[f"{side}_SHOULDER"], LM[f"{side}_WRIST"], v)

    return build


def _elbow_offset(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        p[LM[f"{side}_ELBOW"], 0] = p[LM[f"{side}_SHOULDER"], 0] + v * _torso(p)

    return build


def _back_rounding(p: np.ndarray, v: float) -> None:
    """Shoulders moved ``v`` hip-ear chord lengths to the back side of the chord (the chord is
    vertical in the base pose, the face to image right)."""
    h = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)
    e = _mid(p, LM.LEFT_EAR, LM.RIGHT_EAR)
    assert h[0] == e[0] and p[LM.NOSE, 0] > e[0]
    s = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    chord = float(np.hypot(*(e - h)))
    _shift(p, (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER), np.array([h[0] - v * chord - s[0], 0.0]))


def _wrist_tilt(p: np.ndarray, v: float) -> None:
    """Right wrist placed ``v`` deg above the image-horizontal through the left wrist."""
    lw = p[LM.LEFT_WRIST, :2]
    d = float(np.hypot(*(p[LM.RIGHT_WRIST, :2] - lw)))
    r = math.radians(v)
    p[LM.RIGHT_WRIST, :2] = lw + d * np.array([-math.cos(r), -math.sin(r)])


def _knee_past_toe(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        """Facing image right: the toe tip ``v`` shank lengths behind the knee."""
        k, an = p[LM[f"{side}_KNEE"], :2], p[LM[f"{side}_ANKLE"], :2]
        p[LM[f"{side}_FOOT_INDEX"], 0] = k[0] - v * float(np.hypot(*(k - an)))

    return build


def _hip_width(p: np.ndarray) -> float:
    return float(np.hypot(*(p[LM.LEFT_HIP, :2] - p[LM.RIGHT_HIP, :2])))


def _leg(p: np.ndarray, side: str) -> float:
    h, k, a = (p[LM[f"{side}_{j}"], :2] for j in ("HIP", "KNEE", "ANKLE"))
    return float(np.hypot(*(k - h)) + np.hypot(*(a - k)))


def _step_width(p: np.ndarray, v: float) -> None:
    """Right ankle ``v`` hip widths to the image left of the left ankle."""
    p[LM.RIGHT_ANKLE, 0] = p[LM.LEFT_ANKLE, 0] - v * _hip_width(p)


def _step_length(p: np.ndarray, v: float) -> None:
    """Right ankle ``v`` (longer) leg lengths behind the left one; moving it changes the right
    leg's length, so iterate to the fixed point (a contraction for v < 1)."""
    for _ in range(200):
        p[LM.RIGHT_ANKLE, 0] = p[LM.LEFT_ANKLE, 0] - v * max(_leg(p, "LEFT"), _leg(p, "RIGHT"))


def _knee_hip_gap(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        """Hip angle (shoulder-hip-knee) 100 deg, knee angle (hip-knee-ankle) 100 + ``v``."""
        sh, hip, knee, ankle = (LM[f"{side}_{j}"] for j in ("SHOULDER", "HIP", "KNEE", "ANKLE"))
        _place_angle(p, sh, hip, knee, 100.0)
        _place_angle(p, hip, knee, ankle, 100.0 + v)

    return build


def _square_shoulders(p: np.ndarray) -> None:
    """Shoulders 0.75 torso lengths apart about their midpoint: the torso square to the
    camera (yaw under 15 deg for the view code)."""
    m, t = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER), _torso(p)
    p[LM.LEFT_SHOULDER, :2] = m + np.array([0.375 * t, 0.0])
    p[LM.RIGHT_SHOULDER, :2] = m - np.array([0.375 * t, 0.0])


def _knee_medial(side: str) -> Callable[[np.ndarray, float], None]:
    def build(p: np.ndarray, v: float) -> None:
        """The knee ``v`` leg lengths inside the hip-ankle line (towards the hip midpoint);
        the leg length depends on the knee, so iterate to the fixed point."""
        h, a = p[LM[f"{side}_HIP"], :2], p[LM[f"{side}_ANKLE"], :2]
        mid_x = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)[0]
        k = p[LM[f"{side}_KNEE"]]
        ha = a - h
        for _ in range(200):
            t = float(np.dot(k[:2] - h, ha) / np.dot(ha, ha))
            line_x = h[0] + t * ha[0]
            inward = 1.0 if mid_x > line_x else -1.0
            k[0] = line_x + inward * v * _leg(p, side)

    return build


def _front_knee_medial(p: np.ndarray, v: float) -> None:
    """The left leg forward (its ankle the lower one in the image), the torso square to the
    camera, the left knee ``v`` leg lengths inside its hip-ankle line."""
    _square_shoulders(p)
    p[LM.LEFT_ANKLE, 1] = p[LM.RIGHT_ANKLE, 1] + 1.0
    _knee_medial("LEFT")(p, v)


def _neck_flexion(p: np.ndarray, v: float) -> None:
    """The ears (and the face with them) placed ``v`` deg off the hip->shoulder line towards
    the face side (image right in the base pose)."""
    s = _mid(p, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    h = _mid(p, LM.LEFT_HIP, LM.RIGHT_HIP)
    assert abs(s[0] - h[0]) < 1e-9 and p[LM.NOSE, 0] > p[LM.LEFT_EAR, 0]
    r = math.radians(v)
    ear = s + 50.0 * np.array([math.sin(r), -math.cos(r)])
    d = ear - _mid(p, LM.LEFT_EAR, LM.RIGHT_EAR)
    _shift(p, tuple(range(int(LM.NOSE), int(LM.MOUTH_RIGHT) + 1)), d)


#: Builders of rule-only features: ``(pose (33, 4), value) -> None`` (in place).
DERIVED_BUILDERS: dict[str, Callable[[np.ndarray, float], None]] = {
    "trunk_angle": _trunk_angle,
    "trunk_forward": _trunk_angle,  # the base pose faces image right: forward = image right
    "hip_line_dev": _hip_line_dev,
    "front_knee_past_toe": _front_knee_past_toe,
    "knee_min": _knee_min,
    "back_rounding": _back_rounding,
    "back_bulge": lambda p, v: None,  # the backend's measure, not a pose's: see rule_bulge
    "wrist_tilt": _wrist_tilt,
    "step_width": _step_width,
    "step_length": _step_length,
    "front_knee_medial": _front_knee_medial,
    "neck_flexion": _neck_flexion,
    **{f"{s.lower()}_knee_past_toe": _knee_past_toe(s) for s in ("LEFT", "RIGHT")},
    **{f"{s.lower()}_knee_hip_gap": _knee_hip_gap(s) for s in ("LEFT", "RIGHT")},
    **{f"{s.lower()}_knee_medial": _knee_medial(s) for s in ("LEFT", "RIGHT")},
    **{f"{s.lower()}_heel_rise": _heel_rise(s) for s in ("LEFT", "RIGHT")},
    **{f"{s.lower()}_arm_raise": _arm_raise(s) for s in ("LEFT", "RIGHT")},
    **{f"{s.lower()}_elbow_offset": _elbow_offset(s) for s in ("LEFT", "RIGHT")},
}

#: fn-features of the shared registry that are a plain 2D angle at idx[1] without world
#: landmarks (the tests pass none).
_ANGLE_FN = {"left_knee_fused", "right_knee_fused"}


def set_feature(pose: np.ndarray, name: str, value: float) -> None:
    """Move landmarks of ``pose`` (in place) so that registered feature ``name`` == ``value``.

    Raises:
        NoBuilder: no builder for this feature.
    """
    if name in DERIVED_BUILDERS:
        DERIVED_BUILDERS[name](pose, value)
        return
    f = FEATURES.get(name)
    if f is None:
        raise NoBuilder(f"no builder for feature {name!r}" + (
            " (a rule-only feature: add it to tests/rule_poses.py DERIVED_BUILDERS)"
            if name in RULE_FEATURES else ""))
    if f.op is not None:
        try:
            _kernel_builder(pose, f.op, f.idx, value)
        except NoBuilder as e:
            raise NoBuilder(f"no builder for feature {name!r}: {e}") from None
    elif name in _ANGLE_FN:
        _place_angle(pose, f.idx[0], f.idx[1], f.idx[2], value)
    else:
        raise NoBuilder(f"no builder for feature {name!r} (add one to tests/rule_poses.py)")


def pose_with(rule: Rule, value: float) -> np.ndarray:
    """The base pose with every feature the rule reads (both sides of a sided one) at
    ``value``; for a velocity rule, its base feature."""
    p = base_pose()
    for n in rule.feature_names:
        set_feature(p, n[: -len(VELOCITY_SUFFIX)] if n.endswith(VELOCITY_SUFFIX) else n, value)
    return p


#: Reductions measured on two levels of the feature, and their middle level per unit.
_DELTA = ("range", "spread", "rise", "fall")
_MIDDLE = {"deg": 90.0, "torso": 0.0, "ratio": 0.5}
_SIGNED_DEG = {"trunk_angle", "trunk_forward"}

#: The one-rep sequence of :func:`rule_sequence`: frames 0..N-1, turnaround at N // 2.
N_FRAMES = 41


def _unit(rule: Rule) -> tuple[str, str]:
    base = rule.feature_names[0]
    base = base[: -len(VELOCITY_SUFFIX)] if base.endswith(VELOCITY_SUFFIX) else base
    f = FEATURES.get(base) or RULE_FEATURES.get(base)
    return base, (f.unit if f is not None else "ratio")


def _middle(rule: Rule) -> float:
    base, unit = _unit(rule)
    if base in _SIGNED_DEG or base == "shoulder_elevation":
        return -0.5 if base == "shoulder_elevation" else 0.0
    return _MIDDLE.get(unit, 0.5)


def rule_bulge(rule: Rule, value: float, n: int) -> np.ndarray | None:
    """The backend's silhouette measure for ``n`` frames of a rule that reads it (``value``
    on every frame: its poses are the base pose, which has the trunk joints it needs); None
    for a rule that reads poses only."""
    reads = [RULE_FEATURES.get(nm) for nm in rule.feature_names]
    if not any(f is not None and f.silhouette for f in reads):
        return None
    return np.full(n, float(value))


def rule_sequence(rule: Rule, value: float) -> tuple[np.ndarray, float]:
    """A one-rep ``(T, 33, 4)`` sequence and its fps whose reduced rule value is ``value``.

    Rep rules: :data:`N_FRAMES` frames with the turnaround at ``N_FRAMES // 2`` (the frame
    :func:`formcoach.rules.engine.judge_sequence` uses for a pack without a counting signal);
    frame rules: constant poses for the hold time plus 0.5 s.
    """
    if rule.scope == "frame":
        fps = 30.0
        n = math.ceil((rule.hold_s + 0.5) * fps) + 2
        return np.stack([pose_with(rule, value)] * n), fps
    rep = RepEvent(0, 0, N_FRAMES // 2, N_FRAMES - 1, 0, 0, 0, math.nan, math.nan, math.nan,
                   counted_frame=N_FRAMES - 1, counted_ns=0)
    window = phase_window(rep, rule.phase, rep.counted_frame)
    if rule.feature.endswith(VELOCITY_SUFFIX):
        # A ramp at ``value`` units/s through the middle level; 100 fps: exact 10 ms steps.
        fps = 100.0
        mid = _middle(rule)
        levels = mid + value * (np.arange(N_FRAMES) - N_FRAMES // 2) / fps
        if _unit(rule)[1] == "deg" and not (0.0 < levels.min() and levels.max() < 180.0):
            raise NoBuilder(f"{rule.id}: a ramp of {value} deg/s leaves 0..180 deg")
        return np.stack([pose_with(rule, float(v)) for v in levels]), fps
    if rule.reduce not in _DELTA:
        return np.stack([pose_with(rule, value)] * N_FRAMES), 30.0
    lo, hi = _middle(rule) - 0.5 * value, _middle(rule) + 0.5 * value
    first, second = (hi, lo) if rule.reduce == "fall" else (lo, hi)
    half = window[0] + len(window) // 2
    steps = [first if i < half else second for i in range(N_FRAMES)]
    return np.stack([pose_with(rule, v) for v in steps]), 30.0
