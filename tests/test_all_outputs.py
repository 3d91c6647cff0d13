"""Every bundled exercise pack through ``analyze`` with every output: all files valid.

Issue 14 finding 9: ``--video`` crashed with ``KeyError: 'left_body_line'`` for pushup, plank
and shoulder_shrug, the JSON was then never written, and the set was still saved as complete.
The poses come from the samples' ground truth (``--poses``), so no pose model runs.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES
from fakes import sample_track

PACKS = sorted(p.stem for p in (REPO / "formcoach" / "exercises").glob("*.toml"))

#: A sample video for each pack: its own where there is one, else one of a similar movement
#: (the counts will be odd; the files must still be valid).
SAMPLE_FOR = {
    "bicep_curl": "bicep_curl_front_clean",
    "jumping_jack": "jumping_jack_front_clean",
    "lunge": "lunge_side_clean",
    "plank": "plank_side_hip_sag",
    "pushup": "pushup_side_clean",
    "shoulder_press": "shoulder_press_front_clean",
    "situp": "situp_side_clean",
    "squat": "squat_side_clean",
    "bench_press": "pushup_side_clean",
    "deadlift": "squat_side_clean",
    "front_raise": "shoulder_press_front_clean",
    "pullup": "shoulder_press_front_clean",
    "shoulder_shrug": "shoulder_press_front_clean",
}


def test_every_pack_is_covered() -> None:
    assert len(PACKS) == 13
    assert set(PACKS) <= set(SAMPLE_FOR), set(PACKS) - set(SAMPLE_FOR)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tracks")
    return {s: sample_track(s, d / f"{s}.npz") for s in sorted(set(SAMPLE_FOR.values()))}


@pytest.mark.parametrize("pack", PACKS)
def test_pack_writes_every_output(pack: str, tracks: dict[str, Path], tmp_path: Path,
                                  run_cli) -> None:
    import cv2

    from formcoach.report.tables import FRAME_COLUMNS, REP_COLUMNS
    from formcoach.store import Store

    sample = SAMPLE_FOR[pack]
    out = {k: tmp_path / f"out.{k}" for k in ("json", "html", "csv", "frames.csv", "mp4")}
    db = tmp_path / "s.db"
    res = run_cli(
        "analyze", SAMPLES / f"{sample}.mp4", "--exercise", pack, "--poses", tracks[sample],
        "--no-progress", "--json", out["json"], "--report", out["html"], "--csv", out["csv"],
        "--frames-csv", out["frames.csv"], "--video", out["mp4"], "--db", db,
    )
    assert res.code == 0, res.err
    assert "Traceback" not in res.err and "error" not in res.err, res.err
    for p in out.values():
        assert p.is_file() and p.stat().st_size > 0, p
        assert (p.stat().st_mode & 0o777) == 0o600, p
        assert f"wrote {p}" in res.out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temp files left"

    doc = json.loads(out["json"].read_text())
    assert doc["exercise"] == pack and doc["reps"] == len(doc["rep_events"])

    page = out["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert f"formcoach report: {pack}" in page and "Traceback" not in page

    with out["csv"].open(newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0][: len(REP_COLUMNS)]) == REP_COLUMNS
    assert len(rows) == 1 + doc["reps"]
    assert all(len(r) == len(rows[0]) and r[0] == pack for r in rows[1:])
    with out["frames.csv"].open(newline="") as f:
        frows = list(csv.reader(f))
    assert tuple(frows[0][: len(FRAME_COLUMNS)]) == FRAME_COLUMNS and frows[0][-1] == "faults"
    assert len(frows) == 1 + doc["frames"]

    cap = cv2.VideoCapture(os.fspath(out["mp4"]))
    try:
        ok, img = cap.read()
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()
    assert ok and img is not None and count > 0
    assert count == doc["frames"]

    with Store(db) as st:
        sets = st.list_sets()
    assert [s["status"] for s in sets] == ["complete"]
    assert sets[0]["exercise"] == pack and sets[0]["rep_count"] == doc["reps"]
    # The text summary speaks of what the pack counts: a plank has holds, not reps.
    if doc["reps"]:
        unit = "hold" if pack == "plank" else "rep"
        assert f"clean {unit}s: " in res.out
        assert (pack == "plank") != ("  ROM = " in res.out)  # no way down and up in a hold
