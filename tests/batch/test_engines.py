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
