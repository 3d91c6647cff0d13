"""The ``analyze --json`` document of a :class:`~formcoach.coach.result.SessionResult`.

Every number comes from ``result.metrics`` (the per-rep metrics computed once by the session),
so the JSON, CSV, report, terminal and database show the same ROM, durations and phases.
"""

from __future__ import annotations

import math

import numpy as np

from formcoach.coach.result import SessionResult
from formcoach.metrics import BOTH_SIDES_VIEWS, RepMetrics, angle_label, rom_label
from formcoach.rules.engine import Rule
from formcoach.rules.explain import (
    explain_fault,
    feature_unit,
    rule_reason,
    rules_by_id,
    worst_frame,
)
from formcoach.types import Attempt, Fault

__all__ = ["JsonValue", "angle_series_document", "attempt_document", "coverage_document", "fatigue_document",
           "fault_documents", "fault_worst", "hold_document", "num", "rep_document",
           "session_document", "velocity_document"]

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
        "velocity_point": rm.velocity_point,
        "mean_velocity_bhps": num(rm.mean_velocity_bhps),
        "peak_velocity_bhps": num(rm.peak_velocity_bhps),
        "mean_velocity_mps": num(rm.mean_velocity_mps),
        "peak_velocity_mps": num(rm.peak_velocity_mps),
        "velocity_loss_pct": num(rm.velocity_loss_pct, 1),
        **({"velocity_movements": rm.velocity_movements} if rm.velocity_movements > 1 else {}),
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
        "judged_performed": sm.judged_performed,
        "technique_score": num(sm.technique_score),
        "asymmetry_views": list(BOTH_SIDES_VIEWS),
        "not_counted": [
            {"start_s": num(result.rel_s(n.start_ns)), "end_s": num(result.rel_s(n.end_ns)),
             "start_frame": n.start_frame, "end_frame": n.end_frame, "reason": n.reason,
             "text": n.text}
            for n in result.not_counted
        ],
    }


def session_document(result: SessionResult) -> dict[str, JsonValue]:
    """The whole session as plain JSON values."""
    ex = result.exercise
    sm = result.metrics
    hold = sm.held_s if ex.kind == "hold" else None
    return {
        "source": result.source,
        "exercise": ex.id,
        "kind": ex.kind,
        "signal": ex.count.signal,
        "signal_label": rom_label(ex.count.signal),
        "reps": len(sm.reps),
        "hold_s": num(hold),
        "coverage": coverage_document(result),
        **hold_document(result),
        "rep_events": [rep_document(r) for r in sm.reps],
        "attempt_events": [attempt_document(a, result) for a in sm.attempts],
        "faults": fault_documents(result),
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
        "model": result.model,
        "model_sha256": result.model_sha256,
        "mean_score": num(sm.mean_score, 1),
        "tempo_slope_s_per_rep": num(sm.tempo_slope_s_per_rep),
        "rom_slope_deg_per_rep": num(sm.rom_slope_deg_per_rep),
        "velocity": velocity_document(result),
        "fatigue": fatigue_document(result),
    }


#: Most frames kept in a set's angle series (a longer session is thinned evenly).
MAX_ANGLE_FRAMES = 20_000


def angle_series_document(result: SessionResult,
                          max_frames: int = MAX_ANGLE_FRAMES) -> dict[str, JsonValue]:
    """The set's per-frame joint angles, for the workspace's angle plot.

    Returns:
        ``{"t_s": [T], "signal": name, "series": [{"name", "label", "deg": [T]}]}``: frame
        times in s from the session's first frame (the clock of ``rep_events``' ``start_s``,
        3 decimals), then the counting signal and each metric joint (``metrics.joints``), deg
        (1 decimal; null where unmeasured). Sessions longer than ``max_frames`` frames keep
        every k-th frame.
    """
    t_ns = np.asarray(result.t_ns, dtype=np.int64)
    step = max(1, math.ceil(len(t_ns) / max_frames)) if max_frames > 0 else 1
    idx = np.arange(0, len(t_ns), step)

    def degs(a: np.ndarray) -> list[JsonValue]:
        return [num(float(v), 1) for v in np.asarray(a, dtype=np.float64)[idx]]

    sig = result.exercise.count.signal
    series: list[JsonValue] = [{"name": sig, "label": f"{angle_label(sig)} (counting signal)",
                                "deg": degs(result.signal)}]
    for name in result.metrics.joints:
        if name in result.features:
            series.append({"name": name, "label": angle_label(name),
                           "deg": degs(result.features[name])})
    return {"t_s": [num(result.rel_s(int(t))) for t in t_ns[idx]], "signal": sig,
            "series": series}


