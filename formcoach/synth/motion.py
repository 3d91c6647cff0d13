"""Exercises as motion: a rep timeline, fault weights and per-frame :class:`BodyState`.

Each exercise maps a rep *depth* ``d`` in [0, 1] (0 = rest position, 1 = the turnaround: squat
bottom, curl top, press lockout) plus fault weights to a body pose. The timeline adds a non-rep
setup movement first, per-rep tempo jitter, pauses and gentle sway; everything is seeded.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from formcoach.synth.body import BodyState, Limb, Proportions, frame_from, rot_x, rot_y, rot_z
from formcoach.synth.spec import SynthSpec

__all__ = ["DEFAULT_TEMPO_S", "Motion", "RepTime", "build_motion"]

#: Seconds per rep (down + up) when a spec gives none.
DEFAULT_TEMPO_S: dict[str, float] = {
    "squat": 2.0,
    "pushup": 1.6,
    "lunge": 2.2,
    "bicep_curl": 1.8,
    "shoulder_press": 2.0,
    "jumping_jack": 1.0,
    "situp": 2.0,
    "plank": 1.0,
}

_SETUP_FOR = {
    "squat": "arm_swing",
    "bicep_curl": "arm_swing",
    "shoulder_press": "arm_swing",
    "jumping_jack": "arm_swing",
    "lunge": "step_in",
    "pushup": "settle",
    "plank": "settle",
    "situp": "settle",
}

_UP = np.array([0.0, 1.0, 0.0])
_FWD = np.array([0.0, 0.0, 1.0])
_DOWN = -_UP


@dataclass(frozen=True, slots=True)
class RepTime:
    """One rep's instants, seconds: start (leaves rest), bottom (turnaround), end (back at rest);
    ``velocity_loss_pct``: how much slower its concentric is than the first rep's (the spec's
    ``velocity_loss`` profile; 0 without one)."""

    start_s: float
    bottom_s: float
    end_s: float
    pause_s: float
    velocity_loss_pct: float = 0.0


#: Exercises whose lift (concentric) is the move away from rest (depth 0 -> 1); for the others
#: it is the way back (1 -> 0). As the packs' ``[metrics] concentric``.
CONCENTRIC_AWAY = ("bicep_curl", "shoulder_press", "situp")


def _with_velocity_loss(reps: list[RepTime], loss_pct: float, away: bool
                        ) -> tuple[list[RepTime], float]:
    """``reps`` with rep ``i``'s concentric (the move away from rest when ``away``, else the
    way back) lasting ``T_0 / (1 - VL_i / 100)``, VL rising linearly from 0 (rep 0) to
    ``loss_pct`` (the last rep); the other phase, pauses and rests kept, later reps shifted.
    Returns the reps and the seconds added."""
    n = len(reps)
    r0 = reps[0]
    t0 = (r0.bottom_s - 0.5 * r0.pause_s - r0.start_s) if away else \
        (r0.end_s - (r0.bottom_s + 0.5 * r0.pause_s))
    out: list[RepTime] = []
    for i, r in enumerate(reps):
        vl = loss_pct * i / (n - 1) if n > 1 else 0.0
        slow = t0 / (1.0 - vl / 100.0)
        start = r.start_s if i == 0 else out[-1].end_s + (r.start_s - reps[i - 1].end_s)
        down = slow if away else r.bottom_s - 0.5 * r.pause_s - r.start_s
        up = (r.end_s - (r.bottom_s + 0.5 * r.pause_s)) if away else slow
        bottom = start + down + 0.5 * r.pause_s
        out.append(RepTime(start, bottom, bottom + 0.5 * r.pause_s + up, r.pause_s, vl))
    return out, (out[-1].end_s - reps[-1].end_s) if reps else 0.0


def _ease(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * x)


def _ramp(t: float, a: float, b: float, edge: float) -> float:
    """1 inside [a, b], easing to 0 over ``edge`` seconds at both ends."""
    if t <= a or t >= b:
        return 0.0
    e = min(edge, 0.5 * (b - a))
    return _ease(min((t - a) / e, (b - t) / e, 1.0))


@dataclass
class Motion:
    """A sampled motion: ``state(t)`` gives the :class:`BodyState` at ``t`` seconds."""

    spec: SynthSpec
    props: Proportions
    reps: list[RepTime]
    duration_s: float
    fault_spans: list[dict[str, object]]
    state: Callable[[float], BodyState]


def _timeline(spec: SynthSpec, rng: np.random.Generator) -> tuple[list[RepTime], float]:
    tempo = spec.tempo_s or DEFAULT_TEMPO_S[spec.exercise]
    t = spec.setup_s if _setup_kind(spec) != "none" else 0.3
    if spec.is_hold:
        return [], t + spec.hold_s + spec.tail_s
    reps: list[RepTime] = []
    for _ in range(spec.reps):
        tr = tempo * (1.0 + spec.tempo_jitter * float(rng.uniform(-1.0, 1.0)))
        pause = spec.pause_bottom_s * float(rng.uniform(0.7, 1.3))
        start = t
        bottom = start + 0.5 * tr + 0.5 * pause
        end = start + tr + pause
        reps.append(RepTime(start, bottom, end, pause))
        t = end + spec.pause_top_s * float(rng.uniform(0.6, 1.4))
    return reps, t + spec.tail_s


def _depth(t: float, reps: list[RepTime]) -> tuple[int, float, float]:
    """(rep index or -1, depth 0..1, progress 0..1 through the rep) at time ``t``."""
    for i, r in enumerate(reps):
        if r.start_s <= t < r.end_s:
            prog = (t - r.start_s) / (r.end_s - r.start_s)
            down_end = r.bottom_s - 0.5 * r.pause_s
            up_start = r.bottom_s + 0.5 * r.pause_s
            if t < down_end:
                d = _ease((t - r.start_s) / (down_end - r.start_s))
            elif t <= up_start:
                d = 1.0
            else:
                d = _ease(1.0 - (t - up_start) / (r.end_s - up_start))
            return i, d, prog
    return -1, 0.0, 0.0


def _setup_kind(spec: SynthSpec) -> str:
    return _SETUP_FOR[spec.exercise] if spec.setup == "auto" else spec.setup


def _std_frames(lean_deg: float = 0.0, side_deg: float = 0.0, neck_deg: float = 0.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pelvis, trunk and head frames for an upright athlete facing +Z."""
    pelvis = np.eye(3)
    trunk = rot_x(lean_deg) @ rot_z(side_deg)
    head = trunk @ rot_x(neck_deg)
    return pelvis, trunk, head


