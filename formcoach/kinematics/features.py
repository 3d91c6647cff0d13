"""Named per-frame scalar features of a pose: the vocabulary of rule packs and the rep counter.

Every feature maps one ``(33, 4)`` pose (x px, y px, z, visibility) to one float; NaN when a
joint it needs is missing. Units: ``deg`` (degrees), ``torso`` (image distance in torso lengths,
torso = shoulder midpoint to hip midpoint), ``ratio`` (unitless), ``vis`` (visibility 0..1).

Built-in features (``left_``/``right_`` pairs; a rule pack may name a sided feature without its
side, e.g. ``knee``, and the side is chosen by the pack's ``side`` setting):

=============================  ======  =========================================================
name                           unit    meaning
=============================  ======  =========================================================
left_/right_elbow              deg     shoulder-elbow-wrist angle, 180 = straight arm
left_/right_shoulder           deg     hip-shoulder-elbow angle, 0 = arm by the side, 180 overhead
left_/right_hip                deg     shoulder-hip-knee angle, 180 = standing straight
left_/right_knee               deg     hip-knee-ankle angle, 180 = straight leg
left_/right_knee_fused         deg     the more bent of the 2D and the 3D (world) knee angle
left_/right_ankle              deg     knee-ankle-foot_index angle
left_/right_body_line          deg     shoulder-hip-ankle angle, 180 = straight plank line
torso_lean                     deg     hip mid -> shoulder mid vs image-up (0 upright, 90 flat)
left_/right_shin               deg     ankle -> knee vs image-up (0 = vertical shin)
left_/right_thigh              deg     knee -> hip vs image-up (0 standing, 90 thigh horizontal)
left_/right_upper_arm          deg     elbow -> shoulder vs image-up (0 = upper arm hanging)
left_/right_wrist_height       torso   wrist above same-side shoulder (+ = above)
left_/right_elbow_height       torso   elbow above same-side shoulder (+ = above)
hip_height                     torso   hip mid above ankle mid
shoulder_height                torso   shoulder mid above hip mid (1 upright, 0 lying flat)
nose_height                    torso   nose above wrist mid (pull-up: >= 0 chin at the bar)
shoulder_elevation             torso   shoulder mid above ear mid (negative; rises in a shrug)
wrist_width                    torso   distance between the wrists
knee_width_ratio               ratio   knee distance / ankle distance (< ~0.8: knees cave in)
stance_width_ratio             ratio   ankle distance / shoulder distance
left_/right_arm_vis            vis     min visibility of shoulder, elbow, wrist
left_/right_leg_vis            vis     min visibility of hip, knee, ankle
=============================  ======  =========================================================

Adding a feature is one call at the bottom of this module, e.g.::

    _add(Feature("left_knee_over_toe", "torso", "knee x minus toe x",
                 op=K.OP_HOFFSET, idx=(LM.LEFT_KNEE, LM.LEFT_KNEE, LM.LEFT_FOOT_INDEX,
                                       LM.LEFT_FOOT_INDEX)))

or, for anything the kernel ops cannot express, ``fn=`` a function ``(poses (T, 33, 4), fps)
-> (T,)`` (it is also used per frame with ``T = 1``, so keep it cheap).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from formcoach.kinematics import _kernels as K
from formcoach.skeleton import JOINT_TRIPLES, LM, NUM_LANDMARKS

FeatureFn = Callable[..., np.ndarray]


@dataclass(frozen=True, slots=True)
class Feature:
    """One named scalar feature.

    Attributes:
        name: registry key, e.g. ``"left_knee"``.
        unit: ``deg``, ``torso``, ``ratio`` or ``vis``.
        doc: one line saying what it measures.
        op: a ``formcoach.kinematics._kernels.OP_*`` code (fast numba path), or None with ``fn``.
        idx: four landmark ids for ``op`` (see the OP_* docs in ``_kernels``); for ``fn``
            features, optionally the landmarks it reads (their visibility gates the feature).
        fn: custom ``(poses (T, 33, 4), fps) -> (T,)`` when ``op`` is None; with ``world``
            set it is ``(poses, world (T, 33, 3) metres, fps) -> (T,)``.
        world: ``fn`` also reads the backend's 3D world landmarks (all NaN when the backend or
            caller has none, so such a feature must still work from the image alone).
        silhouette: ``fn`` is ``(poses, back_bulge (T,), fps) -> (T,)``: it reads the backend's
            silhouette measure (:attr:`formcoach.types.PoseResult.back_bulge`; all NaN when
            none was measured). Rule features only (:mod:`formcoach.kinematics.derived`).
    """

    name: str
    unit: str
    doc: str
    op: int | None = None
    idx: tuple[int, int, int, int] = (0, 0, 0, 0)
    fn: FeatureFn | None = None
    world: bool = False
    silhouette: bool = False

    @property
    def landmarks(self) -> tuple[int, ...]:
        """Landmark ids the feature reads, sorted (empty for an ``fn`` feature without idx)."""
        if self.op is None and self.idx == (0, 0, 0, 0):
            return ()
        return tuple(sorted({int(j) for j in self.idx}))


#: Every known feature by name, in registration order.
FEATURES: dict[str, Feature] = {}


def _add(feature: Feature) -> Feature:
    """Register a feature (raises ValueError on a duplicate name or an incomplete definition)."""
    if feature.name in FEATURES:
        raise ValueError(f"feature {feature.name!r} is already registered")
    if (feature.op is None) == (feature.fn is None):
        raise ValueError(f"feature {feature.name!r} needs exactly one of op= or fn=")
    FEATURES[feature.name] = feature
    return feature



def feature_names() -> list[str]:
    """All registered feature names."""
    return list(FEATURES)


def sided(name: str) -> tuple[str, str] | None:
    """``("left_<name>", "right_<name>")`` when ``name`` is a side-less feature with both
    sides registered, else None."""
    left, right = f"left_{name}", f"right_{name}"
    if name not in FEATURES and left in FEATURES and right in FEATURES:
        return left, right
    return None


def _check_names(names: Iterable[str] | None) -> list[str]:
    if names is None:
        return list(FEATURES)
    out = list(names)
    for n in out:
        if n not in FEATURES:
            raise KeyError(f"unknown feature {n!r}; known: {', '.join(FEATURES)}")
    return out


def _ops(features: list[Feature]) -> np.ndarray:
    if not features:
        return np.zeros((0, 5), dtype=np.int64)
    return np.array([[f.op, *f.idx] for f in features], dtype=np.int64)


def _world_batch(world: np.ndarray | None, n: int) -> np.ndarray:
    """``(n, 33, 3)`` float64 world landmarks, all NaN when ``world`` is None."""
    if world is None:
        return np.full((n, NUM_LANDMARKS, 3), np.nan)
    w = np.ascontiguousarray(world, dtype=np.float64)
    if w.shape != (n, NUM_LANDMARKS, 3):
        raise ValueError(f"world must be ({n}, 33, 3), got {w.shape}")
    return w


def _call(f: Feature, poses: np.ndarray, world: np.ndarray, fps: float) -> np.ndarray:
    fn = f.fn
    assert fn is not None
    return fn(poses, world, fps) if f.world else fn(poses, fps)


def compute_features(
    poses: np.ndarray, fps: float, names: Iterable[str] | None = None,
    world: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Features of a pose sequence.

    Args:
        poses: ``(T, 33, 4)`` float64 pixels (NaN = missing).
        fps: frames per second (float) of the sequence.
        names: which features (default: all registered).
        world: ``(T, 33, 3)`` world landmarks in metres for the features that use them
            (default: none, those features then use the image alone).

    Returns:
        ``{name: (T,) float64}``.
    """
    arr = np.ascontiguousarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_LANDMARKS, 4):
        raise ValueError(f"poses must be (T, 33, 4), got {arr.shape}")
    selected = [FEATURES[n] for n in _check_names(names)]
    fast = [f for f in selected if f.op is not None]
    values = K._features_batch(arr, _ops(fast))
    out = {f.name: values[i] for i, f in enumerate(fast)}
    w = _world_batch(world, len(arr)) if any(f.world for f in selected) else None
    for f in selected:
        if f.fn is not None:
            out[f.name] = np.asarray(_call(f, arr, w, float(fps)), dtype=np.float64)  # type: ignore[arg-type]
    return {f.name: out[f.name] for f in selected}


