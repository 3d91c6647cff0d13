"""Kinematic human model: segment lengths + joint angles (or contact targets) -> 33 3D landmarks.

World frame (metres, right-handed): ``+Y`` up, floor at ``y = 0``. The athlete's body frame has
``+X`` = the athlete's **left**, ``+Y`` = up, ``+Z`` = the direction they face. Limbs are posed
either by joint angles (forward kinematics, degrees) or by an end-effector target with a pole
direction for the middle joint (two-bone inverse kinematics, for planted hands and feet).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from formcoach.skeleton import LM, NUM_LANDMARKS

__all__ = [
    "BodyState",
    "Limb",
    "Proportions",
    "frame_from",
    "head_centre",
    "joint_angles",
    "joints_3d",
    "rot_x",
    "rot_y",
    "rot_z",
    "two_bone_ik",
]


def rot_x(deg: float) -> np.ndarray:
    """``(3, 3)`` rotation about +X by ``deg`` degrees (right-handed)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rot_y(deg: float) -> np.ndarray:
    """``(3, 3)`` rotation about +Y by ``deg`` degrees (right-handed)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rot_z(deg: float) -> np.ndarray:
    """``(3, 3)`` rotation about +Z by ``deg`` degrees (right-handed)."""
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-9:
        return np.array([0.0, 0.0, 1.0]) if fallback is None else fallback
    return v / n


def frame_from(up: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Body frame ``(3, 3)`` whose columns are (left, up, forward), from an up and a rough forward."""
    u = _unit(np.asarray(up, dtype=np.float64))
    f = np.asarray(forward, dtype=np.float64)
    f = _unit(f - (f @ u) * u, _unit(np.cross(u, [1.0, 0.0, 0.0])))
    left = np.cross(u, f)
    return np.column_stack([left, u, f])


