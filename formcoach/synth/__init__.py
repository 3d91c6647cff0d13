"""Synthetic athlete: rendered exercise videos with exact ground truth.

* :func:`render_sample` draws a spec to ``<name>.mp4`` + ``<name>.json`` (ground truth).
* :func:`truth_poses` gives the exact ``(T, 33, 4)`` pixel poses without rendering (fast).
* :func:`load_specs` reads a spec TOML file (``samples/specs.toml`` describes the committed set).
* :func:`load_truth` reads a sample's ground truth back (``formcoach.evaluation.pose`` compares
  a pose backend with it).
"""

from __future__ import annotations

from formcoach.synth.core import (
    TRUTH_FORMAT,
    SynthTruth,
    compute_truth,
    load_truth,
    render_sample,
    truth_poses,
    write_manifest,
)
from formcoach.synth.spec import (
    EXERCISES,
    FAULTS,
    VIEWS,
    FaultSpec,
    SynthSpec,
    load_specs,
    spec_from_dict,
)

__all__ = [
    "EXERCISES",
    "FAULTS",
    "TRUTH_FORMAT",
    "VIEWS",
    "FaultSpec",
    "SynthSpec",
    "SynthTruth",
    "compute_truth",
    "load_specs",
    "load_truth",
    "render_sample",
    "spec_from_dict",
    "truth_poses",
    "write_manifest",
]
