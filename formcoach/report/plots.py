"""Inline SVG plots for the reports (matplotlib, no pyplot state, text as paths: no fonts needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from formcoach.coach.result import SessionResult
from formcoach.metrics import SetMetrics, rom_label
from formcoach.types import NS_PER_S

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _svg(fig: Any) -> str:
    """Render a matplotlib Figure to an SVG string without the XML prolog."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "formcoach"}):
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buf.getvalue()
    i = text.find("<svg")
    return text[i:] if i >= 0 else text


def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=96)


def signal_label(result: SessionResult) -> str:
    """Legend label of the counting signal: ``rep signal``, or for a hold (a plank) what it
    measures and that it is what the hold is timed on (``torso lean (hold signal)``)."""
    if result.exercise.kind != "hold":
        return "rep signal"
    return f"{rom_label(result.exercise.count.signal)} (hold signal)"


def angle_plot_svg(result: SessionResult, cue_times_s: Sequence[float] = ()) -> str:
    """Angle (deg) vs time (s) of the counting signal and the metric joints, rep spans (true
    boundaries), faults (red markers) and spoken cues (ticks along the top)."""
    return _svg(angle_plot_figure(result, cue_times_s))


def angle_plot_figure(result: SessionResult, cue_times_s: Sequence[float] = ()) -> Any:
    """The matplotlib Figure :func:`angle_plot_svg` renders."""
    set_metrics = result.metrics
    joints = set_metrics.joints
    faults = result.faults
    sig = np.asarray(result.signal, dtype=np.float64)
    t = (np.asarray(result.t_ns, dtype=np.int64) - result.start_ns) / NS_PER_S
    fig = _figure(10.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    for k, rm in enumerate(set_metrics.reps):
        ax.axvspan(rm.start_s, rm.end_s, color="#2ca02c" if k % 2 == 0 else "#98df8a", alpha=0.12)
        ax.axvline(rm.start_s, color="#555", lw=0.6, ls="--")
        ax.axvline(rm.end_s, color="#555", lw=0.6, ls="--")
        ax.text(
            (rm.start_s + rm.end_s) / 2, 1.0, f"{rm.index + 1}", transform=ax.get_xaxis_transform(),
            ha="center", va="bottom", fontsize=8,
        )
    for i, name in enumerate(joints):
        y = np.asarray(result.features[name], dtype=np.float64)
        ax.plot(t, y, lw=1.0, color=_COLORS[i % len(_COLORS)], label=rom_label(name))
    ax.plot(t, sig, lw=1.8, color="black", label=signal_label(result))
    if faults:
        n = len(sig)
        ft = [result.rel_s(f.t_ns) for f in faults]
        off = result.frame_offset
        fy = [sig[min(max(f.frame_index - off, 0), n - 1)] if n else np.nan for f in faults]
        fy = [v if np.isfinite(v) else np.nanmin(sig) if np.isfinite(sig).any() else 0 for v in fy]
        ax.plot(ft, fy, "v", color="#d62728", ms=8, label="fault", zorder=5)
    if len(cue_times_s):
        ax.plot(
            list(cue_times_s), [0.97] * len(cue_times_s), "|", color="#d62728", ms=10,
            transform=ax.get_xaxis_transform(), label="cue",
        )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("angle (deg)")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    return fig


def rep_trend_svg(set_metrics: SetMetrics) -> str:
    """ROM (deg) and duration (s) per rep: the fatigue trend, with least-squares lines."""
    reps = set_metrics.reps
    x = np.array([r.index + 1 for r in reps], dtype=np.float64)
    rom = np.array([r.rom_deg for r in reps], dtype=np.float64)
    dur = np.array([r.duration_s for r in reps], dtype=np.float64)
    fig = _figure(10.0, 2.6)
    ax1 = fig.add_subplot(1, 2, 1)
    ax2 = fig.add_subplot(1, 2, 2)
    for ax, y, lab, slope, unit in (
        (ax1, rom, "ROM (deg)", set_metrics.rom_slope_deg_per_rep, "deg"),
        (ax2, dur, "duration (s)", set_metrics.tempo_slope_s_per_rep, "s"),
    ):
        ax.bar(x, np.nan_to_num(y), color="#9ecae1")
        if np.isfinite(slope):
            ok = np.isfinite(y)
            c = np.nanmean(y[ok]) - slope * x[ok].mean()
            ax.plot(x, c + slope * x, color="#d62728", lw=1.5, label=f"{slope:+.2f} {unit}/rep")
            ax.legend(fontsize=8, frameon=False)
        ax.set_xlabel("rep")
        ax.set_ylabel(lab)
        ax.set_xticks(x)
        ax.grid(alpha=0.3, axis="y")
    return _svg(fig)


def history_plot_svg(
    dates: Sequence[str], means: Sequence[float], sds: Sequence[float], mdc: float, ylabel: str
) -> str:
    """Mean ROM per session (with +-1 SD bars) and the baseline +- MDC band."""
    x = np.arange(len(means), dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    fig = _figure(10.0, 3.2)
    ax = fig.add_subplot(1, 1, 1)
    if len(m) and np.isfinite(m[0]) and np.isfinite(mdc):
        ax.axhspan(m[0] - mdc, m[0] + mdc, color="#bbbbbb", alpha=0.35, label="baseline +- MDC95")
    ax.errorbar(x, m, yerr=np.nan_to_num(np.asarray(sds, dtype=np.float64)), fmt="o-", capsize=3)
    ax.set_xticks(x)
    ax.set_xticklabels(list(dates), rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)


def velocity_loss_svg(set_metrics: SetMetrics) -> str:
    """Velocity loss (%) per rep against the set's best, with the ``--stop-at-vl`` threshold
    (dashed) and the rep the stop cue was decided on (red ring)."""
    reps = set_metrics.reps
    x = np.array([r.index + 1 for r in reps], dtype=np.float64)
    vl = np.array([r.velocity_loss_pct for r in reps], dtype=np.float64)
    fig = _figure(10.0, 2.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, vl, "o-", color=_COLORS[0], label="velocity loss")
    if np.isfinite(set_metrics.stop_at_vl_pct):
        ax.axhline(set_metrics.stop_at_vl_pct, color="#d62728", lw=1.0, ls="--",
                   label=f"stop at {set_metrics.stop_at_vl_pct:.0f}%")
    k = set_metrics.stop_rep - 1
    if 0 <= k < len(reps):
        ax.plot([x[k]], [vl[k]], "o", ms=12, mfc="none", mec="#d62728", mew=2,
                label=f"that's the set (rep {set_metrics.stop_rep})")
    ax.set_xlabel("rep")
    ax.set_ylabel("velocity loss (%)")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _svg(fig)
