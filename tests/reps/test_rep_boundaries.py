"""Rep boundaries against known truth: start (leaves the top), end (back at the top), and the
counting moment in between, streamed and on the bundled samples.

The rules are in the :mod:`formcoach.reps` docstring. The synthetic signals here ease in and
out like half a cosine, the profile the segmenter's ease lead assumes, so it must find their
boundaries to within frame rounding and noise; the samples are rendered bodies whose counting
joint does not always move when the body does, so there the claims are medians (issue 15).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest
from conftest import SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formcoach.exercises import load_exercise
from formcoach.reps import RepSegmenter
from formcoach.types import NS_PER_S, RepEvent, frame_time_ns

EXERCISES = ["squat", "pushup", "bicep_curl", "jumping_jack", "lunge", "shoulder_press", "situp"]
FPS_CHOICES = [15.0, 24.0, 30000 / 1001, 30.0, 60.0]


def _cosine(a: float, b: float, n: int) -> np.ndarray:
    """n samples easing from a to b (half a cosine), the first already moved."""
    u = (1 - np.cos(np.pi * np.arange(1, n + 1) / n)) / 2
    return a + (b - a) * u


def _stream(x: np.ndarray, fps: float, exercise: str = "squat"
            ) -> tuple[list[RepEvent], list[list[int]]]:
    """Events from update() per frame then finish(), and each event's end_frame after every
    call from the one that returned it on."""
    seg = RepSegmenter(load_exercise(exercise).count, fps)
    events: list[RepEvent] = []
    ends: list[list[int]] = []
    for i, v in enumerate(x.tolist()):
        for e in seg.update(v, frame_time_ns(i, fps)):
            assert e.end_frame == e.counted_frame and e.end_ns == e.counted_ns  # provisional
            events.append(e)
            ends.append([])
        for e, seen in zip(events, ends, strict=True):
            seen.append(e.end_frame)
    for e in seg.finish():
        events.append(e)
        ends.append([])
    for e, seen in zip(events, ends, strict=True):
        seen.append(e.end_frame)
    return events, ends


class _Pick(Protocol):
    """What a session is drawn with: hypothesis's draw, or a seeded numpy generator."""

    def choice(self, xs: list[Any]) -> Any: ...
    def uniform(self, lo: float, hi: float) -> float: ...
    def integer(self, lo: int, hi: int) -> int: ...
    def coin(self) -> bool: ...


Session = tuple[str, float, np.ndarray, list[tuple[int, int]]]


def _session(pick: _Pick) -> Session:
    """Cosine reps from one rest level: random tempo each way (0.35-2 s), bottom pause (0-0.3 s),
    rest between reps (0-1.5 s, often none), depth, frame rate and noise (sigma <= 1% of the
    depth). Truth per rep: (last frame at rest before it, first frame back at rest)."""
    exercise = pick.choice(EXERCISES)
    cfg = load_exercise(exercise).count
    fps = pick.choice(FPS_CHOICES)
    rest = pick.uniform(120.0, 175.0)
    depth = pick.uniform(1.5, 2.3) * cfg.min_rom

    def frames(lo: float, hi: float) -> int:
        return max(1, round(pick.uniform(lo, hi) * fps))

    parts = [np.full(frames(0.6, 1.5), rest)]
    truth = []
    for _ in range(pick.integer(1, 6)):
        d = depth * pick.uniform(1.0, 1.3)
        down = _cosine(rest, rest - d, frames(0.35, 2.0))
        hold = np.full(frames(0.0, 0.3) if pick.coin() else 0, rest - d)
        up = _cosine(rest - d, rest, frames(0.35, 2.0))
        start = sum(len(p) for p in parts) - 1
        parts += [down, hold, up]
        truth.append((start, start + len(down) + len(hold) + len(up)))
        if pick.coin():
            parts.append(np.full(frames(0.0, 1.5), rest))
    parts.append(np.full(frames(0.8, 1.5), rest))
    x = np.concatenate(parts)
    rng = np.random.default_rng(pick.integer(0, 2**32 - 1))
    x = x + rng.normal(0.0, pick.uniform(0.0, 0.01) * depth, len(x))
    if cfg.rep_direction == "up":
        x = 2 * rest - x
    return exercise, fps, x, truth