class FeatureExtractor:
    """Per-frame features, equal to the rows of :func:`compute_features`.

    Args:
        fps: frames per second of the stream (float).
        names: which features (default: all registered at construction time).
    """

    def __init__(self, fps: float, names: Iterable[str] | None = None) -> None:
        self.fps = float(fps)
        self.names = _check_names(names)
        selected = [FEATURES[n] for n in self.names]
        self._fast = [f.name for f in selected if f.op is not None]
        self._slow = [f for f in selected if f.fn is not None]
        self._ops = _ops([FEATURES[n] for n in self._fast])
        self._buf = np.empty(len(self._fast), dtype=np.float64)
        self._no_world = np.full((1, NUM_LANDMARKS, 3), np.nan)

    def update(self, pose: np.ndarray, world: np.ndarray | None = None) -> dict[str, float]:
        """Features of one ``(33, 4)`` pose (and optionally its ``(33, 3)`` world landmarks,
        metres) as ``{name: float}`` in :attr:`names` order (NaN where unmeasurable)."""
        p = pose if pose.dtype == np.float64 and pose.flags.c_contiguous else np.ascontiguousarray(
            pose, dtype=np.float64
        )
        if p.shape != (NUM_LANDMARKS, 4):
            raise ValueError(f"pose must be (33, 4), got {p.shape}")
        K._features_frame(p, self._ops, self._buf)
        out = dict(zip(self._fast, self._buf.tolist(), strict=True))
        w = self._no_world if world is None else np.asarray(world, dtype=np.float64)[None]
        for f in self._slow:
            out[f.name] = float(_call(f, p[None], w, self.fps)[0])
        # In ``self.names`` order, like compute_features: callers that keep the values as rows
        # (the coach's history) zip them with ``names``.
        return {n: out[n] for n in self.names}