def two_bone_ik(
    root: np.ndarray, target: np.ndarray, l1: float, l2: float, pole: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Place the middle joint of a two-bone chain (metres).

    Returns ``(mid, end)``: ``end`` is ``target`` pulled within reach, ``mid`` bends toward ``pole``.
    """
    d = target - root
    dist = float(np.linalg.norm(d))
    u = _unit(d, np.array([0.0, -1.0, 0.0]))
    dist = float(np.clip(dist, abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6))
    q = pole - (pole @ u) * u
    q = _unit(q, _unit(np.cross(u, [1.0, 0.0, 0.0])))
    ca = (l1 * l1 + dist * dist - l2 * l2) / (2.0 * l1 * dist)
    ca = float(np.clip(ca, -1.0, 1.0))
    mid = root + l1 * (ca * u + np.sqrt(1.0 - ca * ca) * q)
    return mid, root + dist * u


@dataclass(frozen=True, slots=True)
class Proportions:
    """Body size and proportions. Lengths are fractions of ``height_m`` (anthropometric defaults).

    ``leg`` and ``arm`` scale the limb lengths, ``girth`` the drawn limb thickness.
    """

    height_m: float = 1.75
    shoulder_width: float = 0.215
    hip_width: float = 0.115
    leg: float = 1.0
    arm: float = 1.0
    girth: float = 1.0

    @property
    def thigh(self) -> float:
        return 0.245 * self.height_m * self.leg

    @property
    def shank(self) -> float:
        return 0.246 * self.height_m * self.leg

    @property
    def upper_arm(self) -> float:
        return 0.186 * self.height_m * self.arm

    @property
    def forearm(self) -> float:
        return 0.146 * self.height_m * self.arm

    @property
    def hand(self) -> float:
        return 0.108 * self.height_m * self.arm

    @property
    def torso(self) -> float:
        """Hip centre to shoulder centre, m."""
        return 0.288 * self.height_m

    @property
    def neck(self) -> float:
        """Shoulder centre to head centre, m."""
        return 0.112 * self.height_m

    @property
    def head_radius(self) -> float:
        return 0.058 * self.height_m

    @property
    def foot(self) -> float:
        return 0.152 * self.height_m

    @property
    def ankle_height(self) -> float:
        return 0.039 * self.height_m

    @property
    def hip_height(self) -> float:
        """Hip joint height when standing straight, m."""
        return self.thigh + self.shank + self.ankle_height


@dataclass(slots=True)
class Limb:
    """One arm or leg, in the parent's (trunk's or pelvis's) left-side convention.

    Angles in degrees: ``flex`` forward, ``abd`` away from the midline, ``rot`` external axial
    rotation, ``bend`` elbow/knee flexion, ``ankle`` dorsiflexion. When ``target`` (world, m) is
    set the limb is solved by IK instead and the middle joint bends toward ``pole``.
    ``end_dir`` (world) points the hand/foot; None derives it from the limb.
    """

    flex: float = 0.0
    abd: float = 0.0
    rot: float = 0.0
    bend: float = 0.0
    ankle: float = 0.0
    target: np.ndarray | None = None
    pole: np.ndarray | None = None
    end_dir: np.ndarray | None = None


@dataclass(slots=True)
class BodyState:
    """Everything that fixes one frame's pose.

    ``root`` is the hip centre (world, m); ``pelvis``, ``trunk`` and ``head`` are ``(3, 3)`` frames
    whose columns are (left, up, forward) in world coordinates.
    """

    root: np.ndarray
    pelvis: np.ndarray
    trunk: np.ndarray
    head: np.ndarray
    left_arm: Limb = field(default_factory=Limb)
    right_arm: Limb = field(default_factory=Limb)
    left_leg: Limb = field(default_factory=Limb)
    right_leg: Limb = field(default_factory=Limb)


_DOWN = np.array([0.0, -1.0, 0.0])

# Face landmarks in the head frame, in head radii (left = +X).
_FACE = {
    LM.NOSE: (0.0, -0.12, 1.05),
    LM.LEFT_EYE_INNER: (0.2, 0.22, 0.95),
    LM.LEFT_EYE: (0.38, 0.24, 0.9),
    LM.LEFT_EYE_OUTER: (0.55, 0.24, 0.8),
    LM.LEFT_EAR: (0.95, 0.05, -0.05),
    LM.MOUTH_LEFT: (0.3, -0.5, 0.84),
}


def _mirror_lm(lm: LM) -> LM:
    return LM[lm.name.replace("LEFT", "RIGHT")]


def _fk_dirs(limb: Limb, is_leg: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper/lower/end direction vectors in the parent frame, left-side convention."""
    r = rot_z(limb.abd) @ rot_x(-limb.flex) @ rot_y(limb.rot)
    upper = r @ _DOWN
    lower_r = r @ rot_x(limb.bend if is_leg else -limb.bend)
    lower = lower_r @ _DOWN
    if is_leg:
        end = lower_r @ rot_x(-limb.ankle) @ np.array([0.0, 0.0, 1.0])
    else:
        end = lower
    return upper, lower, end


def _solve_limb(
    limb: Limb,
    root: np.ndarray,
    parent: np.ndarray,
    side: float,
    l1: float,
    l2: float,
    is_leg: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World ``(mid, end, end_dir)`` of a limb starting at ``root`` (parent frame ``(3, 3)``)."""
    if limb.target is not None:
        default_pole = parent[:, 2] if is_leg else -parent[:, 2]
        pole = default_pole if limb.pole is None else np.asarray(limb.pole, dtype=np.float64)
        mid, end = two_bone_ik(root, np.asarray(limb.target, dtype=np.float64), l1, l2, pole)
        lower = _unit(end - mid)
        end_dir = parent[:, 2] if is_leg else lower
    else:
        upper, lower_l, end_l = _fk_dirs(limb, is_leg)
        m = np.array([side, 1.0, 1.0])
        mid = root + l1 * (parent @ (upper * m))
        end = mid + l2 * (parent @ (lower_l * m))
        end_dir = parent @ (end_l * m)
    if limb.end_dir is not None:
        end_dir = np.asarray(limb.end_dir, dtype=np.float64)
    return mid, end, _unit(end_dir)


def joints_3d(state: BodyState, props: Proportions) -> np.ndarray:
    """The 33 BlazePose landmarks in world metres, ``(33, 3)`` float64."""
    p = props
    out = np.zeros((NUM_LANDMARKS, 3))
    root = np.asarray(state.root, dtype=np.float64)
    pel, tr, hd = state.pelvis, state.trunk, state.head
    half_hip = 0.5 * p.hip_width * p.height_m
    half_sh = 0.5 * p.shoulder_width * p.height_m
    sh_c = root + p.torso * tr[:, 1]
    head_c = sh_c + p.neck * hd[:, 1]
    for side, sgn in (("left", 1.0), ("right", -1.0)):
        up = side.upper()
        hip = root + sgn * half_hip * pel[:, 0]
        sh = sh_c + sgn * half_sh * tr[:, 0]
        arm, leg = ((state.left_arm, state.left_leg) if side == "left"
                    else (state.right_arm, state.right_leg))
        elbow, wrist, hdir = _solve_limb(arm, sh, tr, sgn, p.upper_arm, p.forearm, False)
        knee, ankle, fdir = _solve_limb(leg, hip, pel, sgn, p.thigh, p.shank, True)
        out[LM[f"{up}_SHOULDER"]] = sh
        out[LM[f"{up}_ELBOW"]] = elbow
        out[LM[f"{up}_WRIST"]] = wrist
        out[LM[f"{up}_HIP"]] = hip
        out[LM[f"{up}_KNEE"]] = knee
        out[LM[f"{up}_ANKLE"]] = ankle
        # Hand: thumb on the lateral side of the forearm direction.
        lat = sgn * tr[:, 0]
        lat = _unit(lat - (lat @ hdir) * hdir, _unit(np.cross(hdir, tr[:, 2])))
        out[LM[f"{up}_INDEX"]] = wrist + p.hand * (0.75 * hdir + 0.08 * lat)
        out[LM[f"{up}_PINKY"]] = wrist + p.hand * (0.62 * hdir - 0.3 * lat)
        out[LM[f"{up}_THUMB"]] = wrist + p.hand * (0.42 * hdir + 0.35 * lat)
        # Foot: heel behind and below the ankle, toes ahead along the foot direction.
        shank_up = _unit(knee - ankle)
        fup = _unit(shank_up - (shank_up @ fdir) * fdir, np.array([0.0, 1.0, 0.0]))
        out[LM[f"{up}_HEEL"]] = ankle + p.foot * (-0.24 * fdir) - 0.8 * p.ankle_height * fup
        out[LM[f"{up}_FOOT_INDEX"]] = ankle + p.foot * (0.72 * fdir) - 0.8 * p.ankle_height * fup
    for lm, (x, y, z) in _FACE.items():
        for sgn, idx in ((1.0, lm), (-1.0, _mirror_lm(lm))):
            local = np.array([x * sgn, y, z]) * p.head_radius
            out[idx] = head_c + hd @ local
    return out


def head_centre(state: BodyState, props: Proportions) -> np.ndarray:
    """World position of the head's centre, m ``(3,)``."""
    sh_c = np.asarray(state.root) + props.torso * state.trunk[:, 1]
    return sh_c + props.neck * state.head[:, 1]


def joint_angles(j3: np.ndarray, triples: dict[str, tuple[int, int, int]]) -> dict[str, np.ndarray]:
    """Angles in degrees at each triple's vertex for ``(..., 33, D)`` points; 180 = straight."""
    out: dict[str, np.ndarray] = {}
    for name, (a, b, c) in triples.items():
        v1 = j3[..., a, :] - j3[..., b, :]
        v2 = j3[..., c, :] - j3[..., b, :]
        n = np.linalg.norm(v1, axis=-1) * np.linalg.norm(v2, axis=-1)
        cos = np.sum(v1 * v2, axis=-1) / np.where(n > 0, n, np.nan)
        out[name] = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out