class _Draw:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def choice(self, xs: list[Any]) -> Any:
        return self.draw(st.sampled_from(xs))

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.draw(st.floats(lo, hi)))

    def integer(self, lo: int, hi: int) -> int:
        return int(self.draw(st.integers(lo, hi)))

    def coin(self) -> bool:
        return bool(self.draw(st.booleans()))


class _Seeded:
    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def choice(self, xs: list[Any]) -> Any:
        return xs[int(self.rng.integers(len(xs)))]

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi, endpoint=True))

    def coin(self) -> bool:
        return bool(self.rng.integers(2))


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    """A session drawn by hypothesis (see :func:`_session`)."""
    return _session(_Draw(draw))


def _boundary_errors(s: Session) -> list[int]:
    """Start and end error (frames) of every rep of a session, after checking the hard claims:
    the count, every boundary within 0.15 s of the truth (a couple of frames: the three
    crossings the ease lead is measured from are rounded to frames), counted in between, an
    end that only ever moves later and is final, and reps that do not overlap."""
    exercise, fps, x, truth = s
    events, ends = _stream(x, fps, exercise)
    assert len(events) == len(truth)
    err = []
    for e, (t0, t1), seen in zip(events, truth, ends, strict=True):
        assert e.start_frame <= e.bottom_frame <= e.counted_frame <= e.end_frame
        assert abs(e.start_frame - t0) / fps <= 0.15 and abs(e.end_frame - t1) / fps <= 0.15
        err += [abs(e.start_frame - t0), abs(e.end_frame - t1)]
        assert seen == sorted(seen) and seen[-1] == e.end_frame  # only ever later
    for a, b in itertools.pairwise(events):
        assert a.end_frame <= b.start_frame
    return err


