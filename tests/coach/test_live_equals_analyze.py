"""live == analyze: one sample through the live path (its video played in real time as a camera,
the real clock, a speaker that is busy while it talks) and through the offline analysis (its
pose track, the frame clock, the recording speaker). Same reps, same faults, same cues.

Poses come from the sample's ground truth on both sides (a replaying estimator live), so the
only difference is the one the design allows: source, clock and speaker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator
from test_all_outputs import sample_track

from formcoach.clock import MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.offline import analyze_track
from formcoach.cues.speech import TextSpeaker
from formcoach.exercises import load_exercise
from formcoach.sources import PacedVideoSource
from formcoach.types import NS_PER_S, PoseTrack

#: Samples with faults and cues (the cue scheduler has something to decide).
CASES = {"pushup_45_sag_lockout": "pushup", "squat_45_shallow": "squat"}
#: Live hands a cue over when the frame is processed, offline at the frame's timestamp: the
#: speaker frees up a few ms later live, so a cue may start one frame later. Two frames of slack.
FRAMES_SLACK = 2


@pytest.mark.parametrize("sample", sorted(CASES))
def test_live_says_what_analyze_says(sample: str, tmp_path: Path) -> None:
    ex = load_exercise(CASES[sample])
    track = PoseTrack.load(sample_track(sample, tmp_path / "t.npz"))
    offline = analyze_track(track, ex)

    clock = MonotonicClock()
    speaker = TextSpeaker(clock=clock, reason="test")
    source = PacedVideoSource(SAMPLES / f"{sample}.mp4", clock=clock)
    live = run_live(source, ex, ReplayEstimator(track.poses, track.fps, track.image_size),
                    speaker, skip_setup=True, clock=clock)
    if live.dropped:
        pytest.skip(f"the machine was too busy to keep real time ({live.dropped} frames dropped)")

    assert live.frames == offline.frames == len(track)
    bounds = [(r.start_frame, r.bottom_frame, r.counted_frame, r.end_frame) for r in offline.reps]
    assert [(r.start_frame, r.bottom_frame, r.counted_frame, r.end_frame) for r in live.reps] \
        == bounds
    faults = [(f.rule_id, f.rep_index, f.frame_index) for f in offline.faults]
    assert faults and [(f.rule_id, f.rep_index, f.frame_index) for f in live.faults] == faults
    assert offline.cues
    assert [(c.rule_id, c.text) for c in live.cues] == [(c.rule_id, c.text) for c in offline.cues]
    slack_ns = FRAMES_SLACK * NS_PER_S / track.fps
    for a, b in zip(live.cues, offline.cues, strict=True):
        assert abs(a.emit_t_ns - b.emit_t_ns) <= slack_ns, (a, b)
        assert a.fault_t_ns == b.fault_t_ns
    assert [m.rom_deg for m in live.metrics.reps] == [m.rom_deg for m in offline.metrics.reps]
