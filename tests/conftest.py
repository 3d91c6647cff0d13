"""Shared fixtures: paths to ../shared and samples/, and an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

# --update-goldens for tests/test_goldens.py: an option must be registered here, before the
# command line is parsed (a plugin named only by a test module is loaded too late).
pytest_plugins = ["conftest_goldens"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_VIDEOS = SHARED / "data" / "videos"
SAMPLES = REPO / "samples"

requires_shared = pytest.mark.skipif(
    not (SHARED_VIDEOS / "manifest.json").is_file(), reason="../shared/data is absent"
)

os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
# Commands whose --model defaults to "auto" measure the machine; tests pin Full (the rung the
# goldens and accuracy floors were made with) so results never depend on the machine's load.
# Subprocesses inherit it; tests of the chooser pass their own environment.
os.environ.setdefault("FORMCOACH_MODEL", "full")


@pytest.fixture(autouse=True, scope="session")
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests never write into the real user's session DB or profiles."""
    home = tmp_path_factory.mktemp("userdirs")
    os.environ["FORMCOACH_DB"] = str(home / "sessions.db")
    os.environ["FORMCOACH_CONFIG_DIR"] = str(home / "config")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run ``formcoach ARGS`` in-process; returns exit code, stdout and stderr."""
    from formcoach.cli import main

    def run(*args: str) -> CliResult:
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # argparse exits on usage errors / --help
            code = int(e.code or 0)
        cap = capsys.readouterr()
        return CliResult(code, cap.out, cap.err)

    return run


def assert_one_line_error(res: CliResult, *needles: str) -> None:
    """A user error: non-zero exit, no traceback, one 'formcoach: error:' line naming things."""
    assert res.code != 0, res
    assert "Traceback" not in res.err, res.err
    lines = [ln for ln in res.err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, res.err
    assert "error" in lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
