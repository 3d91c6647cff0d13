"""Tiny synthetic clips shared by the batch tests (rendered once per session; imported by
each test module: a conftest.py here would shadow tests/conftest.py for `from conftest import`)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: (name, exercise, view, reps, seed): a few seconds each at 320x240.
CLIPS = (("sq_side", "squat", "side", 2, 1), ("sq_front", "squat", "front", 2, 2),
         ("pu_side", "pushup", "side", 2, 3), ("sq_45", "squat", "45", 1, 4))


_made: list[Path] = []


def make_clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four short videos (mp4) in a session folder, rendered once per test session (each
    module's ``clips`` fixture calls this)."""
    from formcoach import synth

    if _made:
        return list(_made)
    folder = tmp_path_factory.mktemp("batch_clips")
    out = []
    for name, ex, view, reps, seed in CLIPS:
        spec = synth.SynthSpec(name=name, exercise=ex, view=view, reps=reps, seed=seed,
                               width=320, height=240, setup_s=0.5, tail_s=0.3)
        video, _ = synth.render_sample(spec, folder)
        for extra in (folder / f"{name}.json", folder / f"{name}.npz"):
            extra.unlink()
        out.append(video)
    _made.extend(out)
    return out
