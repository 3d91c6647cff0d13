"""Every feature series of an analysis holds, by name, that frame's per-frame feature value.

Regression: the extractor returned the kernel features first and the world-landmark features
last, while the coach zipped those values with ``names`` in registry order, so ten offline
series (``torso_lean``, ``hip_height``, ``knee_width_ratio``...) carried another feature's data.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES

from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.kinematics import FeatureExtractor
from formcoach.types import PoseTrack

CASES = [("squat_side_clean", "squat"), ("pushup_45_sag_lockout", "pushup"),
         ("bicep_curl_front_clean", "bicep_curl")]


def _truth_track(sample: str) -> PoseTrack:
    """The sample's exact synthetic joints as a pose track (visibility 1)."""
    with np.load(SAMPLES / f"{sample}.npz") as z:
        xy, world, depth = z["joints_2d_px"], z["joints_3d_m"], z["pose_z"]
    t = len(xy)
    poses = np.concatenate([xy, depth[..., None], np.ones((t, 33, 1))], axis=2).astype(np.float64)
    fps = 30.0
    t_ns = (np.arange(t) * (1e9 / fps)).astype(np.int64)
    return PoseTrack(poses, world.astype(np.float64), t_ns, fps, (512, 384), "truth")


def test_per_frame_row_follows_names() -> None:
    ex = FeatureExtractor(30.0)
    track = _truth_track("squat_side_clean")
    row = ex.update(track.poses[10], track.world[10])
    assert list(row) == ex.names


@pytest.mark.parametrize(("sample", "exercise"), CASES)
def test_result_series_equal_per_frame_values_by_name(sample: str, exercise: str) -> None:
    track = _truth_track(sample)
    result = analyze_track(track, load_exercise(exercise))
    ex = FeatureExtractor(track.fps, list(result.features))
    frames = np.linspace(0, len(track) - 1, 25).astype(int)
    for k in frames:
        row = ex.update(track.poses[k], track.world[k])  # stateless features: order-free
        for name, series in result.features.items():
            np.testing.assert_allclose(series[k], row[name], atol=1e-9, equal_nan=True,
                                       err_msg=f"{sample} frame {k} feature {name}")


def test_a_fault_reaches_the_session_once() -> None:
    """A frame fault that fired inside a rep is part of that rep's verdict (the engine's
    ``on_rep`` returns it again), but the coach hands each fault out once: the session submits
    what the coach returns to the cue scheduler."""
    from formcoach.coach.offline import make_coach
    from formcoach.types import Fault, PoseResult

    track = _truth_track("squat_side_clean")
    coach = make_coach(load_exercise("squat"), track.fps)
    assert coach.rules is not None
    engine = coach.rules
    frame_fault = Fault("probe", "squat", "probe", 1, int(track.t_ns[50]), 50, 1.0, 0.0)
    real_on_frame = engine.on_frame

    def on_frame(state):  # type: ignore[no-untyped-def]
        out = real_on_frame(state)
        if state.index == 50:  # a frame rule firing mid-rep, as the engine records one
            engine.faults.append(frame_fault)
            out = [*out, frame_fault]
        return out

    engine.on_frame = on_frame  # type: ignore[method-assign]
    handed: list[Fault] = []
    for k in range(len(track)):
        st = coach.update(PoseResult(track.poses[k], track.world[k], int(track.t_ns[k]),
                                     track.image_size, 1.0))
        handed += st.faults
    handed += coach.finish()[1]
    assert handed.count(frame_fault) == 1
    assert frame_fault.rep_index == 0  # the rep's verdict did include it
    assert len(handed) == len({id(f) for f in handed}) == len(engine.faults)
