"""Tiny synthetic clips shared by the batch tests (rendered once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

#: (name, exercise, view, reps, seed): a few seconds each at 320x240.
CLIPS = (("sq_side", "squat", "side", 2, 1), ("sq_front", "squat", "front", 2, 2),
         ("pu_side", "pushup", "side", 2, 3), ("sq_45", "squat", "45", 1, 4))


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four short videos (mp4) in a session folder."""
    from formcoach import synth

    folder = tmp_path_factory.mktemp("batch_clips")
    out = []
    for name, ex, view, reps, seed in CLIPS:
        spec = synth.SynthSpec(name=name, exercise=ex, view=view, reps=reps, seed=seed,
                               width=320, height=240, setup_s=0.5, tail_s=0.3)
        video, _ = synth.render_sample(spec, folder)
        for extra in (folder / f"{name}.json", folder / f"{name}.npz"):
            extra.unlink()
        out.append(video)
    return out
