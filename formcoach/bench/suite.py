"""``formcoach bench``: one-run performance suite.

Every figure is measured in the same process run, so ratios compare like with like on a shared,
noisy machine. Targets (2-core laptop CPU) are recorded next to each figure in the JSON.

Keys: ``pose_ms`` {backend: {p50, p90}}, ``onnx_vs_mediapipe``, ``realtime_factor``,
``overhead_ms_per_frame``, ``velocity_overhead_ms`` (per frame, the velocity work and
``--stop-at-vl`` in the session loop), ``kernel_speedup_vs_numpy``, ``cue_latency_ms`` {p50, p95},
``cold_start_s``, ``peak_rss_mb``, ``machine``, ``targets``, ``inputs``.

The model ladder (same run, same frames, ONNX, 2 threads): ``pose_ms_by_model`` {lite, full,
heavy: {p50, p90, ratio_to_full, cpu_p50, cpu_ratio_to_full, detection_rate}}, the headline
``lite_ms_p50`` / ``full_ms_p50`` / ``heavy_ms_p50``, and ``angle_error_by_model`` {rung: {view: {knee, hip,
elbow, shoulder, all: {median, p95}}}} against the bundled samples' synthetic truth. ``model``
is the rung the end-to-end figures (realtime, overhead, cue latency, cold start) ran.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.pose.models import ModelName
from formcoach.types import Frame

log = logging.getLogger(__name__)

TARGETS = {
    "onnx_vs_mediapipe": "<= 0.8",
    "realtime_factor": ">= 3",
    "overhead_ms_per_frame": "<= 0.3",
    "velocity_overhead_ms": "<= 0.3",
    "kernel_speedup_vs_numpy": ">= 10",
    "cue_latency_ms.p95": "<= 150",
    "cold_start_s": "<= 2",
    "peak_rss_mb": "<= 600",
    "lite_ms_p50": "<= 3.5",
    "full_ms_p50": "~ 6.5",
    "heavy_ms_p50": "<= 25",
    "angle_error_by_model.heavy.side.all.median": "<= 2.0",
    "angle_error_by_model.heavy.side.all.p95": "<= 6",
    "angle_error_by_model.heavy.45.all.median": "<= 2.5",
    "angle_error_by_model.heavy.side.near.all.median": "<= 2.0",
    "angle_error_by_model.heavy.side.near.all.p95": "<= 6",
}

#: A 1280x720 real clip used when ../shared is present (else a rendered 720p synthetic clip).
SHARED_720P = "bicep_curl__Pose-estimation__bicep.mp4"


def machine_info() -> dict[str, Any]:
    """CPU, core count and library versions, for the JSON header."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {"python": platform.python_version()}
    for mod in ("numpy", "numba", "onnxruntime", "mediapipe", "cv2"):
        try:
            versions[mod] = str(__import__(mod).__version__)
        except Exception as e:
            versions[mod] = f"unavailable ({type(e).__name__})"
    from formcoach import __version__

    versions["formcoach"] = __version__
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "affinity_cores": len(os.sched_getaffinity(0)) if sys.platform == "linux" else None,
        "platform": platform.platform(),
        "versions": versions,
    }


def _pct(xs: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(xs, dtype=np.float64), q)) if len(xs) else float("nan")


def _decode(path: Path, max_frames: int) -> tuple[list[Frame], float]:
    from formcoach.sources import VideoFileSource

    src = VideoFileSource(path, max_frames=max_frames)
    return list(src), src.fps


def bench_pose(frames: list[Frame], backends: tuple[str, ...] = ("mediapipe", "onnx"),
               warmup: int = 5) -> dict[str, Any]:
    """ms/frame of each backend on the same decoded frames (inference only), plus detection rate.

    Backends run in alternating passes over the same frames so machine noise hits both alike.
    """
    from formcoach.pose import create_estimator

    out: dict[str, Any] = {}
    for b in backends:
        est = create_estimator(b)
        times: list[float] = []
        detected = 0
        try:
            for i, fr in enumerate(frames):
                t0 = time.perf_counter()
                r = est.process(fr.image, fr.t_ns)
                dt = time.perf_counter() - t0
                if i >= warmup:
                    times.append(dt * 1e3)
                detected += r.detected
        finally:
            est.close()
        out[b] = {
            "p50": round(_pct(times, 50), 3),
            "p90": round(_pct(times, 90), 3),
            "frames": len(times),
            "detection_rate": round(detected / max(1, len(frames)), 4),
        }
    return out


