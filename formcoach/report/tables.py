"""CSV exports: one row per rep (columns in docs/csv_columns.md) and one row per frame."""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.coach.result import SessionResult
from formcoach.io_utils import atomic_write_text
from formcoach.metrics import SCORE_WEIGHTS, RepMetrics, SetMetrics
from formcoach.rules.hold import HoldInterval
from formcoach.types import NS_PER_S

#: Fixed leading columns of the per-rep CSV, in order (documented in docs/csv_columns.md).
REP_COLUMNS: tuple[str, ...] = (
    "exercise", "rep", "partial", "side", "view", "judged", "not_judged",
    "start_frame", "bottom_frame", "end_frame",
    "start_s", "bottom_s", "end_s", "duration_s", "eccentric_s", "pause_s", "concentric_s",
    "rom_deg", "peak_velocity_dps", "max_asymmetry_pct", "n_faults", "faults", "score",
    *(f"score_{k}" for k in SCORE_WEIGHTS),
    "velocity_point", "mean_velocity_bhps", "peak_velocity_bhps", "mean_velocity_mps",
    "peak_velocity_mps", "velocity_loss_pct", "velocity_movements",
)
#: Per-joint column patterns, repeated for each metric joint / joint base (docs/csv_columns.md).
JOINT_COLUMN_PATTERNS: tuple[str, ...] = ("{joint}_min_deg", "{joint}_max_deg", "{joint}_rom_deg")
ASYM_COLUMN_PATTERN = "asym_{base}_pct"

#: Leading columns of the per-frame CSV; one ``<feature>_deg`` column per feature follows.
FRAME_COLUMNS: tuple[str, ...] = ("frame", "source_frame", "t_s", "pose", "rep", "signal_deg")


