"""Batch throughput: N synthetic clips through ``formcoach batch`` on every engine installed
here (local always; ray and dask when importable), from one run, as JSON.

Run::

    python -m formcoach.bench.batch --clips 40 --json batch_bench.json

Local runs every worker count x threads per worker (``0``: the default pinning, ``cores //
workers``; so on 2 cores 1 worker x 2 threads, 1 x 1 and 2 x 1); ray and dask run at the largest
worker count with the default pinning (``--cluster-runs all``: every combination, as local).
Each run starts from an empty output folder (nothing skipped) and saves to no database.

Every run reports:

* ``startup_s``: engine start (a process pool, a Ray instance, a Dask cluster) until every worker
  has loaded its model; ``shutdown_s``: closing it;
* ``batch_s``: the batch itself on the warm engine (hashing, analysis, saving, summary);
* ``video_min_per_min``: video-minutes per wall-clock minute, start-up and shutdown included;
  ``steady_video_min_per_min``: the same over ``batch_s`` only;
* ``analysis_s_per_video_s``: the workers' own seconds of analysis per second of video (from
  ``.batch/log.jsonl``); ``worker_busy``: their summed analysis time / (workers x batch_s), the
  share of the run the workers spent analysing rather than waiting for work;
* ``machine_busy_cores``: busy cores of the whole machine during the batch (``/proc/stat``: this
  run's processes and anything else running);
* ``our_cpu_cores`` / ``our_cpu_s_per_video_s``: CPU of this process and its descendants (the
  workers, Ray's or Dask's own processes) during the batch, per second of batch and per second of
  video: the cost of an engine whatever else the machine runs.

``ratios`` compares runs of this one invocation only (timings on a shared machine drift between
invocations).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Exercises cycled through the synthetic clips (each a few seconds at 320x240).
EXERCISES = ("squat", "pushup", "lunge", "bicep_curl")


def render_clips(n: int, folder: Path, reps: int = 2) -> list[tuple[Path, str]]:
    """``n`` short synthetic clips (various exercises, views and seeds) in ``folder``."""
    from formcoach import synth

    out = []
    views = ("side", "front", "45")
    for i in range(n):
        ex = EXERCISES[i % len(EXERCISES)]
        spec = synth.SynthSpec(name=f"clip{i:03d}", exercise=ex, view=views[i % len(views)],
                               reps=reps, seed=i, width=320, height=240, setup_s=0.5, tail_s=0.3)
        video, truth = synth.render_sample(spec, folder)
        truth.unlink()
        (folder / f"{spec.name}.npz").unlink()
        out.append((video, ex))
    return out


def engines_here() -> list[str]:
    """``local`` plus the optional engines that import."""
    found = ["local"]
    if importlib.util.find_spec("ray") is not None:
        found.append("ray")
    if importlib.util.find_spec("dask") is not None and \
            importlib.util.find_spec("distributed") is not None:
        found.append("dask")
    return found


def _busy_jiffies() -> tuple[int, int] | None:
    """(busy, total) CPU jiffies of the whole machine since boot; None without /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _tree_cpu_s() -> float | None:
    """CPU seconds (user + system) of this process and every live descendant (workers, a Ray
    instance's daemons, a Dask cluster's processes); None without /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(name)] = int(fields[1])
        cpu[int(name)] = (int(fields[11]) + int(fields[12])) / tick
    me = os.getpid()
    total = 0.0
    for pid, c in cpu.items():
        p, hops = pid, 0
        while p not in (me, 0, 1) and hops < 64:
            p, hops = parent.get(p, 0), hops + 1
        if p == me:
            total += c
    return total


class _KeepOpen:
    """An engine whose ``close`` the batch cannot call: the bench closes it, timed apart."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def close(self, cancel: bool = False) -> None:
        if cancel:
            self.engine.close(cancel=True)


