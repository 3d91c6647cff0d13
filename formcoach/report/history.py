"""Progress across sessions: ROM per set against the minimal detectable change (MDC95)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.io_utils import atomic_write_text
from formcoach.report import mdc as mdc_mod
from formcoach.report.html import _e, _f, page
from formcoach.report.plots import history_plot_svg
from formcoach.store import Store


@dataclass
class SetSummary:
    """One stored set, reduced to what the progress report compares (degrees, 0-100 score)."""

    set_id: int
    started_at: str
    status: str
    source: str
    reps: int
    rom: list[float]
    joint_rom: dict[str, list[float]] = field(default_factory=dict)
    scores: list[float] = field(default_factory=list)
    coverage_pct: float | None = None

    @property
    def mean_rom(self) -> float:
        a = [x for x in self.rom if x is not None and math.isfinite(x)]
        return float(np.mean(a)) if a else float("nan")

    @property
    def sd_rom(self) -> float:
        a = [x for x in self.rom if x is not None and math.isfinite(x)]
        return float(np.std(a, ddof=1)) if len(a) >= 2 else float("nan")


@dataclass
class Change:
    """Change of one metric's set mean against the baseline (first) set."""

    delta: float
    mdc: float

    @property
    def verdict(self) -> str:
        if not (math.isfinite(self.delta) and math.isfinite(self.mdc)):
            return "n/a"
        if abs(self.delta) <= self.mdc:
            return "no detectable change"
        return "larger ROM (beyond MDC)" if self.delta > 0 else "smaller ROM (beyond MDC)"


def summaries_from_store(store: Store, exercise: str, since: str | None = None) -> list[SetSummary]:
    """Per-set summaries of ``exercise`` from a :class:`~formcoach.store.Store`, oldest first."""
    out = []
    for s in store.list_sets(exercise=exercise, since=since):
        reps = store.reps(s["id"])
        joint: dict[str, list[float]] = {}
        for r in reps:
            for name, jr in (r["metrics"].get("rom") or {}).items():
                v = jr.get("excursion_deg") if isinstance(jr, dict) else None
                joint.setdefault(name, []).append(float(v) if v is not None else float("nan"))
        out.append(SetSummary(
            set_id=int(s["id"]), started_at=str(s["started_at"]), status=str(s["status"]),
            source=Path(s["source_path"]).name if s["source_path"] else "",
            reps=len(reps),
            rom=[float(r["rom_deg"]) if r["rom_deg"] is not None else float("nan") for r in reps],
            joint_rom=joint,
            scores=[float(r["score"]) for r in reps if r["score"] is not None],
            coverage_pct=s["coverage_pct"],
        ))
    return out


def _metric_rows(sets: list[SetSummary], key: str | None) -> tuple[list[list[float]], float, str]:
    vals = [s.rom if key is None else s.joint_rom.get(key, []) for s in sets]
    sem, why = mdc_mod.choose_sem(vals)
    return vals, mdc_mod.mdc95(sem), why


def _plan_box(plan: list[str] | None, rows: list[dict[str, Any]]) -> str:
    """The next session (``formcoach plan``'s lines: the decision, then one line per reason)
    and each set's velocity loss and reps in reserve."""
    if not plan:
        return ""
    items = "".join(f"<li>{_e(line.strip().lstrip('- '))}</li>" for line in plan[1:])
    out = [f"<div class=coverage><b>{_e(plan[0])}</b><ul>{items}</ul></div>"]
    if rows:
        def cell(r: dict[str, Any]) -> str:
            if r["rir_marked"] is not None:
                return "to failure" if r["to_failure"] else f"{r['rir_marked']} (marked)"
            if r["rir_estimate"] is None:
                return "-"
            ext = " *" if r["rir_extrapolated"] else ""
            return f"{r['rir_estimate']} ({r['rir_low']:.0f}-{r['rir_high']:.0f}){ext}"

        body = "".join(
            f"<tr><td>{r['set_id']}</td><td class=l>{_e(str(r['started_at'])[:16])}</td>"
            f"<td>{r['reps']}</td><td>{r['fault_reps']}</td>"
            f"<td>{'-' if r['final_vl_pct'] is None else r['final_vl_pct']}</td>"
            f"<td>{_e(cell(r))}</td></tr>" for r in rows)
        out.append("<table><tr><th>set</th><th class=l>date (UTC)</th><th>reps</th>"
                   "<th>reps with a fault</th><th>final velocity loss (%)</th>"
                   f"<th>reps in reserve (90%)</th></tr>{body}</table>"
                   "<p class=muted>Reps in reserve: as marked (<code>formcoach mark</code>), "
                   "else estimated from your own velocity-loss profile; * outside the velocity "
                   "loss of your marked sets.</p>")
    return "\n".join(out)


