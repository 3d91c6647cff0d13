"""RepSegmenter: counts and boundaries on synthetic signals with known truth.

``segment()`` is ``update()`` over the series then ``finish()``, so "streaming equals batch"
proves nothing; the streamed counts are compared with the independent batch counter in
tests/naive.py here and in tests/test_reps_naive.py, and the boundaries with the truth of the
signal in tests/test_rep_boundaries.py.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from naive import count_reps_batch

from formcoach.exercises import CountConfig, load_exercise
from formcoach.reps import RepSegmenter
from formcoach.types import RepProgress, frame_time_ns

FPS = 30.0
CFG = load_exercise("squat").count  # knee angle, rep goes down from ~170


def _t(n: int, fps: float = FPS) -> np.ndarray:
    return np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64)


def reps_signal(
    n_reps: int,
    period_s: float = 2.0,
    top: float = 170.0,
    bottom: float = 80.0,
    pause_s: float = 0.5,
    lead_s: float = 1.0,
    noise: float = 0.0,
    fps: float = FPS,
    seed: int = 0,
) -> np.ndarray:
    """``n_reps`` smooth top-bottom-top cycles with pauses at the top, plus optional noise."""
    parts = [np.full(round(lead_s * fps), top)]
    k = round(period_s * fps)
    cyc = top - (top - bottom) * 0.5 * (1 - np.cos(2 * np.pi * np.arange(k) / k))
    for _ in range(n_reps):
        parts += [cyc, np.full(round(pause_s * fps), top)]
    x = np.concatenate(parts)
    if noise:
        x = x + np.random.default_rng(seed).normal(0, noise, x.shape)
    return x


def count(values: np.ndarray, cfg: CountConfig = CFG, fps: float = FPS, **kw) -> int:
    return len(RepSegmenter(cfg, fps, **kw).segment(values, _t(len(values), fps)))


def stream(values: np.ndarray, cfg: CountConfig = CFG, fps: float = FPS, gated=None):
    seg = RepSegmenter(cfg, fps)
    out = []
    emitted_at = []
    t = _t(len(values), fps)
    g = np.zeros(len(values), bool) if gated is None else gated
    for i, (v, ts) in enumerate(zip(values, t, strict=True)):
        new = seg.update(float(v), int(ts), bool(g[i]))
        out += new
        emitted_at += [i] * len(new)
    tail = seg.finish()
    return out + tail, emitted_at, seg


# ---------------------------------------------------------------- invariants and the oracle
_series = arrays(
    np.float64,
    st.integers(0, 300),
    elements=st.one_of(st.floats(0, 180, allow_nan=False), st.just(np.nan)),
)


@settings(max_examples=80, deadline=None)
@given(_series, st.integers(0, 2**31 - 1))
def test_events_are_consistent_on_any_input(values: np.ndarray, seed: int) -> None:
    """Whatever comes in: reps in order, start <= bottom <= counted <= end, frames and ns of the
    same instants, no overlap, and the streamed events are those the stream returned."""
    gated = np.random.default_rng(seed).random(len(values)) < 0.02
    got, emitted_at, seg = stream(values, gated=gated)
    t = _t(len(values))
    assert [e.index for e in got] == list(range(len(got))) and seg.events == got
    for k, e in enumerate(got):
        assert 0 <= e.start_frame <= e.bottom_frame <= e.counted_frame <= e.end_frame < len(t)
        if k < len(emitted_at):  # (the rest came from finish())
            assert emitted_at[k] - e.counted_frame <= seg.lag
        for f, ns in ((e.start_frame, e.start_ns), (e.bottom_frame, e.bottom_ns),
                      (e.counted_frame, e.counted_ns), (e.end_frame, e.end_ns)):
            assert ns == t[f]
        if k:
            assert got[k - 1].end_frame <= e.start_frame


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.floats(1.2, 3.0), st.floats(0.2, 1.5), st.floats(0.0, 0.5),
       st.integers(0, 2**31 - 1))
def test_counts_agree_with_the_naive_counter(n: int, period_s: float, pause_s: float,
                                            noise: float, seed: int) -> None:
    """Where the oracle's assumptions hold (one rest level, noise <= 1.5% of min_rom): same
    reps, same bottoms and counting frames (give or take the median window and noise)."""
    x = reps_signal(n, period_s=period_s, pause_s=pause_s, noise=noise, seed=seed)
    got, _, seg = stream(x)
    want = count_reps_batch(x, FPS, rep_direction=CFG.rep_direction, min_rom=CFG.min_rom,
                            rel_rom=CFG.rel_rom, first_factor=CFG.first_factor,
                            return_frac=CFG.return_frac, smooth_s=CFG.smooth_s,
                            max_gap_s=CFG.max_gap_s)
    assert len(got) == len(want) == n
    for e, (bottom, counted) in zip(got, want, strict=True):
        assert abs(e.bottom_frame - bottom) <= 3
        assert abs(e.counted_frame - counted) <= seg.lag + 2


def test_segment_is_repeatable_and_fresh() -> None:
    x = reps_signal(3)
    seg = RepSegmenter(CFG, FPS)
    a = seg.segment(x, _t(len(x)))
    b = seg.segment(x, _t(len(x)))
    assert a == b and len(a) == 3
    assert seg.count == 0  # batch runs on a fresh copy


def test_bounded_lag() -> None:
    x = reps_signal(4, noise=2.0)
    events, emitted_at, seg = stream(x)
    assert len(events) == 4
    for ev, k in zip(events, emitted_at, strict=True):
        assert k - ev.counted_frame == seg.lag
    assert seg.lag <= round(0.1 * FPS)


# ---------------------------------------------------------------- counts
@pytest.mark.parametrize("n", [1, 2, 5, 12])
@pytest.mark.parametrize("noise", [0.0, 3.0, 6.0])
def test_counts_clean_and_noisy(n: int, noise: float) -> None:
    assert count(reps_signal(n, noise=noise, seed=n)) == n


@pytest.mark.parametrize("fps", [15.0, 23.976, 29.97, 60.0])
def test_counts_at_any_fps(fps: float) -> None:
    assert count(reps_signal(5, fps=fps, noise=2.0), fps=fps) == 5


def test_event_fields() -> None:
    x = reps_signal(2, lead_s=1.0, period_s=2.0, pause_s=1.0)
    ev = RepSegmenter(CFG, FPS).segment(x, _t(len(x)))
    assert [e.index for e in ev] == [0, 1]
    e = ev[0]
    assert e.start_frame < e.bottom_frame < e.end_frame
    assert e.bottom_frame == pytest.approx(30 + 30, abs=2)  # lead 1 s + half a period
    assert e.min_deg == pytest.approx(80.0, abs=0.5)
    assert e.max_deg == pytest.approx(170.0, abs=0.5)
    assert e.rom_deg == pytest.approx(90.0, abs=1.0)
    assert e.bottom_ns == frame_time_ns(e.bottom_frame, FPS)
    assert not e.partial


def test_nan_gaps_inside_reps() -> None:
    x = reps_signal(6, noise=2.0)
    x[::7] = np.nan  # a missed frame every 7
    x[100:112] = np.nan  # a 0.4 s dropout mid-rep
    assert count(x) == 6


def test_corrupt_single_frames_are_ignored() -> None:
    x = reps_signal(4)
    x[[50, 51, 140, 200]] = 10.0  # glitches deep into "bottom" territory
    assert count(x) == 4


def test_long_pauses_at_top_and_bottom() -> None:
    top, bottom = 170.0, 80.0
    parts = [np.full(60, top)]
    for _ in range(3):
        parts += [np.linspace(top, bottom, 30), np.full(90, bottom),  # 3 s hold at the bottom
                  np.linspace(bottom, top, 30), np.full(300, top)]  # 10 s rest at the top
    assert count(np.concatenate(parts)) == 3


def test_small_setup_wiggles_are_not_reps() -> None:
    x = reps_signal(4, noise=1.0)
    wiggle = 170 - 15 * np.sin(np.linspace(0, np.pi, 20))  # 15 deg dips (< min_rom)
    assert count(np.concatenate([wiggle, wiggle, x, wiggle])) == 4


def test_adaptive_threshold_rejects_half_rep_after_full_reps() -> None:
    full = reps_signal(4, top=170, bottom=70, lead_s=0.5)
    half = reps_signal(1, top=170, bottom=135, lead_s=0.0)  # 35 deg: > min_rom, < half of 100
    assert count(np.concatenate([full, half, full])) == 8


def test_small_rom_person_counts_all_reps() -> None:
    # Someone who only bends 45 deg still counts (thresholds follow their own ROM).
    assert count(reps_signal(6, top=170, bottom=125, noise=1.5)) == 6


def test_wobble_at_bottom_is_one_rep() -> None:
    down = np.linspace(170, 80, 30)
    wobble = np.concatenate([np.linspace(80, 100, 8), np.linspace(100, 78, 8)])
    up = np.linspace(78, 170, 30)
    x = np.concatenate([np.full(30, 170), down, wobble, up, np.full(30, 170)])
    assert count(x) == 1


def test_rep_direction_up() -> None:
    cfg = load_exercise("jumping_jack").count  # shoulder angle rises in a rep
    x = 190 - reps_signal(7, top=170, bottom=30, period_s=1.0, pause_s=0.1, noise=2.0)
    ev = RepSegmenter(cfg, FPS).segment(x, _t(len(x)))
    assert len(ev) == 7
    assert ev[0].max_deg == pytest.approx(160, abs=8) and ev[0].min_deg == pytest.approx(20, abs=8)


# ---------------------------------------------------------------- clip edges
def test_clip_ending_mid_descent_does_not_count() -> None:
    x = np.concatenate([reps_signal(2), np.linspace(170, 90, 25)])
    assert count(x) == 2


def test_clip_ending_after_most_of_the_return_counts() -> None:
    x = np.concatenate([reps_signal(2), np.linspace(170, 80, 30), np.linspace(80, 150, 20)])
    assert count(x) == 3


def test_clip_starting_at_the_bottom_counts_an_edge_rep() -> None:
    x = np.concatenate([np.full(10, 80.0), np.linspace(80, 170, 30), reps_signal(2)])
    ev = RepSegmenter(CFG, FPS).segment(x, _t(len(x)))
    assert len(ev) == 3 and ev[0].partial and not ev[1].partial


def test_clip_starting_mid_ascent_does_not_count_the_half_rise() -> None:
    x = np.concatenate([np.linspace(130, 170, 15), reps_signal(2)])
    assert count(x) == 2


def test_person_appearing_late_at_the_bottom_still_edges() -> None:
    x = np.concatenate([np.full(90, np.nan), np.full(5, 85.0), np.linspace(85, 170, 30),
                        reps_signal(1)])
    assert count(x) == 2


def test_gated_setup_disables_the_edge_rep() -> None:
    # Standing under a bar (gated), then getting into position from a low value: not a rep.
    x = np.concatenate([np.full(60, 90.0), np.full(5, 85.0), np.linspace(85, 170, 30),
                        reps_signal(2)])
    gated = np.zeros(len(x), bool)
    gated[:60] = True
    assert len(RepSegmenter(CFG, FPS).segment(x, _t(len(x)), gated)) == 2


def test_gate_interrupting_a_rep_abandons_it() -> None:
    x = reps_signal(3, lead_s=1.0, pause_s=1.0)
    gated = np.zeros(len(x), bool)
    gated[30 + 30 : 30 + 33] = True  # out of position at the first rep's bottom
    assert len(RepSegmenter(CFG, FPS).segment(x, _t(len(x)), gated)) == 2


def test_long_gap_resets_a_rep_in_progress() -> None:
    down = np.linspace(170, 80, 30)
    x = np.concatenate([np.full(30, 170.0), down, np.full(60, np.nan),  # 2 s gap at the bottom
                        np.linspace(80, 170, 30), reps_signal(1)])
    assert count(x) == 1


def test_descent_that_never_returns_is_abandoned() -> None:
    cfg = dataclasses.replace(CFG, max_rep_s=5.0)
    x = np.concatenate([np.full(30, 170.0), np.linspace(170, 80, 30), np.full(300, 80.0),
                        np.linspace(80, 170, 30), reps_signal(2)])
    assert count(x, cfg) == 2


def test_too_fast_to_be_a_rep() -> None:
    cfg = dataclasses.replace(CFG, min_rep_s=1.0, smooth_s=0.0)
    x = np.concatenate([np.full(10, 170.0), [120, 80, 120], np.full(20, 170.0)])
    assert count(x, cfg) == 0


# ---------------------------------------------------------------- hold mode and misuse
def test_hold_mode_reports_intervals() -> None:
    cfg = load_exercise("plank").count
    x = np.concatenate([np.full(30, 10.0), np.full(150, 88.0), np.full(60, 10.0),
                        np.full(15, 88.0), np.full(60, 10.0), np.full(90, 90.0)])
    ev = RepSegmenter(cfg, FPS, kind="hold").segment(x, _t(len(x)))
    assert len(ev) == 2  # 5 s hold, (0.5 s too short), 3 s hold open at the end
    assert (ev[0].end_ns - ev[0].start_ns) / 1e9 == pytest.approx(5.0, abs=0.1)
    assert all(e.counted_frame == e.end_frame and e.counted_ns == e.end_ns for e in ev)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        RepSegmenter(CFG, 0.0)
    with pytest.raises(ValueError):
        RepSegmenter(CFG, math.nan)
    with pytest.raises(ValueError):
        RepSegmenter(CFG, FPS, kind="sets")
    with pytest.raises(ValueError):
        RepSegmenter(CFG, FPS).segment(np.zeros(3), np.zeros(4, dtype=np.int64))


def test_phases() -> None:
    x = reps_signal(1, lead_s=1.0, period_s=2.0, pause_s=1.0)
    seg = RepSegmenter(CFG, FPS)
    phases = []
    for v, t in zip(x, _t(len(x)), strict=True):
        seg.update(float(v), int(t))
        phases.append(seg.phase)
    assert phases[10] == "idle"
    assert {"eccentric", "bottom", "concentric", "top"} <= set(phases)


def test_setup_sag_before_the_first_rep_is_not_part_of_it() -> None:
    # Standing at 170, then sagging to 160 (a setup shuffle: more than the turn threshold, so
    # the segmenter is already "going down"), resting at 163 for 1 s, then the real squat.
    x = np.concatenate([np.full(10, 170.0), np.linspace(170, 160, 20), np.full(30, 163.0),
                        np.linspace(163, 80, 30), np.linspace(80, 170, 30), np.full(30, 170.0)])
    (ev,), _, _ = stream(x)
    descent = 60  # first frame of the real way down
    # A linear ramp has no ease-out: the ease lead reaches a few frames into the rest before it.
    assert descent - round(0.3 * FPS) <= ev.start_frame <= descent
    assert ev.start_ns == frame_time_ns(ev.start_frame, FPS)


def test_a_rep_after_a_long_rest_starts_where_it_leaves_the_top() -> None:
    # 3 s at the top, then a smooth rep from frame 90 to 150: it starts and ends within a frame
    # or two of that (still at the top, so rules judging the rest position see it), and the
    # long rests on either side are not part of it.
    x = reps_signal(2, lead_s=3.0, pause_s=3.0)
    ev = RepSegmenter(CFG, FPS).segment(x, _t(len(x)))
    assert len(ev) == 2
    assert abs(ev[0].start_frame - 90) <= 2 and abs(ev[0].end_frame - 150) <= 2
    assert x[ev[0].start_frame] >= 170.0 - 0.2 * CFG.min_rom


def test_every_rep_starts_at_the_top_it_leaves_not_part_way_down() -> None:
    # Not only the first: reps after a counted one used to start at the last frame within the
    # turn threshold of the top, i.e. a fifth of the way down, so "top"-phase rules (lockout)
    # never saw the rest position before them; and every rep ends back at the top.
    x = reps_signal(4, period_s=2.0, pause_s=1.0, lead_s=1.0)
    ev = RepSegmenter(CFG, FPS).segment(x, _t(len(x)))
    assert len(ev) == 4
    for k, e in enumerate(ev):
        descent = round(1.0 * FPS) + k * round(3.0 * FPS)  # first frame of the way down
        assert abs(e.start_frame - descent) <= 2, (k, e.start_frame, descent)
        assert abs(e.end_frame - (descent + round(2.0 * FPS))) <= 2, (k, e.end_frame)
        assert x[e.start_frame] >= 170.0 - 1.0 and x[e.end_frame] >= 170.0 - 1.0  # at the top
        if k:
            assert e.start_frame >= ev[k - 1].end_frame  # reps never overlap


# ---------------------------------------------------------------- the turnaround under way
def _progress_along(x: np.ndarray) -> list[RepProgress | None]:
    seg = RepSegmenter(CFG, FPS)
    out = []
    for v, t in zip(x, _t(len(x)), strict=True):
        seg.update(float(v), int(t))
        out.append(seg.progress)
    return out


def _first(progress: list[RepProgress | None], attr: str) -> int:
    return next(k for k, p in enumerate(progress) if p is not None and getattr(p, attr) is not None)


def test_a_pause_at_the_bottom_is_seen_before_the_turn_and_the_turn_before_it_is_confirmed() -> None:
    """Down 170 -> 80 over 1 s, 0.3 s still, back up: ``still_frame`` during the pause,
    ``turn_frame`` once the signal is a tenth of the range back, ``bottom_frame`` at the full
    hysteresis (a fifth); each names a frame of the pause (the lowest point so far)."""
    down = 125.0 + 45.0 * np.cos(np.linspace(0, np.pi, 30))
    x = np.concatenate([np.full(30, 170.0), down, np.full(9, 80.0), down[::-1], np.full(30, 170.0)])
    prog = _progress_along(x)
    still, turn, bottom = (_first(prog, a) for a in ("still_frame", "turn_frame", "bottom_frame"))
    assert 59 < still < 69  # inside the pause (frames 59-68), not before it reached the bottom
    assert still < turn < bottom
    for k, a in ((still, "still_frame"), (turn, "turn_frame"), (bottom, "bottom_frame")):
        assert 58 <= getattr(prog[k], a) <= 69


def test_a_pause_halfway_down_is_still_but_no_turn() -> None:
    """A pause on the way down is a still point (a "must not exceed" rule may look there) but
    never a turn: a "must reach" rule (depth) is not judged on it."""
    half = np.linspace(170, 110, 20)
    x = np.concatenate([np.full(30, 170.0), half, np.full(15, 110.0), np.linspace(110, 80, 10)])
    prog = _progress_along(x)
    assert all(p is None or (p.turn_frame is None and p.bottom_frame is None) for p in prog)
    paused = [p for p in prog[50:65] if p is not None]
    assert any(p.still_frame is not None for p in paused)
