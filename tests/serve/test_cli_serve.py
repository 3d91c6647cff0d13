"""``formcoach serve`` on the command line (the server's run loop replaced, so nothing
blocks), ``--patient`` errors, and the plan keys a workspace plan adds."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import assert_one_line_error

from formcoach.cli.serve import is_loopback
from formcoach.coach.workout import parse_plan
from formcoach.errors import ConfigError

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Replace the server's loop: record the address of each socket it was handed."""
    seen: list[tuple[str, int]] = []

    def run(self: object, sockets: list | None = None) -> None:
        assert sockets
        seen.extend(s.getsockname()[:2] for s in sockets)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return seen


def test_serve_listens_on_loopback_and_a_free_port_by_default(tmp_path: Path, run_cli,
                                                              served) -> None:
    res = run_cli("serve", "--no-browser", "--db", tmp_path / "s.db")
    assert res.code == 0, res.err
    host, port = served[0]
    assert host == "127.0.0.1" and port > 0
    url = res.out.strip().splitlines()[-1]
    assert url.startswith(f"formcoach workspace on http://127.0.0.1:{port}/?token=")
    assert len(url.rsplit("token=", 1)[1]) >= 30
    assert "warning" not in res.err


def test_a_non_loopback_host_is_warned_about(tmp_path: Path, run_cli, served) -> None:
    res = run_cli("serve", "--no-browser", "--host", "0.0.0.0", "--db", tmp_path / "s.db")
    assert res.code == 0 and served[0][0] == "0.0.0.0"
    assert "warning: listening on 0.0.0.0, reachable from other machines" in res.err


def test_serve_bad_arguments_are_one_line(tmp_path: Path, run_cli, served) -> None:
    assert_one_line_error(run_cli("serve", "--no-browser", "--port", "70000", "--db",
                                  tmp_path / "s.db"), "--port")
    assert_one_line_error(run_cli("serve", "--no-browser", "--db", tmp_path), "directory")
    assert not served


def test_is_loopback() -> None:
    assert all(map(is_loopback, ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.5", "::", "example.org")))


def test_patient_option_errors_are_one_line(run_cli, tmp_path: Path) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "squat_side_clean.mp4"
    assert_one_line_error(run_cli("analyze", sample, "-e", "squat", "--patient", "A",
                                  "--no-save"), "--no-save")
    assert_one_line_error(run_cli("analyze", sample, "-e", "squat", "--patient", " ",
                                  "--db", tmp_path / "s.db"), "--patient")


def test_a_workspace_plan_names_the_patient_and_the_prescription() -> None:
    plan = parse_plan('patient = "  Ann   B "\n[[exercise]]\nid = "squat"\nreps = 5\n'
                      'prescription = 7\n', "p.toml")
    assert plan.patient == "Ann B" and plan.items[0].prescription_id == 7
    with pytest.raises(ConfigError, match=r"p.toml:1: 'patient'"):
        parse_plan('patient = 3\n[[exercise]]\nid = "squat"\n', "p.toml")
    with pytest.raises(ConfigError, match=r"p.toml:4: 'prescription'"):
        parse_plan('[[exercise]]\nid = "squat"\nreps = 5\nprescription = 1.5\n', "p.toml")


def _blank_video(path: Path, n: int = 20) -> Path:
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 64))  # type: ignore[attr-defined]
    for i in range(n):
        w.write(np.full((64, 64, 3), (i * 7) % 255, np.uint8))
    w.release()
    return path


def test_live_sets_carry_the_patient_and_the_plans_prescription(tmp_path: Path, run_cli) -> None:
    """``live --patient`` and a workspace plan (patient + prescription) save the set as theirs."""
    from formcoach import store as S

    db = tmp_path / "s.db"
    video = _blank_video(tmp_path / "blank.mp4")
    with S.Store(db) as st:
        ann = st.add_patient("Ann")
        rx = st.add_prescription(ann.id, "squat", sets=1, reps=3, per_week=3,
                                 start_date="2000-01-01")
    res = run_cli("live", "-e", "squat", "--source", video, "--no-window", "--mute",
                  "--skip-setup", "--patient", "Bo", "--db", db)
    assert res.code == 0, res.err
    plan = tmp_path / "plan.toml"
    plan.write_text(f'patient = "Ann"\n[[exercise]]\nid = "squat"\nsets = 1\nreps = 3\n'
                    f"prescription = {rx.id}\n")
    res = run_cli("live", "--workout", plan, "--source", video, "--no-window", "--mute",
                  "--skip-setup", "--db", db)
    assert res.code == 0, res.err
    with S.Store(db) as st:
        bo = st.patient_by_name("bo")
        assert bo is not None
        (bo_set,) = st.patient_sets(bo.id)
        (ann_set,) = st.patient_sets(ann.id)
        assert bo_set["mode"] == "live" and bo_set["recorded_at_source"] == "clock"
        assert ann_set["prescription_id"] == rx.id
        assert st.get_set(ann_set["id"])["document"]["exercise"] == "squat"  # type: ignore[index]
