"""`formcoach bench --quick` is a smoke test of the harness (never a timed test)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

KEYS = ("pose_ms", "onnx_vs_mediapipe", "realtime_factor", "overhead_ms_per_frame",
        "kernel_speedup_vs_numpy", "cue_latency_ms", "cold_start_s", "peak_rss_mb", "machine",
        "pose_ms_by_model", "lite_ms_p50", "full_ms_p50", "heavy_ms_p50", "angle_error_by_model",
        "fault_to_cue_s", "velocity_overhead_ms", "silhouette_ms")


@pytest.mark.slow
def test_bench_quick_writes_every_key(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "formcoach", "bench", "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(out.read_text())
    for k in KEYS:
        assert k in r, k
    errors = {k: v for k, v in r.items() if isinstance(v, dict) and "error" in v}
    assert errors == {}, errors
    assert set(r["pose_ms"]) == {"mediapipe", "onnx"}
    models = {"lite", "full", "heavy"}
    assert set(r["pose_ms_by_model"]) == models
    assert r["pose_ms_by_model"]["full"]["ratio_to_full"] == 1.0
    assert r["pose_ms_by_model"]["full"]["cpu_ratio_to_full"] == 1.0
    assert set(r["angle_error_by_model"]) == models
    for views in r["angle_error_by_model"].values():
        assert {"front", "side", "45"} <= set(views)
        for row in views.values():
            assert {"knee", "hip", "elbow", "shoulder", "all"} <= set(row)
            assert {"median", "p95"} <= set(row["knee"])
    assert r["kernels"]["outputs_identical"] is True
    sil = r["silhouette_ms"]  # the mask head runs only on the squat's bent-hip frames
    assert 0.0 < sil["measured_fraction"] < 1.0 and sil["silhouette_p50"] > 0.0
    assert {"p50", "p95"} <= set(r["cue_latency_ms"])
    ftc, ref = r["fault_to_cue"], r["fault_to_cue_reference"]
    assert ftc["n"] == ref["n"] > 0 and ftc["found"] >= 1
    assert ftc["p50"] <= ref["p50"]  # judging during the rep never makes a cue later
    assert r["machine"]["cores"] and "numpy" in r["machine"]["versions"]
    assert math.isfinite(r["velocity_overhead_ms"]) and r["velocity_overhead_ms"] >= 0


def test_velocity_overhead_is_a_finite_number_per_frame() -> None:
    """The section runs and reports numbers (their size is the bench's business, not a test's)."""
    from formcoach.bench.suite import bench_velocity_overhead
    from formcoach.synth import SynthSpec
    from formcoach.synth.core import truth_poses

    poses, fps, _ = truth_poses(SynthSpec(name="b", exercise="squat", view="side", reps=3,
                                          seed=1, velocity_loss=30.0))
    r = bench_velocity_overhead(poses, fps, "squat", repeats=1)
    for k in ("ms_per_frame", "with_ms_per_frame", "without_ms_per_frame"):
        assert math.isfinite(r[k]), k
    assert r["frames"] == len(poses) and r["reps"] == 3
    with pytest.raises(ValueError):
        bench_velocity_overhead(poses, fps, "plank")


def test_ladder_reports_wall_and_cpu_for_every_rung() -> None:
    """Every rung gets wall and CPU figures from the same frames (values are the bench's business)."""
    import numpy as np

    from formcoach.bench.suite import bench_ladder
    from formcoach.types import Frame

    frames = [Frame(np.full((120, 160, 3), 90, np.uint8), i, i * 33_333_333) for i in range(4)]
    r = bench_ladder(frames, warmup=1)
    assert set(r) == {"lite", "full", "heavy"}
    for row in r.values():
        assert row["frames"] == 3 and row["threads"] == 2
        for k in ("p50", "cpu_p50", "network_p50", "network_cpu_p50", "rest_p50", "rest_cpu_p50"):
            assert math.isfinite(row[k]), k
        assert 0 < row["network_p50"] <= row["p50"]
    assert r["full"]["ratio_to_full"] == r["full"]["cpu_ratio_to_full"] == 1.0


@pytest.mark.parametrize(("manifest", "files", "needle"), [
    (None, [], "has no manifest.json"),
    ("[1]", [], "clip 0: needs 'file'"),  # was: three warnings and exit 0
    ('{"clips": [{"file": "a.mp4", "exercise": "squat", "reps": 3, "view": "side"}]}', [],
     "a.mp4 is missing"),
    ('{"clips": [{"file": "a.mp4", "exercise": "squat", "reps": 3, "view": "side"}]}',
     ["a.mp4"], "no ground truth a.json"),
    ('{"clips": [{"file": "a.mp4", "exercise": "squat", "reps": 3}]}', ["a.mp4", "a.json"],
     "no 'view'"),
])
def test_bad_samples_folder_is_refused_before_the_bench(tmp_path: Path, run_cli,  # type: ignore[no-untyped-def]
                                                         manifest: str | None, files: list[str],
                                                         needle: str) -> None:
    from conftest import assert_one_line_error

    if manifest is not None:
        (tmp_path / "manifest.json").write_text(manifest)
    for f in files:
        (tmp_path / f).write_bytes(b"x")
    assert_one_line_error(run_cli("bench", "--quick", "--samples", tmp_path), "--samples"
                          if manifest is None or "clips" in manifest else "manifest", needle)