def build_history_html(sets: list[SetSummary], exercise: str, plan: list[str] | None = None,
                       plan_rows: list[dict[str, Any]] | None = None) -> str:
    """The progress page (see :func:`write_history_report`); with ``plan`` (the lines of
    :meth:`formcoach.planning.Plan.lines`), the next session and each set's reps in reserve
    (``plan_rows``: :func:`formcoach.planning.set_rows`)."""
    title = f"formcoach progress: {exercise}"
    parts = [f"<h1>{_e(title)}</h1>", _plan_box(plan, plan_rows or [])]
    if not sets:
        parts.append("<p>No sets of this exercise are stored yet. Analyse a video with "
                     "<code>formcoach analyze VIDEO --exercise ...</code> first.</p>")
        return page(title, "\n".join(parts))
    _, mdc, why = _metric_rows(sets, None)
    sem = mdc / (1.96 * math.sqrt(2.0))
    base = sets[0].mean_rom
    parts.append(
        f"<p>{len(sets)} sets from {_e(sets[0].started_at[:10])} to "
        f"{_e(sets[-1].started_at[:10])}. Baseline = the first set.</p>"
        "<p><b>Minimal detectable change.</b> A change of a set's mean ROM is marked only when it "
        f"exceeds MDC95 = 1.96 &times; &radic;2 &times; SEM = <b>{_f(mdc)} deg</b>, with "
        f"{_e(why)}. Smaller differences are within measurement noise.</p>"
    )
    parts.append(history_plot_svg(
        [s.started_at[:16].replace("T", " ") for s in sets], [s.mean_rom for s in sets],
        [s.sd_rom for s in sets], mdc, "mean rep ROM (deg)",
    ))
    joints = sorted({k for s in sets for k in s.joint_rom})
    jmdc = {j: _metric_rows(sets, j)[1] for j in joints}
    head = ("<tr><th>set</th><th class=l>date (UTC)</th><th class=l>source</th>"
            "<th class=l>status</th><th>reps</th><th>ROM mean &plusmn; SD (deg)</th>"
            "<th>&Delta; vs baseline (deg)</th><th class=l>change</th>"
            + "".join(f"<th>{_e(j.replace('_', ' '))} (deg)</th>" for j in joints)
            + "<th>mean score</th><th>coverage (%)</th></tr>")
    rows = []
    for s in sets:
        ch = Change(s.mean_rom - base, mdc)
        cls = "" if ch.verdict in ("n/a", "no detectable change") else (
            " good" if ch.delta > 0 else " bad")
        jcells = []
        for j in joints:
            v = [x for x in s.joint_rom.get(j, []) if math.isfinite(x)]
            b = [x for x in sets[0].joint_rom.get(j, []) if math.isfinite(x)]
            m = float(np.mean(v)) if v else float("nan")
            d = m - float(np.mean(b)) if b and v else float("nan")
            mark = "*" if math.isfinite(d) and abs(d) > jmdc[j] else ""
            jcells.append(f"<td>{_f(m)} ({'+' if d >= 0 else ''}{_f(d)}){mark}</td>")
        rows.append(
            f"<tr><td>{s.set_id}</td><td class=l>{_e(s.started_at[:16].replace('T', ' '))}</td>"
            f"<td class=l>{_e(s.source)}</td><td class=l>{_e(s.status)}</td><td>{s.reps}</td>"
            f"<td>{_f(s.mean_rom)} &plusmn; {_f(s.sd_rom)}</td><td>{_f(ch.delta)}</td>"
            f"<td class=\"l{cls}\">{_e(ch.verdict)}</td>{''.join(jcells)}"
            f"<td>{_f(float(np.mean(s.scores)) if s.scores else float('nan'), 0)}</td>"
            f"<td>{_f(s.coverage_pct)}</td></tr>"
        )
    parts.append(f"<table>{head}{''.join(rows)}</table>")
    if joints:
        parts.append(
            "<p class=muted>Joint columns: set mean excursion (change vs baseline); * marks a "
            "change beyond that joint's own MDC95 ("
            + ", ".join(f"{_e(j)} {_f(m)} deg" for j, m in jmdc.items()) + ").</p>"
        )
    parts.append(
        f"<p class=muted>SEM used: {_f(sem)} deg. The data SEM is the pooled within-set SD of "
        "rep ROM; it includes true rep-to-rep variation and not day-to-day camera placement, "
        "which is why an assumed floor from clinical goniometry also applies. Interrupted sets "
        "count with the reps they saved.</p>"
    )
    return page(title, "\n".join(parts))


def write_history_report(
    sets: list[SetSummary], exercise: str, out_path: str | os.PathLike[str],
    plan: list[str] | None = None, plan_rows: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the self-contained progress report (atomic, mode 0600)."""
    out = Path(out_path)
    atomic_write_text(out, build_history_html(sets, exercise, plan, plan_rows))
    return out
