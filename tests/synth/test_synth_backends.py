"""The real pose backends find the synthetic athlete and track its true joint angles.

Runs every committed sample (samples/*.mp4) through each installed backend (the first 150
frames of each, to keep the suite short; ``FORMCOACH_SYNTH_FULL=1`` runs every frame): at least
95% of frames must have a person, and the median absolute 2D angle error (knees, hips, elbows,
shoulders) per view must stay small. The per-view table is printed (pytest -s) and saved to
``$FORMCOACH_SYNTH_EVAL/synth_eval_<backend>.json`` when that variable names a folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from formcoach.errors import BackendUnavailable, ModelError
from formcoach.evaluation.pose import evaluate_backend
from formcoach.synth import load_specs

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

#: Loose, view-generic bounds (degrees): occluded far-side limbs make side views the hardest.
MAX_MEDIAN_ERR = {"front": 12.0, "45": 15.0, "side": 15.0}


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["mediapipe", "onnx"])
def test_backend_detects_and_tracks_every_sample(backend: str) -> None:
    from formcoach.pose import create_estimator

    try:
        create_estimator(backend).close()
    except (ModelError, BackendUnavailable) as e:
        pytest.skip(f"{backend} backend unavailable: {e}")
    full = os.environ.get("FORMCOACH_SYNTH_FULL") == "1"
    rows = []
    for spec in load_specs(SAMPLES / "specs.toml"):
        if spec.framing != "full" or spec.occluder != "none":
            continue  # made to defeat the model: tests/coach/test_framing.py checks those
        r = evaluate_backend(SAMPLES / f"{spec.name}.mp4", SAMPLES / f"{spec.name}.json", backend,
                             max_frames=None if full else 150)
        rows.append((spec.name, spec.view, r))
    per_view: dict[str, float] = {}
    for view in sorted({v for _, v, _ in rows}):
        errs = [r["median_angle_err_deg"] for _, v, r in rows if v == view]
        per_view[view] = float(np.median(errs))
    lines = [f"{backend}: {n:32s} {v:5s} detected {r['detection_rate']:.3f}  median angle err "
             f"{r['median_angle_err_deg']:.1f} deg  median landmark err {r['median_px_err']:.1f} px"
             for n, v, r in rows]
    lines.append(f"{backend}: per-view median angle error (deg): "
                 + ", ".join(f"{v}={e:.1f}" for v, e in per_view.items()))
    print("\n" + "\n".join(lines))
    out = os.environ.get("FORMCOACH_SYNTH_EVAL")
    if out:
        doc = {"backend": backend, "per_view": per_view, "samples": {n: r for n, _, r in rows}}
        (Path(out) / f"synth_eval_{backend}.json").write_text(json.dumps(doc, indent=1))
    for name, _, r in rows:
        assert r["detection_rate"] >= 0.95, (name, r["detection_rate"])
    for view, err in per_view.items():
        assert err <= MAX_MEDIAN_ERR[view], (view, err)