@settings(max_examples=400, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(sessions())
def test_boundaries_of_eased_reps_match_their_truth(s: Session) -> None:
    """The hard claims of :func:`_boundary_errors` hold for any session hypothesis finds."""
    _boundary_errors(s)


def test_most_boundaries_are_within_one_frame() -> None:
    """Over a fixed population of 300 sessions most boundaries (measured: 92%) are at most one
    frame off.

    A statistical claim, so it is measured over many reps: one noisy rep alone may be two
    frames off at both ends and still within the hard bound above."""
    err = [e for seed in range(300) for e in _boundary_errors(_session(_Seeded(seed)))]
    assert len(err) > 1000
    assert float(np.mean(np.asarray(err) <= 1)) >= 0.85


def test_the_end_is_refined_in_place_and_final_at_the_next_rep() -> None:
    """Returned at counting time with end == counted; the same object's end then moves to the
    top (plus the ease-in) and stays there once the next rep is under way."""
    fps = 30.0
    rest, rep = np.full(45, 170.0), np.concatenate([_cosine(170, 80, 30), _cosine(80, 170, 30)])
    x = np.concatenate([rest, rep, rest, rep, rest])
    events, ends = _stream(x, fps)
    assert len(events) == 2
    first, seen = events[0], ends[0]
    assert seen[0] == first.counted_frame < first.end_frame
    assert abs(first.end_frame - (45 + 60 - 1)) <= 1  # back at rest
    when_final = seen.index(first.end_frame)  # calls after the one that returned it
    assert first.counted_frame + when_final < events[1].start_frame  # fixed before rep 2
    assert abs(events[1].start_frame - (45 + 60 + 45 - 1)) <= 1


def test_a_rep_that_comes_back_short_ends_when_the_body_stops_rising() -> None:
    """Back to 150 instead of 170 (more than 10% short): it ends where the rise levels off,
    not at the next rep or the end of the stream."""
    fps = 30.0
    x = np.concatenate([np.full(30, 170.0), _cosine(170, 80, 30), _cosine(80, 150, 30),
                        np.full(90, 150.0)])
    (e,), _ = _stream(x, fps)
    assert abs(e.end_frame - 89) <= 2


@pytest.mark.parametrize("gap", ["nan", "gated"])
def test_a_gap_after_a_rep_fixes_its_end(gap: str) -> None:
    """The person is lost (or out of position) before being fully back at the top: the end is
    the last frame seen, not some frame after the gap."""
    fps, cfg = 30.0, load_exercise("squat").count
    x = np.concatenate([np.full(30, 170.0), _cosine(170, 80, 30), _cosine(80, 140, 20),
                        np.full(60, np.nan), np.full(30, 170.0)])
    gated = np.zeros(len(x), bool)
    if gap == "gated":
        gated[80:140] = True
    (e,) = RepSegmenter(cfg, fps).segment(x, [frame_time_ns(i, fps) for i in range(len(x))],
                                          gated)
    assert e.counted_frame <= e.end_frame <= 79


# ----------------------------------------------------------------------------- the samples
def _sample_errors(tracks: Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """Per sample: (start error, end error, detected duration, truth duration) in s per rep,
    exact poses through the coach, each rep matched to the truth rep with the nearest bottom.

    The shoulder press pack counts lockout -> rack -> lockout and the synthesis rack ->
    lockout -> rack, so its truth is put in the pack's terms: a rep leaves lockout k-1 (the end
    of that pause), turns in the rack between, and reaches lockout k. Its first counted rep
    (arms hanging -> rack -> first lockout: the setup) has no truth and is left out."""
    from fakes import sample_track

    from formcoach.coach.offline import analyze_track
    from formcoach.synth.motion import build_motion
    from formcoach.synth.spec import spec_from_dict
    from formcoach.types import PoseTrack

    out: dict[str, list[tuple[float, float, float, float]]] = {}
    for path in sorted(SAMPLES.glob("*.json")):
        truth = json.loads(path.read_text())
        if path.name == "manifest.json" or truth["kind"] != "reps":
            continue
        name = truth["name"]
        track = PoseTrack.load(sample_track(name, tracks / f"{name}.npz"))
        result = analyze_track(track, load_exercise(truth["exercise"]))
        t0 = int(track.t_ns[0])
        reps = [(r["start_s"], r["bottom_s"], r["end_s"]) for r in truth["reps"]]
        if truth["exercise"] == "shoulder_press":
            spec = spec_from_dict({k: v for k, v in truth["spec"].items() if v is not None})
            m = build_motion(spec).reps
            reps = [(a.bottom_s + a.pause_s / 2, (a.end_s + b.start_s) / 2,
                     b.bottom_s - b.pause_s / 2) for a, b in itertools.pairwise(m)]
        rows = []
        for rep in result.reps:
            s, b, e = ((ns - t0) / NS_PER_S for ns in (rep.start_ns, rep.bottom_ns, rep.end_ns))
            q = min(reps, key=lambda q: abs(q[1] - b))
            if abs(q[1] - b) > 0.5 * (q[2] - q[0]):
                assert truth["exercise"] == "shoulder_press" and rep.index == 0, (name, rep)
                continue
            rows.append((s - q[0], e - q[2], e - s, q[2] - q[0]))
        out[name] = rows
    return out


@pytest.fixture(scope="module")
def sample_errors(tmp_path_factory: pytest.TempPathFactory
                  ) -> dict[str, list[tuple[float, float, float, float]]]:
    return _sample_errors(tmp_path_factory.mktemp("tracks"))


def test_sample_boundaries_are_within_015_s_in_the_median(sample_errors) -> None:
    """Issue 15: median |start error| and median |end error| <= 0.15 s over every rep of the
    rep samples (measured 0.05 s each over 15; the rep's counting moment alone was 0.38 s
    early). The partial-framing samples (issue 18) are in the set too."""
    assert len(sample_errors) >= 15
    rows = [r for v in sample_errors.values() for r in v]
    assert len(rows) >= 40
    assert float(np.median([abs(r[0]) for r in rows])) <= 0.15
    assert float(np.median([abs(r[1]) for r in rows])) <= 0.15


@pytest.mark.xfail(strict=True, reason="exact 2D poses, no world landmarks: from the front the "
                   "2D knee angle of squat_front_valgus opens through 180 deg as the knees cave "
                   "in, so its reps read 0.66-0.68 x truth (side 0.90-0.92, 45 0.86-0.95 x since "
                   "the synthetic hip no longer sits still at the ends of a rep)")
def test_squat_durations_are_within_10_percent_of_truth(sample_errors) -> None:
    """Issue 15's squat target. Measured 0.65-0.81 x truth (0.65 x before the true end);
    against the interval in which the hips actually move they are 0.9-1.17 x."""
    ratios = [r[2] / r[3] for name, v in sample_errors.items() if name.startswith("squat")
              for r in v]
    assert len(ratios) == 8
    assert all(abs(r - 1.0) <= 0.10 for r in ratios), ratios
