"""The per-set fatigue note on synthetic sets with known fatigue: a velocity-loss set slows its
concentric, a depth fault on the late reps shrinks ROM and appears late, flat sets show no sign
beyond noise (:mod:`formcoach.fatigue`)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from formcoach import fatigue as F
from formcoach.coach.offline import analyze_track
from formcoach.exercises import load_exercise
from formcoach.report.document import session_document
from formcoach.synth import SynthSpec
from formcoach.synth.core import truth_poses
from formcoach.synth.spec import FaultSpec
from formcoach.types import PoseTrack, frame_time_ns


def _analyse(spec: SynthSpec):
    poses, fps, _truth = truth_poses(spec)
    n = len(poses)
    track = PoseTrack(poses, np.full((n, 33, 3), np.nan),
                      np.array([frame_time_ns(i, fps) for i in range(n)], dtype=np.int64),
                      fps, (spec.width, spec.height), backend="synth")
    return analyze_track(track, load_exercise(spec.exercise))


def _spec(**kw: Any) -> SynthSpec:
    """A 9-rep side-view squat with 1 px of landmark noise, changed by ``kw``."""
    return dataclasses.replace(SynthSpec(name="fat", exercise="squat", view="side", reps=9,
                                         seed=1, landmark_noise_px=1.0), **kw)


def test_velocity_loss_reads_as_tempo_slowing_only():
    res = _analyse(_spec(velocity_loss=50.0))
    note = res.metrics.fatigue
    assert note is not None and note.reps == 9 and note.third == 3
    assert note.kinds == ["tempo"]
    s = note.signs[0]
    assert s.change > s.noise > 0 and s.last > s.first
    assert "tempo slowing" in note.text and "concentric" in s.evidence


def test_late_shallow_reps_show_rom_shrinking_and_a_late_fault():
    res = _analyse(_spec(velocity_loss=50.0, faults=(FaultSpec("shallow_squat", reps=(6, 7, 8)),)))
    note = res.metrics.fatigue
    assert note is not None
    assert note.kinds[:2] == ["rom", "tempo"]
    late = [s for s in note.signs if s.kind == "fault"]
    assert [s.rule_id for s in late] == ["depth"]
    assert late[0].last == 1.0 and late[0].first == 0.0 and late[0].noise <= F.FAULT_ALPHA
    rom = note.signs[0]
    assert -rom.change > rom.noise and "deg" in rom.evidence
    # the same note everywhere: JSON and the terminal summary
    doc = session_document(res)["fatigue"]
    assert isinstance(doc, dict) and doc["text"] == note.text
    assert [s["kind"] for s in doc["signs"]] == note.kinds  # type: ignore[index,union-attr]
    lines = res.summary_lines()
    assert note.text in lines and any(rom.evidence in line for line in lines)


def test_a_fault_from_the_start_is_not_late():
    res = _analyse(_spec(exercise="pushup", faults=(FaultSpec("hip_sag"),)))
    note = res.metrics.fatigue
    assert note is not None
    assert all(r.faults for r in res.metrics.reps)
    assert "fault" not in note.kinds


def test_late_fault_without_rom_change():
    res = _analyse(_spec(exercise="pushup", faults=(FaultSpec("hip_sag", reps=(6, 7, 8)),)))
    note = res.metrics.fatigue
    assert note is not None and note.kinds == ["fault"]
    assert note.signs[0].rule_id == "hip_sag"


def test_flat_sets_rarely_show_a_sign():
    """Without fatigue, ROM and tempo are each a one-sided 5% test (about 10% of flat sets show
    one by chance): over 12 seeded flat sets at most a quarter do."""
    shown = sum(bool(_analyse(_spec(seed=200 + i)).metrics.fatigue.signs)  # type: ignore[union-attr]
                for i in range(12))
    assert shown <= 3


def test_too_few_reps_says_so_and_a_hold_has_no_note():
    note = _analyse(_spec(reps=4)).metrics.fatigue
    assert note is not None and note.third == 0 and not note.signs
    assert "too few reps" in note.text
    hold = _analyse(SynthSpec(name="p", exercise="plank", view="side", seed=1))
    assert hold.metrics.fatigue is None and hold.fatigue_lines() == []
    assert session_document(hold)["fatigue"] is None


def test_noise_bound_and_fisher_tail():
    assert F.t95(1) == pytest.approx(6.314) and F.t95(11) == F.t95(10) and F.t95(99) == 1.645
    with pytest.raises(ValueError):
        F.t95(0)
    assert F.fisher_late_p(0, 3, 3) == pytest.approx(1 / 20)
    assert F.fisher_late_p(0, 2, 2) == pytest.approx(1 / 6)
    # a change inside the within-third spread is noise, the same change with no spread is not
    rom_noisy = [90, 100, 80, 95, 85, 92, 84, 96, 76]
    flat = [0.7] * 9
    none = [[] for _ in range(9)]
    assert F.fatigue_note(rom_noisy, flat, none, fps=30).signs == []
    rom_clean = [90.0] * 3 + [90.0] * 3 + [84.0] * 3
    note = F.fatigue_note(rom_clean, flat, none, fps=30)
    sd = float(np.std(rom_clean, ddof=1))
    assert note.kinds == ["rom"]
    assert note.signs[0].noise == pytest.approx(F.t95(8) * sd * math.sqrt(2 / 3))
    # no spread at all: the resolution floor still holds a tiny change back
    assert F.fatigue_note([90.0] * 6 + [89.0] * 3, flat, none, fps=30).signs == []  # 1 < 1.8
    # a one-frame tempo change is under the resolution floor
    tempo = [0.7] * 6 + [0.7 + 1 / 30] * 3
    assert F.fatigue_note([90.0] * 9, tempo, none, fps=30).signs == []
    with pytest.raises(ValueError):
        F.fatigue_note([1.0], [], [], fps=30)
    assert math.isfinite(F.fatigue_note(rom_clean, flat, none, fps=float("nan")).reps)
