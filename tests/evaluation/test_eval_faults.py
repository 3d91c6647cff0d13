"""``formcoach eval faults``: label parsing, scoring on exact synthetic poses, and the floor on
real labelled footage (``../shared/data/faults``, skipped when absent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import sample_track

from formcoach.cli import main
from formcoach.errors import InputError
from formcoach.evaluation.faults import evaluate_faults, label_of

TESTS = Path(__file__).resolve().parents[1]
FLOOR = json.loads((TESTS / "accuracy_floor_faults.json").read_text())
SHARED_FAULTS = TESTS.parents[1] / "shared" / "data" / "faults" / "manifest.json"


def test_labels_in_every_spelling() -> None:
    assert label_of({"fault_canonical": "correct"}) == []
    assert label_of({"fault_canonical": "unspecified"}) == [("unspecified",)]
    assert label_of({"fault_canonical": "hip_sag"}) == [("hip_sag",)]
    assert label_of({"fault": "correct (repo class letter c)"}) == []
    assert label_of({"fault": "incorrect (type not given)"}) == [("unspecified",)]
    assert label_of({"fault": "hip_first (hips rose too early)"}) == [("hips_rise_first",)]
    # free text that does not start with a known id is a fault of unknown type
    assert label_of({"fault": "rep 1 marked WRONG"}) == [("unspecified",)]
    # A label whose first word names nothing may still name the fault in its text.
    assert label_of({"fault": "incorrect (type not given). Observed: hips sag"}) == [("hip_sag",)]
    assert label_of({"fault": "rep 1 WRONG (feet in one line / narrow  base)"}) == [
        ("narrow_base",)]
    assert label_of({"faults": []}) == []
    assert label_of({"faults": ["shallow_squat", "knee_valgus"]}) == [("depth",), ("knee_valgus",)]
    assert label_of({"reps": 3}) is None  # a counting-only clip carries no form label


@pytest.fixture(scope="module")
def sample_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three samples (one clean, two with injected faults) with exact poses in the cache."""
    root = tmp_path_factory.mktemp("faultset")
    tracks = root / "tracks"
    tracks.mkdir()
    names = ["pushup_side_clean", "pushup_45_sag_lockout", "squat_45_shallow"]
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    clips = []
    for c in manifest["clips"]:
        stem = Path(c["file"]).stem
        if stem in names:
            sample_track(stem, tracks / f"{stem}.npz")
            clips.append({**c, "file": str(SAMPLES / c["file"])})
    (root / "manifest.json").write_text(json.dumps({"clips": clips}))
    return root / "manifest.json", tracks


def test_scores_on_exact_poses(sample_set: tuple[Path, Path]) -> None:
    manifest, tracks = sample_set
    s = evaluate_faults(manifest, backend="synthetic", tracks=tracks)
    by = {Path(c["file"]).stem: c for c in s["clips"]}
    assert s["n"] == 3
    assert by["pushup_side_clean"]["kind"] == "correct"
    assert by["pushup_45_sag_lockout"]["flagged"]["hip_sag"] == [1]  # the injected rep
    assert by["squat_45_shallow"]["named_found"] == [True]  # shallow_squat -> depth
    assert {1, 2} <= set(by["squat_45_shallow"]["flagged"]["depth"])  # the shallow reps
    t = s["totals"]["all"]
    assert t["named_n"] == 3 and t["correct_n"] == 1  # hip_sag, incomplete_lockout, depth
    assert t["named_recall"] == pytest.approx(
        sum(f for c in s["clips"] for f in c["named_found"]) / 3, abs=1e-4)
    assert t["false_faults_per_100_reps"] == pytest.approx(
        100 * sum(len(v) for v in by["pushup_side_clean"]["flagged"].values())
        / by["pushup_side_clean"]["reps"])


def test_cli_table_json_and_bad_manifest(sample_set: tuple[Path, Path], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    manifest, tracks = sample_set
    out = tmp_path / "f.json"
    assert main(["eval", "faults", "--manifest", str(manifest), "--tracks", str(tracks),
                 "--backend", "mediapipe", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "named recall" in text and "pushup_45_sag_lockout" in text
    assert json.loads(out.read_text())["n"] == 3
    with pytest.raises(InputError, match="manifest not found"):
        evaluate_faults(tmp_path / "none.json")
    with pytest.raises(InputError, match="cache folder"):
        evaluate_faults(manifest, tracks=manifest)  # a file, not a folder: one line


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not SHARED_FAULTS.is_file(), reason="needs ../shared/data/faults")
def test_real_fault_clips_floor(tmp_path: Path) -> None:
    """On the labelled real clips the false-fault rate may only fall and detection only rise
    (tests/accuracy_floor_faults.json)."""
    s = evaluate_faults(SHARED_FAULTS, backend=FLOOR["backend"], tracks=tmp_path)
    t = s["totals"]["all"]
    wrong = [(c["file"], c["flagged"]) for c in s["clips"] if c["kind"] == "correct"
             and c["flagged"]]
    assert t["false_fault_rate"] <= FLOOR["max_false_fault_rate"], wrong
    assert t["detection"] >= FLOOR["min_detection"]


def test_a_named_fault_never_judged_is_reported_as_not_judged(
        sample_set: tuple[Path, Path], tmp_path: Path) -> None:
    """heel_lift is judged only from the side: on a 45-degree clip it is a miss the coach said
    it could not see, counted apart from a silent miss."""
    manifest, tracks = sample_set
    clip = next(c for c in json.loads(manifest.read_text())["clips"]
                if Path(c["file"]).stem == "squat_45_shallow")
    m = tmp_path / "m.json"
    m.write_text(json.dumps({"clips": [{**clip, "faults": ["heel_lift", "shallow_squat"]}]}))
    s = evaluate_faults(m, backend="synthetic", tracks=tracks)
    row = s["clips"][0]
    assert row["named_found"] == [False, True]
    assert row["named_not_judged"] == [True, False]
    assert s["totals"]["all"]["named_not_judged"] == 1