#: Leading characters that make a spreadsheet read a cell as a formula (CSV injection).
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(cell: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: text starting with ``= + - @``, tab or
    CR gets a leading ``'``. Numbers (also ``-3.2`` as text) and non-text cells are unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_CHARS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _writerow(w: Any, row: Sequence[Any]) -> None:
    w.writerow([safe_cell(c) for c in row])


def _num(x: Any, nd: int = 3) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return "1" if x else "0"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    xf = float(x)
    return f"{xf:.{nd}f}" if math.isfinite(xf) else ""


def _asym_bases(joints: Sequence[str]) -> list[str]:
    return sorted(
        {j[5:] for j in joints if j.startswith("left_") and f"right_{j[5:]}" in joints}
    )


def rep_columns(joints: Sequence[str]) -> list[str]:
    """All per-rep CSV column names for these metric joints, in file order."""
    cols = list(REP_COLUMNS)
    for j in joints:
        cols.extend(p.format(joint=j) for p in JOINT_COLUMN_PATTERNS)
    cols.extend(ASYM_COLUMN_PATTERN.format(base=b) for b in _asym_bases(joints))
    return cols


def rep_row(exercise: str, r: RepMetrics, joints: Sequence[str]) -> list[str]:
    """One per-rep CSV row (NaN written as an empty cell)."""
    comps = r.score_components
    row = [
        exercise, str(r.index + 1), _num(r.partial), r.side, r.view, _num(r.judged),
        ";".join(r.not_judged), _num(r.start_frame),
        _num(r.bottom_frame), _num(r.end_frame), _num(r.start_s), _num(r.bottom_s), _num(r.end_s),
        _num(r.duration_s), _num(r.eccentric_s), _num(r.pause_s), _num(r.concentric_s),
        _num(r.rom_deg, 2), _num(r.peak_velocity_dps, 1), _num(r.max_asymmetry_pct, 2),
        str(len(r.faults)),
        ";".join(f"{f.rule_id}@{f.t_ns / NS_PER_S:.3f}s#{f.frame_index}" for f in r.faults),
        _num(r.score, 1),
        *(_num(comps[k].points, 2) if k in comps else "" for k in SCORE_WEIGHTS),
        r.velocity_point, _num(r.mean_velocity_bhps, 3), _num(r.peak_velocity_bhps, 3),
        _num(r.mean_velocity_mps, 3), _num(r.peak_velocity_mps, 3),
        _num(r.velocity_loss_pct, 1),
        _num(r.velocity_movements) if r.velocity_point else "",
    ]
    for j in joints:
        jr = r.rom.get(j)
        row.extend(
            [_num(jr.min_deg, 2), _num(jr.max_deg, 2), _num(jr.excursion_deg, 2)] if jr else ["", "", ""]
        )
    row.extend(_num(r.asymmetry_pct.get(b), 2) for b in _asym_bases(joints))
    return row


def rep_csv_text(set_metrics: SetMetrics) -> str:
    """The per-rep CSV as text (header + one row per rep)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    hold = math.isfinite(set_metrics.held_s)
    _writerow(w, rep_columns(set_metrics.joints) + (list(HOLD_COLUMNS) if hold else []))
    for r in set_metrics.reps:
        _writerow(w, rep_row(set_metrics.exercise, r, set_metrics.joints)
                  + (_hold_cells(set_metrics, r) if hold else []))
    return buf.getvalue()


#: Trailing per-rep columns of a hold (plank): seconds held in position and in good form.
HOLD_COLUMNS: tuple[str, ...] = ("held_s", "good_form_s")


def _hold_cells(sm: SetMetrics, r: RepMetrics) -> list[str]:
    """The hold timer's seconds for the hold that overlaps rep ``r`` most (empty if none)."""
    def overlap(h: HoldInterval) -> int:
        return min(h.end_frame, r.end_frame) - max(h.start_frame, r.start_frame)

    best = max(sm.holds, key=overlap, default=None)
    if best is None or overlap(best) < 0:
        return ["", ""]
    return [_num(best.held_s), _num(best.good_s)]


def write_csv(set_metrics: SetMetrics, out_path: str | os.PathLike[str]) -> Path:
    """Write the per-rep metrics CSV (atomic, mode 0600). Columns: docs/csv_columns.md."""
    out = Path(out_path)
    atomic_write_text(out, rep_csv_text(set_metrics))
    return out


def write_frames_csv(result: SessionResult, out_path: str | os.PathLike[str]) -> Path:
    """Write one row per analysed frame: time, pose found, rep number, signal and every feature.

    Columns: :data:`FRAME_COLUMNS`, then ``<feature>`` for each feature (sorted; degrees for
    joint angles, unitless ratios otherwise), then ``faults`` (rule ids firing on that frame).
    """
    sig = np.asarray(result.signal, dtype=np.float64)
    n = len(sig)
    off = result.frame_offset
    t = (np.asarray(result.t_ns, dtype=np.int64) - result.start_ns) / NS_PER_S
    found = (np.isfinite(result.poses[:, :, 0]).any(axis=1) if len(result.poses) == n
             else np.isfinite(sig))
    rep_of = np.zeros(n, dtype=np.int64)
    for r in result.metrics.reps:
        rep_of[max(r.start_frame - off, 0) : min(r.end_frame - off, n - 1) + 1] = r.index + 1
    fault_at: dict[int, list[str]] = {}
    for f in result.faults:
        fault_at.setdefault(f.frame_index - off, []).append(f.rule_id)
    names = sorted(result.features)
    feats = [np.asarray(result.features[k], dtype=np.float64) for k in names]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    _writerow(w, [*FRAME_COLUMNS, *names, "faults"])
    for i in range(n):
        _writerow(w, [
            i, i + off, _num(t[i], 4), _num(bool(found[i])),
            rep_of[i] or "", _num(sig[i], 2), *(_num(a[i], 2) for a in feats),
            ";".join(fault_at.get(i, [])),
        ])
    out = Path(out_path)
    atomic_write_text(out, buf.getvalue())
    return out
