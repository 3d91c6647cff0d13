"""A patient's summary for the medical record as PDF (fpdf2): prescriptions with adherence,
the ROM trend per exercise against target and MDC95, and every set with pain and effort.

fpdf2's built-in Helvetica is used (no font file to ship or find), so text is Latin-1: any
other character is printed as ``?``.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

from formcoach.errors import BackendUnavailable
from formcoach.serve import data
from formcoach.store import Store

__all__ = ["patient_pdf"]


def _t(x: object) -> str:
    return str(x).encode("latin-1", "replace").decode("latin-1")


def _n(x: Any, nd: int = 1) -> str:
    return f"{float(x):.{nd}f}" if isinstance(x, int | float) and math.isfinite(x) else "-"


def patient_pdf(store: Store, patient_id: int, today: date) -> bytes:
    """The PDF bytes of one patient's summary up to ``today``.

    Raises:
        BackendUnavailable: fpdf2 is not installed.
        KeyError: no such patient.
    """
    try:
        from fpdf import FPDF
    except ImportError:
        raise BackendUnavailable("the PDF summary needs fpdf2: pip install 'formcoach[serve]'"
                                 ) from None
    p = store.patient(patient_id)
    if p is None:
        raise KeyError(patient_id)
    sets = store.patient_sets(patient_id)
    total, per = data.patient_adherence(store, patient_id, today, sets)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_creator("formcoach")
    pdf.set_title(_t(f"formcoach summary: {p.name}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _t(f"{p.name}: exercise summary"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 6, _t(f"Up to {today.isoformat()}. Adherence this week {total.week_text}, "
                      f"overall {total.total_text} sessions."), new_x="LMARGIN", new_y="NEXT")
    if p.notes:
        pdf.multi_cell(0, 5, _t(f"Notes: {p.notes}"), new_x="LMARGIN", new_y="NEXT")

    def table(head: list[str], rows: list[list[str]], widths: list[float]) -> None:
        pdf.set_font("Helvetica", "B", 9)
        for h, w in zip(head, widths, strict=True):
            pdf.cell(w, 6, _t(h), border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 9)
        for r in rows:
            for v, w in zip(r, widths, strict=True):
                pdf.cell(w, 5.5, _t(v)[:40], border=1)
            pdf.ln()

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, _t(text), new_x="LMARGIN", new_y="NEXT")

    rxs = store.prescriptions(patient_id)
    heading("Prescriptions")
    table(["#", "exercise", "dose", "ROM target", "from", "to", "this week", "overall"],
          [[str(rx.id), rx.exercise, rx.describe(),
            "-" if rx.rom_target_deg is None else f"{_n(rx.rom_target_deg, 0)} deg", rx.start_date,
            rx.end_date or "-", per[rx.id].week_text, per[rx.id].total_text] for rx in rxs],
          [10, 25, 35, 20, 22, 22, 20, 30])
    heading("Range of motion (mean per set, deg)")
    holds_only = {s["exercise"] for s in sets if data.held_s(s) is not None}
    for ex in sorted({s["exercise"] for s in sets} - holds_only):  # a hold has no ROM
        pts, mdc, _why = data.rom_trend(store, sets, ex)
        if not pts:
            continue
        target = next((rx.rom_target_deg for rx in rxs if rx.exercise == ex
                       and rx.rom_target_deg is not None), None)
        first, last = pts[0], pts[-1]
        change = last.mean - first.mean
        verdict = ("no detectable change" if not math.isfinite(mdc) or abs(change) <= mdc
                   else "larger ROM (beyond MDC95)" if change > 0 else "smaller ROM (beyond MDC95)")
        pdf.set_font("Helvetica", "", 10)
        pdf.multi_cell(0, 5, _t(
            f"{ex}: {len(pts)} sets, {first.day} {first.mean:.1f} -> {last.day} {last.mean:.1f} "
            f"deg (change {change:+.1f}, MDC95 {_n(mdc)}: {verdict})"
            + (f"; target {target:g} deg" if target is not None else "")),
            new_x="LMARGIN", new_y="NEXT")
        _plot(pdf, [q.mean for q in pts], target, mdc)
    heading("Sets")
    table(["set", "recorded (UTC)", "exercise", "reps/hold", "ROM (deg)", "faults", "pain", "RPE"],
          [[f"#{s['id']}", (s["recorded_at"] or "")[:16].replace("T", " "), s["exercise"],
            str(s["rep_count"]) if (h := data.held_s(s)) is None else f"{h:.1f} s",
            _n(s["mean_rom_deg"]) if h is None else "-", str(s["fault_count"]),
            "-" if s["pain"] is None else str(s["pain"]), _n(s["rpe"])] for s in sets],
          [14, 34, 28, 14, 22, 16, 14, 14])
    pdf.ln(2)
    pdf.set_font("Helvetica", "I", 8)
    pdf.multi_cell(0, 4, _t("Measured from 2D video by formcoach (pose estimation; not a "
                            "validated clinical instrument). A session is a day with a complete "
                            "set of the prescription."), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _plot(pdf: Any, means: list[float], target: float | None, mdc: float) -> None:
    """A small line chart of ``means`` with the target (red) and the first set +- MDC95."""
    w, h = 120.0, 35.0
    x0, y0 = pdf.l_margin + 5, pdf.get_y() + 2
    vals = [*means] + ([target] if target is not None else [])
    if math.isfinite(mdc):
        vals += [means[0] - mdc, means[0] + mdc]
    lo, hi = min(vals) - 2, max(vals) + 2

    def y(v: float) -> float:
        return y0 + h * (hi - v) / (hi - lo)

    def x(i: int) -> float:
        return x0 + (w * i / (len(means) - 1) if len(means) > 1 else w / 2)

    pdf.set_draw_color(150, 150, 150)
    pdf.rect(x0, y0, w, h)
    if math.isfinite(mdc):
        pdf.set_fill_color(220, 220, 220)
        top, bot = y(means[0] + mdc), y(means[0] - mdc)
        pdf.rect(x0, top, w, bot - top, style="F")
    if target is not None:
        pdf.set_draw_color(192, 57, 43)
        pdf.line(x0, y(target), x0 + w, y(target))
    pdf.set_draw_color(31, 119, 180)
    for i in range(1, len(means)):
        pdf.line(x(i - 1), y(means[i - 1]), x(i), y(means[i]))
    for i, m in enumerate(means):
        pdf.circle(x=x(i), y=y(m), radius=0.9, style="D")
    pdf.set_font("Helvetica", "", 7)
    pdf.set_xy(x0 + w + 2, y0)
    pdf.cell(20, 4, f"{hi:.0f} deg")
    pdf.set_xy(x0 + w + 2, y0 + h - 4)
    pdf.cell(20, 4, f"{lo:.0f} deg")
    pdf.set_draw_color(0, 0, 0)
    pdf.set_xy(pdf.l_margin, y0 + h + 3)
