"""What the workspace pages show, computed from the store: adherence, the calendar, the ROM
trend (with the minimal detectable change), faults by type, and the rep and fault rows of a set
(from the set's saved ``analyze --json`` document, so they are the numbers the CLI printed),
and for a hold (plank) the stretches held in position in place of reps.

The plots are small hand-written SVG (presentation attributes only: the page's
Content-Security-Policy forbids inline styles, which matplotlib's SVG is made of).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup, escape

from formcoach.report import mdc as mdc_mod
from formcoach.rules.explain import fault_name
from formcoach.store import Prescription, Store

__all__ = ["Adherence", "RomPoint", "adherence", "angle_svg", "calendar_weeks", "fault_name",
           "fault_table", "held_s", "held_text", "nice_ticks", "rom_svg", "rom_trend", "set_holds",
           "set_rows"]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 x 10^k) inside ``[lo, hi]``, about ``n`` of
    them (at least the two ends when the span is tiny)."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo]
    raw = span / max(1, n)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    k = 0
    while first + k * step <= hi + 1e-9 * span:
        out.append(round(first + k * step, 6))
        k += 1
    return out or [lo, hi]


def _day(iso: str | None) -> str:
    return (iso or "")[:10]


@dataclass(frozen=True, slots=True)
class Adherence:
    """Sessions done vs prescribed (a session = a day with at least one complete set)."""

    done_week: int
    due_week: int
    done_total: int
    due_total: int

    @staticmethod
    def _pct(done: int, due: int) -> str:
        return "-" if due <= 0 else f"{min(done / due, 1.0):.0%}"

    @property
    def week_text(self) -> str:
        return f"{self.done_week}/{self.due_week}"

    @property
    def total_text(self) -> str:
        return f"{self.done_total}/{self.due_total} ({self._pct(self.done_total, self.due_total)})"

    def __add__(self, other: Adherence) -> Adherence:
        return Adherence(self.done_week + other.done_week, self.due_week + other.due_week,
                         self.done_total + other.done_total, self.due_total + other.due_total)


NO_ADHERENCE = Adherence(0, 0, 0, 0)


def adherence(rx: Prescription, set_days: Sequence[str], today: date) -> Adherence:
    """Adherence of one prescription.

    Args:
        rx: the prescription (``per_week`` sessions a week from ``start_date`` to ``end_date``).
        set_days: ISO dates of its complete sets (repeats are one session).
        today: the last day counted.

    Returns:
        this ISO week (Monday..``today``; due ``per_week`` when the prescription is active in
        the week) and overall (``per_week`` times the started weeks from the start to today or
        the end date).
    """
    start = date.fromisoformat(rx.start_date)
    end = min(today, date.fromisoformat(rx.end_date)) if rx.end_date else today
    days = {d for d in set_days if d}
    monday = today - timedelta(days=today.weekday())
    sunday = monday + timedelta(days=6)
    rx_end = date.fromisoformat(rx.end_date) if rx.end_date else None
    active_week = start <= sunday and (rx_end is None or rx_end >= monday)
    done_week = sum(1 for d in days if monday.isoformat() <= d <= today.isoformat())
    if end < start:
        return Adherence(done_week, rx.per_week if active_week else 0, 0, 0)
    weeks = math.ceil(((end - start).days + 1) / 7)
    done_total = sum(1 for d in days if start.isoformat() <= d <= end.isoformat())
    return Adherence(done_week, rx.per_week if active_week else 0, done_total,
                     rx.per_week * weeks)


def patient_adherence(store: Store, patient_id: int, today: date,
                      sets: list[dict[str, Any]] | None = None
                      ) -> tuple[Adherence, dict[int, Adherence]]:
    """The patient's adherence over every prescription, and each prescription's."""
    rows = store.patient_sets(patient_id) if sets is None else sets
    per: dict[int, Adherence] = {}
    total = NO_ADHERENCE
    for rx in store.prescriptions(patient_id):
        days = [_day(s["recorded_at"]) for s in rows
                if s["prescription_id"] == rx.id and s["status"] == "complete"]
        a = adherence(rx, days, today)
        per[rx.id] = a
        total = total + a
    return total, per


@dataclass(frozen=True, slots=True)
class CalendarDay:
    day: date
    set_ids: tuple[int, ...]
    in_month: bool = True

    @property
    def iso(self) -> str:
        return self.day.isoformat()


def calendar_weeks(sets: Sequence[dict[str, Any]], today: date, weeks: int = 6
                   ) -> list[list[CalendarDay]]:
    """The last ``weeks`` ISO weeks (Monday first, the current one last) with each day's sets."""
    by_day: dict[str, list[int]] = {}
    for s in sets:
        by_day.setdefault(_day(s["recorded_at"]), []).append(int(s["id"]))
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
    out = []
    for w in range(weeks):
        row = []
        for k in range(7):
            d = monday + timedelta(days=7 * w + k)
            row.append(CalendarDay(d, tuple(by_day.get(d.isoformat(), ())), d <= today))
        out.append(row)
    return out


