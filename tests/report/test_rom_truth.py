"""Per-joint ROM against the synthetic truth: on every side-view rep sample, each metric joint's
ROM of each rep is within 3 deg of the truth's range for that joint over the true rep.

The poses are the samples' exact 2D joints, so this measures the rep boundaries and the one ROM
definition (max - min of the joint angle over the rep's frames), not the pose model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from fakes import sample_track

from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.types import PoseTrack

ROM_TOL_DEG = 3.0
MANIFEST = json.loads((SAMPLES / "manifest.json").read_text())
SIDE = sorted(Path(c["file"]).stem for c in MANIFEST["clips"] if c.get("view") == "side")


def _truth(sample: str) -> dict:
    return json.loads((SAMPLES / f"{sample}.json").read_text())


def test_there_are_side_view_samples() -> None:
    assert len(SIDE) >= 4, SIDE


@pytest.mark.parametrize("sample", SIDE)
def test_joint_rom_matches_the_truth(sample: str, tmp_path: Path) -> None:
    truth = _truth(sample)
    res = analyze_track(PoseTrack.load(sample_track(sample, tmp_path / "t.npz")),
                        load_exercise(truth["exercise"]))
    assert len(res.metrics.reps) == truth["rep_count"]
    angles = truth["frames"]["angles_2d_deg"]
    worst = 0.0
    for rm, tr in zip(res.metrics.reps, truth["reps"], strict=True):
        for name, jr in rm.rom.items():
            if name not in angles:
                continue
            seg = np.asarray(angles[name][tr["start_frame"] : tr["end_frame"] + 1], dtype=float)
            want = float(np.nanmax(seg) - np.nanmin(seg))
            err = abs(jr.excursion_deg - want)
            worst = max(worst, err)
            assert err <= ROM_TOL_DEG, (f"rep {rm.index} {name}: {jr.excursion_deg:.1f} vs "
                                        f"truth {want:.1f} deg")
    assert worst <= ROM_TOL_DEG
