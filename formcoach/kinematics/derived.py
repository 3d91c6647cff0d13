"""Rule-specific derived features, beside the shared registry of :mod:`formcoach.kinematics.features`.

Rules may name any feature of the shared registry or one of these (each a ``fn=``
:class:`~formcoach.kinematics.features.Feature`: ``(poses (T, 33, 4), fps) -> (T,)``, also used
per frame with ``T = 1``). They need more than a kernel op: a facing direction, a choice of the
front leg, or a signed offset from a line. They live in their own registry
(:data:`RULE_FEATURES`) so that the coach's per-frame extractor does not pay for them; only the
rules engine computes the ones its rules use (:class:`RuleFeatureExtractor`).

=============================  ======  =========================================================
name                           unit    meaning
=============================  ======  =========================================================
trunk_angle                    deg     hip mid -> shoulder mid vs image-up, signed (+ = leaning
                                       to image right); for sway (range/spread) in any view
trunk_forward                  deg     the same, signed by the facing direction (+ = leaning
                                       forward, - = leaning back); needs a side view
facing                         ratio   +1 facing image right, -1 facing image left, NaN unknown
hip_line_dev                   ratio   hip height above the shoulder-ankle line / shoulder-ankle
                                       distance (+ = hips high/pike, - = hips sag)
front_knee_past_toe            ratio   front leg: knee x past toe tip x along the facing
                                       direction / shank length (+ = knee ahead of the toes)
knee_min                       deg     the smaller (more bent) of the two knee angles
left_/right_heel_rise          ratio   heel above toe tip / foot length (0 = flat foot)
left_/right_elbow_offset       torso   elbow x minus same-side shoulder x / torso length (+ =
                                       image right); its range is upper-arm travel
left_/right_arm_raise          deg     angle shoulder->hip vs shoulder->wrist (0 arm down, 90 at
                                       shoulder height, 180 overhead)
shoulder_lift                  ratio   shoulder mid above hip mid / nose-to-hip distance (rises
                                       in a shrug; the nose-hip distance is rigid in a shrug)
back_rounding                  ratio   shoulder offset to the back side of the hip-ear chord /
                                       chord length (+ = rounded back)
back_bulge                     ratio   the back's silhouette bowing beyond its chord / hip-
                                       shoulder length (+ = rounded; from the person mask, see
                                       :mod:`formcoach.pose.silhouette`; NaN without one)
wrist_tilt                     deg     tilt of the left-right wrist line from image-horizontal,
                                       unsigned, 0..90 (a bar or two dumbbells held unevenly)
=============================  ======  =========================================================

Body-size normalisation: every distance is divided by a body segment of the same frame, so the
values are independent of image size and camera distance.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from formcoach.kinematics.features import FEATURES, Feature, FeatureExtractor, FeatureFn
from formcoach.kinematics.features import compute_features as _compute_kinematics
from formcoach.kinematics.view import torso_yaw
from formcoach.skeleton import LM, NUM_LANDMARKS

#: Side-to-side knee travel is judged only with the torso this square to the camera (deg of
#: yaw): turned further, the knee's forward bend projects sideways (by sin(yaw) of it).
SQUARE_MAX_YAW_DEG = 15.0

__all__ = ["RULE_FEATURES", "RuleFeatureExtractor", "compute_rule_features", "is_feature"]


def _xy(poses: np.ndarray, i: int) -> np.ndarray:
    return poses[:, int(i), :2]


def _mid(poses: np.ndarray, a: int, b: int) -> np.ndarray:
    """Midpoint of two landmarks, falling back to the one that is present. (T, 2)."""
    pa, pb = _xy(poses, a), _xy(poses, b)
    out = 0.5 * (pa + pb)
    only_a = np.isfinite(pa[:, 0]) & ~np.isfinite(pb[:, 0])
    only_b = np.isfinite(pb[:, 0]) & ~np.isfinite(pa[:, 0])
    out[only_a] = pa[only_a]
    out[only_b] = pb[only_b]
    return out


def _norm(v: np.ndarray) -> np.ndarray:
    n = np.hypot(v[:, 0], v[:, 1])
    return np.where(n > 0, n, np.nan)


def _facing(poses: np.ndarray) -> np.ndarray:
    """+1 facing image right, -1 image left, NaN when the face is not offset from the head
    centre (front/back views). (T,)."""
    nose = _xy(poses, LM.NOSE)
    ears = _mid(poses, LM.LEFT_EAR, LM.RIGHT_EAR)
    sh = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    ref = np.where(np.isfinite(ears[:, :1]), ears, sh)
    dx = nose[:, 0] - ref[:, 0]
    scale = _norm(sh - _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP))
    # The nose must stick out of the head by > 3% of a torso length to give a direction.
    sig = np.abs(dx) > 0.03 * scale
    with np.errstate(invalid="ignore"):
        out = np.where(sig, np.sign(dx), np.nan)
    # Feet: toes point forward; used where the face is ambiguous.
    toes = _mid(poses, LM.LEFT_FOOT_INDEX, LM.RIGHT_FOOT_INDEX)
    heels = _mid(poses, LM.LEFT_HEEL, LM.RIGHT_HEEL)
    fdx = toes[:, 0] - heels[:, 0]
    fsig = np.isnan(out) & (np.abs(fdx) > 0.05 * scale)
    out[fsig] = np.sign(fdx[fsig])
    return out


def _trunk_angle(poses: np.ndarray, fps: float) -> np.ndarray:
    v = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER) - _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    return np.degrees(np.arctan2(v[:, 0], -v[:, 1]))


def _trunk_forward(poses: np.ndarray, fps: float) -> np.ndarray:
    return _trunk_angle(poses, fps) * _facing(poses)


def _facing_feature(poses: np.ndarray, fps: float) -> np.ndarray:
    return _facing(poses)


def _hip_line_dev(poses: np.ndarray, fps: float) -> np.ndarray:
    s = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    h = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    a = _mid(poses, LM.LEFT_ANKLE, LM.RIGHT_ANKLE)
    sa = a - s
    length = _norm(sa)
    n = np.stack([-sa[:, 1], sa[:, 0]], axis=1) / length[:, None]
    # Choose the normal that points image-up (negative y): "above the line".
    flip = n[:, 1] > 0
    n[flip] *= -1.0
    return np.sum((h - s) * n, axis=1) / length


def _front_knee_past_toe(poses: np.ndarray, fps: float) -> np.ndarray:
    facing = _facing(poses)
    vals = []
    ahead = []
    for side in ("LEFT", "RIGHT"):
        k = _xy(poses, LM[f"{side}_KNEE"])
        an = _xy(poses, LM[f"{side}_ANKLE"])
        toe = _xy(poses, LM[f"{side}_FOOT_INDEX"])
        shank = _norm(k - an)
        vals.append((k[:, 0] - toe[:, 0]) * facing / shank)
        ahead.append(an[:, 0] * facing)
    left_front = ahead[0] >= ahead[1]
    out = np.where(left_front, vals[0], vals[1])
    both = np.isfinite(ahead[0]) & np.isfinite(ahead[1])
    return np.where(both, out, np.nan)


def _knee_past_toe(side: str) -> FeatureFn:
    knee, ankle, toe = LM[f"{side}_KNEE"], LM[f"{side}_ANKLE"], LM[f"{side}_FOOT_INDEX"]

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        k = _xy(poses, knee)
        return (k[:, 0] - _xy(poses, toe)[:, 0]) * _facing(poses) / _norm(k - _xy(poses, ankle))

    return fn


def _knee_hip_gap(side: str) -> FeatureFn:
    hip, knee, ankle, sh = (LM[f"{side}_{j}"] for j in ("HIP", "KNEE", "ANKLE", "SHOULDER"))

    def angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
        u, v = a - b, c - b
        cos = np.sum(u * v, axis=1) / (_norm(u) * _norm(v))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        h, k, a, s = (_xy(poses, j) for j in (hip, knee, ankle, sh))
        return angle(h, k, a) - angle(s, h, k)

    return fn


def _knee_medial(side: str) -> FeatureFn:
    hip, knee, ankle = (LM[f"{side}_{j}"] for j in ("HIP", "KNEE", "ANKLE"))

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        h, k, a = (_xy(poses, j) for j in (hip, knee, ankle))
        mid = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
        ha = a - h
        t = np.sum((k - h) * ha, axis=1) / np.sum(ha * ha, axis=1)
        line_x = h[:, 0] + t * ha[:, 0]
        inward = np.sign(mid[:, 0] - line_x)
        return (k[:, 0] - line_x) * inward / (_norm(k - h) + _norm(a - k))

    return fn


def _front_knee_medial(poses: np.ndarray, fps: float) -> np.ndarray:
    """Seen from the front the forward leg's foot is nearer the camera: lower in the image.
    NaN unless the torso is square to the camera (:data:`SQUARE_MAX_YAW_DEG`)."""
    left, right = _knee_medial("LEFT")(poses, fps), _knee_medial("RIGHT")(poses, fps)
    ly, ry = _xy(poses, LM.LEFT_ANKLE)[:, 1], _xy(poses, LM.RIGHT_ANKLE)[:, 1]
    out = np.where(ly >= ry, left, right)
    yaw = np.array([torso_yaw(p) for p in poses])
    with np.errstate(invalid="ignore"):
        square = yaw <= SQUARE_MAX_YAW_DEG
    return np.where(np.isfinite(ly) & np.isfinite(ry) & square, out, np.nan)


def _step_width(poses: np.ndarray, fps: float) -> np.ndarray:
    la, ra = _xy(poses, LM.LEFT_ANKLE), _xy(poses, LM.RIGHT_ANKLE)
    hips = _norm(_xy(poses, LM.LEFT_HIP) - _xy(poses, LM.RIGHT_HIP))
    return np.abs(la[:, 0] - ra[:, 0]) / hips


def _step_length(poses: np.ndarray, fps: float) -> np.ndarray:
    la, ra = _xy(poses, LM.LEFT_ANKLE), _xy(poses, LM.RIGHT_ANKLE)
    legs = []
    for side in ("LEFT", "RIGHT"):
        h, k, a = (_xy(poses, LM[f"{side}_{j}"]) for j in ("HIP", "KNEE", "ANKLE"))
        legs.append(_norm(h - k) + _norm(k - a))
    with np.errstate(invalid="ignore"):
        leg = np.fmax(legs[0], legs[1])
    return np.abs(la[:, 0] - ra[:, 0]) / leg


def _knee_min(poses: np.ndarray, fps: float) -> np.ndarray:
    out = []
    for side in ("LEFT", "RIGHT"):
        h, k, a = (_xy(poses, LM[f"{side}_{j}"]) for j in ("HIP", "KNEE", "ANKLE"))
        u, v = h - k, a - k
        c = np.sum(u * v, axis=1) / (_norm(u) * _norm(v))
        out.append(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))
    with np.errstate(invalid="ignore"):
        return np.fmin(out[0], out[1])


def _heel_rise(side: str) -> FeatureFn:
    heel, toe = LM[f"{side}_HEEL"], LM[f"{side}_FOOT_INDEX"]

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        d = _xy(poses, toe) - _xy(poses, heel)
        return d[:, 1] / _norm(d)

    return fn


def _arm_raise(side: str) -> FeatureFn:
    sh, wr, hp = LM[f"{side}_SHOULDER"], LM[f"{side}_WRIST"], LM[f"{side}_HIP"]

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        u = _xy(poses, hp) - _xy(poses, sh)
        v = _xy(poses, wr) - _xy(poses, sh)
        c = np.sum(u * v, axis=1) / (_norm(u) * _norm(v))
        return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))

    return fn


def _elbow_offset(side: str) -> FeatureFn:
    sh, el = LM[f"{side}_SHOULDER"], LM[f"{side}_ELBOW"]

    def fn(poses: np.ndarray, fps: float) -> np.ndarray:
        torso = _norm(_mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
                      - _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP))
        return (_xy(poses, el)[:, 0] - _xy(poses, sh)[:, 0]) / torso

    return fn


def _shoulder_lift(poses: np.ndarray, fps: float) -> np.ndarray:
    s = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    h = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    nose = _xy(poses, LM.NOSE)
    return (h[:, 1] - s[:, 1]) / _norm(nose - h)


def _back_rounding(poses: np.ndarray, fps: float) -> np.ndarray:
    h = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    s = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    ear = _mid(poses, LM.LEFT_EAR, LM.RIGHT_EAR)
    nose = _xy(poses, LM.NOSE)
    c = ear - h
    length = _norm(c)
    n = np.stack([-c[:, 1], c[:, 0]], axis=1) / length[:, None]
    # Orient the normal to the ventral (face) side: the nose is in front of the ear.
    ventral = np.sum((nose - ear) * n, axis=1)
    n[ventral < 0] *= -1.0
    out = -np.sum((s - h) * n, axis=1) / length
    return np.where(np.isfinite(ventral) & (ventral != 0), out, np.nan)


def _back_bulge(poses: np.ndarray, bulge: np.ndarray, fps: float) -> np.ndarray:
    """The backend's silhouette measure, NaN where the trunk's joints are missing."""
    h = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    s = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    ok = np.isfinite(h).all(axis=1) & np.isfinite(s).all(axis=1)
    return np.where(ok, np.asarray(bulge, dtype=np.float64), np.nan)


def _neck_flexion(poses: np.ndarray, fps: float) -> np.ndarray:
    """Angle of shoulder->ear off the hip->shoulder line, + towards the face side (the head
    dropping to the chest), - tipped back; deg."""
    h = _mid(poses, LM.LEFT_HIP, LM.RIGHT_HIP)
    s = _mid(poses, LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
    ear = _mid(poses, LM.LEFT_EAR, LM.RIGHT_EAR)
    t, n = s - h, ear - s
    ang = np.degrees(np.arccos(np.clip(np.sum(t * n, axis=1) / (_norm(t) * _norm(n)), -1, 1)))
    # The face side of the trunk line: where the nose is, relative to the ear.
    normal = np.stack([-t[:, 1], t[:, 0]], axis=1)
    face = np.sign(np.sum((_xy(poses, LM.NOSE) - ear) * normal, axis=1))
    towards = np.sign(np.sum(n * normal, axis=1))
    with np.errstate(invalid="ignore"):
        return np.where(face != 0, ang * face * towards, np.nan)


# --------------------------------------------------------------------------- rule catalogue
# Features added for the rule catalogue (issue 16): appended at the end of the registry.
def _wrist_tilt(poses: np.ndarray, fps: float) -> np.ndarray:
    """Tilt of the line between the two wrists from image-horizontal, degrees in [0, 90].

    ``(T, 33, 4)`` -> ``(T,)``; 0 = wrists level, 90 = one straight above the other; NaN when a
    wrist is missing or both coincide. A pure angle: no body-size normalisation needed. Needs
    a level camera (a camera rolled by r deg adds up to r deg) and a view that sees both wrists
    side by side (front or back); from the side the wrists overlap and the value is
    meaningless. (Against the shoulder line it would not depend on the camera's roll, but the
    shoulders are less than half as far apart as the hands: their jitter tilts that line by
    5-10 deg on level presses filmed from the feet.)
    """
    d = _xy(poses, LM.RIGHT_WRIST) - _xy(poses, LM.LEFT_WRIST)
    ok = _norm(d)
    return np.where(np.isfinite(ok), np.degrees(np.arctan2(np.abs(d[:, 1]), np.abs(d[:, 0]))),
                    np.nan)


def _specs() -> list[Feature]:
    specs = [
        Feature("trunk_angle", "deg", "hip->shoulder vs image-up, signed (+ image right)",
                fn=_trunk_angle),
        Feature("trunk_forward", "deg", "trunk lean signed by facing (+ forward, - back)",
                fn=_trunk_forward),
        Feature("facing", "ratio", "+1 facing image right, -1 left, NaN unknown",
                fn=_facing_feature),
        Feature("hip_line_dev", "ratio", "hip above shoulder-ankle line / its length",
                fn=_hip_line_dev),
        Feature("front_knee_past_toe", "ratio", "front knee past toe tip / shank length",
                fn=_front_knee_past_toe),
        Feature("knee_min", "deg", "smaller of the two knee angles", fn=_knee_min),
        Feature("front_knee_medial", "ratio",
                "forward leg (lower foot in the image): knee inside hip-ankle line / leg",
                fn=_front_knee_medial),
        Feature("step_width", "ratio", "ankles' horizontal separation / hip width (front view)",
                fn=_step_width),
        Feature("step_length", "ratio", "ankles' horizontal separation / leg length (side view)",
                fn=_step_length),
        Feature("shoulder_lift", "ratio", "shoulder mid above hip mid / nose-hip distance",
                fn=_shoulder_lift),
        Feature("back_rounding", "ratio", "shoulder behind hip-ear chord / chord length",
                fn=_back_rounding),
        Feature("neck_flexion", "deg", "shoulder->ear off the trunk line, + to the face side",
                fn=_neck_flexion),
    ]
    for side in ("left", "right"):
        u = side.upper()
        specs.append(Feature(f"{side}_heel_rise", "ratio", "heel above toe / foot length",
                             fn=_heel_rise(u)))
        specs.append(Feature(f"{side}_arm_raise", "deg", "shoulder->hip vs shoulder->wrist",
                             fn=_arm_raise(u)))
        specs.append(Feature(f"{side}_knee_past_toe", "ratio", "knee x past toe tip / shank",
                             fn=_knee_past_toe(u)))
        specs.append(Feature(f"{side}_knee_hip_gap", "deg", "knee angle - hip angle",
                             fn=_knee_hip_gap(u)))
        specs.append(Feature(f"{side}_knee_medial", "ratio",
                             "knee inside the hip-ankle line / leg length", fn=_knee_medial(u)))
        specs.append(Feature(f"{side}_elbow_offset", "torso", "elbow x - shoulder x, torso",
                             fn=_elbow_offset(u)))
    # Rule catalogue additions (keep appended here).
    specs.append(Feature("wrist_tilt", "deg", "left-right wrist line vs image-horizontal",
                         fn=_wrist_tilt))
    specs.append(Feature("back_bulge", "ratio",
                         "back silhouette bowing beyond its chord / hip-shoulder length",
                         fn=_back_bulge, silhouette=True))
    return specs


#: The rule features by name.
RULE_FEATURES: dict[str, Feature] = {f.name: f for f in _specs()}


def is_feature(name: str) -> bool:
    """True for a name of the shared registry or of :data:`RULE_FEATURES`."""
    return name in FEATURES or name in RULE_FEATURES


def _split(names: Iterable[str]) -> tuple[list[str], list[str]]:
    names = list(names)
    for n in names:
        if not is_feature(n):
            raise KeyError(f"unknown feature {n!r}")
    return [n for n in names if n in FEATURES], [n for n in names if n not in FEATURES]


def _call_rule(f: Feature, poses: np.ndarray, bulge: np.ndarray, fps: float) -> np.ndarray:
    fn = f.fn
    assert fn is not None
    out = fn(poses, bulge, fps) if f.silhouette else fn(poses, fps)
    return np.asarray(out, dtype=np.float64)


def compute_rule_features(
    poses: np.ndarray, fps: float, names: Iterable[str], back_bulge: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Features (shared or rule) of a ``(T, 33, 4)`` sequence as ``{name: (T,)}``;
    ``back_bulge`` ``(T,)`` is the backend's silhouette measure (None: not measured)."""
    kin, rule = _split(names)
    out = _compute_kinematics(poses, fps, kin) if kin else {}
    arr = np.asarray(poses, dtype=np.float64)
    bulge = (np.full(len(arr), np.nan) if back_bulge is None
             else np.asarray(back_bulge, dtype=np.float64))
    if bulge.shape != (len(arr),):
        raise ValueError(f"back_bulge must be ({len(arr)},), got {bulge.shape}")
    with np.errstate(all="ignore"):
        for n in rule:
            out[n] = _call_rule(RULE_FEATURES[n], arr, bulge, float(fps))
    return out


class RuleFeatureExtractor:
    """Per-frame features (shared or rule), equal to the rows of :func:`compute_rule_features`."""

    def __init__(self, fps: float, names: Iterable[str]) -> None:
        self.fps = float(fps)
        kin, self._rule = _split(names)
        self._kin = FeatureExtractor(self.fps, names=kin) if kin else None
        self._nan = np.full(1, np.nan)
        self._reads_bulge = any(RULE_FEATURES[n].silhouette for n in self._rule)

    def update(self, pose: np.ndarray, world: np.ndarray | None = None,
               back_bulge: float = float("nan")) -> dict[str, float]:
        """Features of one ``(33, 4)`` pose, with its ``(33, 3)`` world landmarks (metres) and
        the backend's silhouette measure when known (NaN where unmeasurable)."""
        if pose.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"pose must be (33, 4), got {pose.shape}")
        out = self._kin.update(pose, world) if self._kin is not None else {}
        batch = pose[None]
        bulge = np.array([back_bulge], dtype=np.float64) if self._reads_bulge else self._nan
        with np.errstate(all="ignore"):
            for n in self._rule:
                out[n] = float(_call_rule(RULE_FEATURES[n], batch, bulge, self.fps)[0])
        return out
