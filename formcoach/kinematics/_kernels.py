"""Private numba kernels behind :mod:`formcoach.kinematics` (do not import from outside it).

Every kernel has a plain-numpy oracle in ``tests/naive.py``. Missing joints are NaN and must
propagate, so :data:`FASTMATH` leaves out ``nnan``/``ninf``.

Pose arrays are ``(T, 33, 4)`` / ``(33, 4)`` float64 (x px, y px, z, visibility); image y grows
downwards, so "up" is ``-y``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import numpy as np
from llvmlite import ir
from numba import config, njit, prange, types
from numba.core.extending import intrinsic

#: fastmath flags for every kernel: everything except nnan/ninf (NaN means "joint missing").
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Decorator of every kernel. ``error_model="numpy"``: x / 0 gives inf/NaN instead of a raise
#: branch (which stops LLVM vectorising a loop); the kernels guard their divisions anyway, so
#: they also run as plain Python (NUMBA_DISABLE_JIT=1).
_kernel = njit(cache=True, fastmath=FASTMATH, error_model="numpy")
#: Decorator of per-element helpers: inlined into their callers at numba-IR level, so LLVM sees
#: one loop body it can vectorise (left to LLVM's inliner, the larger helpers stay calls).
_inline = njit(cache=True, fastmath=FASTMATH, error_model="numpy", inline="always")

# Feature op codes for :func:`_features_frame` / :func:`_features_batch` (see features.py).
OP_ANGLE = 0  # angle at i1 between rays to i0 and i2, degrees (i3 unused)
OP_VERTICAL = 1  # segment mid(i0,i1) -> mid(i2,i3) vs image-up, degrees in [0, 180]
OP_HEIGHT = 2  # height of mid(i0,i1) above mid(i2,i3), in torso lengths (up positive)
OP_RATIO = 3  # |i0 - i1| / |i2 - i3|, unitless
OP_DIST = 4  # |mid(i0,i1) - mid(i2,i3)| / torso length
OP_HOFFSET = 5  # x of mid(i0,i1) minus x of mid(i2,i3), in torso lengths (image right positive)
OP_MINVIS = 6  # min visibility of i0..i3

_LSH, _RSH, _LHIP, _RHIP = 11, 12, 23, 24
_RAD2DEG = 180.0 / math.pi


# atan2 without libm: numba has no SVML here, so math.atan2 is a scalar call that stops
# vectorisation. Method (as in Cephes' atan): fold (|y|, |x|) to a ratio r = min/max in [0, 1],
# fold again with atan(a) = pi/4 + atan((a - 1) / (a + 1)) for a > tan(pi/8), so
# |r| <= tan(pi/8), and evaluate atan(r) = r + r z P(z), z = r^2, with P a degree-10
# polynomial: our Chebyshev fit (mpmath, 50 digits) of (atan(sqrt z) - sqrt z) / z^1.5 on
# [0, tan(pi/8)^2], error < 3.2e-17 in P, i.e. < 6e-18 relative in atan(r). The result is
# k pi/4 +- atan(r), with pi/4 split in two doubles.
_TAN_PI_8 = 0.41421356237309503  # sqrt(2) - 1
_PIO4_HI = 0.7853981633974483  # pi/4 rounded to double
_PIO4_LO = 3.061616997868383e-17  # pi/4 - _PIO4_HI
_DENORM_MIN = 5e-324  # smallest positive double: 0 / 0 -> 0 / _DENORM_MIN = 0
_ATAN_P = (
    -0.3333333333333333, 0.1999999999999552, -0.14285714284666542, 0.11111111015256361,
    -0.09090904578123903, 0.07692183190826087, -0.06664511447381948, 0.0585814891280221,
    -0.0508544973794026, 0.03923165829558719, -0.01917688711906226,
)
_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10 = _ATAN_P


@_inline
def _atan2(y: float, x: float) -> float:
    """``np.arctan2(y, x)`` in radians, branch-free so loops calling it vectorise.

    Within 3 ulp of ``np.arctan2`` (2 ulp except next to the tan(pi/8) fold); NaN in, NaN out;
    signed zeros and infinities as in C's atan2 (the kernels' ``nsz`` flag lets LLVM drop the
    sign of a zero, so only the plain-Python run guarantees those).
    """
    ax = abs(x)
    ay = abs(y)
    both_inf = ax == np.inf and ay == np.inf  # atan2(+-inf, +-inf): treat as atan2(+-1, +-1)
    ax = 1.0 if both_inf else ax
    ay = 1.0 if both_inf else ay
    swap = ay > ax  # fold to |y| <= |x|: atan(a) = pi/2 - atan(1/a)
    n = ax if swap else ay
    d = ay if swap else ax
    scale = 0.25 if d > 1e300 else 1.0  # n + d below must not overflow; exact (power of 2)
    n *= scale
    d *= scale
    big = n > _TAN_PI_8 * d  # second fold around pi/4; n - d is exact here (Sterbenz)
    num = n - d if big else n
    den = n + d if big else d
    den = _DENORM_MIN if den < _DENORM_MIN else den  # only 0 (0 / 0); keeps NaN
    r = num / den
    z = r * r
    p = _P10
    p = p * z + _P9
    p = p * z + _P8
    p = p * z + _P7
    p = p * z + _P6
    p = p * z + _P5
    p = p * z + _P4
    p = p * z + _P3
    p = p * z + _P2
    p = p * z + _P1
    p = p * z + _P0
    at = r + r * z * p
    k = 1.0 if big else 0.0  # result = k pi/4 + s atan(r) before the sign of y
    s = 1.0
    if swap:
        k = 2.0 - k
        s = -1.0
    if math.copysign(1.0, x) < 0.0:  # x < 0 or x == -0.0: mirror to pi - angle
        k = 4.0 - k
        s = -s
    return math.copysign(k * _PIO4_HI + (k * _PIO4_LO + s * at), y)


@_inline
def _angle2(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    """Angle at b between b->a and b->c in degrees [0, 180]; NaN if any input is NaN or a ray
    has zero length."""
    ux = ax - bx
    uy = ay - by
    vx = cx - bx
    vy = cy - by
    zero = (ux == 0.0 and uy == 0.0) or (vx == 0.0 and vy == 0.0)
    cross = ux * vy - uy * vx
    dot = ux * vx + uy * vy
    deg = _atan2(abs(cross), dot) * _RAD2DEG
    return np.nan if zero else deg


@_inline
def _angle3(
    ax: float, ay: float, az: float, bx: float, by: float, bz: float, cx: float, cy: float,
    cz: float,
) -> float:
    """3D version of :func:`_angle2`, degrees."""
    ux = ax - bx
    uy = ay - by
    uz = az - bz
    vx = cx - bx
    vy = cy - by
    vz = cz - bz
    zero = (ux == 0.0 and uy == 0.0 and uz == 0.0) or (vx == 0.0 and vy == 0.0 and vz == 0.0)
    kx = uy * vz - uz * vy
    ky = uz * vx - ux * vz
    kz = ux * vy - uy * vx
    dot = ux * vx + uy * vy + uz * vz
    deg = _atan2(math.sqrt(kx * kx + ky * ky + kz * kz), dot) * _RAD2DEG
    return np.nan if zero else deg


@_kernel
def _angle_batch(poses: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """(T, 33, >=2) -> (T,) 2D angle at joint b, degrees."""
    n = poses.shape[0]
    out = np.empty(n, dtype=np.float64)
    for t in range(n):
        out[t] = _angle2(
            poses[t, a, 0], poses[t, a, 1], poses[t, b, 0], poses[t, b, 1],
            poses[t, c, 0], poses[t, c, 1],
        )
    return out


@_kernel
def _angle3_batch(points: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """(T, 33, >=3) -> (T,) 3D angle at joint b, degrees (world landmarks, metres)."""
    n = points.shape[0]
    out = np.empty(n, dtype=np.float64)
    for t in range(n):
        out[t] = _angle3(
            points[t, a, 0], points[t, a, 1], points[t, a, 2],
            points[t, b, 0], points[t, b, 1], points[t, b, 2],
            points[t, c, 0], points[t, c, 1], points[t, c, 2],
        )
    return out


@_inline
def _vertical_angle(dx: float, dy: float) -> float:
    """Angle in degrees [0, 180] between image vector (dx, dy) and image-up (0, -1)."""
    deg = _atan2(abs(dx), -dy) * _RAD2DEG
    return np.nan if (dx == 0.0 and dy == 0.0) else deg


@_inline
def _torso_xy(
    lsx: float, lsy: float, rsx: float, rsy: float, lhx: float, lhy: float, rhx: float,
    rhy: float,
) -> float:
    """Shoulder-midpoint to hip-midpoint distance from the four joints' x, y (px; NaN if 0)."""
    sx = 0.5 * (lsx + rsx)
    sy = 0.5 * (lsy + rsy)
    hx = 0.5 * (lhx + rhx)
    hy = 0.5 * (lhy + rhy)
    d = math.sqrt((sx - hx) ** 2 + (sy - hy) ** 2)
    return np.nan if d == 0.0 else d