def _legs_standing(p: Proportions, root: np.ndarray, half_w: float, toe_out: float = 10.0,
                   lift: tuple[float, float] = (0.0, 0.0), zoff: tuple[float, float] = (0.0, 0.0)
                   ) -> tuple[Limb, Limb]:
    legs = []
    for k, sgn in enumerate((1.0, -1.0)):
        target = np.array([sgn * half_w, p.ankle_height + lift[k], zoff[k]])
        a = math.radians(toe_out)
        fwd = np.array([sgn * math.sin(a), 0.0, math.cos(a)])
        legs.append(Limb(target=target, pole=fwd, end_dir=fwd))
    return legs[0], legs[1]


def _standing_hip_y(p: Proportions, half_w: float, lift: float = 0.0, bend: float = 0.985
                    ) -> float:
    dx = half_w - 0.5 * p.hip_width * p.height_m
    reach = bend * (p.thigh + p.shank)
    return p.ankle_height + lift + math.sqrt(max(reach * reach - dx * dx, 1e-6))


class _Ctx:
    """Per-sample constants: proportions, seeded sway phases."""

    def __init__(self, spec: SynthSpec, props: Proportions, rng: np.random.Generator) -> None:
        self.spec = spec
        self.p = props
        self.ph = rng.uniform(0.0, 2.0 * math.pi, size=6)
        self.amp = spec.sway

    def sway(self, t: float) -> tuple[np.ndarray, float]:
        """Root offset (m, world) and trunk side-bend (deg) at ``t``."""
        a = self.amp
        off = np.array([
            0.010 * a * math.sin(2 * math.pi * 0.23 * t + self.ph[0]),
            0.003 * a * math.sin(2 * math.pi * 0.31 * t + self.ph[1]),
            0.008 * a * math.sin(2 * math.pi * 0.17 * t + self.ph[2]),
        ])
        return off, 1.0 * a * math.sin(2 * math.pi * 0.21 * t + self.ph[3])