def fatigue_document(result: SessionResult) -> dict[str, JsonValue] | None:
    """The set's fatigue note (:mod:`formcoach.fatigue`): reps compared per third, what was
    checked, and each sign past its noise with its evidence (null for a hold)."""
    note = result.metrics.fatigue
    if note is None:
        return None
    return {
        "text": note.text,
        "reps": note.reps,
        "third": note.third,
        "checked": list(note.checked),
        "signs": [
            {"kind": s.kind, "rule_id": s.rule_id or None, "first": num(s.first),
             "last": num(s.last), "change": num(s.change), "noise": num(s.noise),
             "evidence": s.evidence}
            for s in note.signs
        ],
    }


def velocity_document(result: SessionResult) -> dict[str, JsonValue]:
    """The set's velocity loss: moving point, best rep's mean velocity, the ``--stop-at-vl``
    threshold and the rep "that's the set" was decided on (null: off / never)."""
    sm = result.metrics
    return {
        "point": result.exercise.velocity_point or None,
        "best_mean_velocity_bhps": num(sm.best_velocity_bhps),
        "height_cm": num(sm.height_cm, 1),
        "stop_at_vl_pct": num(sm.stop_at_vl_pct, 1),
        "stop_rep": sm.stop_rep or None,
    }


def fault_documents(result: SessionResult) -> list[JsonValue]:
    """Every fault with its explanation: the measured value against the limit (units), the
    rep, the time, the frame where it was worst, and the rule's reason."""
    rules = rules_by_id(result.exercise)
    out: list[JsonValue] = []
    for f in result.faults:
        rule = rules.get(f.rule_id)
        worst = fault_worst(result, f, rule)
        frame, value = worst if worst is not None else (f.frame_index, f.value)
        t_s = result.rel_s(int(result.t_ns[frame - result.frame_offset])) if worst else \
            result.rel_s(f.t_ns)
        out.append({
            "rule_id": f.rule_id, "cue": f.cue, "severity": f.severity,
            "t_s": num(result.rel_s(f.t_ns)), "frame": f.frame_index, "value": num(f.value),
            "threshold": num(f.threshold), "rep": f.rep_index,
            "feature": rule.feature if rule else None,
            "op": rule.op if rule else None,
            "unit": feature_unit(rule.feature) if rule else None,
            "explanation": explain_fault(f, rule),
            "reason": rule_reason(rule) if rule else None,
            "worst_frame": frame, "worst_t_s": num(t_s), "worst_value": num(value),
        })
    return out


def hold_document(result: SessionResult) -> dict[str, JsonValue]:
    """For a hold: time held in position, time in good form, and each hold (empty for reps)."""
    if result.exercise.kind != "hold":
        return {}
    sm = result.metrics
    return {
        "held_s": num(sm.held_s),
        "good_form_s": num(sm.good_form_s),
        "holds": [
            {"start_s": num(result.rel_s(h.start_ns)), "end_s": num(result.rel_s(h.end_ns)),
             "start_frame": h.start_frame, "end_frame": h.end_frame, "held_s": num(h.held_s),
             "good_form_s": num(h.good_s)}
            for h in sm.holds
        ],
    }


def fault_worst(result: SessionResult, fault: Fault, rule: Rule | None) -> tuple[int, float] | None:
    """(stream frame, value) where ``fault`` was worst, from the result's poses (see
    :func:`~formcoach.rules.explain.worst_frame`); None when it has no single worst frame."""
    if rule is None:
        return None
    rep = next((r for r in result.reps if r.index == fault.rep_index), None)
    return worst_frame(rule, fault, result.poses, result.fps, result.frame_offset, rep,
                       result.back_bulge)
