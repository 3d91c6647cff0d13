"""``formcoach eval form``: both layouts on fixtures generated here, and the real-data floor."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from formcoach.cli import eval_form as eval_form_cli
from formcoach.errors import InputError
from formcoach.evaluation import form as eval_form
from formcoach.evaluation.importers import CSV_FRAME_SIZE, OPENPOSE18_TO_BLAZEPOSE
from formcoach.skeleton import LANDMARK_NAMES
from formcoach.synth import spec_from_dict, truth_poses

TESTS = Path(__file__).resolve().parents[1]
SHARED = TESTS.parents[1] / "shared"
FLOOR = TESTS / "accuracy_floor_form.json"
W, H = CSV_FRAME_SIZE


def _synth(exercise: str, view: str, faults: list[dict] | None = None, **kw: object):
    spec = spec_from_dict({"name": "f", "exercise": exercise, "view": view, "reps": 1,
                           "width": W, "height": H, "faults": faults or [], **kw})
    return truth_poses(spec)


def _csv_rows(label: str, poses: np.ndarray, names: list[str]) -> list[str]:
    rows = []
    for p in poses:
        vals = [label]
        for n in names:
            i = LANDMARK_NAMES.index(n)
            vals += [f"{p[i, 0] / W:.6f}", f"{p[i, 1] / H:.6f}", f"{p[i, 2] / W:.6f}",
                     f"{p[i, 3]:.4f}"]
        rows.append(",".join(vals))
    return rows


def _write_csv(path: Path, rows: list[str], names: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    head = ["label"] + [f"{n}_{a}" for n in names for a in "xyzv"]
    path.write_text(",".join(head) + "\n" + "\n".join(rows) + "\n")


def _to_openpose(poses: np.ndarray) -> np.ndarray:
    kp = np.zeros((poses.shape[0], 18, 3))
    for src, dst in OPENPOSE18_TO_BLAZEPOSE.items():
        kp[:, src, :2] = poses[:, dst, :2]
        kp[:, src, 2] = 0.9
    kp[:, 1, :2] = 0.5 * (kp[:, 2, :2] + kp[:, 5, :2])  # neck
    kp[:, 1, 2] = 0.9
    return kp


@pytest.fixture(scope="module")
def fixture_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("form")
    ec, pt = root / "exercise-correction", root / "pose-trainer"
    names = [n for n in LANDMARK_NAMES if not n.startswith(("left_eye", "right_eye", "mouth"))]
    # Plank rows: correct, hips low, hips high (frames inside the fault span only).
    clean, fps, _ = _synth("plank", "side", hold_s=3.0)
    sag, _, _ = _synth("plank", "side", [{"type": "hip_sag", "start_s": 0.5, "end_s": 4.0}],
                       hold_s=3.0)
    pike, _, _ = _synth("plank", "side", [{"type": "hip_pike", "start_s": 0.5, "end_s": 4.0,
                                           "severity": 2.0}], hold_s=3.0)
    mid = slice(int(1.5 * fps), int(2.5 * fps), 3)
    rows = (_csv_rows("C", clean[mid], names) + _csv_rows("L", sag[mid], names)
            + _csv_rows("H", pike[mid], names))
    _write_csv(ec / "plank_model" / "test.csv", rows, names)
    # Lunge rows at the bottom of a rep: correct vs knee over toe.
    ok, _, tr = _synth("lunge", "side")
    bad, _, trb = _synth("lunge", "side", [{"type": "knee_over_toe"}])
    b, bb = tr["reps"][0]["bottom_frame"], trb["reps"][0]["bottom_frame"]
    rows = _csv_rows("C", ok[b - 3 : b + 4], names) + _csv_rows("L", bad[bb - 3 : bb + 4], names)
    _write_csv(ec / "lunge_model" / "err.test.csv", rows, names)
    # A stage file is not a fault file: skipped.
    _write_csv(ec / "lunge_model" / "stage.test.csv", _csv_rows("I", ok[:3], names), names)
    # pose-trainer: one rep per file.
    for k, (faults, label) in enumerate([([], "good"), ([{"type": "partial_curl"}], "bad")]):
        p, _, _ = _synth("bicep_curl", "side", faults, seed=k, setup="none")
        (pt / "bicep").mkdir(parents=True, exist_ok=True)
        np.save(pt / "bicep" / f"bicep_{label}_{k + 1}.npy", _to_openpose(p))
    for k, (faults, label) in enumerate([([], "good"), ([{"type": "incomplete_lockout"}], "bad")]):
        p, _, _ = _synth("shoulder_press", "front", faults, seed=k, setup="none")
        (pt / "shoulderpress").mkdir(parents=True, exist_ok=True)
        np.save(pt / "shoulderpress" / f"shoulderpress{label}{k + 1}.npy", _to_openpose(p))
    return ec, pt


def test_exercise_correction_layout(fixture_dirs: tuple[Path, Path]) -> None:
    ec, _ = fixture_dirs
    res = eval_form.evaluate(ec)
    lay = res["layouts"]["exercise-correction"]
    assert set(lay["exercises"]) == {"plank", "lunge"}
    assert lay["exercises"]["plank"]["classes"] == {"C": 10, "H": 10, "L": 10}
    assert lay["exercises"]["plank"]["balanced_accuracy"] == 1.0
    assert set(lay["exercises"]["plank"]["faults"]) == {"hips_high", "hips_low"}
    assert lay["exercises"]["lunge"]["balanced_accuracy"] == 1.0
    stage = lay["stages"]["lunge_model/stage.test.csv"]  # an extra, outside the metric
    assert stage["exercise"] == "lunge" and stage["n"] == 3
    assert res["balanced_accuracy"] == 1.0 and "pose-trainer" not in res["layouts"]


def test_pose_trainer_layout(fixture_dirs: tuple[Path, Path]) -> None:
    _, pt = fixture_dirs
    res = eval_form.evaluate(pt)
    ex = res["layouts"]["pose-trainer"]["exercises"]
    assert set(ex) == {"bicep_curl", "shoulder_press"}
    assert "partial_rom" in ex["bicep_curl"]["files"]["bicep/bicep_bad_2.npy"]["faults"]
    assert ex["bicep_curl"]["files"]["bicep/bicep_good_1.npy"]["faults"] == []
    assert ex["shoulder_press"]["files"]["shoulderpress/shoulderpressbad2.npy"]["faults"] == [
        "no_lockout"]
    assert res["balanced_accuracy"] == 1.0


def test_cli_both_layouts_writes_json(fixture_dirs: tuple[Path, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    eval_form_cli.register(parser.add_subparsers())
    out = tmp_path / "r.json"
    args = parser.parse_args(["form", "--data", str(fixture_dirs[0].parent), "--json", str(out)])
    assert args.func(args) == 0
    data = json.loads(out.read_text())
    assert data["balanced_accuracy"] == 1.0
    assert set(data["layouts"]) == {"exercise-correction", "pose-trainer"}
    assert "balanced_accuracy 1.000" in capsys.readouterr().out


def test_main_entry_point(fixture_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
                          ) -> None:
    from formcoach.cli import COMMANDS, main

    if "eval" not in COMMANDS:
        pytest.skip("the eval command group is not registered")
    assert main(["eval", "form", "--data", str(fixture_dirs[1])]) == 0
    assert "pose-trainer: balanced accuracy 1.000" in capsys.readouterr().out
    assert main(["eval", "form", "--data", str(fixture_dirs[1] / "nope")]) == 2
    assert "--data must be a folder" in capsys.readouterr().err


def test_no_data_and_malformed_data_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no labelled form data"):
        eval_form.evaluate(tmp_path)
    with pytest.raises(InputError, match="must be a folder"):
        eval_form.evaluate(tmp_path / "missing")
    bad = tmp_path / "plank_model" / "test.csv"
    bad.parent.mkdir()
    bad.write_text("label,nose_x,nose_y\nC,0.1,zz\n")
    with pytest.raises(InputError, match="not a number"):
        eval_form.evaluate(tmp_path)


def test_balanced_accuracy() -> None:
    assert eval_form.balanced_accuracy("aab", "aab") == 1.0
    assert eval_form.balanced_accuracy(["a", "a", "a", "b"], ["a"] * 4) == 0.5


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "data" / "form").is_dir(), reason="needs ../shared/data/form")
def test_real_data_floor() -> None:
    floor = json.loads(FLOOR.read_text())
    res = eval_form.evaluate(SHARED / "data" / "form")
    assert res["balanced_accuracy"] >= floor["balanced_accuracy"]
    for layout, f in floor["layouts"].items():
        got = res["layouts"][layout]
        assert got["balanced_accuracy"] >= f["balanced_accuracy"], layout
        for ex, ba in f["exercises"].items():
            assert got["exercises"][ex]["balanced_accuracy"] >= ba, (layout, ex)
