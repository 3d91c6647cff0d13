"""live == analyze: one sample through the live path (its video played in real time as a camera,
the real clock, a speaker that is busy while it talks) and through the offline analysis (its
pose track, the frame clock, the recording speaker). Same reps, same faults, same cues.

Poses come from the sample's ground truth on both sides (a replaying estimator live), so the
only difference is the one the design allows: source, clock and speaker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from fakes import ReplayEstimator, sample_track

from formcoach.clock import MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.offline import analyze_track
from formcoach.coach.result import SessionResult
from formcoach.cues.speech import TextSpeaker
from formcoach.exercises import load_exercise
from formcoach.sources import FrameSource, PacedVideoSource
from formcoach.types import NS_PER_S, Frame, PoseTrack

#: Samples with faults and cues (the cue scheduler has something to decide).
CASES = {"pushup_45_sag_lockout": "pushup", "squat_45_shallow": "squat"}
#: Live hands a cue over when the frame is processed, offline at the frame's timestamp: the
#: speaker frees up a few ms later live, so a cue may start one frame later. Two frames of slack.
FRAMES_SLACK = 2


class RealTimeSource:
    """Frames released at their timestamps on the real clock, like a camera, but never dropped
    (so a busy test machine delays frames instead of changing which frames are coached)."""

    def __init__(self, frames: list[Frame], fps: float, size: tuple[int, int]) -> None:
        self.frames, self.fps, self.size = frames, fps, size
        self.start_ns = 0
        self.dropped = 0

    def __iter__(self) -> Iterator[Frame]:
        self.start_ns = time.monotonic_ns()
        for f in self.frames:
            wait = (self.start_ns + f.t_ns - time.monotonic_ns()) / NS_PER_S
            if wait > 0:
                time.sleep(wait)
            yield f

    def close(self) -> None:
        pass


def _live(sample: str, source: FrameSource, track: PoseTrack, clock: MonotonicClock
          ) -> SessionResult:
    speaker = TextSpeaker(clock=clock, reason="test")
    return run_live(source, load_exercise(CASES[sample]),
                    ReplayEstimator(track.poses, track.fps, track.image_size), speaker,
                    skip_setup=True, clock=clock)


@pytest.mark.parametrize("paced", [False, True], ids=["realtime", "paced-video"])
@pytest.mark.parametrize("sample", sorted(CASES))
def test_live_says_what_analyze_says(sample: str, paced: bool, tmp_path: Path) -> None:
    ex = load_exercise(CASES[sample])
    track = PoseTrack.load(sample_track(sample, tmp_path / "t.npz"))
    offline = analyze_track(track, ex)

    clock = MonotonicClock()
    if paced:  # the real live source: the sample's video played as a camera
        source: FrameSource = PacedVideoSource(SAMPLES / f"{sample}.mp4", clock=clock)
    else:
        img = np.zeros((track.image_size[1], track.image_size[0], 3), np.uint8)
        source = RealTimeSource([Frame(img, i, int(t)) for i, t in enumerate(track.t_ns)],
                                track.fps, track.image_size)
    live = _live(sample, source, track, clock)
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
