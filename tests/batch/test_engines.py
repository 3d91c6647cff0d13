"""The optional engines: missing extras are one-line errors naming the extra; with ray or dask
installed, their results equal the local engine's byte for byte (skipped when not installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from batch_clips import make_clips
from conftest import assert_one_line_error

from formcoach.io_utils import sha256_file


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_clips(tmp_path_factory)


@pytest.mark.parametrize(("engine", "module", "extra"), [
    ("ray", "ray", "formcoach[ray]"), ("dask", "dask.distributed", "formcoach[dask]")])
def test_missing_extra_names_it(engine: str, module: str, extra: str, clips: list[Path],
                                tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    res = run_cli("batch", clips[3], "-e", "squat", "--out", tmp_path / "o", "--engine", engine,
                  "--no-save", "--no-progress")
    assert_one_line_error(res, extra)


@pytest.fixture(scope="module")
def local_results(clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from formcoach.cli import main

    out = tmp_path_factory.mktemp("local") / "out"
    assert main(["batch", str(clips[0]), str(clips[3]), "-e", "squat", "--out", str(out),
                 "--workers", "1", "--no-save", "--no-progress"]) == 0
    return out


@pytest.mark.parametrize(("engine", "module"), [("dask", "dask.distributed"), ("ray", "ray")])
def test_engine_matches_local(engine: str, module: str, clips: list[Path], local_results: Path,
                              tmp_path: Path, run_cli) -> None:
    pytest.importorskip(module)
    import os

    from formcoach.batch.worker import THREAD_ENV

    driver_env = {k: os.environ.get(k) for k in THREAD_ENV}
    out, db = tmp_path / "out", tmp_path / "s.db"
    res = run_cli("batch", clips[0], clips[3], "-e", "squat", "--out", out, "--engine", engine,
                  "--workers", "2", "--db", db, "--no-progress")
    assert res.code == 0, res.err
    assert "2 analysed" in res.out
    for c in (clips[0], clips[3]):
        name = f"{sha256_file(c)}.json"
        assert (out / name).read_bytes() == (local_results / name).read_bytes()
    import sqlite3

    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM sets WHERE status = 'complete'").fetchone() == (2,)
    import os

    from formcoach.batch.worker import THREAD_ENV

    # the engine's workers are pinned, the driver (this process) is not: numba here still runs
    assert {k: os.environ.get(k) for k in THREAD_ENV} == driver_env


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_multi_node_recipe_with_dask_on_one_machine(clips: list[Path], local_results: Path,
                                                         tmp_path: Path, run_cli) -> None:
    """docs/batch.md's Dask recipe, as written (a `dask scheduler`, a `dask worker` process
    joining it with one thread, the batch given `--address`), on loopback: the same JSON as
    the local engine, written by the driver."""
    pytest.importorskip("dask.distributed")
    import os
    import shutil
    import subprocess
    import time

    dask = shutil.which("dask") or pytest.skip("no dask command on PATH")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen([dask, "worker", addr, "--nworkers", "1", "--nthreads",
                                       "1", "--no-dashboard"], env=env, cwd=tmp_path,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        deadline = time.monotonic() + 120
        while True:  # the recipe's worker has joined the scheduler
            try:
                with Client(addr, timeout="5s") as c:
                    if c.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the dask worker never joined the scheduler"
            time.sleep(0.5)
        out = tmp_path / "out"
        res = run_cli("batch", clips[0], clips[3], "-e", "squat", "--out", out, "--engine",
                      "dask", "--address", addr, "--no-save", "--no-progress")
        assert res.code == 0, res.err
        for c in (clips[0], clips[3]):
            name = f"{sha256_file(c)}.json"
            assert (out / name).read_bytes() == (local_results / name).read_bytes()
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