@dataclass(frozen=True, slots=True)
class RomPoint:
    """One set on the ROM trend: its recording day, mean and SD of rep ROM (deg)."""

    set_id: int
    day: str
    mean: float
    sd: float
    roms: tuple[float, ...] = field(default=())


def rom_trend(store: Store, sets: Sequence[dict[str, Any]], exercise: str
              ) -> tuple[list[RomPoint], float, str]:
    """The ROM points of ``exercise`` (oldest first), MDC95 (deg) and where its SEM came from."""
    pts = []
    for s in sets:
        if s["exercise"] != exercise or s["status"] != "complete":
            continue
        roms = tuple(float(r["rom_deg"]) for r in store.reps(int(s["id"]))
                     if r["rom_deg"] is not None and math.isfinite(float(r["rom_deg"])))
        if not roms:
            continue
        mean = sum(roms) / len(roms)
        sd = math.sqrt(sum((x - mean) ** 2 for x in roms) / (len(roms) - 1)) if len(roms) > 1 \
            else 0.0
        pts.append(RomPoint(int(s["id"]), _day(s["recorded_at"]), mean, sd, roms))
    sem, why = mdc_mod.choose_sem([p.roms for p in pts])
    return pts, mdc_mod.mdc95(sem), why


def _f(x: float) -> str:
    return f"{x:.1f}"


def _y_unit(x: float, y: float, text: str, size: int = 10) -> str:
    """A y axis title, written upwards at ``(x, y)`` (viewBox units)."""
    return (f'<text class="unit" x="{_f(x)}" y="{_f(y)}" text-anchor="middle" '
            f'font-size="{size}" fill="#555" transform="rotate(-90 {_f(x)} {_f(y)})">'
            f'{escape(text)}</text>')


