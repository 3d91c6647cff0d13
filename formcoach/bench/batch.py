"""Batch throughput: N synthetic clips through ``formcoach batch`` with 1 and 2 workers on each
engine installed here (local always; ray and dask when importable), as JSON.

Run::

    python -m formcoach.bench.batch --clips 40 --json batch_bench.json

Each run starts from an empty output folder (nothing skipped) and does not save to a database;
the figure is video-minutes analysed per wall-clock minute, engine start-up included.
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


def bench_one(clips: list[tuple[Path, str]], engine: str, workers: int, work: Path,
              model: str) -> dict[str, Any]:
    """One batch run from scratch; its counts and throughput."""
    from formcoach.analysis import AnalysisOptions
    from formcoach.batch.inputs import BatchItem
    from formcoach.batch.runner import BatchConfig, run_batch

    out = work / f"{engine}-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    items = [BatchItem(str(p), ex) for p, ex in clips]
    cfg = BatchConfig(out=out, options=AnalysisOptions(exercise="auto", model=model,
                                                       progress=False),
                      engine=engine, workers=workers, save=False, progress=False)
    t0 = time.perf_counter()
    rep = run_batch(items, cfg)
    wall = time.perf_counter() - t0
    return {"engine": engine, "workers": workers, "files": len(items), "done": rep.done,
            "failed": rep.failed, "video_min": round(rep.video_s / 60, 3),
            "wall_s": round(wall, 2),
            "video_min_per_min": round(rep.video_s / wall, 3) if wall > 0 else 0.0}


def run(n_clips: int, engines: list[str], workers: tuple[int, ...] = (1, 2),
        model: str = "full") -> dict[str, Any]:
    """Render the clips once, run every engine x workers, and compare."""
    from formcoach.bench.suite import machine_info

    work = Path(tempfile.mkdtemp(prefix="formcoach-batch-bench-"))
    try:
        clips_dir = work / "clips"
        clips_dir.mkdir()
        clips = render_clips(n_clips, clips_dir)
        runs = [bench_one(clips, e, w, work, model) for e in engines for w in workers]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate = {(r["engine"], r["workers"]): r["video_min_per_min"] for r in runs}
    speedup = {e: round(rate[(e, max(workers))] / rate[(e, min(workers))], 3)
               for e in engines if rate.get((e, min(workers)))}
    local = rate.get(("local", max(workers)))
    vs_local = {e: round(rate[(e, max(workers))] / local, 3)
                for e in engines if local and e != "local"}
    return {"machine": machine_info(), "cores": os.cpu_count(), "clips": n_clips,
            "model": model, "runs": runs, "speedup_2_vs_1": speedup,
            "vs_local_at_max_workers": vs_local}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m formcoach.bench.batch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=40, help="synthetic clips (default 40)")
    p.add_argument("--engines", default=",".join(engines_here()),
                   help="comma-separated (default: those installed here)")
    p.add_argument("--workers", default="1,2", help="worker counts (default 1,2)")
    p.add_argument("--model", default="full", help="pose model (default full)")
    p.add_argument("--json", type=Path, help="also write the result here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(args.clips, [e for e in args.engines.split(",") if e],
                 tuple(int(w) for w in args.workers.split(",")), args.model)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
