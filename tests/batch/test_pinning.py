"""Workers pin their thread pools: ``cores // workers`` threads (or the number asked for) for
onnxruntime intra-op (inter-op 1), numba and OpenMP/BLAS, set before those libraries load;
read back inside each worker process (:func:`formcoach.batch.worker.thread_config`)."""

from __future__ import annotations

from typing import Any

import pytest

from formcoach.batch.engines import make_engine
from formcoach.batch.worker import THREAD_ENV, threads_per_worker


@pytest.mark.parametrize(("workers", "cores", "want"), [
    (1, 2, 2), (2, 2, 1), (3, 2, 1), (1, 1, 1), (4, 16, 4), (3, 16, 5), (16, 16, 1), (0, 2, 2),
])
def test_threads_per_worker_is_cores_over_workers_at_least_one(workers: int, cores: int,
                                                               want: int) -> None:
    assert threads_per_worker(workers, cores) == want


def _check(configs: list[dict[str, Any]], workers: int, threads: int) -> None:
    assert len({c["pid"] for c in configs}) == workers  # one config from each worker process
    for c in configs:
        assert c["threads"] == threads
        assert c["preloaded"] == []  # numba / onnxruntime loaded only after the pinning
        assert c["env"] == {k: str(threads) for k in THREAD_ENV}
        assert c["numba_threads"] == threads
        assert c["ort"] == [[threads, 1], [threads, 1]]  # detector and landmark sessions


@pytest.mark.parametrize(("workers", "threads"), [(2, 0), (1, 1)])
def test_local_workers_pin_threads_before_loading(workers: int, threads: int) -> None:
    engine = make_engine("local", workers, "onnx", "full", threads=threads)
    try:
        configs = engine.warm_up()
    finally:
        engine.close()
    want = threads or threads_per_worker(workers)
    assert engine.threads == want
    _check(configs, workers, want)


@pytest.mark.parametrize(("engine", "module"), [("dask", "dask.distributed"), ("ray", "ray")])
def test_cluster_workers_pin_one_thread_each(engine: str, module: str) -> None:
    pytest.importorskip(module)
    eng = make_engine(engine, 2, "onnx", "full", threads=1)
    try:
        configs = eng.warm_up()
    finally:
        eng.close()
    _check(configs, 2, 1)


def test_pinning_in_a_process_where_numba_runs_leaves_its_pool_setting_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An engine without worker set-up pins in the process that calls it (the driver, a test):
    numba re-reads NUMBA_NUM_THREADS whenever it compiles and raises once its pool runs with
    another size, so that variable stays as it was and numba is capped at run time instead."""
    import os

    import numba

    from formcoach.batch.worker import THREAD_ENV, pin_threads

    for name in THREAD_ENV:
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test
    monkeypatch.delenv("NUMBA_NUM_THREADS")
    before = numba.get_num_threads()
    pin_threads(1)
    try:
        assert "NUMBA_NUM_THREADS" not in os.environ
        assert os.environ["OMP_NUM_THREADS"] == "1" and numba.get_num_threads() == 1
        f = numba.njit(lambda x: x + 1)
        assert f(1) == 2  # compiling after the pin: no "Cannot set NUMBA_NUM_THREADS" error
    finally:
        numba.set_num_threads(before)
