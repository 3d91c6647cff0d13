"""Attempts: a dip short of a rep is reported, never counted; noise is not an attempt."""

from __future__ import annotations

import numpy as np
import pytest

from formcoach import reps
from formcoach.exercises import load_exercise
from formcoach.reps import RepSegmenter
from formcoach.types import NS_PER_S

FPS = 30.0


def _rep(bottom: float, top: float = 170.0, dur_s: float = 2.0) -> np.ndarray:
    t = np.linspace(0.0, 1.0, int(dur_s * FPS))
    return top - (top - bottom) * 0.5 * (1.0 - np.cos(2.0 * np.pi * t))


def _run(parts: list[np.ndarray]) -> RepSegmenter:
    sig = np.concatenate(parts)
    seg = RepSegmenter(load_exercise("squat").count, FPS)
    seg.segment(sig, (np.arange(len(sig)) * NS_PER_S / FPS).astype(np.int64))  # batch oracle
    for i, v in enumerate(sig):
        seg.update(float(v), round(i * NS_PER_S / FPS))
    seg.finish()
    return seg


def _set(dip_bottom: float | None) -> list[np.ndarray]:
    """Two 90-deg squats, an optional dip to ``dip_bottom``, one more squat."""
    rest = np.full(20, 170.0)
    parts = [np.full(30, 170.0), _rep(80.0), rest, _rep(80.0), rest]
    if dip_bottom is not None:
        parts += [_rep(dip_bottom), rest]
    return [*parts, _rep(80.0), np.full(30, 170.0)]


def test_a_shallow_try_is_an_attempt_and_the_count_is_unchanged() -> None:
    plain = _run(_set(None))
    seg = _run(_set(140.0))  # 30 deg of the 45 deg a rep needs (rel_rom 0.5 of 90)
    assert seg.count == plain.count == 3
    assert len(seg.attempts) == 1 and not plain.attempts
    a = seg.attempts[0]
    assert a.after_rep == 2
    assert a.start_frame < a.bottom_frame < a.end_frame
    assert a.reached_frac == pytest.approx(30.0 / 45.0, abs=0.05)


@pytest.mark.parametrize("depth, found", [(0.7, False), (0.9, True)])
def test_the_attempt_floor_is_a_fraction_of_the_needed_range(
        depth: float, found: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Just below / above the floor (raised to 0.8 of the needed 45 deg: with the squat's
    hysteresis a dip under 0.4 of it is not even a turn)."""
    monkeypatch.setattr(reps, "ATTEMPT_MIN_FRAC", 0.8)
    seg = _run(_set(170.0 - depth * 45.0))
    assert seg.count == 3
    assert bool(seg.attempts) is found


def test_a_dip_before_the_first_rep_is_setting_up_not_an_attempt() -> None:
    parts = [np.full(30, 170.0), _rep(140.0), np.full(20, 170.0), _rep(80.0), np.full(30, 170.0)]
    seg = _run(parts)
    assert seg.count == 1 and not seg.attempts