# --------------------------------------------------------------------------- registry
def _angle_feature(name: str, a: int, b: int, c: int, doc: str) -> None:
    _add(Feature(name, "deg", doc, op=K.OP_ANGLE, idx=(int(a), int(b), int(c), int(c))))


def _two(a: int | tuple[int, int]) -> tuple[int, int]:
    return (int(a[0]), int(a[1])) if isinstance(a, tuple) else (int(a), int(a))


def _seg(name: str, op: int, unit: str, a: int | tuple[int, int], b: int | tuple[int, int],
         doc: str) -> None:
    _add(Feature(name, unit, doc, op=op, idx=(*_two(a), *_two(b))))


_SHOULDERS = (LM.LEFT_SHOULDER, LM.RIGHT_SHOULDER)
_HIPS = (LM.LEFT_HIP, LM.RIGHT_HIP)
_ANKLES = (LM.LEFT_ANKLE, LM.RIGHT_ANKLE)
_WRISTS = (LM.LEFT_WRIST, LM.RIGHT_WRIST)
_EARS = (LM.LEFT_EAR, LM.RIGHT_EAR)

for _s in ("left", "right"):
    _u = _s.upper()
    _sh, _el, _wr = LM[f"{_u}_SHOULDER"], LM[f"{_u}_ELBOW"], LM[f"{_u}_WRIST"]
    _hp, _kn, _an = LM[f"{_u}_HIP"], LM[f"{_u}_KNEE"], LM[f"{_u}_ANKLE"]
    _ft = LM[f"{_u}_FOOT_INDEX"]
    _angle_feature(f"{_s}_elbow", _sh, _el, _wr, "shoulder-elbow-wrist angle, 180 = straight")
    _angle_feature(f"{_s}_shoulder", _hp, _sh, _el, "hip-shoulder-elbow angle, 0 = arm down")
    _angle_feature(f"{_s}_hip", _sh, _hp, _kn, "shoulder-hip-knee angle, 180 = straight")
    _angle_feature(f"{_s}_knee", _hp, _kn, _an, "hip-knee-ankle angle, 180 = straight leg")
    _angle_feature(f"{_s}_ankle", _kn, _an, _ft, "knee-ankle-toe angle")
    _angle_feature(f"{_s}_body_line", _sh, _hp, _an, "shoulder-hip-ankle angle, 180 = straight")
    _seg(f"{_s}_shin", K.OP_VERTICAL, "deg", _an, _kn, "ankle->knee vs image-up, 0 = vertical")
    _seg(f"{_s}_thigh", K.OP_VERTICAL, "deg", _kn, _hp, "knee->hip vs image-up, 90 = horizontal")
    _seg(f"{_s}_upper_arm", K.OP_VERTICAL, "deg", _el, _sh, "elbow->shoulder vs up, 0 = hanging")
    _seg(f"{_s}_wrist_height", K.OP_HEIGHT, "torso", _wr, _sh, "wrist above shoulder, torso")
    _seg(f"{_s}_elbow_height", K.OP_HEIGHT, "torso", _el, _sh, "elbow above shoulder, torso")
    _add(Feature(f"{_s}_arm_vis", "vis", "min visibility shoulder/elbow/wrist", op=K.OP_MINVIS,
                 idx=(int(_sh), int(_el), int(_wr), int(_wr))))
    _add(Feature(f"{_s}_leg_vis", "vis", "min visibility hip/knee/ankle", op=K.OP_MINVIS,
                 idx=(int(_hp), int(_kn), int(_an), int(_an))))


