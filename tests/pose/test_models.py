"""Bundled models: found from the installed package, checked by sha256, clear errors."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest
from conftest import SAMPLES, assert_one_line_error

from formcoach.errors import ModelError
from formcoach.io_utils import sha256_file
from formcoach.pose import models


def test_manifest_matches_files() -> None:
    folder = models.models_dir()
    manifest = tomllib.loads((folder / "manifest.toml").read_text())
    assert manifest["license"] == "Apache-2.0"
    every = {models.ONNX_DETECTOR, models.ONNX_SEGMENTER, *models.TASK_FILES.values(),
             *models.ONNX_LANDMARKERS.values()}
    assert set(manifest["files"]) == every  # every rung, and nothing unlisted
    for name in every:
        entry = manifest["files"][name]
        assert sha256_file(folder / name) == entry["sha256"]
        assert models.model_path(name) == folder / name
    # Full keeps the names it had before the ladder
    assert (models.TASK_FILE, models.ONNX_LANDMARKER) == (
        "pose_landmarker_full.task", "pose_landmarks_detector.onnx")
    for rung in models.MODELS:
        assert manifest["files"][models.ONNX_LANDMARKERS[rung]]["rung"] == rung
        assert manifest["files"][models.TASK_FILES[rung]]["rung"] == rung


@pytest.fixture
def broken_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    src = models.models_dir()
    for f in ("manifest.toml", models.TASK_FILE, models.ONNX_DETECTOR, models.ONNX_LANDMARKER):
        shutil.copy(src / f, tmp_path / f)
    monkeypatch.setenv("FORMCOACH_MODELS_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("victim", [models.TASK_FILE, models.ONNX_DETECTOR, models.ONNX_LANDMARKER])
@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_corrupt_or_missing_model_is_one_line(broken_models: Path, victim: str, damage: str, run_cli) -> None:
    path = broken_models / victim
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"build_models\.py"):
        models.model_path(victim)
    backend = "mediapipe" if victim == models.TASK_FILE else "onnx"
    res = run_cli("poses", SAMPLES / "squat_side_clean.mp4", "--backend", backend, "--out",
                  broken_models / "t.npz", "--no-progress")
    assert_one_line_error(res, victim, "build_models.py")
