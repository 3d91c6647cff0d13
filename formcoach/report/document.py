"""The ``analyze --json`` document of a :class:`~formcoach.coach.result.SessionResult`.

Every number comes from ``result.metrics`` (the per-rep metrics computed once by the session),
so the JSON, CSV, report, terminal and database show the same ROM, durations and phases.
"""

from __future__ import annotations

import math

from formcoach.coach.result import SessionResult
from formcoach.metrics import BOTH_SIDES_VIEWS, RepMetrics, rom_label
from formcoach.types import Attempt

__all__ = ["JsonValue", "attempt_document", "coverage_document", "num", "rep_document",
           "session_document"]

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def num(x: float | None, nd: int = 3) -> float | None:
    """``x`` rounded to ``nd`` places; None for None / NaN / inf (JSON has no NaN)."""
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


def rep_document(rm: RepMetrics) -> dict[str, JsonValue]:
    """One rep: true boundaries, when it was counted, phases, ROM per joint (labelled)."""
    return {
        "index": rm.index,
        "start_s": num(rm.start_s),
        "bottom_s": num(rm.bottom_s),
        "end_s": num(rm.end_s),
        "counted_s": num(rm.counted_s),
        "duration_s": num(rm.duration_s),
        "eccentric_s": num(rm.eccentric_s),
        "pause_s": num(rm.pause_s),
        "concentric_s": num(rm.concentric_s),
        "rom_deg": num(rm.rom_deg, 2),
        "start_frame": rm.start_frame,
        "bottom_frame": rm.bottom_frame,
        "end_frame": rm.end_frame,
        "side": rm.side,
        "partial": rm.partial,
        "joint_rom": {
            name: {"label": f"{rom_label(name)} ROM", "min_deg": num(j.min_deg, 2),
                   "max_deg": num(j.max_deg, 2), "rom_deg": num(j.excursion_deg, 2)}
            for name, j in rm.rom.items()
        },
        "asymmetry_pct": {k: num(v, 1) for k, v in rm.asymmetry_pct.items()},
        "peak_velocity_dps": num(rm.peak_velocity_dps, 1),
        "score": num(rm.score, 1),
        "judged": rm.judged,
        "not_judged": list(rm.not_judged),
        "view": rm.view,
    }


def attempt_document(a: Attempt, result: SessionResult) -> dict[str, JsonValue]:
    """One uncounted attempt: when, and how much of the needed range it reached."""
    return {
        "index": a.index,
        "start_s": num(result.rel_s(a.start_ns)),
        "bottom_s": num(result.rel_s(a.bottom_ns)),
        "end_s": num(result.rel_s(a.end_ns)),
        "start_frame": a.start_frame,
        "bottom_frame": a.bottom_frame,
        "end_frame": a.end_frame,
        "rom": num(a.rom, 2),
        "needed": num(a.needed, 2),
        "reached_frac": num(a.reached_frac),
        "after_rep": a.after_rep,
    }


def coverage_document(result: SessionResult) -> dict[str, JsonValue]:
    """What was not judged and why, the view note, and the technique score (top of the JSON)."""
    sm = result.metrics
    return {
        "not_judged": dict(sm.not_judged),
        "view_advice": sm.view_advice,
        "judged_reps": sum(1 for r in sm.reps if r.judged),
        "clean_reps": sm.clean_reps,
        "attempts": len(sm.attempts),
        "performed": sm.performed,
        "technique_score": num(sm.technique_score),
        "asymmetry_views": list(BOTH_SIDES_VIEWS),
    }


def session_document(result: SessionResult) -> dict[str, JsonValue]:
    """The whole session as plain JSON values."""
    ex = result.exercise
    sm = result.metrics
    hold = sum(r.duration_s for r in sm.reps) if ex.kind == "hold" else None
    return {
        "source": result.source,
        "exercise": ex.id,
        "kind": ex.kind,
        "signal": ex.count.signal,
        "signal_label": rom_label(ex.count.signal),
        "reps": len(sm.reps),
        "hold_s": num(hold),
        "coverage": coverage_document(result),
        "rep_events": [rep_document(r) for r in sm.reps],
        "attempt_events": [attempt_document(a, result) for a in sm.attempts],
        "faults": [
            {"rule_id": f.rule_id, "cue": f.cue, "severity": f.severity,
             "t_s": num(result.rel_s(f.t_ns)), "frame": f.frame_index, "value": num(f.value),
             "threshold": num(f.threshold), "rep": f.rep_index}
            for f in result.faults
        ],
        "not_assessed": list(sm.not_assessed),
        "cues": [
            {"t_s": num(c.t_s), "fault_t_s": num(c.fault_t_s), "text": c.text,
             "rule_id": c.rule_id, "priority": c.priority, "simulated": result.simulated_cues}
            for c in result.cues
        ],
        "frames": result.frames,
        "pose_frames": result.pose_frames,
        "fps": num(result.fps, 4),
        "duration_s": num(result.duration_s),
        "view": result.view,
        "backend": result.backend,
        "model_sha256": result.model_sha256,
        "mean_score": num(sm.mean_score, 1),
        "tempo_slope_s_per_rep": num(sm.tempo_slope_s_per_rep),
        "rom_slope_deg_per_rep": num(sm.rom_slope_deg_per_rep),
    }