def _fused_angle(a: int, b: int, c: int) -> FeatureFn:
    """``(poses, world, fps) -> (T,)``: the more bent of the 2D image angle and the 3D world
    angle at joint b (degrees); the 2D angle alone where the world angle is NaN, NaN where the
    joint is missing in the image."""
    a, b, c = int(a), int(b), int(c)  # plain ints: numba types an IntEnum member slowly

    def fn(poses: np.ndarray, world: np.ndarray, fps: float) -> np.ndarray:
        a2 = K._angle_batch(poses, a, b, c)
        a3 = K._angle3_batch(world, a, b, c)
        return np.where(a3 < a2, a3, a2)  # NaN comparisons are False: keeps a2

    return fn


for _s in ("left", "right"):
    _u = _s.upper()
    _add(Feature(
        f"{_s}_knee_fused", "deg",
        "the more bent of the 2D and the 3D (world) knee angle: 2D under-reads a knee bending "
        "towards the camera, 3D world landmarks misread knees seen from behind",
        fn=_fused_angle(LM[f"{_u}_HIP"], LM[f"{_u}_KNEE"], LM[f"{_u}_ANKLE"]), world=True,
        idx=(int(LM[f"{_u}_HIP"]), int(LM[f"{_u}_KNEE"]), int(LM[f"{_u}_ANKLE"]),
             int(LM[f"{_u}_ANKLE"]))))

_seg("torso_lean", K.OP_VERTICAL, "deg", _HIPS, _SHOULDERS, "hip->shoulder vs up, 0 upright")
_seg("hip_height", K.OP_HEIGHT, "torso", _HIPS, _ANKLES, "hip mid above ankle mid")
_seg("shoulder_height", K.OP_HEIGHT, "torso", _SHOULDERS, _HIPS, "shoulder mid above hip mid")
_seg("nose_height", K.OP_HEIGHT, "torso", LM.NOSE, _WRISTS, "nose above wrist mid")
_seg("shoulder_elevation", K.OP_HEIGHT, "torso", _SHOULDERS, _EARS, "shoulders above ears")
_seg("wrist_width", K.OP_DIST, "torso", LM.LEFT_WRIST, LM.RIGHT_WRIST, "wrist distance")
_add(Feature("knee_width_ratio", "ratio", "knee distance / ankle distance", op=K.OP_RATIO,
             idx=(int(LM.LEFT_KNEE), int(LM.RIGHT_KNEE), int(LM.LEFT_ANKLE), int(LM.RIGHT_ANKLE))))
_add(Feature("stance_width_ratio", "ratio", "ankle distance / shoulder distance", op=K.OP_RATIO,
             idx=(int(LM.LEFT_ANKLE), int(LM.RIGHT_ANKLE), int(LM.LEFT_SHOULDER),
                  int(LM.RIGHT_SHOULDER))))


def label_landmark(name: str) -> int | None:
    """The landmark a degree feature is measured at (where to draw its value), or None when the
    feature is not an angle at a joint."""
    if name in JOINT_TRIPLES:
        return int(JOINT_TRIPLES[name][1])
    f = FEATURES.get(name)
    if f is None or f.unit != "deg" or not f.idx:
        return None
    if f.op == K.OP_ANGLE:  # (a, vertex, c, c)
        return int(f.idx[1])
    if f.op == K.OP_VERTICAL:  # segment tilt (a, a, b, b): label at its upper end
        return int(f.idx[2])
    return None