@_kernel
def _torso_length(p: np.ndarray) -> float:
    """Distance shoulder-midpoint to hip-midpoint of one (33, >=2) pose, px (NaN if 0)."""
    return _torso_xy(p[_LSH, 0], p[_LSH, 1], p[_RSH, 0], p[_RSH, 1], p[_LHIP, 0], p[_LHIP, 1],
                     p[_RHIP, 0], p[_RHIP, 1])


@_kernel
def _torso_length_batch(poses: np.ndarray) -> np.ndarray:
    """(T, 33, >=2) -> (T,) torso lengths, px."""
    n = poses.shape[0]
    out = np.empty(n, dtype=np.float64)
    for t in range(n):
        out[t] = _torso_length(poses[t])
    return out


# The per-op formulas of _features_batch (one frame's values; see the OP_* codes).
@_inline
def _min_visibility(a: float, b: float, c: float, d: float) -> float:
    """OP_MINVIS: min of four visibilities; NaN if any is NaN (min() would drop NaN by position)."""
    m = min(min(a, b), min(c, d))
    return np.nan if (a != a or b != b or c != c or d != d) else m


@_inline
def _ratio(x0: float, y0: float, x1: float, y1: float, x2: float, y2: float, x3: float,
           y3: float) -> float:
    """OP_RATIO: |p0 - p1| / |p2 - p3| (NaN if the second is 0)."""
    d0 = math.sqrt((x0 - x1) ** 2 + (y0 - y1) ** 2)
    d1 = math.sqrt((x2 - x3) ** 2 + (y2 - y3) ** 2)
    return d0 / (np.nan if d1 == 0.0 else d1)


