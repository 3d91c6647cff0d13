"""docs/faults.md is the catalogue of the packs as they are, and ``formcoach rules`` writes it."""

from __future__ import annotations

from pathlib import Path

from conftest import REPO

from formcoach.exercises import list_exercises, load_exercise
from formcoach.rules.catalog import catalog, catalog_markdown, fault_condition, feature_unit
from formcoach.rules.engine import parse_rules

FAULTS_MD = REPO / "docs" / "faults.md"
REGENERATE = "formcoach rules --markdown --out docs/faults.md"


def test_docs_faults_md_is_up_to_date_with_the_packs() -> None:
    want = catalog_markdown()
    have = FAULTS_MD.read_text(encoding="utf-8") if FAULTS_MD.is_file() else ""
    assert have == want, f"docs/faults.md is out of date with the rule packs; run: {REGENERATE}"
    assert REGENERATE in want


def test_catalogue_lists_every_rule_with_views_threshold_and_rationale() -> None:
    text = catalog_markdown()
    entries = catalog()
    n = 0
    for ex in list_exercises():
        for r in parse_rules(ex.rules_raw, str(ex.path)):
            n += 1
            assert f'<a id="{ex.id}-{r.id}"></a>' in text
            assert f"| {ex.id} | [`{r.id}`](#{ex.id}-{r.id}) | {fault_condition(r)} |" in text
            assert " ".join(r.rationale.split()) in text
    assert n == len(entries) >= 30


def test_fault_condition_and_units() -> None:
    (rule,) = [r for e in catalog([load_exercise("squat")]) if (r := e.rule).id == "depth"]
    assert fault_condition(rule) == (
        "smallest `knee_fused` around the turnaround (15% of the rep either side) > 100 deg")
    (lean,) = [e.rule for e in catalog([load_exercise("bicep_curl")]) if e.rule.id == "lean_back"]
    assert fault_condition(lean) == "`trunk_forward` < -15 deg on a frame held for 0.3 s"
    assert feature_unit("elbow_velocity") == "deg/s"
    assert feature_unit("nose_height") == "torso lengths"
    assert feature_unit("knee_width_ratio") == ""


def test_reference_key_reaches_the_catalogue() -> None:
    (rule,) = [e.rule for e in catalog([load_exercise("bench_press")])
               if e.rule.id == "uneven_press"]
    assert rule.reference.startswith("IPF Technical Rules")
    assert rule.reference in catalog_markdown([load_exercise("bench_press")])


def test_rules_command_prints_and_writes_the_catalogue(run_cli, tmp_path: Path) -> None:
    res = run_cli("rules", "--exercise", "pullup")
    assert res.code == 0, res.err
    assert [ln.split()[:2] for ln in res.out.splitlines()] == [
        ["pullup", "partial_rom"], ["pullup", "no_full_hang"], ["pullup", "kipping"]]
    out = tmp_path / "faults.md"
    res = run_cli("rules", "--markdown", "--out", out)
    assert res.code == 0 and out.read_text(encoding="utf-8") == catalog_markdown()
    bad = run_cli("rules", "--markdown", "--out", tmp_path / "missing" / "faults.md")
    assert bad.code != 0 and "Traceback" not in bad.err and "does not exist" in bad.err
