"""The batch bench's ratios compare runs of one invocation (no timing here: made-up runs)."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from formcoach.bench import batch as bb


def _run(engine: str, workers: int, threads: int, steady: float, total: float,
         cpu: float = 0.4) -> dict[str, Any]:
    return {"engine": engine, "workers": workers, "threads": threads,
            "steady_video_min_per_min": steady, "video_min_per_min": total,
            "our_cpu_s_per_video_s": cpu}


def test_ratios_scaling_per_pinning_and_engines_against_local(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bb.os, "cpu_count", lambda: 2)
    runs = [_run("local", 1, 2, 2.4, 2.2), _run("local", 1, 1, 2.0, 1.9),
            _run("local", 2, 1, 3.6, 3.3, 0.44), _run("ray", 2, 1, 3.24, 2.64, 0.462),
            _run("dask", 2, 1, 3.6, 3.0)]
    r = bb.ratios(runs)
    assert r["local_2_vs_1_default_pinning_steady"] == 1.5
    assert r["local_2_vs_1_one_thread_each_steady"] == 1.8
    assert r["local_2_vs_1_one_thread_each_total"] == round(3.3 / 1.9, 3)
    assert r["local_1_worker_2_threads_vs_1_thread_steady"] == 1.2
    assert r["ray_vs_local_2x1_steady"] == 0.9
    assert r["ray_vs_local_2x1_total"] == 0.8
    assert r["dask_vs_local_2x1_steady"] == 1.0
    assert r["local_2x1_vs_1x1_cpu_per_video_s"] == 1.1
    assert r["ray_vs_local_2x1_cpu_per_video_s"] == 1.05
    assert r["dask_vs_local_2x1_cpu_per_video_s"] == round(0.4 / 0.44, 3)


def test_ratios_skip_what_was_not_run() -> None:
    assert bb.ratios([_run("ray", 2, 1, 3.0, 2.0)]) == {}
    r = bb.ratios([_run("local", 1, 1, 0.0, 0.0), _run("local", 2, 1, 3.0, 2.0)])
    assert r["local_2_vs_1_one_thread_each_steady"] is None  # nothing to divide by


@pytest.mark.parametrize(("text", "want"), [("1,2", (1, 2)), ("0,1", (0, 1)), ("4", (4,)),
                                            ("1,x", None), ("", None), ("-1", None)])
def test_int_lists(text: str, want: tuple[int, ...] | None) -> None:
    if want is None:
        with pytest.raises(argparse.ArgumentTypeError):
            bb._ints(text)
    else:
        assert bb._ints(text) == want