@_inline
def _segment_value(op: int, x0: float, y0: float, x1: float, y1: float, x2: float, y2: float,
                   x3: float, y3: float, torso: float) -> float:
    """OP_VERTICAL / OP_HEIGHT / OP_DIST / OP_HOFFSET of the segment mid(p0, p1) -> mid(p2, p3);
    NaN for any other op."""
    ax = 0.5 * (x0 + x1)
    ay = 0.5 * (y0 + y1)
    bx = 0.5 * (x2 + x3)
    by = 0.5 * (y2 + y3)
    if op == OP_VERTICAL:
        return _vertical_angle(bx - ax, by - ay)
    if op == OP_HEIGHT:
        return (by - ay) / torso
    if op == OP_DIST:
        return math.sqrt((ax - bx) ** 2 + (ay - by) ** 2) / torso
    if op == OP_HOFFSET:
        return (ax - bx) / torso
    return np.nan


def _prefetch_nop(a: np.ndarray, i: int) -> None:
    """Plain-Python stand-in for :func:`_prefetch` (NUMBA_DISABLE_JIT=1)."""


@intrinsic
def _prefetch_llvm(typingctx, a, i):  # type: ignore[no-untyped-def]
    """``_prefetch(a, i)``: ask the CPU to start loading the cache line of ``a.ravel()[i]``
    (``llvm.prefetch``: read, keep in all cache levels). A hint: never faults."""
    if not (isinstance(a, types.Array) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, sig, args):  # type: ignore[no-untyped-def]
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        addr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]))
        builder.call(fn, [addr, i32(0), i32(3), i32(1)])  # read, high locality, data cache
        return context.get_dummy_value()

    return types.void(a, i), codegen


_prefetch = cast(Callable[[np.ndarray, int], None],
                 _prefetch_nop if getattr(config, "DISABLE_JIT", False) else _prefetch_llvm)

#: Frames per block of :func:`_features_batch`: its gathered columns (~50 x 264 doubles) stay
#: in L2 while every feature's loop runs over them.
_BLOCK = 256
_BLOCK_PAD = 8  # row stride of the gathered block _BLOCK + 8 doubles: off 4 KiB multiples
#: How far ahead (frames) the gather prefetches: the frames' landmarks are scattered over each
#: frame's 1 KiB, which the hardware prefetcher follows poorly (measured: gather 7 -> 4 ms/hour).
_PREFETCH_FRAMES = 32


