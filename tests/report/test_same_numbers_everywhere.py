"""The same rep shows the same ROM, duration, phases and velocity in the terminal, JSON, CSV,
report and database, on every bundled rep sample (issue 15: one push-up rep used to show four
ROMs).

Each output rounds for its reader, so values are compared at the coarsest rounding shown
(the report: 0.1 deg and 0.01 s; the terminal: 0.1 deg and 0.01 s).
"""

from __future__ import annotations

import csv
import html as htmlmod
import json
import re
import sqlite3
from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import sample_track

MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
CASES = sorted({Path(c["file"]).stem: c["exercise"] for c in MANIFEST["clips"]}.items())
PHASES = ("duration_s", "eccentric_s", "pause_s", "concentric_s")


def _cells(row: str) -> list[str]:
    return [htmlmod.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)]


@pytest.mark.parametrize(("sample", "exercise"), CASES)
def test_one_rep_one_set_of_numbers(sample: str, exercise: str, tmp_path: Path, run_cli) -> None:
    track = sample_track(sample, tmp_path / "t.npz")
    out = {k: tmp_path / f"o.{k}" for k in ("json", "csv", "html")}
    db = tmp_path / "s.db"
    res = run_cli("analyze", "--poses", track, "--exercise", exercise, "--json", out["json"],
                  "--csv", out["csv"], "--report", out["html"], "--db", db, "--no-progress")
    assert res.code == 0, res.err
    doc = json.loads(out["json"].read_text())
    reps = doc["rep_events"]
    assert reps, "every rep sample has reps"

    with out["csv"].open() as f:
        rows = list(csv.DictReader(f))
    con = sqlite3.connect(db)
    dbrows = con.execute("SELECT rep_index, rom_deg, duration_s, metrics_json FROM reps "
                         "ORDER BY rep_index").fetchall()
    con.close()
    page = out["html"].read_text()
    table = page[page.index("<h2>Repetitions</h2>"):]
    html_rows = [_cells(r) for r in re.findall(r"<tr>(.*?)</tr>", table, flags=re.S)
                 if "<td" in r][: len(reps)]
    term = [ln.split() for ln in res.out.splitlines() if re.match(r"\s+\d+\s+\d", ln)]
    assert len(rows) == len(dbrows) == len(html_rows) == len(term) == len(reps)

    for k, ev in enumerate(reps):
        row, (idx, rom, dur, mjson), cells, t = rows[k], dbrows[k], html_rows[k], term[k]
        m = json.loads(mjson)
        assert idx == ev["index"] == k
        # ROM of the counting signal
        assert float(row["rom_deg"]) == pytest.approx(ev["rom_deg"], abs=0.01)
        assert rom == pytest.approx(ev["rom_deg"], abs=0.01)
        assert float(cells[6]) == pytest.approx(ev["rom_deg"], abs=0.051)
        assert float(t[7]) == pytest.approx(ev["rom_deg"], abs=0.051)
        # duration and phases
        assert dur == pytest.approx(ev["duration_s"], abs=1e-3)
        for j, key in enumerate(PHASES):
            assert float(row[key]) == pytest.approx(ev[key], abs=1e-3), key
            assert m[key] == pytest.approx(ev[key], abs=1e-3), key
            assert float(cells[2 + j]) == pytest.approx(ev[key], abs=0.0051), key
        assert float(t[4]) == pytest.approx(ev["duration_s"], abs=0.0051)
        assert float(t[5]) == pytest.approx(ev["eccentric_s"], abs=0.0051)
        assert float(t[6]) == pytest.approx(ev["concentric_s"], abs=0.0051)
        # per-joint ROM, labelled, the same in every output
        for j, (name, jr) in enumerate(ev["joint_rom"].items()):
            assert jr["label"].endswith("ROM") and name.split("_")[0] in jr["label"]
            if jr["rom_deg"] is None:
                continue
            assert float(row[f"{name}_rom_deg"]) == pytest.approx(jr["rom_deg"], abs=0.01)
            assert m["rom"][name]["excursion_deg"] == pytest.approx(jr["rom_deg"], abs=0.01)
            shown = cells[8 + j].split()[0]  # "96.3 (84-180)", in the joints' order
            assert float(shown) == pytest.approx(jr["rom_deg"], abs=0.056)
        # concentric velocity and velocity loss (a pack with a velocity_point)
        if ev["velocity_point"]:
            n_asym = sum(1 for v in ev["asymmetry_pct"])
            vcell = 8 + len(ev["joint_rom"]) + n_asym  # after the joints and asymmetries
            # (key, rounding of the JSON, of the HTML, HTML cell)
            for key, js, nd, col in (("mean_velocity_bhps", 1e-3, 0.0051, vcell),
                                     ("peak_velocity_bhps", 1e-3, 0.0051, vcell + 1),
                                     ("velocity_loss_pct", 0.051, 0.51, vcell + 2)):
                if ev[key] is None:
                    continue
                assert float(row[key]) == pytest.approx(ev[key], abs=js), key
                assert m[key] == pytest.approx(ev[key], abs=js), key
                assert float(cells[col]) == pytest.approx(ev[key], abs=nd), key
            # how many movements its way up was (JSON: only past 1; > 1: out of VL)
            moves = ev.get("velocity_movements", 1)
            assert int(row["velocity_movements"]) == m["velocity_movements"] == moves
            if moves > 1:
                assert row["velocity_loss_pct"] == "" and m["velocity_loss_pct"] is None
        else:
            assert row["velocity_movements"] == ""
    if sample == "pushup_45_sag_lockout":  # its half-way stop is a rest (docs/velocity.md)
        assert any(int(r["velocity_movements"]) > 1 for r in rows)