def bench_silhouette(frames: list[Frame], passes: int = 3, warmup: int = 5) -> dict[str, Any]:
    """ms/frame of the onnx backend (Full) with and without the back-silhouette measure on the
    same frames (alternating passes), and the fraction of frames it measured (those with a
    bent hip: the only ones that run the mask head)."""
    from formcoach.pose import create_estimator

    ests = {k: create_estimator("onnx", silhouette=k == "silhouette")
            for k in ("plain", "silhouette")}
    times: dict[str, list[float]] = {k: [] for k in ests}
    measured = 0
    try:
        for _ in range(passes):
            for k, est in ests.items():
                est.reset()
                for i, fr in enumerate(frames):
                    t0 = time.perf_counter()
                    r = est.process(fr.image, fr.t_ns)
                    if i >= warmup:
                        times[k].append((time.perf_counter() - t0) * 1e3)
                    measured += k == "silhouette" and bool(np.isfinite(r.back_bulge))
    finally:
        for est in ests.values():
            est.close()
    p50 = {k: round(_pct(v, 50), 3) for k, v in times.items()}
    return {"plain_p50": p50["plain"], "silhouette_p50": p50["silhouette"],
            "ratio": round(p50["silhouette"] / p50["plain"], 3) if p50["plain"] else None,
            "measured_fraction": round(measured / max(1, passes * len(frames)), 3),
            "frames": len(frames)}


def bench_ladder(frames: list[Frame], backend: str = "onnx", warmup: int = 5,
                 num_threads: int = 2) -> dict[str, Any]:
    """ms/frame of every model rung on the same decoded frames (inference only).

    The rungs run interleaved, frame by frame (each its own tracking estimator), so machine
    noise hits all of them alike; ``ratio_to_full`` compares p50s of this same run. Each rung
    gets a fresh copy of the frame (untimed), as a decoder hands it over: a frame that was
    decoded long before and left the CPU caches would make the first rung of each frame pay
    ~0.5 ms more for its crop than the others. The first rung changes every frame.

    ``cpu_p50`` is the process CPU time per frame (all threads: onnxruntime's and OpenCV's
    pools too); on a shared machine it is steadier than the wall clock, and
    ``cpu_ratio_to_full`` compares those. Where the backend runs formcoach's own BlazePose
    graph, ``network_p50`` / ``network_cpu_p50`` are the model calls alone and ``rest_p50`` /
    ``rest_cpu_p50`` everything else in ``process`` (crop, decoding, tracking, filters), ms.
    """
    from formcoach.pose import MODELS, create_estimator

    ests = {m: create_estimator(backend, model=m, num_threads=num_threads) for m in MODELS}
    times: dict[str, list[float]] = {m: [] for m in MODELS}
    cpu: dict[str, list[float]] = {m: [] for m in MODELS}
    net = {m: [0.0, 0.0] for m in MODELS}  # this frame's model calls: wall s, cpu s
    net_ms: dict[str, list[tuple[float, float]]] = {m: [] for m in MODELS}
    timed = {m: _time_model_calls(est, net[m]) for m, est in ests.items()}
    detected = dict.fromkeys(MODELS, 0)
    order = list(MODELS)
    try:
        for i, fr in enumerate(frames):
            for m in order[i % len(order):] + order[:i % len(order)]:
                est = ests[m]
                image = fr.image.copy()
                net[m][:] = [0.0, 0.0]
                t0, c0 = time.perf_counter(), time.process_time()
                r = est.process(image, fr.t_ns)
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                if i >= warmup:
                    times[m].append(dt * 1e3)
                    cpu[m].append(dc * 1e3)
                    net_ms[m].append((net[m][0] * 1e3, net[m][1] * 1e3))
                detected[m] += r.detected
    finally:
        for est in ests.values():
            est.close()
    out: dict[str, Any] = {}
    full_p50 = _pct(times["full"], 50)
    full_cpu = _pct(cpu["full"], 50)
    for m in MODELS:
        p50 = _pct(times[m], 50)
        cpu_p50 = _pct(cpu[m], 50)
        out[m] = {
            "p50": round(p50, 3),
            "p90": round(_pct(times[m], 90), 3),
            "ratio_to_full": round(p50 / full_p50, 3) if full_p50 > 0 else None,
            "cpu_p50": round(cpu_p50, 3),
            "cpu_ratio_to_full": round(cpu_p50 / full_cpu, 3) if full_cpu > 0 else None,
            "frames": len(times[m]),
            "detection_rate": round(detected[m] / max(1, len(frames)), 4),
            "threads": num_threads,
            "backend": backend,
        }
        if timed[m] and net_ms[m]:
            nw = np.array([w for w, _ in net_ms[m]])
            nc = np.array([c for _, c in net_ms[m]])
            out[m].update({
                "network_p50": round(_pct(nw, 50), 3),
                "network_cpu_p50": round(_pct(nc, 50), 3),
                "rest_p50": round(_pct(np.asarray(times[m]) - nw, 50), 3),
                "rest_cpu_p50": round(_pct(np.asarray(cpu[m]) - nc, 50), 3),
            })
    return out