def bench_one(clips: list[tuple[Path, str]], engine: str, workers: int, threads: int, work: Path,
              model: str) -> dict[str, Any]:
    """One batch run from scratch on ``engine`` with ``workers`` x ``threads`` (0: the default
    pinning); its timings (see the module docstring)."""
    from formcoach.analysis import AnalysisOptions
    from formcoach.batch.engines import make_engine
    from formcoach.batch.inputs import BatchItem
    from formcoach.batch.runner import BatchConfig, run_batch

    out = work / f"{engine}-{workers}x{threads}"
    shutil.rmtree(out, ignore_errors=True)
    items = [BatchItem(str(p), ex) for p, ex in clips]
    opts = AnalysisOptions(exercise="auto", model=model, progress=False)
    cfg = BatchConfig(out=out, options=opts, engine=engine, workers=workers, threads=threads,
                      save=False, progress=False)
    t0 = time.perf_counter()
    eng = make_engine(engine, workers, opts.backend, model, None, threads)
    try:
        configs = eng.warm_up()
        t1 = time.perf_counter()
        j0, c0 = _busy_jiffies(), _tree_cpu_s()
        rep = run_batch(items, cfg, engine_factory=lambda: _KeepOpen(eng))
        j1, c1 = _busy_jiffies(), _tree_cpu_s()
        t2 = time.perf_counter()
    finally:
        eng.close()
    t3 = time.perf_counter()
    startup, batch, shutdown, wall = t1 - t0, t2 - t1, t3 - t2, t3 - t0
    events = [json.loads(line) for line in
              (out / ".batch" / "log.jsonl").read_text(encoding="utf-8").splitlines()]
    analysis_s = sum(e.get("wall_s", 0.0) for e in events if e.get("event") == "done")
    tree = c1 - c0 if c0 is not None and c1 is not None else None
    busy = None
    if j0 is not None and j1 is not None and j1[1] > j0[1]:
        busy = round((j1[0] - j0[0]) / (j1[1] - j0[1]) * (os.cpu_count() or 1), 2)
    return {
        "engine": engine, "workers": eng.workers, "threads": eng.threads, "files": len(items),
        "done": rep.done, "failed": rep.failed, "video_min": round(rep.video_s / 60, 3),
        "startup_s": round(startup, 2), "batch_s": round(batch, 2),
        "shutdown_s": round(shutdown, 2), "wall_s": round(wall, 2),
        "video_min_per_min": round(rep.video_s / wall, 3) if wall > 0 else 0.0,
        "steady_video_min_per_min": round(rep.video_s / batch, 3) if batch > 0 else 0.0,
        "analysis_s_per_video_s": round(analysis_s / rep.video_s, 3) if rep.video_s else None,
        "worker_busy": round(analysis_s / (eng.workers * batch), 3) if batch > 0 else None,
        "machine_busy_cores": busy,
        "our_cpu_cores": round(tree / batch, 2) if tree is not None and batch > 0 else None,
        "our_cpu_s_per_video_s": round(tree / rep.video_s, 3)
        if tree is not None and rep.video_s else None,
        "pinned": sorted({f"{c.get('threads')} thread(s): ort intra/inter {c.get('ort')}, "
                          f"numba {c.get('numba_threads')}" for c in configs}),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Scaling and engine ratios between the runs of one invocation (``steady``: start-up and
    shutdown excluded; ``total``: included; ``cpu_per_video_s``: CPU seconds per video-second
    of one run over the other's, which other jobs on the machine barely move)."""
    by = {(r["engine"], r["workers"], r["threads"]): r for r in runs}

    def rate(key: tuple[str, int, int], kind: str) -> float | None:
        r = by.get(key)
        if r is None:
            return None
        return float(r["steady_video_min_per_min" if kind == "steady" else "video_min_per_min"])

    def cpu(key: tuple[str, int, int]) -> float | None:
        r = by.get(key)
        v = r.get("our_cpu_s_per_video_s") if r is not None else None
        return float(v) if v else None

    cores = os.cpu_count() or 1
    out: dict[str, Any] = {}
    local_w = sorted({w for e, w, _ in by if e == "local"})
    if len(local_w) >= 2:
        w1, wn = local_w[0], local_w[-1]
        tn = max(1, cores // wn)
        for kind in ("steady", "total"):
            out[f"local_{wn}_vs_{w1}_default_pinning_{kind}"] = _ratio(
                rate(("local", wn, tn), kind), rate(("local", w1, max(1, cores // w1)), kind))
            out[f"local_{wn}_vs_{w1}_one_thread_each_{kind}"] = _ratio(
                rate(("local", wn, 1), kind), rate(("local", w1, 1), kind))
        out[f"local_{w1}_worker_{max(1, cores // w1)}_threads_vs_1_thread_steady"] = _ratio(
            rate(("local", w1, max(1, cores // w1)), "steady"), rate(("local", w1, 1), "steady"))
        # CPU seconds per video-second: what the wall-clock ratios would be with the cores free
        # (1.0: no more CPU per video with more workers, nothing spent on coordination)
        out[f"local_{wn}x1_vs_{w1}x1_cpu_per_video_s"] = _ratio(
            cpu(("local", wn, 1)), cpu(("local", w1, 1)))
    for e in ("ray", "dask"):
        for (eng, w, t) in by:
            if eng != e or ("local", w, t) not in by:
                continue
            for kind in ("steady", "total"):
                out[f"{e}_vs_local_{w}x{t}_{kind}"] = _ratio(rate((e, w, t), kind),
                                                            rate(("local", w, t), kind))
            out[f"{e}_vs_local_{w}x{t}_cpu_per_video_s"] = _ratio(cpu((e, w, t)),
                                                                 cpu(("local", w, t)))
    return out


def run(n_clips: int, engines: list[str], workers: tuple[int, ...] = (1, 2),
        threads: tuple[int, ...] = (0, 1), model: str = "full",
        cluster_runs: str = "max") -> dict[str, Any]:
    """Render the clips once, run every engine x workers x threads, and compare."""
    from formcoach.batch.worker import threads_per_worker
    from formcoach.bench.suite import machine_info

    plan: list[tuple[str, int, int]] = []
    for e in engines:
        for w in workers:
            if e != "local" and cluster_runs == "max" and w != max(workers):
                continue
            for t in threads:
                if e != "local" and cluster_runs == "max" and t != 0:
                    continue
                real = t or threads_per_worker(w)
                if (e, w, real) not in plan:
                    plan.append((e, w, real))
    work = Path(tempfile.mkdtemp(prefix="formcoach-batch-bench-"))
    try:
        clips_dir = work / "clips"
        clips_dir.mkdir()
        clips = render_clips(n_clips, clips_dir)
        runs = []
        for e, w, t in plan:
            log.warning("bench: %s, %d worker(s) x %d thread(s)", e, w, t)
            runs.append(bench_one(clips, e, w, t, work, model))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"machine": machine_info(), "cores": os.cpu_count(), "clips": n_clips,
            "model": model, "runs": runs, "ratios": ratios(runs)}


def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers") from e
    if not vals or min(vals) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated integers >= 0")
    return vals


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m formcoach.bench.batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=40, help="synthetic clips (default 40)")
    p.add_argument("--engines", default=",".join(engines_here()),
                   help="comma-separated (default: those installed here)")
    p.add_argument("--workers", type=_ints, default=(1, 2), help="worker counts (default 1,2)")
    p.add_argument("--threads-per-worker", type=_ints, default=(0, 1),
                   help="threads per worker, 0: cores // workers (default 0,1)")
    p.add_argument("--cluster-runs", choices=("max", "all"), default="max",
                   help="ray/dask: only the largest worker count with default pinning (max), "
                        "or every combination as local (all)")
    p.add_argument("--model", default="full", help="pose model (default full)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if min(args.workers) < 1:
        p.error("--workers: give counts >= 1")
    result = run(args.clips, [e for e in args.engines.split(",") if e], args.workers,
                 args.threads_per_worker, args.model, args.cluster_runs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