@_kernel
def _gather_plan(ops: np.ndarray, nl: int, nc: int) -> tuple[np.ndarray, np.ndarray]:
    """Which pose columns (F, 5) ops read: ``off`` (R,) offsets ``j * nc + c`` in a flattened
    (nl, nc) pose, torso joints' x, y first (rows 0..7), and ``rows`` (F, 8): for each op the
    rows of its 4 joints' (x, y), or of their 4 visibilities for OP_MINVIS."""
    row_of = np.full(nl * nc, -1, dtype=np.int64)
    off = np.empty(nl * nc, dtype=np.int64)
    nrow = 0
    for j in (_LSH, _RSH, _LHIP, _RHIP):
        for c in range(2):
            row_of[j * nc + c] = nrow
            off[nrow] = j * nc + c
            nrow += 1
    rows = np.zeros((ops.shape[0], 8), dtype=np.int64)
    for f in range(ops.shape[0]):
        vis = ops[f, 0] == OP_MINVIS
        if vis and nc < 4:
            raise ValueError("OP_MINVIS needs poses with a visibility column (T, 33, 4)")
        for q in range(4):
            j = ops[f, q + 1]
            if j < 0 or j >= nl:
                raise IndexError("feature op landmark id out of range")
            for c in range(3, 4) if vis else range(2):
                if row_of[j * nc + c] < 0:
                    row_of[j * nc + c] = nrow
                    off[nrow] = j * nc + c
                    nrow += 1
                rows[f, q if vis else 2 * q + c] = row_of[j * nc + c]
    return off[:nrow].copy(), rows


@_kernel
def _features_block(flat: np.ndarray, fs: int, off: np.ndarray, rows: np.ndarray,
                    ops: np.ndarray, t0: int, m: int, g: np.ndarray, torso: np.ndarray,
                    out: np.ndarray) -> None:
    """Frames t0..t0+m of the flattened (T * fs,) poses into out[:, t0:t0+m]: gather the
    :func:`_gather_plan` columns into g (R, >= m), then one branch-free loop per feature."""
    for t in range(m):
        base = (t0 + t) * fs
        ahead = base + _PREFETCH_FRAMES * fs
        if ahead + fs <= flat.shape[0]:
            for q in range(0, fs, 8):  # one hint per 64-byte line
                _prefetch(flat, ahead + q)
        for k in range(off.shape[0]):
            g[k, t] = flat[np.uint64(base + off[k])]  # unsigned: no negative-index wrap
    for t in range(m):
        torso[t] = _torso_xy(g[0, t], g[1, t], g[2, t], g[3, t], g[4, t], g[5, t], g[6, t],
                             g[7, t])
    for f in range(ops.shape[0]):
        op = ops[f, 0]
        r0, r1, r2, r3 = rows[f, 0], rows[f, 1], rows[f, 2], rows[f, 3]
        r4, r5, r6, r7 = rows[f, 4], rows[f, 5], rows[f, 6], rows[f, 7]
        # One loop per op, the op a constant in it: no dispatch inside the loop.
        if op == OP_ANGLE:
            for t in range(m):
                out[f, t0 + t] = _angle2(g[r0, t], g[r1, t], g[r2, t], g[r3, t], g[r4, t],
                                         g[r5, t])
        elif op == OP_MINVIS:
            for t in range(m):
                out[f, t0 + t] = _min_visibility(g[r0, t], g[r1, t], g[r2, t], g[r3, t])
        elif op == OP_RATIO:
            for t in range(m):
                out[f, t0 + t] = _ratio(g[r0, t], g[r1, t], g[r2, t], g[r3, t], g[r4, t],
                                        g[r5, t], g[r6, t], g[r7, t])
        elif op == OP_VERTICAL or op == OP_HEIGHT or op == OP_DIST or op == OP_HOFFSET:
            for t in range(m):  # op is loop-invariant: LLVM unswitches the loop per op
                out[f, t0 + t] = _segment_value(op, g[r0, t], g[r1, t], g[r2, t], g[r3, t],
                                                g[r4, t], g[r5, t], g[r6, t], g[r7, t],
                                                torso[t])
        else:
            out[f, t0:t0 + m] = np.nan