def rom_svg(points: Sequence[RomPoint], target: float | None, mdc: float, href: str,
            width: int = 640, height: int = 220) -> Markup:
    """Mean ROM per set (+-1 SD), the baseline +- MDC95 band (grey) and the target (dashed);
    each point links to ``href.format(set_id)``."""
    if not points:
        return Markup('<p class="muted">No analysed sets of this exercise yet.</p>')
    left, right, top, bottom = 48, 12, 12, 36
    vals = [p.mean + p.sd for p in points] + [p.mean - p.sd for p in points]
    if target is not None:
        vals.append(target)
    if math.isfinite(mdc):
        vals += [points[0].mean + mdc, points[0].mean - mdc]
    lo, hi = min(vals), max(vals)
    pad = max((hi - lo) * 0.1, 2.0)
    lo, hi = lo - pad, hi + pad
    n = len(points)

    def x(i: int) -> float:
        return left + (width - left - right) * (0.5 if n == 1 else i / (n - 1))

    def y(v: float) -> float:
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="ROM per set">']
    if math.isfinite(mdc):
        b0, b1 = y(points[0].mean + mdc), y(points[0].mean - mdc)
        parts.append(f'<rect x="{left}" y="{_f(b0)}" width="{width - left - right}" '
                     f'height="{_f(b1 - b0)}" fill="#d0d0d0" fill-opacity="0.6">'
                     f'<title>baseline +- MDC95 ({mdc:.1f} deg)</title></rect>')
    if target is not None:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{_f(y(target))}" '
                     f'y2="{_f(y(target))}" stroke="#c0392b" stroke-dasharray="6 4">'
                     f'<title>target {target:g} deg</title></line>')
    for v in nice_ticks(lo, hi):  # y axis ticks
        parts.append(f'<text x="{left - 6}" y="{_f(y(v) + 4)}" text-anchor="end" '
                     f'font-size="11" fill="#555">{v:g}</text>')
    parts.append(_y_unit(10, (top + height - bottom) / 2, "mean ROM (deg)", 11))
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{height - bottom}" '
                 'stroke="#888"/>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{_f(x(i))},{_f(y(p.mean))}"
                    for i, p in enumerate(points))
    parts.append(f'<path d="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>')
    for i, p in enumerate(points):
        cx, cy = _f(x(i)), _f(y(p.mean))
        parts.append(f'<line x1="{cx}" x2="{cx}" y1="{_f(y(p.mean + p.sd))}" '
                     f'y2="{_f(y(p.mean - p.sd))}" stroke="#1f77b4"/>')
        parts.append(
            f'<a href="{escape(href.format(p.set_id))}"><circle cx="{cx}" cy="{cy}" r="5" '
            f'fill="#1f77b4"><title>set {p.set_id}, {escape(p.day)}: {p.mean:.1f} +- '
            f'{p.sd:.1f} deg</title></circle></a>')
        if n <= 12 or i % max(1, n // 12) == 0:
            anchor = "end" if n > 1 and i == n - 1 else "start" if n > 1 and i == 0 else "middle"
            parts.append(f'<text x="{cx}" y="{height - bottom + 16}" text-anchor="{anchor}" '
                         f'font-size="10" fill="#555">{escape(p.day[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rep_bars_svg(reps: Sequence[dict[str, Any]], target: float | None = None,
                 width: int = 480, height: int = 160) -> Markup:
    """ROM of each rep as a bar; a bar carries ``data-t`` (the rep's start, s) so a click seeks
    the video there (``app.js``)."""
    roms = [r.get("rom_deg") for r in reps]
    vals = [float(v) for v in roms if isinstance(v, int | float) and math.isfinite(v)]
    if not vals:
        return Markup("")
    hi = max([*vals, target or 0.0]) * 1.1 or 1.0
    left, bottom, top = 36, 30, 14
    n = len(reps)
    bw = (width - left - 8) / n
    parts = [f'<svg class="plot" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" role="img" aria-label="ROM per rep">']
    for tick in nice_ticks(0.0, hi, 4):
        yy = top + (height - top - bottom) * (1 - tick / hi)
        parts.append(f'<text x="{left - 4}" y="{_f(yy + 4)}" text-anchor="end" font-size="10" '
                     f'fill="#555">{tick:g}</text>')
    parts.append(_y_unit(9, (top + height - bottom) / 2, "ROM (deg)"))
    parts.append(f'<text class="unit" x="{left - 4}" y="{height - 16}" text-anchor="end" '
                 'font-size="10" fill="#555">rep</text>')
    for i, r in enumerate(reps):
        v = r.get("rom_deg")
        if not isinstance(v, int | float) or not math.isfinite(v):
            continue
        h = (height - top - bottom) * float(v) / hi
        x0 = left + i * bw + bw * 0.15
        t = r.get("start_s")
        parts.append(
            f'<rect class="seek" data-t="{escape(str(t))}" x="{_f(x0)}" '
            f'y="{_f(height - bottom - h)}" width="{_f(bw * 0.7)}" height="{_f(h)}" '
            f'fill="#1f77b4"><title>rep {int(r.get("index", i)) + 1}: {float(v):.1f} deg'
            '</title></rect>')
        parts.append(f'<text x="{_f(x0 + bw * 0.35)}" y="{height - 16}" text-anchor="middle" '
                     f'font-size="10" fill="#555">{int(r.get("index", i)) + 1}</text>')
    if target is not None:
        yy = top + (height - top - bottom) * (1 - target / hi)
        parts.append(f'<line x1="{left}" x2="{width - 8}" y1="{_f(yy)}" y2="{_f(yy)}" '
                     f'stroke="#c0392b" stroke-dasharray="6 4"><title>target {target:g} deg'
                     '</title></line>')
        parts.append(f'<text x="{width - 8}" y="{_f(yy - 3)}" text-anchor="end" font-size="10" '
                     f'fill="#c0392b">target {target:g} deg</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


ANGLE_COLORS = ("#111111", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf")


def _fin(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        return None
    return float(v)


def angle_svg(angles: dict[str, Any] | None, reps: Sequence[dict[str, Any]] = (),
              faults: Sequence[dict[str, Any]] = (), width: int = 560, height: int = 230,
              max_points: int = 1500) -> Markup:
    """Joint angles (deg) vs time (s) of a set: one line per series of ``angles`` (the store's
    :meth:`~formcoach.store.Store.set_angles`), the reps shaded, faults as red marks.

    A click anywhere on the plot seeks the video to the time under the pointer (``app.js``
    maps it through ``data-t0``/``data-t1`` and the plot's x span ``data-x0``/``data-x1``,
    viewBox units); a fault mark seeks to its worst frame (``data-t``); ``#angle-cursor``
    follows the video. Lines are thinned to at most ``max_points`` vertices.
    """
    if not angles:
        return Markup('<p class="muted" id="no-angles">No joint angles saved with this set '
                      '(analysed by an older formcoach: analyse the video again).</p>')
    ts = [_fin(t) for t in angles.get("t_s") or []]
    known = [t for t in ts if t is not None]
    series = [d for d in angles.get("series") or [] if isinstance(d, dict)]
    vals = [v for d in series for v in map(_fin, d.get("deg") or []) if v is not None]
    if len(known) < 2 or not vals:
        return Markup('<p class="muted" id="no-angles">No joint angles measured in this set.'
                      '</p>')
    left, right, top, bottom = 40, 10, 10, 26
    x0, x1 = left, width - right
    t0, t1 = min(known), max(known)
    lo, hi = min(vals), max(vals)
    pad = max((hi - lo) * 0.06, 2.0)
    lo, hi = lo - pad, hi + pad

    def x(t: float) -> float:
        return x0 + (x1 - x0) * (t - t0) / (t1 - t0)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (hi - v) / (hi - lo)

    parts = [f'<svg class="plot angles" id="angles" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="joint angles over time" '
             f'data-t0="{t0:.3f}" data-t1="{t1:.3f}" data-x0="{x0}" data-x1="{x1}" '
             f'data-lo="{lo!r}" data-hi="{hi!r}" data-y0="{top}" data-y1="{height - bottom}">'
             '<title>joint angles (deg) over time: click to see that moment in the video'
             '</title>']
    for r in reps:
        a, b = _fin(r.get("start_s")), _fin(r.get("end_s"))
        if a is not None and b is not None and b > a:
            xa, xb = x(max(a, t0)), x(min(b, t1))
            parts.append(f'<rect class="span" x="{_f(xa)}" y="{top}" width="{_f(max(xb - xa, 0))}"'
                         f' height="{height - top - bottom}" fill="#2ca02c" fill-opacity="0.10"/>')
    for v in nice_ticks(lo, hi):
        parts.append(f'<text x="{x0 - 5}" y="{_f(y(v) + 4)}" text-anchor="end" font-size="10" '
                     f'fill="#555">{v:g}</text>')
    parts.append(_y_unit(9, (top + height - bottom) / 2, "angle (deg)"))
    for t in nice_ticks(t0, t1, 7):
        xt = x(t)
        anchor = "end" if xt > x1 - 12 else "middle"
        parts.append(f'<text x="{_f(xt)}" y="{height - bottom + 14}" text-anchor="{anchor}" '
                     f'font-size="10" fill="#555">{t:g} s</text>')
    parts.append(f'<line x1="{x0}" x2="{x0}" y1="{top}" y2="{height - bottom}" stroke="#888"/>')
    step = max(1, math.ceil(len(ts) / max_points))
    legend = []
    for i, d in enumerate(series):
        degs = [_fin(v) for v in d.get("deg") or []]
        color = ANGLE_COLORS[i % len(ANGLE_COLORS)]
        cmds, pen = [], False
        for j in range(0, min(len(ts), len(degs)), step):
            tj, dj = ts[j], degs[j]
            if tj is None or dj is None:
                pen = False
                continue
            cmds.append(f"{'L' if pen else 'M'}{_f(x(tj))},{_f(y(dj))}")
            pen = True
        if cmds:
            label = escape(str(d.get("label") or d.get("name") or ""))
            parts.append(f'<path class="angle" d="{" ".join(cmds)}" fill="none" '
                         f'stroke="{color}" stroke-width="{1.8 if i == 0 else 1.2}">'
                         f'<title>{label}</title></path>')
            legend.append((color, label))
    for f in faults:
        tf = _fin(f.get("worst_t_s"))
        tf = _fin(f.get("t_s")) if tf is None else tf
        if tf is None or not t0 <= tf <= t1:
            continue
        cx = x(tf)
        parts.append(f'<path class="seek fault-mark" data-t="{tf:.3f}" d="M{_f(cx - 5)},{top} '
                     f'L{_f(cx + 5)},{top} L{_f(cx)},{top + 9} Z" fill="#d62728">'
                     f'<title>{escape(fault_name(f.get("rule_id")))} at {tf:.2f} s</title>'
                     '</path>')
    parts.append(f'<line id="angle-cursor" x1="{x0}" x2="{x0}" y1="{top}" '
                 f'y2="{height - bottom}" stroke="#d62728" stroke-width="1.2"/>')
    parts.append("</svg>")
    keys = "".join(f'<span class="key"><svg width="14" height="8" aria-hidden="true"><line x1="0"'
                   f' x2="14" y1="4" y2="4" stroke="{c}" stroke-width="2"/></svg> {lab}</span>'
                   for c, lab in legend)
    return Markup("".join(parts) + f'<p class="legend muted">{keys}</p>')


def fault_table(store: Store, sets: Sequence[dict[str, Any]]
                ) -> tuple[list[str], list[tuple[str, list[int]]]]:
    """Faults by type over time: the set columns (``day #id``) and, per rule id, the count in
    each set (sets with faults or judged reps only, oldest first)."""
    cols: list[str] = []
    counts: dict[str, list[int]] = {}
    done = [s for s in sets if s["status"] == "complete"]
    for k, s in enumerate(done):
        cols.append(f"{_day(s['recorded_at'])[5:]} #{s['id']}")
        for f in store.faults(int(s["id"])):
            counts.setdefault(str(f["rule_id"]), [0] * len(done))[k] += 1
    return cols, sorted(counts.items())


def set_rows(store: Store, row: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rep and fault rows of a set: from its ``analyze --json`` document (the exact
    numbers the CLI wrote) when it was saved, else rebuilt from the rep and fault tables."""
    doc = row.get("document")
    if isinstance(doc, dict):
        return list(doc.get("rep_events") or []), list(doc.get("faults") or [])
    reps = []
    for r in store.reps(int(row["id"])):
        m = r["metrics"]
        reps.append({k: m.get(k) for k in ("index", "start_s", "bottom_s", "end_s", "duration_s",
                                            "eccentric_s", "concentric_s", "rom_deg", "side",
                                            "score", "judged")} | {"rom_deg": r["rom_deg"]})
    faults = []
    for f in store.faults(int(row["id"])):  # times as stored (the video's own clock)
        t = f["t_ns"]
        faults.append({"rule_id": f["rule_id"], "cue": f["cue"], "severity": f["severity"],
                       "t_s": None if t is None else t / 1e9, "value": f["value"],
                       "threshold": f["threshold"], "rep": f["rep_index"], "unit": None,
                       "explanation": None, "reason": None,
                       "worst_t_s": None if t is None else t / 1e9})
    return reps, faults


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    try:
        doc = json.loads(row.get("summary_json") or "{}")
    except (TypeError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def set_holds(row: dict[str, Any], faults: Sequence[dict[str, Any]] = ()
              ) -> list[dict[str, Any]] | None:
    """A hold's stretches in position (``index``, ``start_s``, ``end_s``, ``held_s``,
    ``good_s`` and the ``faults`` rule ids within it), from the set's ``analyze --json``
    document when saved, else its summary; None for a set of reps (no hold time recorded).

    ``faults``: the set's fault rows (:func:`set_rows`), matched to a hold by time.
    """
    doc = row.get("document")
    summary = _summary(row)
    if isinstance(doc, dict) and doc.get("kind") == "hold":
        spans = [(h.get("start_s"), h.get("end_s"), h.get("held_s"), h.get("good_form_s"))
                 for h in doc.get("holds") or []]
    elif summary.get("held_s") is not None:
        spans = [(_ns_s(h.get("start_ns")), _ns_s(h.get("end_ns")), h.get("held_s"), h.get("good_s"))
                 for h in summary.get("holds") or []]
    else:
        return None
    out = []
    for i, (start, end, held, good) in enumerate(spans):
        inside = sorted({str(f["rule_id"]) for f in faults
                         if start is not None and end is not None and f.get("t_s") is not None
                         and start <= float(f["t_s"]) <= end})
        out.append({"index": i, "start_s": start, "end_s": end, "held_s": held, "good_s": good,
                    "faults": inside})
    return out


def _ns_s(ns: Any) -> float | None:
    return None if ns is None else float(ns) / 1e9


def held_s(row: dict[str, Any]) -> float | None:
    """Seconds a hold set was held in position (from its summary); None for a set of reps."""
    held = _summary(row).get("held_s")
    return None if held is None else float(held)


def held_text(row: dict[str, Any]) -> str | None:
    """``"6.8 s held, 4.6 s in good form"`` for a hold set (from its summary), else None."""
    summary = _summary(row)
    held, good = summary.get("held_s"), summary.get("good_form_s")
    if held is None:
        return None
    text = f"{float(held):.1f} s held"
    return text if good is None else f"{text}, {float(good):.1f} s in good form"
