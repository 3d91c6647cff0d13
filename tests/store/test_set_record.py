"""A live set is saved with its poses and cue log, and 'formcoach report --set ID' rebuilds its
report like an analysed one."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from conftest import SAMPLES, assert_one_line_error

from formcoach.store import load_set_record, record_paths


@pytest.mark.slow
def test_a_live_set_reopens_as_a_report(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "s.db"
    res = run_cli("live", "--exercise", "squat", "--source", SAMPLES / "squat_front_valgus.mp4",
                  "--no-window", "--skip-setup", "--db", db)
    assert res.code == 0, res.err
    live_reps = int(re.search(r"set: squat, (\d+) reps", res.out).group(1))  # type: ignore[union-attr]
    poses, cues = record_paths(db, 1)
    for p in (poses, cues, poses.parent):
        assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p  # the user's body: owner only
    track, log = load_set_record(db, 1)
    assert len(track) > 0 and all(c.rule_id for c in log)
    out = tmp_path / "r.html"
    res = run_cli("report", "--set", "1", out, "--db", db)
    assert res.code == 0, res.err
    html = out.read_text()
    assert f"<b>{live_reps}</b>" in html  # the same count live gave
    for c in log:
        assert c.text in html  # the cues live spoke, as it spoke them


def test_report_set_errors_are_one_line(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "s.db"
    assert_one_line_error(run_cli("report", "--set", "1", tmp_path / "r.html", "--db", db),
                          "no sets saved")
    res = run_cli("analyze", SAMPLES / "squat_side_clean.mp4", "--exercise", "squat",
                  "--no-progress", "--db", db)
    assert res.code == 0, res.err
    assert_one_line_error(run_cli("report", "--set", "1", tmp_path / "r.html", "--db", db),
                          "only live sets")
    assert_one_line_error(run_cli("report", "--set", "9", tmp_path / "r.html", "--db", db),
                          "no set 9")
    assert_one_line_error(run_cli("report", tmp_path / "r.html", "--db", db), "--history")