@_kernel
def _features_batch_serial(poses: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """(T, 33, C) poses (C >= 4 if an op is OP_MINVIS, else >= 2), (F, 5) ops -> (F, T) values.

    Vectorised over frames: per block of ``_BLOCK`` frames, the landmark coordinates the ops use
    are gathered into contiguous rows, then each feature is one branch-free loop over the block.
    """
    n, nl, nc = poses.shape
    flat = np.ascontiguousarray(poses).reshape(n * nl * nc)
    out = np.empty((ops.shape[0], n), dtype=np.float64)
    off, rows = _gather_plan(ops, nl, nc)
    stride = min(n, _BLOCK) + _BLOCK_PAD
    g = np.empty((off.shape[0], stride), dtype=np.float64)
    torso = np.empty(stride, dtype=np.float64)
    for t0 in range(0, n, _BLOCK):
        _features_block(flat, nl * nc, off, rows, ops, t0, min(_BLOCK, n - t0), g, torso, out)
    return out


@njit(cache=True, fastmath=FASTMATH, error_model="numpy", parallel=True)
def _features_batch_parallel(poses: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """:func:`_features_batch_serial` with the blocks spread over numba's threads (prange;
    NUMBA_NUM_THREADS / numba.set_num_threads decide how many). Same values, bit for bit."""
    n, nl, nc = poses.shape
    flat = np.ascontiguousarray(poses).reshape(n * nl * nc)
    out = np.empty((ops.shape[0], n), dtype=np.float64)
    off, rows = _gather_plan(ops, nl, nc)
    stride = min(n, _BLOCK) + _BLOCK_PAD
    for b in prange((n + _BLOCK - 1) // _BLOCK):
        t0 = b * _BLOCK
        g = np.empty((off.shape[0], stride), dtype=np.float64)
        torso = np.empty(stride, dtype=np.float64)
        _features_block(flat, nl * nc, off, rows, ops, t0, min(_BLOCK, n - t0), g, torso, out)
    return out


#: From this many frames on, :func:`_features_batch` uses the threaded kernel (below it, the
#: thread start-up outweighs the work: one block is ~25 us).
_PARALLEL_MIN_FRAMES = 4 * _BLOCK


def _features_batch(poses: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """(T, 33, C) poses, (F, 5) int64 ops -> (F, T) feature values (see the OP_* codes).

    Threaded for long sequences, serial for short ones; both give the same bits, and so does
    :func:`_features_frame` for each frame."""
    if poses.shape[0] >= _PARALLEL_MIN_FRAMES:
        return _features_batch_parallel(poses, ops)
    return _features_batch_serial(poses, ops)


@_kernel
def _op_value(p: np.ndarray, op: int, i0: int, i1: int, i2: int, i3: int, torso: float) -> float:
    """One feature value of one (33, >=4) pose: the same per-op formulas as the batch kernel."""
    if op == OP_ANGLE:
        return _angle2(p[i0, 0], p[i0, 1], p[i1, 0], p[i1, 1], p[i2, 0], p[i2, 1])
    if op == OP_MINVIS:
        return _min_visibility(p[i0, 3], p[i1, 3], p[i2, 3], p[i3, 3])
    if op == OP_RATIO:
        return _ratio(p[i0, 0], p[i0, 1], p[i1, 0], p[i1, 1], p[i2, 0], p[i2, 1], p[i3, 0],
                      p[i3, 1])
    return _segment_value(op, p[i0, 0], p[i0, 1], p[i1, 0], p[i1, 1], p[i2, 0], p[i2, 1],
                          p[i3, 0], p[i3, 1], torso)


@_kernel
def _features_frame(p: np.ndarray, ops: np.ndarray, out: np.ndarray) -> None:
    """Fill out (F,) with the F features ``ops`` (F, 5) of one (33, 4) pose (the live path).

    A scalar kernel of its own: it compiles in about a second, where the vectorised batch
    kernel takes ~10 s on a cold cache. Values equal the batch kernel's to ~1e-12 (the
    vectorised code contracts and reorders the same formulas differently)."""
    torso = _torso_length(p)
    for f in range(ops.shape[0]):
        out[f] = _op_value(p, ops[f, 0], ops[f, 1], ops[f, 2], ops[f, 3], ops[f, 4], torso)


@_kernel
def _gradient(x: np.ndarray, fps: float) -> np.ndarray:
    """d/dt of a (T,) series sampled at fps (units/s): central differences inside, one-sided
    at the ends (as ``np.gradient``); NaN where a needed neighbour is NaN."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    if n == 0:
        return out
    if n == 1:
        out[0] = np.nan
        return out
    out[0] = (x[1] - x[0]) * fps
    out[n - 1] = (x[n - 1] - x[n - 2]) * fps
    for t in range(1, n - 1):
        out[t] = (x[t + 1] - x[t - 1]) * (0.5 * fps)
    return out
