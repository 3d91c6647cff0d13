"""Kinematics kernels vs the numpy oracles in tests/naive.py (also run with NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import math

import naive
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numba import njit

from formcoach.kinematics import (
    FEATURES,
    FeatureExtractor,
    angular_velocity,
    compute_features,
    joint_angle,
    joint_angle_3d,
    joint_angles,
    normalized_distance,
    segment_vertical_angle,
    shin_angle,
    torso_lean,
    torso_length,
)
from formcoach.kinematics import _kernels as K
from formcoach.kinematics.features import Feature, _add, sided
from formcoach.skeleton import JOINT_TRIPLES, LM

ATOL = 1e-4  # degrees / ratios: arccos (oracle) vs atan2 (kernel) differ near 0 and 180 deg

# Coordinates on a quarter-pixel grid keep rays away from denormal lengths.
_coord = st.integers(-4000, 4000).map(lambda v: v / 4.0)
_poses = arrays(np.float64, st.tuples(st.integers(1, 6), st.just(33), st.just(4)), elements=_coord)


def _pose() -> np.ndarray:
    p = np.zeros((33, 4))
    p[:, 3] = 1.0
    return p


def _elbow_pose(deg: float, scale: float = 100.0, rot: float = 0.0, off=(320.0, 240.0)):
    """A pose whose left elbow angle is ``deg``; shoulders/hips give a torso."""
    p = _pose()
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    pts = {
        LM.LEFT_ELBOW: (0.0, 0.0),
        LM.LEFT_SHOULDER: (1.0, 0.0),
        LM.LEFT_WRIST: (math.cos(math.radians(deg)), math.sin(math.radians(deg))),
        LM.RIGHT_SHOULDER: (1.0, 0.5),
        LM.LEFT_HIP: (3.0, 0.0),
        LM.RIGHT_HIP: (3.0, 0.5),
    }
    for j, (x, y) in pts.items():
        p[j, 0] = off[0] + scale * (c * x - s * y)
        p[j, 1] = off[1] + scale * (s * x + c * y)
    return p


def test_right_angle_elbow() -> None:
    assert joint_angle(_elbow_pose(90.0), "left_elbow") == pytest.approx(90.0, abs=1e-9)


@pytest.mark.parametrize("deg", [0.0, 30.0, 90.0, 135.0, 180.0])
@pytest.mark.parametrize("scale", [0.5, 1.0, 240.0])
@pytest.mark.parametrize("rot", [0.0, 33.0, 190.0])
def test_2d_angle_is_rotation_and_scale_invariant(deg: float, scale: float, rot: float) -> None:
    p = _elbow_pose(deg, scale=scale, rot=rot)
    assert joint_angle(p, "left_elbow") == pytest.approx(deg, abs=1e-6)


def test_nan_joint_propagates() -> None:
    p = _elbow_pose(90.0)
    p[LM.LEFT_WRIST, 0] = np.nan
    assert math.isnan(joint_angle(p, "left_elbow"))
    feats = FeatureExtractor(30.0).update(p)
    assert math.isnan(feats["left_elbow"])
    assert not math.isnan(feats["left_shoulder"])  # joints without the wrist are unaffected
    empty = np.full((2, 33, 4), np.nan)
    for name, values in compute_features(empty, 30.0).items():
        assert np.isnan(values).all(), name


def test_zero_length_ray_is_nan() -> None:
    p = _elbow_pose(90.0)
    p[LM.LEFT_WRIST] = p[LM.LEFT_ELBOW]
    assert math.isnan(joint_angle(p, "left_elbow"))


@settings(max_examples=60, deadline=None)
@given(_poses)
def test_joint_angles_match_oracle(poses: np.ndarray) -> None:
    got = joint_angles(poses)
    for name, (a, b, c) in JOINT_TRIPLES.items():
        np.testing.assert_allclose(got[name], naive.angle_batch(poses, a, b, c), atol=ATOL)


@settings(max_examples=60, deadline=None)
@given(_poses)
def test_3d_angles_match_oracle(poses: np.ndarray) -> None:
    world = poses[:, :, :3]
    for name, (a, b, c) in JOINT_TRIPLES.items():
        np.testing.assert_allclose(
            joint_angle_3d(world, name), naive.angle_batch(world, a, b, c, dims=3), atol=ATOL
        )


def test_3d_right_angle() -> None:
    w = np.zeros((33, 3))
    w[LM.LEFT_SHOULDER] = (0, 0, 1)
    w[LM.LEFT_WRIST] = (0, 1, 0)
    assert joint_angle_3d(w, "left_elbow") == pytest.approx(90.0)


@settings(max_examples=60, deadline=None)
@given(_poses)
def test_every_feature_matches_oracle(poses: np.ndarray) -> None:
    got = compute_features(poses, 30.0)
    for name, f in FEATURES.items():
        if f.op is None:
            continue
        want = naive.op_values(poses, f.op, *f.idx)
        np.testing.assert_allclose(got[name], want, atol=ATOL, rtol=1e-9, err_msg=name)


@settings(max_examples=40, deadline=None)
@given(_poses)
def test_per_frame_extractor_equals_batch(poses: np.ndarray) -> None:
    batch = compute_features(poses, 25.0)
    ex = FeatureExtractor(25.0)
    for t in range(len(poses)):
        row = ex.update(poses[t])
        for name in batch:
            np.testing.assert_allclose(row[name], batch[name][t], atol=1e-12, err_msg=name)


def test_per_frame_kernel_equals_batch_kernel() -> None:
    """Live (one pose, scalar kernel) and batch (vectorised) agree to rounding, with the same
    NaNs, on off-grid coordinates, NaN joints and frames, and a frame count that leaves a partial
    block and a vector remainder; serial and threaded batch give the same bits."""
    rng = np.random.default_rng(5)
    n = K._PARALLEL_MIN_FRAMES + K._BLOCK + 13  # the threaded kernel
    poses = rng.uniform(-50, 1300, (n, 33, 4))
    poses[:, :, 3] = rng.uniform(0, 1, (n, 33))
    poses[rng.random(n) < 0.05] = np.nan
    poses[rng.random((n, 33)) < 0.05] = np.nan
    poses[7, :, :2] = 100.0  # every ray zero-length
    ops = np.array([[f.op, *f.idx] for f in FEATURES.values() if f.op is not None], dtype=np.int64)
    batch = K._features_batch(poses, ops)
    row = np.empty(len(ops))
    for t in range(n):
        K._features_frame(poses[t], ops, row)
        np.testing.assert_array_equal(np.isnan(row), np.isnan(batch[:, t]), err_msg=str(t))
        np.testing.assert_allclose(row, batch[:, t], rtol=1e-12, atol=1e-9, err_msg=str(t))
    assert np.array_equal(K._features_batch_serial(poses, ops), batch, equal_nan=True)


def test_batch_kernel_op_edge_cases() -> None:
    p = np.random.default_rng(1).uniform(0, 100, (3, 33, 4))
    unknown = np.array([[99, 11, 12, 23, 24]], dtype=np.int64)
    assert np.isnan(K._features_batch(p, unknown)).all()
    assert K._features_batch(p, np.zeros((0, 5), dtype=np.int64)).shape == (0, 3)
    assert K._features_batch(p[:0], unknown).shape == (1, 0)
    vert = np.array([[K.OP_VERTICAL, 11, 12, 23, 24]], dtype=np.int64)
    np.testing.assert_array_equal(K._features_batch(p[:, :, :2].copy(), vert),
                                  K._features_batch(p, vert))  # 2 columns are enough for x, y
    with pytest.raises(ValueError, match="visibility"):
        K._features_batch(p[:, :, :2].copy(), np.array([[K.OP_MINVIS, 1, 2, 3, 4]]))
    with pytest.raises(IndexError):
        K._features_batch(p, np.array([[K.OP_DIST, 11, 12, 23, 33]]))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(0, 40), elements=st.one_of(_coord, st.just(np.nan))))
def test_angular_velocity_matches_oracle(x: np.ndarray) -> None:
    np.testing.assert_allclose(angular_velocity(x, 29.97), naive.gradient(x, 29.97), atol=1e-6)


def test_angular_velocity_units() -> None:
    x = np.arange(10, dtype=float) * 3.0  # 3 deg per frame
    np.testing.assert_allclose(angular_velocity(x, 30.0), 90.0)
    with pytest.raises(ValueError, match="fps"):
        angular_velocity(x, 0.0)


def test_segment_orientations() -> None:
    p = _pose()
    p[LM.LEFT_HIP, :2] = p[LM.RIGHT_HIP, :2] = (100, 300)
    p[LM.LEFT_SHOULDER, :2] = p[LM.RIGHT_SHOULDER, :2] = (100, 100)  # upright
    assert torso_lean(p) == pytest.approx(0.0)
    p[LM.LEFT_SHOULDER, :2] = p[LM.RIGHT_SHOULDER, :2] = (300, 300)  # horizontal
    assert torso_lean(p) == pytest.approx(90.0)
    assert torso_length(p) == pytest.approx(200.0)
    p[LM.LEFT_ANKLE, :2] = (0, 400)
    p[LM.LEFT_KNEE, :2] = (100, 300)  # shin leaning 45 deg
    assert shin_angle(p, "left") == pytest.approx(45.0)
    assert segment_vertical_angle(p, int(LM.LEFT_KNEE), int(LM.LEFT_ANKLE)) == pytest.approx(135)
    assert normalized_distance(p, int(LM.LEFT_KNEE), int(LM.LEFT_ANKLE)) == pytest.approx(
        math.sqrt(2) * 100 / 200
    )
    with pytest.raises(ValueError):
        shin_angle(p, "middle")


def test_bad_shapes_and_names() -> None:
    with pytest.raises(ValueError):
        joint_angle(np.zeros((5, 17, 4)), "left_knee")
    with pytest.raises(KeyError, match="known"):
        joint_angle(np.zeros((33, 4)), "left_tail")
    with pytest.raises(ValueError):
        compute_features(np.zeros((33, 4)), 30.0)
    with pytest.raises(KeyError):
        FeatureExtractor(30.0, names=["nope"])


def test_registry_helpers() -> None:
    assert sided("knee") == ("left_knee", "right_knee")
    assert sided("torso_lean") is None
    with pytest.raises(ValueError, match="already"):
        _add(Feature("left_knee", "deg", "dup", op=K.OP_ANGLE))
    with pytest.raises(ValueError, match="exactly one"):
        _add(Feature("broken_feature", "deg", "neither"))


def test_custom_python_feature_batch_and_frame() -> None:
    name = "test_only_nose_x"
    if name not in FEATURES:
        _add(Feature(name, "px", "nose x", fn=lambda poses, fps: poses[:, LM.NOSE, 0].copy()))
    poses = np.random.default_rng(0).uniform(0, 100, (3, 33, 4))
    got = compute_features(poses, 30.0, names=[name, "left_knee"])
    np.testing.assert_allclose(got[name], poses[:, 0, 0])
    assert FeatureExtractor(30.0, names=[name]).update(poses[1])[name] == poses[1, 0, 0]
    del FEATURES[name]


@pytest.mark.parametrize("missing", [0, 1, 2, 3])
def test_min_visibility_is_nan_when_any_joint_is_missing(missing: int) -> None:
    """Whatever position the missing joint has among the four (numba's min() drops NaN by order)."""
    from formcoach.kinematics import _kernels as K

    p = np.zeros((1, 33, 4))
    p[0, :, 3] = 0.9
    idx = [11, 13, 15, 17]
    p[0, idx[missing]] = np.nan
    ops = np.array([[K.OP_MINVIS, *idx]], dtype=np.int64)
    got = K._features_batch(p, ops)[0, 0]
    want = naive.op_values(p, K.OP_MINVIS, *idx)[0]
    assert np.isnan(got) and np.isnan(want)


# --------------------------------------------------------------------------- atan2 kernel
@njit(fastmath=K.FASTMATH, error_model="numpy")
def _atan2_loop(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """K._atan2 inside a loop, as the kernels use it (vectorised when compiled)."""
    out = np.empty(y.shape[0])
    for i in range(y.shape[0]):
        out[i] = K._atan2(y[i], x[i])
    return out


_ATAN2_RTOL = 1e-15  # measured: <= 3 ulp (6.7e-16) from np.arctan2
_EDGE = [0.0, -0.0, 1.0, -1.0, 3.0, -7.5, math.inf, -math.inf, math.nan, 5e-324, -5e-324,
         2.2e-308, 1e308, -1e308, 1.5e308, 1.7976931348623157e308, 0.41421356237309503,
         2.414213562373095]


def test_atan2_edge_cases_match_numpy() -> None:
    """Zeros of both signs, infinities, NaN, denormals and huge values: every pair, in a
    (vectorised) loop and as a scalar call."""
    y, x = (np.array(v) for v in zip(*[(a, b) for a in _EDGE for b in _EDGE], strict=True))
    want = naive.atan2(y, x)
    for got in (_atan2_loop(y, x), np.array([K._atan2(a, b) for a, b in zip(y, x, strict=True)])):
        np.testing.assert_allclose(got, want, rtol=_ATAN2_RTOL, atol=0)  # NaN where numpy's NaN
        assert (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all()


def test_atan2_quadrants() -> None:
    assert K._atan2(1.0, 1.0) == pytest.approx(math.pi / 4, rel=1e-15)
    assert K._atan2(1.0, -1.0) == pytest.approx(3 * math.pi / 4, rel=1e-15)
    assert K._atan2(-1.0, -1.0) == pytest.approx(-3 * math.pi / 4, rel=1e-15)
    assert K._atan2(-1.0, 0.0) == pytest.approx(-math.pi / 2, rel=1e-15)
    assert K._atan2(0.0, -2.0) == pytest.approx(math.pi, rel=1e-15)
    assert math.isnan(K._atan2(math.nan, 1.0)) and math.isnan(K._atan2(1.0, math.nan))


_any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)
_pairs = st.integers(0, 64).flatmap(
    lambda n: st.tuples(arrays(np.float64, n, elements=_any_float),
                        arrays(np.float64, n, elements=_any_float)))


@settings(max_examples=200, deadline=None)
@given(_pairs)
def test_atan2_matches_numpy_on_any_floats(yx: tuple[np.ndarray, np.ndarray]) -> None:
    y, x = yx
    # atol covers denormal results, whose last bit is the whole value
    np.testing.assert_allclose(_atan2_loop(y, x), naive.atan2(y, x), rtol=_ATAN2_RTOL, atol=1e-300)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.floats(-1e6, 1e6)),
       arrays(np.float64, 200, elements=st.floats(-1e6, 1e6)))
def test_atan2_matches_numpy_on_pixel_scale_values(y: np.ndarray, x: np.ndarray) -> None:
    x = x[: len(y)]
    np.testing.assert_allclose(_atan2_loop(y, x), naive.atan2(y, x), rtol=_ATAN2_RTOL, atol=1e-300)


def test_atan2_dense_sweep_near_the_folds() -> None:
    """Ratios |y|/|x| around tan(pi/8), 1 and tan(3pi/8), where the argument folds switch."""
    rng = np.random.default_rng(7)
    r = np.concatenate([t * (1 + rng.uniform(-1e-6, 1e-6, 20000))
                        for t in (0.41421356237309503, 1.0, 2.414213562373095)])
    x = rng.uniform(-1e3, 1e3, r.size)
    y = r * x * rng.choice([-1.0, 1.0], r.size)
    np.testing.assert_allclose(_atan2_loop(y, x), naive.atan2(y, x), rtol=_ATAN2_RTOL, atol=0)