def _time_model_calls(est: Any, acc: list[float]) -> bool:
    """Make ``est``'s BlazePose model calls add their wall and CPU seconds to ``acc[0]`` and
    ``acc[1]``; False (nothing changed) for a backend without formcoach's own pipeline."""
    pipe = getattr(est, "_pipeline", None)
    if pipe is None or not hasattr(pipe, "_run_landmarks"):
        return False

    def timed(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], Any]:
        def run(x: np.ndarray) -> Any:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                return fn(x)
            finally:
                acc[0] += time.perf_counter() - t0
                acc[1] += time.process_time() - c0
        return run

    pipe._run_detector = timed(pipe._run_detector)
    pipe._run_landmarks = timed(pipe._run_landmarks)
    return True


def bench_angle_error(samples: Path, backend: str = "onnx", max_frames: int | None = None
                      ) -> dict[str, Any]:
    """Joint-angle error against the samples' synthetic truth for every rung (see
    :func:`formcoach.evaluation.pose.angle_error_by_view`)."""
    from formcoach.evaluation.pose import angle_error_by_view
    from formcoach.pose import MODELS

    return {m: angle_error_by_view(samples, backend, m, max_frames) for m in MODELS}


def _numpy_features(poses: np.ndarray, ops: np.ndarray) -> np.ndarray:
    """Vectorised numpy reference of the fused feature kernel: ``(T,33,4)``, ``(F,5)`` -> ``(F,T)``.

    Same formulas as ``formcoach.kinematics._kernels._features_batch``, one array expression per
    feature.
    """
    from formcoach.kinematics import _kernels as K

    x, y, v = poses[:, :, 0], poses[:, :, 1], poses[:, :, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        torso = np.hypot(0.5 * (x[:, 11] + x[:, 12]) - 0.5 * (x[:, 23] + x[:, 24]),
                         0.5 * (y[:, 11] + y[:, 12]) - 0.5 * (y[:, 23] + y[:, 24]))
        torso = np.where(torso == 0.0, np.nan, torso)
        out = np.empty((ops.shape[0], poses.shape[0]))
        for f, (op, i0, i1, i2, i3) in enumerate(ops):
            if op == K.OP_ANGLE:
                ax, ay = x[:, i0] - x[:, i1], y[:, i0] - y[:, i1]
                cx, cy = x[:, i2] - x[:, i1], y[:, i2] - y[:, i1]
                out[f] = np.degrees(np.abs(np.arctan2(ax * cy - ay * cx, ax * cx + ay * cy)))
                continue
            if op == K.OP_MINVIS:
                out[f] = np.minimum(np.minimum(v[:, i0], v[:, i1]), np.minimum(v[:, i2], v[:, i3]))
                continue
            if op == K.OP_RATIO:
                d1 = np.hypot(x[:, i2] - x[:, i3], y[:, i2] - y[:, i3])
                out[f] = np.hypot(x[:, i0] - x[:, i1], y[:, i0] - y[:, i1]) / np.where(d1 == 0, np.nan, d1)
                continue
            ax, ay = 0.5 * (x[:, i0] + x[:, i1]), 0.5 * (y[:, i0] + y[:, i1])
            bx, by = 0.5 * (x[:, i2] + x[:, i3]), 0.5 * (y[:, i2] + y[:, i3])
            if op == K.OP_VERTICAL:
                dx, dy = bx - ax, by - ay
                val = np.degrees(np.arctan2(np.abs(dx), -dy))
                out[f] = np.where((dx == 0) & (dy == 0), np.nan, val)
            elif op == K.OP_HEIGHT:
                out[f] = (by - ay) / torso
            elif op == K.OP_DIST:
                out[f] = np.hypot(ax - bx, ay - by) / torso
            elif op == K.OP_HOFFSET:
                out[f] = (ax - bx) / torso
            else:
                out[f] = np.nan
    return out


def bench_kernels(n_frames: int, repeats: int = 3) -> dict[str, Any]:
    """The fused numba feature kernel vs its vectorised numpy reference on ``n_frames`` poses.

    Every per-frame feature formcoach computes (joint angles, segment angles, heights,
    distances, ratios, visibility) for each frame; outputs are compared for equality.
    ``speedup`` is the kernel as used (threaded over ``threads`` for long inputs) vs numpy's
    single thread; ``speedup_serial`` is one thread against one. ``input_read_s`` (one
    ``np.max`` pass over the poses) shows how close the kernel is to merely reading its input.
    """
    import numba

    from formcoach.kinematics import _kernels as K
    from formcoach.kinematics.features import FEATURES, _ops

    feats = [f for f in FEATURES.values() if f.op is not None]
    ops = _ops(feats)
    rng = np.random.default_rng(0)
    poses = rng.uniform(0, 720, (n_frames, 33, 4))
    poses[:, :, 3] = rng.uniform(0, 1, (n_frames, 33))
    poses[rng.random(n_frames) < 0.05] = np.nan  # frames with nobody
    poses[rng.random((n_frames, 33)) < 0.02] = np.nan  # missing joints
    K._features_batch(poses[:10], ops)  # compile / load the cache

    def best(fn: Callable[[], object]) -> float:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    K._features_batch_serial(poses[:10], ops)
    t_numba = best(lambda: K._features_batch(poses, ops))
    t_serial = best(lambda: K._features_batch_serial(poses, ops))
    t_numpy = best(lambda: _numpy_features(poses, ops))
    t_read = best(lambda: np.max(poses))
    a, b = K._features_batch(poses, ops), _numpy_features(poses, ops)
    same = bool(np.allclose(a, b, rtol=1e-9, atol=1e-9, equal_nan=True))
    # Live use: one pose at a time (what the coach does per frame).
    sub = poses[:2000]
    buf = np.empty(ops.shape[0])
    K._features_frame(sub[0], ops, buf)
    t_frame_numba = best(lambda: [K._features_frame(p, ops, buf) for p in sub]) / len(sub)
    t_frame_numpy = best(lambda: [_numpy_features(p[None], ops) for p in sub]) / len(sub)
    return {
        "frames": n_frames,
        "features": len(feats),
        "numba_s": round(t_numba, 5),
        "numpy_s": round(t_numpy, 5),
        "speedup": round(t_numpy / t_numba, 2) if t_numba > 0 else None,
        "threads": numba.get_num_threads() if n_frames >= K._PARALLEL_MIN_FRAMES else 1,
        "numba_serial_s": round(t_serial, 5),
        "speedup_serial": round(t_numpy / t_serial, 2) if t_serial > 0 else None,
        "input_read_s": round(t_read, 5),
        "outputs_identical": same,
        "per_frame_us": {"numba": round(t_frame_numba * 1e6, 2), "numpy": round(t_frame_numpy * 1e6, 2)},
        "per_frame_speedup": round(t_frame_numpy / t_frame_numba, 1) if t_frame_numba > 0 else None,
        "max_abs_diff": float(np.nanmax(np.abs(a - b))) if a.size else 0.0,
    }


def bench_overhead(track_poses: np.ndarray, fps: float, exercise: str) -> dict[str, Any]:
    """Per-frame cost of everything after the pose model: features, segmenter and rules."""
    from formcoach.coach.offline import make_coach
    from formcoach.exercises import load_exercise
    from formcoach.types import PoseResult

    ex = load_exercise(exercise)
    results = [
        PoseResult(p, np.full((33, 3), np.nan), int(i * 1e9 / fps), (1280, 720), 1.0)
        for i, p in enumerate(track_poses)
    ]
    coach = make_coach(ex, fps)
    for r in results[:30]:  # warm-up (JIT, caches)
        coach.update(r)
    coach = make_coach(ex, fps)
    times = []
    for r in results:
        t0 = time.perf_counter_ns()
        coach.update(r)
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return {
        "p50": round(_pct(times, 50), 4),
        "mean": round(float(np.mean(times)), 4),
        "p90": round(_pct(times, 90), 4),
        "frames": len(times),
        "rules": coach.rules is not None,
    }


def bench_velocity_overhead(track_poses: np.ndarray, fps: float, exercise: str = "squat",
                            repeats: int = 5, stop_at_vl_pct: float = 20.0) -> dict[str, Any]:
    """Per-frame cost of the velocity work (each rep's concentric velocity, VL and the
    ``--stop-at-vl`` rule) in the whole session loop (``analyze_track``, rules on).

    The same ``(T, 33, 4)`` poses run with the pack as shipped plus ``stop_at_vl_pct``, and
    with the pack's ``velocity_point`` emptied and no stop rule (nothing velocity is computed),
    alternating ``repeats`` times so machine noise hits both alike; each side's best run
    counts. ``ms_per_frame``: the difference / frames (floored at 0 in the headline only).
    """
    import dataclasses

    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise
    from formcoach.types import PoseTrack, frame_time_ns

    ex = load_exercise(exercise)
    if not ex.velocity_point:
        raise ValueError(f"{exercise} has no velocity_point: nothing to measure")
    plain = dataclasses.replace(ex, velocity_point="")
    poses = np.asarray(track_poses, dtype=np.float64)
    t_ns = np.array([frame_time_ns(i, fps) for i in range(len(poses))], dtype=np.int64)
    track = PoseTrack(poses=poses, world=np.full((len(poses), 33, 3), np.nan), t_ns=t_ns,
                      fps=fps, image_size=(1280, 720), backend="bench")

    def once(with_velocity: bool) -> tuple[float, int]:
        t0 = time.perf_counter()
        res = analyze_track(track, ex if with_velocity else plain,
                            stop_at_vl_pct=stop_at_vl_pct if with_velocity else None)
        return time.perf_counter() - t0, len(res.reps)

    once(True)  # warm-up (JIT, caches)
    once(False)
    on: list[float] = []
    off: list[float] = []
    reps = 0
    for _ in range(max(1, repeats)):
        dt, reps = once(True)
        on.append(dt)
        off.append(once(False)[0])
    n = len(poses)
    diff_ms = (min(on) - min(off)) * 1e3 / max(1, n)
    return {
        "ms_per_frame": round(diff_ms, 4),
        "with_ms_per_frame": round(min(on) * 1e3 / max(1, n), 4),
        "without_ms_per_frame": round(min(off) * 1e3 / max(1, n), 4),
        "frames": n,
        "reps": reps,
        "repeats": max(1, repeats),
        "exercise": exercise,
        "stop_at_vl_pct": stop_at_vl_pct,
    }


def bench_realtime(video: Path, exercise: str, backend: str, max_frames: int | None,
                   model: ModelName = "full") -> dict[str, Any]:
    """End-to-end offline analysis (decode, pose, kinematics, rules, cue log) vs the clip's length.

    Runs ``analyze_video`` (what ``formcoach analyze`` runs) with the rules engine attached.
    ``realtime_factor`` is steady state: wall time minus the one-off model start-up, which is
    measured separately (``startup_s``) and folded in by ``realtime_factor_incl_startup``.
    """
    from formcoach.coach.offline import analyze_video
    from formcoach.exercises import load_exercise
    from formcoach.pose import create_estimator

    ex = load_exercise(exercise)
    t0 = time.perf_counter()
    create_estimator(backend, model=model).close()  # start-up: session creation, load and check
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = analyze_video(video, ex, backend=backend, model=model, progress=False,
                        max_frames=max_frames)
    wall = time.perf_counter() - t0
    duration = res.frames / res.fps
    steady = max(1e-9, wall - startup)
    return {
        "realtime_factor": round(duration / steady, 3),
        "realtime_factor_incl_startup": round(duration / wall, 3) if wall > 0 else None,
        "wall_s": round(wall, 3),
        "startup_s": round(startup, 3),
        "video_s": round(duration, 3),
        "frames": res.frames,
        "reps": len(res.reps),
        "backend": backend,
        "model": model,
    }


def bench_realtime_subprocess(video: Path, exercise: str, backend: str,
                              max_frames: int | None, model: ModelName = "full") -> dict[str, Any]:
    """:func:`bench_realtime` in a fresh interpreter, plus that process's peak RSS (MB): the
    memory a real ``analyze`` run needs, not the bench's own frame buffers."""
    code = (
        "import json,resource,sys; from pathlib import Path;"
        "from formcoach.bench.suite import bench_realtime;"
        "mf=None if sys.argv[4]=='None' else int(sys.argv[4]);"
        "r=bench_realtime(Path(sys.argv[1]), sys.argv[2], sys.argv[3], mf, sys.argv[5]);"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's high-water mark.
        "hwm=[l for l in open('/proc/self/status') if l.startswith('VmHWM')];"
        "r['peak_rss_mb']=round(int(hwm[0].split()[1])/1024,1) if hwm else "
        "round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024,1);"
        "print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(video), exercise, backend, str(max_frames),
                          model], capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bench_cold_start(video: Path, backend: str, model: ModelName = "full") -> dict[str, Any]:
    """Process start -> first processed frame, in a fresh interpreter (numba cache warm)."""
    code = (
        "import time,sys; t0=float(sys.argv[1]);"
        "from formcoach.coach.pipeline import Coach; from formcoach.exercises import load_exercise;"
        "from formcoach.pose import create_estimator; from formcoach.sources import VideoFileSource;"
        "ex=load_exercise('squat'); src=VideoFileSource(sys.argv[2]);"
        "est=create_estimator(sys.argv[3], model=sys.argv[4]); c=Coach(ex, src.fps);"
        "fr=next(iter(src)); c.update(est.process(fr.image, fr.t_ns));"
        "print(time.time()-t0)"
    )
    times = []
    for _ in range(2):  # first run also warms the numba cache
        t0 = time.time()
        out = subprocess.run([sys.executable, "-c", code, repr(t0), str(video), backend, model],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"cold_start_s": round(times[-1], 3), "first_run_s": round(times[0], 3), "backend": backend,
            "model": model}


def _try(name: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as e:
        log.warning("bench section %s failed: %s", name, e)
        return {"error": f"{type(e).__name__}: {e}"}


def _remember_speeds(backend: str) -> dict[str, Any]:
    """Re-measure this machine's per-rung speeds that ``analyze`` chooses its model from
    (:func:`formcoach.pose.ladder.machine_speeds`) and say where they are kept."""
    from formcoach.pose.ladder import machine_speeds, quiet_machine, speeds_path

    speeds, _ = machine_speeds(backend, remeasure=True)
    # remembered only on a quiet machine (a busy timing would pin a lower rung)
    return {"ms_per_frame": speeds, "file": str(speeds_path()), "remembered": quiet_machine()}


def _bench_video(shared: Path | None, workdir: Path) -> tuple[Path, str]:
    """A 720p clip: the shared real one when present, else a rendered synthetic squat."""
    if shared is not None and (shared / SHARED_720P).is_file():
        return shared / SHARED_720P, "bicep_curl"
    from formcoach import synth

    spec = synth.SynthSpec(name="bench_720p", exercise="squat", view="side", reps=4,
                            width=1280, height=720, seed=7)
    video, _truth = synth.render_sample(spec, workdir)
    return Path(video), "squat"


def _sample_video() -> Path:
    from formcoach.demo import default_sample

    return default_sample()


def run_bench(quick: bool = False, shared: Path | None = None, backend: str = "onnx",
              model: ModelName = "full", samples: Path | None = None) -> dict[str, Any]:
    """Run every section; returns the JSON-able result dict. ``model`` is the rung of the
    end-to-end sections; ``samples`` the folder of synthetic samples for the angle errors
    (default: the checkout's ``samples/``; the section is skipped without one)."""
    t_start = time.perf_counter()
    result: dict[str, Any] = {"quick": quick, "machine": machine_info(), "targets": TARGETS,
                              "model": model}
    with tempfile.TemporaryDirectory(prefix="formcoach-bench-") as tmp:
        sample = _sample_video()
        video720, ex720 = _try("video720", lambda: _bench_video(shared, Path(tmp))) or (sample, "squat")
        if isinstance(video720, dict):  # _try returned an error
            video720, ex720 = sample, "squat"
        result["inputs"] = {"sample": sample.name, "video_720p": Path(video720).name}

        n_pose = 40 if quick else 300
        pose = _try("pose", lambda: bench_pose(_decode(Path(video720), n_pose)[0]))
        result["pose_ms"] = pose
        if isinstance(pose, dict) and "onnx" in pose and "mediapipe" in pose:
            result["onnx_vs_mediapipe"] = round(pose["onnx"]["p50"] / pose["mediapipe"]["p50"], 3)

        ladder = _try("ladder", lambda: bench_ladder(_decode(Path(video720), n_pose)[0]))
        result["pose_ms_by_model"] = ladder
        for m in ("lite", "full", "heavy"):
            rung = ladder.get(m) if isinstance(ladder, dict) else None
            result[f"{m}_ms_p50"] = rung.get("p50") if isinstance(rung, dict) else None
        hinge = sample.parent / "squat_side_clean.mp4"  # bent hips: the frames it measures
        result["silhouette_ms"] = _try("silhouette", lambda: bench_silhouette(
            _decode(hinge if hinge.is_file() else sample, 60 if quick else 200)[0],
            passes=1 if quick else 3))
        if not quick:  # a full bench is the moment to re-measure what analyze chooses from
            result["machine_speeds"] = _try("machine_speeds", lambda: _remember_speeds(backend))

        from formcoach.demo import samples_dir

        folder = samples if samples is not None else samples_dir()
        if folder is not None and (folder / "manifest.json").is_file():
            result["angle_error_by_model"] = _try(
                "angle_error", lambda: bench_angle_error(folder, "onnx", 30 if quick else None))

        max_rt = 60 if quick else None
        rt = _try("realtime", lambda: bench_realtime_subprocess(Path(video720), ex720, backend, max_rt,
                                                                model))
        result["realtime"] = rt
        result["realtime_factor"] = rt.get("realtime_factor") if isinstance(rt, dict) else None

        def overhead() -> dict[str, Any]:
            from formcoach.pose.track import estimate_track

            tr = estimate_track(sample, backend, max_frames=60 if quick else None, model=model)
            poses = np.concatenate([tr.poses] * (3 if quick else 10))
            return bench_overhead(poses, tr.fps, "squat")

        ov = _try("overhead", overhead)
        result["overhead"] = ov
        result["overhead_ms_per_frame"] = ov.get("mean") if isinstance(ov, dict) else None

        def velocity_overhead() -> dict[str, Any]:
            from formcoach import synth
            from formcoach.synth.core import truth_poses

            spec = synth.SynthSpec(name="bench_vl", exercise="squat", view="side",
                                   reps=4 if quick else 12, seed=11, velocity_loss=40.0,
                                   landmark_noise_px=1.0)
            poses, fps, _truth = truth_poses(spec)
            return bench_velocity_overhead(poses, fps, "squat", repeats=2 if quick else 7)

        vo = _try("velocity_overhead", velocity_overhead)
        result["velocity_overhead"] = vo
        result["velocity_overhead_ms"] = (max(0.0, vo["ms_per_frame"])
                                          if isinstance(vo, dict) and "ms_per_frame" in vo
                                          else None)

        kn = _try("kernels", lambda: bench_kernels(3600 * 3 if quick else 3600 * 30))
        result["kernels"] = kn
        result["kernel_speedup_vs_numpy"] = kn.get("speedup") if isinstance(kn, dict) else None
        result["kernel_speedup_per_frame"] = kn.get("per_frame_speedup") if isinstance(kn, dict) else None

        def latency() -> dict[str, Any]:
            from formcoach.bench.latency import measure_cue_latency

            return measure_cue_latency(quick=quick, backend=backend, model=model)

        lat = _try("cue_latency", latency)
        result["cue_latency_ms"] = lat

        if folder is not None and (folder / "manifest.json").is_file():
            from formcoach.bench.latency import fault_to_cue

            ftc = _try("fault_to_cue", lambda: fault_to_cue(folder))
            ref = _try("fault_to_cue_reference", lambda: fault_to_cue(folder, early=False))
            result["fault_to_cue"] = ftc
            result["fault_to_cue_reference"] = ref
            result["fault_to_cue_s"] = ({k: ftc.get(k) for k in (
                "p50", "p95", "max", "n", "found", "visible_p50", "visible_p95", "visible_max")}
                                        if isinstance(ftc, dict) else None)

        cs = _try("cold_start", lambda: bench_cold_start(sample, backend, model))
        result["cold_start"] = cs
        result["cold_start_s"] = cs.get("cold_start_s") if isinstance(cs, dict) else None

    # Peak memory of a real analysis (the end-to-end run's own process); the bench process itself
    # holds decoded frames of both backends' runs and is reported apart.
    result["peak_rss_mb"] = rt.get("peak_rss_mb") if isinstance(rt, dict) else None
    result["bench_process_peak_rss_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["bench_wall_s"] = round(time.perf_counter() - t_start, 1)
    return result


def format_summary(r: dict[str, Any]) -> str:
    """Human-readable lines: each headline figure next to its target."""
    def g(key: str) -> Any:
        cur: Any = r
        for k in key.split("."):
            cur = cur.get(k) if isinstance(cur, dict) else None
        return cur

    lines = [f"formcoach bench ({'quick' if r.get('quick') else 'full'}) on {r['machine']['cpu']}, "
             f"{r['machine']['cores']} cores"]
    pose = r.get("pose_ms") or {}
    for b, v in pose.items() if isinstance(pose, dict) else []:
        if isinstance(v, dict) and "p50" in v:
            lines.append(f"  pose {b:10s} p50 {v['p50']:.1f} ms  p90 {v['p90']:.1f} ms  "
                         f"detected {100 * v['detection_rate']:.0f}%")
    ladder = r.get("pose_ms_by_model") or {}
    for m, v in ladder.items() if isinstance(ladder, dict) else []:
        if isinstance(v, dict) and "p50" in v:
            ratio = v.get("ratio_to_full") or float("nan")
            lines.append(f"  model {m:9s} p50 {v['p50']:.1f} ms  p90 {v['p90']:.1f} ms  "
                         f"x{ratio:.2f} of full  cpu {v.get('cpu_p50', float('nan')):.1f} ms  "
                         f"outside the network {v.get('rest_p50', float('nan')):.2f} ms  "
                         f"detected {100 * v['detection_rate']:.0f}%")
    ang = r.get("angle_error_by_model") or {}
    for m, views in ang.items() if isinstance(ang, dict) else []:
        if isinstance(views, dict) and "error" not in views:
            lines.append(f"  angle err {m:6s} " + "  ".join(
                f"{view} {row['all']['median']}/{row['all']['p95']}" for view, row in views.items())
                + " deg (median/p95, both sides)")
            lines.append(f"  angle err {m:6s} " + "  ".join(
                f"{view} {row['near']['all']['median']}/{row['near']['all']['p95']}"
                for view, row in views.items() if "near" in row) + " deg (near side)")
    for key in ("lite_ms_p50", "full_ms_p50", "heavy_ms_p50", "onnx_vs_mediapipe",
                "realtime_factor", "overhead_ms_per_frame", "velocity_overhead_ms",
                "kernel_speedup_vs_numpy", "kernel_speedup_per_frame", "cue_latency_ms.p50",
                "cue_latency_ms.p95",
                "cold_start_s", "peak_rss_mb"):
        lines.append(f"  {key:26s} {g(key)!s:>10}   target {TARGETS.get(key, '-')}")
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: Path) -> None:
    from formcoach.io_utils import atomic_write_text

    atomic_write_text(path, json.dumps(result, indent=2, default=str), mode=0o644)