# --------------------------------------------------------------------------------------------
# Standing exercises. Each returns the pose for depth d, fault weights w, at time t.

def _arm(flex: float = 0.0, abd: float = 8.0, rot: float = 0.0, bend: float = 10.0) -> Limb:
    return Limb(flex=flex, abd=abd, rot=rot, bend=bend)


def _squat_hip(p: Proportions, kf: float) -> tuple[float, float]:
    """Hip (y, z) in m over the ankle for knee flexion ``kf`` deg, legs in the sagittal plane:
    the shank takes 36 % of the flexion (forward), the thigh the rest (back)."""
    alpha = math.radians(0.36 * kf)
    beta = math.radians(kf) - alpha
    knee_y = p.ankle_height + p.shank * math.cos(alpha)
    knee_z = p.shank * math.sin(alpha)
    return knee_y + p.thigh * math.cos(beta), knee_z - p.thigh * math.sin(beta)


def _squat(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    p = c.p
    # A shallow squat stops with the thighs well above parallel (a half squat, knee ~110 deg);
    # shallower than that is a quarter squat, which the counter does not count as a rep.
    kf_bottom = 112.0 * (1.0 - 0.35 * w.get("shallow_squat", 0.0))
    kf = kf_bottom * d
    beta = kf - 0.36 * kf
    half_w = 0.105 * p.height_m
    hip_y, hip_z = _squat_hip(p, kf)
    # The sagittal-plane hip is higher than the standing one (the standing legs are abducted
    # and a little bent). Shift it down by that gap, fading to nothing at the bottom, so d = 0
    # is exactly the standing pose, the hip drops as soon as d > 0 and the bottom is unchanged.
    top_y, bottom_y = _squat_hip(p, 0.0)[0], _squat_hip(p, kf_bottom)[0]
    gap = top_y - _standing_hip_y(p, half_w)
    hip_y -= gap * (hip_y - bottom_y) / (top_y - bottom_y)
    off, side = c.sway(t)
    root = np.array([0.0, hip_y, hip_z]) + off
    lean = 0.55 * beta + 4.0 * d
    pelvis, trunk, head = _std_frames(lean, side, -0.6 * lean)
    pelvis = rot_x(0.5 * lean)
    ll, rl = _legs_standing(p, root, half_w, toe_out=12.0)
    valgus = 40.0 * w.get("knee_valgus", 0.0) * d
    for limb, sgn in ((ll, 1.0), (rl, -1.0)):
        a = math.radians(12.0 - valgus)
        limb.pole = np.array([sgn * math.sin(a), 0.0, math.cos(a)])
    arm_flex = 10.0 + 75.0 * d
    return BodyState(root, pelvis, trunk, head, _arm(arm_flex, 8.0, 0.0, 10.0 + 10.0 * d),
                     _arm(arm_flex, 8.0, 0.0, 10.0 + 10.0 * d), ll, rl)


def _curl(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    p = c.p
    half_w = 0.09 * p.height_m
    off, side = c.sway(t)
    swing = w.get("torso_swing", 0.0) * math.sin(math.pi * min(d * 1.4, 1.0))
    root = np.array([0.0, _standing_hip_y(p, half_w), 0.0]) + off
    root[2] += 0.04 * swing
    lean = 2.0 - 20.0 * swing
    pelvis, trunk, head = _std_frames(lean, side, -lean)
    de = d * (1.0 - 0.5 * w.get("partial_curl", 0.0))
    bend = 12.0 + 128.0 * de
    flex = 4.0 + 8.0 * de + 28.0 * swing
    ll, rl = _legs_standing(p, root, half_w)
    return BodyState(root, pelvis, trunk, head, _arm(flex, 10.0, 0.0, bend),
                     _arm(flex, 10.0, 0.0, bend), ll, rl)


def _press(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    p = c.p
    half_w = 0.1 * p.height_m
    off, side = c.sway(t)
    root = np.array([0.0, _standing_hip_y(p, half_w), 0.0]) + off
    pelvis, trunk, head = _std_frames(-2.0, side, 2.0)
    de = d * (1.0 - 0.4 * w.get("incomplete_lockout", 0.0))
    abd = 72.0 + 100.0 * de
    bend = 100.0 * (1.0 - de) + 3.0
    ll, rl = _legs_standing(p, root, half_w)
    return BodyState(root, pelvis, trunk, head, _arm(12.0, abd, 90.0, bend),
                     _arm(12.0, abd, 90.0, bend), ll, rl)


def _jack(c: _Ctx, d: float, w: dict[str, float], t: float, prog: float) -> BodyState:
    p = c.p
    hop = 0.05 * abs(math.sin(2.0 * math.pi * prog)) if 0.0 < prog < 1.0 else 0.0
    half_w = (0.07 + 0.12 * d) * p.height_m
    off, side = c.sway(t)
    off *= 0.5
    root = np.array([0.0, _standing_hip_y(p, half_w) + hop, 0.0]) + off
    pelvis, trunk, head = _std_frames(1.0, 0.5 * side, 0.0)
    da = d * (1.0 - 0.5 * w.get("partial_jack", 0.0))
    abd = 10.0 + 155.0 * da
    ll, rl = _legs_standing(p, root, half_w, toe_out=12.0, lift=(hop, hop))
    return BodyState(root, pelvis, trunk, head, _arm(5.0, abd, 0.0, 12.0),
                     _arm(5.0, abd, 0.0, 12.0), ll, rl)


def _lunge_pose(c: _Ctx, d: float, w: dict[str, float], t: float,
                zf: float, zb: float, lift: tuple[float, float] = (0.0, 0.0)) -> BodyState:
    """Split-stance lunge: left foot at ``zf`` (forward), right at ``zb`` (back), depth ``d``."""
    p = c.p
    half_w = 0.06 * p.height_m
    de = d * (1.0 - 0.55 * w.get("shallow_lunge", 0.0))
    hz = 0.04 * de * p.height_m + 0.09 * p.height_m * w.get("knee_over_toe", 0.0) * d
    heel = 0.06 * min(1.0, abs(zb) / (0.2 * p.height_m))
    leg = p.thigh + p.shank
    ay = p.ankle_height

    def top_y(z_ankle: float, y_ankle: float) -> float:
        dz = hz - z_ankle
        return y_ankle + math.sqrt(max((0.985 * leg) ** 2 - dz * dz, 0.01))

    y_top = min(top_y(zf, ay + lift[0]), top_y(zb, ay + heel + lift[1]))
    knee90 = math.sqrt(p.thigh**2 + p.shank**2)
    dzf = max(abs(zf - hz), 0.05)
    y_bot = ay + math.sqrt(max(knee90**2 - dzf**2, 0.04))
    y_bot = min(y_bot, y_top)
    off, side = c.sway(t)
    root = np.array([0.0, y_top - de * (y_top - y_bot), hz]) + off
    pelvis, trunk, head = _std_frames(4.0, side, -4.0)
    left = Limb(target=np.array([half_w, ay + lift[0], zf]), pole=_FWD, end_dir=_FWD)
    back_dir = np.array([0.0, -0.45 * heel / 0.06, 1.0])
    right = Limb(target=np.array([-half_w, ay + heel + lift[1], zb]), pole=_FWD + 0.3 * _DOWN,
                 end_dir=back_dir)
    return BodyState(root, pelvis, trunk, head, _arm(8.0, 12.0, 0.0, 15.0),
                     _arm(8.0, 12.0, 0.0, 15.0), left, right)


# --------------------------------------------------------------------------------------------
# Floor exercises: the body lies along +Z (pushup/plank: head toward +Z, facing the floor).

def _solve_leg_angle(p: Proportions, ay: float, y_s: float, s_deg: float) -> float:
    """Leg elevation (deg) such that the shoulder centre is at height ``y_s`` (bisection)."""
    leg = p.thigh + p.shank
    lo, hi = -20.0, 70.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        y = ay + leg * math.sin(math.radians(mid)) + p.torso * math.sin(math.radians(mid + s_deg))
        if y < y_s:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _prone(c: _Ctx, y_s: float, s_deg: float, t: float, forearm: bool,
           hand_z: float | None, neck: float = -12.0) -> tuple[BodyState, float]:
    """Prone straight-ish body with shoulders at ``y_s`` m; ``s_deg`` > 0 sags the hips.

    Returns the state and the shoulder-centre z (for placing hands)."""
    p = c.p
    ay = 0.8 * p.foot
    leg = p.thigh + p.shank
    az = -0.55 * (leg + p.torso)
    th = _solve_leg_angle(p, ay, y_s, s_deg)
    tl, tt = math.radians(th), math.radians(th + s_deg)
    off, side = c.sway(t)
    off = off * np.array([1.0, 0.3, 0.3])
    hip = np.array([0.0, ay + leg * math.sin(tl), az + leg * math.cos(tl)]) + off
    leg_up = np.array([0.0, math.sin(tl), math.cos(tl)])
    trunk_up = np.array([0.0, math.sin(tt), math.cos(tt)])
    sh_z = float(hip[2] + p.torso * trunk_up[2])
    pelvis = frame_from(leg_up, _DOWN)
    trunk = frame_from(trunk_up, _DOWN) @ rot_z(0.5 * side)
    head = trunk @ rot_x(neck)
    half_f = 0.045 * p.height_m
    foot_dir = np.array([0.0, -math.cos(tl), math.sin(tl)])
    legs = [Limb(target=np.array([sgn * half_f, ay, az]), pole=_DOWN, end_dir=foot_dir)
            for sgn in (1.0, -1.0)]
    arms = []
    hz = sh_z if hand_z is None else hand_z
    for sgn in (1.0, -1.0):
        if forearm:
            target = np.array([sgn * 0.05 * p.height_m, 0.045, hz + 0.97 * p.forearm])
            pole = np.array([0.0, -1.0, -0.6])
        else:
            target = np.array([sgn * (0.5 * p.shoulder_width + 0.035) * p.height_m, 0.03, hz])
            pole = np.array([sgn * 0.8, 0.2, -1.0])
        arms.append(Limb(target=target, pole=pole, end_dir=_FWD if forearm else
                         np.array([sgn * 0.15, 0.0, 1.0])))
    return BodyState(hip, pelvis, trunk, head, arms[0], arms[1], legs[0], legs[1]), sh_z


def _pushup_ys(p: Proportions, d: float) -> float:
    arm = p.upper_arm + p.forearm
    off = 0.035 * p.height_m * math.sqrt(2.0)  # hands: a little wider and ahead of the shoulders
    y_top = 0.03 + math.sqrt((0.99 * arm) ** 2 - off**2)
    y_bot = 0.03 + 0.5 * arm
    return y_top - d * (y_top - y_bot)


def _pushup(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    p = c.p
    de = max(d, 0.35 * w.get("incomplete_lockout", 0.0))
    s = 26.0 * w.get("hip_sag", 0.0) - 32.0 * w.get("hip_pike", 0.0)
    _, hand_z = _prone(c, _pushup_ys(p, 0.0), 0.0, 0.0, False, None)
    state, _ = _prone(c, _pushup_ys(p, de), s, t, False, hand_z + 0.035 * p.height_m)
    return state


def _plank(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    p = c.p
    y_s = 0.045 + 0.97 * p.upper_arm
    s = 26.0 * w.get("hip_sag", 0.0) - 32.0 * w.get("hip_pike", 0.0)
    _, sh_z = _prone(c, y_s, 0.0, 0.0, True, None)
    breath = 0.004 * math.sin(2 * math.pi * 0.25 * t)
    state, _ = _prone(c, y_s + breath, s, t, True, sh_z)
    return state


def _situp(c: _Ctx, d: float, w: dict[str, float], t: float) -> BodyState:
    """Supine, knees bent, feet flat; head toward -Z, trunk rises by ``d``."""
    p = c.p
    de = d * (1.0 - 0.55 * w.get("partial_situp", 0.0))
    phi = math.radians(2.0 + 70.0 * de)
    root_y = 0.085 * p.height_m / 1.75 + 0.02  # pelvis resting on the floor
    off, _side = c.sway(t)
    off = off * np.array([0.5, 0.0, 0.3])
    root = np.array([0.0, root_y, 0.0]) + off
    trunk_up = np.array([0.0, math.sin(phi), -math.cos(phi)])
    chest = np.array([0.0, math.cos(phi), math.sin(phi)])
    trunk = frame_from(trunk_up, chest)
    pl = 0.25 * phi
    pelvis = frame_from(np.array([0.0, math.sin(pl), -math.cos(pl)]),
                        np.array([0.0, math.cos(pl), math.sin(pl)]))
    head = trunk @ rot_x(12.0 + 18.0 * de)
    knee_ang = math.radians(80.0)
    dist = math.sqrt(p.thigh**2 + p.shank**2 - 2 * p.thigh * p.shank * math.cos(knee_ang))
    dy = root_y - p.ankle_height
    dz = math.sqrt(max(dist**2 - dy**2, 0.01))
    half_f = 0.07 * p.height_m
    legs = [Limb(target=np.array([sgn * half_f, p.ankle_height, dz]), pole=_UP + 0.2 * _FWD,
                 end_dir=_FWD) for sgn in (1.0, -1.0)]
    arm = Limb(flex=30.0 + 25.0 * de, abd=12.0, rot=0.0, bend=10.0)
    arm2 = Limb(flex=30.0 + 25.0 * de, abd=12.0, rot=0.0, bend=10.0)
    return BodyState(root, pelvis, trunk, head, arm, arm2, legs[0], legs[1])


# --------------------------------------------------------------------------------------------
# Setup movements (before the first rep; never shaped like a rep).

def _lerp_limb(a: Limb, b: Limb, s: float) -> Limb:
    if a.target is not None or b.target is not None:
        return b if s >= 0.5 else a
    return Limb(flex=a.flex + s * (b.flex - a.flex), abd=a.abd + s * (b.abd - a.abd),
                rot=a.rot + s * (b.rot - a.rot), bend=a.bend + s * (b.bend - a.bend),
                end_dir=b.end_dir)


def _with_setup(c: _Ctx, kind: str, t: float, setup_end: float,
                rest: Callable[[float], BodyState]) -> BodyState:
    """Pose at ``t`` < ``setup_end``: the exercise's rest pose plus a setup movement."""
    u = t / setup_end if setup_end > 0 else 1.0
    base = rest(t)
    if kind == "arm_swing":
        # Arms swing loosely, then settle into the rest pose; one foot steps out sideways.
        amp = 35.0 * (1.0 - _ease((u - 0.55) / 0.45))
        swing = amp * math.sin(2.0 * math.pi * 1.1 * t)
        blend = _ease((u - 0.55) / 0.45)
        base.left_arm = _lerp_limb(Limb(flex=swing, abd=8.0, bend=15.0 + 0.3 * abs(swing)),
                                   base.left_arm, blend)
        base.right_arm = _lerp_limb(Limb(flex=-swing, abd=8.0, bend=15.0 + 0.3 * abs(swing)),
                                    base.right_arm, blend)
        if base.left_leg.target is not None:
            step = _ease((u - 0.1) / 0.4)
            lift = 0.07 * math.sin(math.pi * min(max((u - 0.1) / 0.4, 0.0), 1.0))
            tgt = base.left_leg.target.copy()
            rx = base.right_leg.target[0] if base.right_leg.target is not None else -tgt[0]
            tgt[0] = -rx * 0.4 + step * (tgt[0] + rx * 0.4)
            tgt[1] += lift
            base.left_leg.target = tgt
        return base
    if kind == "walk_in":
        return _walk_in(c, t, u, base)
    if kind == "settle":
        # Weight shift and a head turn, with a small hip wiggle (well below a rep's range).
        b = math.sin(math.pi * u)
        base.root = base.root + np.array([0.03 * b * math.sin(2 * math.pi * 1.3 * t), 0.0, 0.0])
        base.head = base.head @ np.array(
            [[math.cos(0.4 * b), 0.0, math.sin(0.4 * b)], [0.0, 1.0, 0.0],
             [-math.sin(0.4 * b), 0.0, math.cos(0.4 * b)]])
        return base
    return base


def _yawed(state: BodyState, yaw_deg: float) -> BodyState:
    """``state`` turned by ``yaw_deg`` about the vertical axis through the world origin."""
    r = rot_y(yaw_deg)

    def limb(lb: Limb) -> Limb:
        return Limb(lb.flex, lb.abd, lb.rot, lb.bend, lb.ankle,
                    None if lb.target is None else r @ lb.target,
                    None if lb.pole is None else r @ lb.pole,
                    None if lb.end_dir is None else r @ lb.end_dir)

    return BodyState(r @ state.root, r @ state.pelvis, r @ state.trunk, r @ state.head,
                     limb(state.left_arm), limb(state.right_arm), limb(state.left_leg),
                     limb(state.right_leg))


def _walk_in(c: _Ctx, t: float, u: float, rest: BodyState) -> BodyState:
    """Walk in from the athlete's right (u < 0.55), turn to face +Z, settle into ``rest``."""
    p = c.p
    dist, stride, half_w = 0.9 * p.height_m / 1.75, 0.55 * p.height_m / 1.75, 0.06 * p.height_m
    if u >= 0.55:
        turn = _ease((u - 0.55) / 0.3)
        blend = _ease((u - 0.7) / 0.3)
        rest.left_arm = _lerp_limb(Limb(abd=8.0, bend=12.0), rest.left_arm, blend)
        rest.right_arm = _lerp_limb(Limb(abd=8.0, bend=12.0), rest.right_arm, blend)
        return _yawed(rest, 90.0 * (1.0 - turn))
    pz = -dist + dist * (u / 0.55)  # steady walking speed
    legs = []
    for k, sgn in enumerate((1.0, -1.0)):
        q = (pz + dist) / stride - 0.5 * k
        n = math.floor(q)
        f = q - n
        e = _ease(min(f / 0.4, 1.0))
        rel = stride * (e - f) - 0.35 * stride
        lift = 0.07 * math.sin(math.pi * min(f / 0.4, 1.0)) if f < 0.4 else 0.0
        legs.append(Limb(target=np.array([sgn * half_w, p.ankle_height + lift, pz + rel]),
                         pole=_FWD, end_dir=_FWD))
    ph = 2.0 * math.pi * (pz + dist) / stride
    off, side_bend = c.sway(t)
    root = np.array([0.0, _standing_hip_y(p, half_w) - 0.015 * abs(math.sin(ph)), pz])
    pelvis, trunk, head = _std_frames(3.0, 0.5 * side_bend, -3.0)
    arms = [Limb(flex=sgn * 22.0 * math.sin(ph), abd=8.0, bend=15.0) for sgn in (1.0, -1.0)]
    walk = BodyState(root + 0.3 * off, pelvis, trunk, head, arms[0], arms[1], legs[0], legs[1])
    return _yawed(walk, 90.0)


def build_motion(spec: SynthSpec) -> Motion:
    """The seeded motion of one spec (timeline, faults, pose function)."""
    rng = np.random.default_rng(spec.seed)
    props = Proportions(height_m=spec.body_height_m, leg=spec.leg, arm=spec.arm,
                        girth=spec.girth)
    reps, duration = _timeline(spec, rng)
    c = _Ctx(spec, props, rng)
    kind = _setup_kind(spec)
    setup_end = reps[0].start_s if reps else (spec.setup_s if kind != "none" else 0.3)
    depth_scale = [float(rng.uniform(0.94, 1.0)) for _ in reps]
    if spec.velocity_loss > 0 and reps:
        # Full depth on every rep: the concentric path is the same, its speed the profile's.
        depth_scale = [1.0] * len(reps)
        reps, added = _with_velocity_loss(reps, spec.velocity_loss,
                                          spec.exercise in CONCENTRIC_AWAY)
        duration += added

    spans: list[dict[str, object]] = []
    rep_faults: list[tuple[str, float, set[int]]] = []
    time_faults: list[tuple[str, float, float, float]] = []
    for f in spec.faults:
        if f.start_s is not None and f.end_s is not None:
            a, b = min(f.start_s, duration), min(f.end_s, duration)
            time_faults.append((f.type, f.severity, a, b))
            spans.append({"type": f.type, "start_s": a, "end_s": b, "rep_index": None,
                          "severity": f.severity})
        else:
            idx = set(range(len(reps))) if f.reps is None else set(f.reps)
            rep_faults.append((f.type, f.severity, idx))
            for i in sorted(idx):
                spans.append({"type": f.type, "start_s": reps[i].start_s, "end_s": reps[i].end_s,
                              "rep_index": i, "severity": f.severity})
    spans.sort(key=lambda s: (float(s["start_s"]), str(s["type"])))  # type: ignore[arg-type]

    ex = spec.exercise
    # Windows around each rep reaching into the rest pauses (never into a neighbouring rep).
    pads = [(r.start_s - min(0.3, 0.5 * (r.start_s - (reps[k - 1].end_s if k else 0.0))),
             r.end_s + min(0.3, 0.5 * ((reps[k + 1].start_s if k + 1 < len(reps) else duration)
                                       - r.end_s)))
            for k, r in enumerate(reps)]
    zf, zb = 0.26 * props.height_m, -0.27 * props.height_m

    def pose_at(t: float, d: float, w: dict[str, float], prog: float) -> BodyState:
        if ex == "squat":
            return _squat(c, d, w, t)
        if ex == "bicep_curl":
            return _curl(c, d, w, t)
        if ex == "shoulder_press":
            return _press(c, d, w, t)
        if ex == "jumping_jack":
            return _jack(c, d, w, t, prog)
        if ex == "lunge":
            return _lunge_pose(c, d, w, t, zf, zb)
        if ex == "pushup":
            return _pushup(c, d, w, t)
        if ex == "plank":
            return _plank(c, d, w, t)
        return _situp(c, d, w, t)

    def state(t: float) -> BodyState:
        i, d, prog = _depth(t, reps)
        w: dict[str, float] = {}
        if i >= 0:
            d *= depth_scale[i]
            edge = 0.12 * (reps[i].end_s - reps[i].start_s)
            for ftype, sev, idx in rep_faults:
                if i in idx:
                    shaped = sev if ftype in ("shallow_squat", "partial_curl", "shallow_lunge",
                                              "partial_jack", "partial_situp") else \
                        sev * _ramp(t, reps[i].start_s - 1e-9, reps[i].end_s + 1e-9, edge)
                    w[ftype] = w.get(ftype, 0.0) + shaped
        for ftype, sev, idx in rep_faults:
            if ex == "pushup" and ftype == "incomplete_lockout":
                # The lockout happens at rest (between reps): ease in before the rep starts.
                w[ftype] = max(sev * _ramp(t, *pads[k], 0.12) for k in idx)
        for ftype, sev, a, b in time_faults:
            w[ftype] = w.get(ftype, 0.0) + sev * _ramp(t, a, b, 0.35)
        if t < setup_end and kind != "none":
            if ex == "lunge":
                u = t / setup_end
                s1 = _ease((u - 0.05) / 0.4)
                s2 = _ease((u - 0.5) / 0.4)
                l1 = 0.08 * math.sin(math.pi * min(max((u - 0.05) / 0.4, 0.0), 1.0))
                l2 = 0.08 * math.sin(math.pi * min(max((u - 0.5) / 0.4, 0.0), 1.0))
                return _lunge_pose(c, 0.0, {}, t, s1 * zf, s2 * zb, (l1, l2))
            return _with_setup(c, kind, t, setup_end, lambda tt: pose_at(tt, 0.0, w, 0.0))
        return pose_at(t, d, w, prog)

    return Motion(spec, props, reps, duration, spans, state)
