"""Per-rep and per-set metrics for a physical therapist's review.

The ONLY place metrics are computed. Pure functions over a :class:`Series` (frame timestamps
``t_ns`` ``(T,)``, the counting ``signal`` ``(T,)`` and joint-angle ``features`` ``{name: (T,)}``
in degrees) and the :class:`~formcoach.types.RepEvent` list. The session computes each rep's
metrics once, over the rep's true frames ``[start_frame, end_frame]``, and every output shows
those numbers.

Per rep (:class:`RepMetrics`): range of motion (min, max, excursion; degrees) of each metric
joint, eccentric / pause / concentric durations (s), peak angular velocity (deg/s), left/right
asymmetry (%), the faults inside the rep, and a 0-100 quality score whose components are listed
in :attr:`RepMetrics.score_components`.

Per set (:class:`SetMetrics`): rep count, fatigue trend (least-squares slope per rep of the rep
duration and ROM), pose coverage and the rules that could not be assessed from this camera view.

Score (each component scored only when it can be assessed, then rescaled to 0-100):

* ``rom`` (40 pts): the rep's signal excursion / the reference excursion (the user's baseline ROM
  if given, else the set's best full rep), capped at 1.
* ``tempo`` (20 pts): ``1 - |duration - median duration| / median duration`` (>= 2 full reps).
* ``faults`` (30 pts): minus ``FAULT_POINTS_PER_SEVERITY`` per severity point of each distinct
  rule that fired in the rep.
* ``symmetry`` (10 pts): ``1 - asymmetry / ASYMMETRY_ZERO_PCT`` (needs both sides visible).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from formcoach.fatigue import FatigueNote, fatigue_note
from formcoach.kinematics.velocity import (
    RepVelocity,
    body_height_px,
    concentric_velocity,
    even_grid,
    resample_even,
    smooth_derivative,
    smooth_window,
    velocity_loss_pct,
)
from formcoach.rules.hold import HoldInterval
from formcoach.skeleton import JOINT_TRIPLES
from formcoach.types import NS_PER_S, Attempt, Fault, RepEvent

log = logging.getLogger(__name__)

#: Score weights (points out of 100 when every component is assessable).
SCORE_WEIGHTS: dict[str, float] = {"rom": 40.0, "tempo": 20.0, "faults": 30.0, "symmetry": 10.0}
#: Fault points lost per severity point of each distinct rule that fired in a rep.
FAULT_POINTS_PER_SEVERITY = 10.0
#: Asymmetry (%) at which the symmetry component reaches 0.
ASYMMETRY_ZERO_PCT = 25.0
#: A bottom pause is the time the signal stays within this band of the rep's extreme:
#: ``max(PAUSE_BAND_MIN_DEG, PAUSE_BAND_FRAC * rep ROM)`` degrees.
PAUSE_BAND_MIN_DEG = 3.0
PAUSE_BAND_FRAC = 0.08
#: Both sides count as visible in a rep when at least this fraction of its frames has an angle.
SIDE_VISIBLE_FRAC = 0.8
#: Asymmetry is not computed when the mean excursion of the two sides is below this (degrees).
ASYMMETRY_MIN_ROM_DEG = 5.0
#: Views from which both sides of the body are measured. From the side or at 45 degrees the far
#: limb is occluded and its landmarks are the model's guess, so left/right asymmetry is not
#: measured there (NaN) and does not enter the score.
BOTH_SIDES_VIEWS: tuple[str, ...] = ("front", "back")


@dataclass(frozen=True, slots=True)
class Series:
    """Per-frame series a rep is measured on; stream frame ``k`` is row ``k - offset``.

    Attributes:
        t_ns: ``(T,)`` int64 frame timestamps, ns.
        signal: ``(T,)`` float64 counting signal (degrees or torso lengths; NaN unmeasurable).
        features: ``{name: (T,) float64}`` joint angles (degrees) and other features.
        start_ns: source time of the session's first frame (times are reported from it).
        offset: stream index of row 0 (a bounded live history drops old frames).
        poses: ``(T, 33, 4)`` poses, px (None: no velocity of a moving point is measured).
    """

    t_ns: np.ndarray
    signal: np.ndarray
    features: Mapping[str, np.ndarray]
    start_ns: int = 0
    offset: int = 0
    poses: np.ndarray | None = None


@dataclass(slots=True)
class JointRom:
    """Range of motion of one joint angle within one rep, degrees (NaN when never visible)."""

    min_deg: float
    max_deg: float
    excursion_deg: float


@dataclass(slots=True)
class ScoreComponent:
    """One part of a rep's quality score: ``points`` earned of ``max_points``, with a reason."""

    points: float
    max_points: float
    note: str


@dataclass(slots=True)
class RepMetrics:
    """Metrics of one repetition. Times in s from the start of the analysis, angles in degrees."""

    index: int
    start_frame: int
    bottom_frame: int
    end_frame: int
    start_s: float
    bottom_s: float
    end_s: float
    duration_s: float
    eccentric_s: float
    pause_s: float
    concentric_s: float
    rom_deg: float
    peak_velocity_dps: float
    rom: dict[str, JointRom] = field(default_factory=dict)
    asymmetry_pct: dict[str, float] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    score: float = float("nan")
    score_components: dict[str, ScoreComponent] = field(default_factory=dict)
    side: str = ""
    partial: bool = False
    counted_s: float = float("nan")
    # Coverage (see formcoach.coach.coverage): judged = at least one rule assessed on the rep.
    judged: bool = True
    not_judged: list[str] = field(default_factory=list)
    view: str = ""
    # Concentric velocity of the pack's moving point (formcoach.kinematics.velocity): body
    # heights/s, m/s when the user's height is known (else NaN), and the velocity loss (%)
    # against the set's best rep (filled by set_metrics).
    velocity_point: str = ""
    mean_velocity_bhps: float = float("nan")
    peak_velocity_bhps: float = float("nan")
    mean_velocity_mps: float = float("nan")
    peak_velocity_mps: float = float("nan")
    velocity_loss_pct: float = float("nan")
    # Movements the concentric way was (kinematics.velocity.main_movement): past 1 the mean is
    # the main movement's, not comparable with one-movement reps, so out of VL and the best rep.
    velocity_movements: int = 1

    @property
    def max_asymmetry_pct(self) -> float:
        """Largest left/right asymmetry over the metric joints (NaN when none was assessable)."""
        vals = [v for v in self.asymmetry_pct.values() if np.isfinite(v)]
        return max(vals) if vals else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (NaN kept as float NaN; json writes it as NaN)."""
        return asdict(self)


@dataclass(slots=True)
class SetMetrics:
    """Metrics of one set (one analysed clip or live session of one exercise).

    Attributes:
        exercise: exercise id.
        reps: per-rep metrics, in order.
        rep_count: number of reps (partial reps included; see ``partial_reps``).
        partial_reps: reps cut by the clip edge.
        tempo_slope_s_per_rep: least-squares slope of rep duration vs rep number (s/rep);
            positive = slowing down (fatigue). NaN with < 3 reps.
        rom_slope_deg_per_rep: slope of the signal ROM vs rep number (deg/rep); negative =
            shrinking range (fatigue). NaN with < 3 reps.
        coverage_pct: % of analysed frames with a detected pose.
        frames: analysed frames.
        duration_s: analysed time span, s.
        not_assessed: rule ids that cannot be judged from this camera view.
        mean_score: mean rep score (NaN without reps).
        rom_reference_deg: the ROM the ``rom`` score component compared against.
        rom_reference_source: ``"baseline"`` or ``"best rep in set"``.
        not_judged: rule id -> why it was not judged (on every rep, or on the reps it names).
        view_advice: a note when the camera view leaves most rules unjudged, else ``""``.
        attempts: movements that began a rep and came back short of it (not counted).
        technique_score: clean reps / (judged counted reps + attempts).
        held_s: for a hold: seconds held in position (any form); NaN for rep exercises.
        good_form_s: for a hold: seconds in position with no hold rule violated (NaN when the
            rules were not run).
        holds: for a hold: each hold's first/last frame and ns, seconds held and in good form.
    """

    exercise: str
    reps: list[RepMetrics]
    rep_count: int
    partial_reps: int
    tempo_slope_s_per_rep: float
    rom_slope_deg_per_rep: float
    coverage_pct: float
    frames: int
    duration_s: float
    not_assessed: list[str] = field(default_factory=list)
    mean_score: float = float("nan")
    rom_reference_deg: float = float("nan")
    rom_reference_source: str = ""
    joints: list[str] = field(default_factory=list)
    # Coverage and attempts (formcoach.coach.coverage, formcoach.reps): rule id -> why it was
    # not judged, a note on a better camera view, and the movements short of a rep.
    not_judged: dict[str, str] = field(default_factory=dict)
    view_advice: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def clean_reps(self) -> int:
        """Counted reps that were judged and had no fault."""
        return sum(1 for r in self.reps if r.judged and not r.faults)

    @property
    def performed(self) -> int:
        """Counted reps plus uncounted attempts."""
        return len(self.reps) + len(self.attempts)

    @property
    def judged_performed(self) -> int:
        """Counted reps that were judged plus uncounted attempts: what the technique score is
        over (a rep no rule could be judged on says nothing either way)."""
        return sum(1 for r in self.reps if r.judged) + len(self.attempts)

    @property
    def technique_score(self) -> float:
        """Clean reps / (judged reps + attempts), in [0, 1]; NaN when no rep could be judged
        (from this view nothing says whether the technique was good). A rep that was not
        judged is left out, neither clean nor faulty."""
        if not any(r.judged for r in self.reps):
            return float("nan")
        return self.clean_reps / self.judged_performed
    held_s: float = float("nan")
    good_form_s: float = float("nan")
    holds: list[HoldInterval] = field(default_factory=list)
    # Velocity loss (formcoach.kinematics.velocity): the best rep's mean concentric velocity
    # (BH/s), the --stop-at-vl threshold (%, NaN when off), the rep "that's the set" was said
    # for (1-based; 0: never), and the user's height the m/s came from (NaN: unknown).
    best_velocity_bhps: float = float("nan")
    stop_at_vl_pct: float = float("nan")
    stop_rep: int = 0
    height_cm: float = float("nan")
    # The fatigue note (formcoach.fatigue): ROM, tempo and late faults of the last third of the
    # full reps against the first, each only past its noise; None for a hold.
    fatigue: FatigueNote | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# helpers


#: What each joint-angle ROM measures, for labels ("left knee flexion ROM 96 deg").
MOTION = {"knee": "knee flexion", "hip": "hip flexion", "elbow": "elbow flexion",
          "shoulder": "shoulder flexion", "ankle": "ankle dorsiflexion"}


def rom_label(name: str) -> str:
    """Display label of a ROM: ``left_knee`` -> ``left knee flexion``; other features by name."""
    side, _, base = name.partition("_")
    if side in ("left", "right") and base in MOTION:
        return f"{side} {MOTION[base]}"
    if name in MOTION:
        return MOTION[name]
    return name.replace("_", " ")


def angle_label(name: str) -> str:
    """Display label of a joint-angle series (the angle itself, 180 deg = straight, not its
    flexion): ``left_knee`` -> ``left knee angle``, ``knee_fused`` -> ``knee angle``; other
    features by name."""
    base = name.removesuffix("_fused")
    side, _, joint = base.partition("_")
    if side in ("left", "right") and joint in MOTION:
        return f"{side} {joint} angle"
    if base in MOTION:
        return f"{base} angle"
    return name.replace("_", " ")


def metric_joints(metrics: Sequence[str], feature_names: Iterable[str]) -> list[str]:
    """Sided joint-angle feature names (e.g. ``left_knee``) to report ROM for.

    ``metrics`` holds the pack's ``[metrics] joints``: base names (``"knee"``, both sides) or
    sided / plain feature names; only names among ``feature_names`` are returned.
    """
    feats = set(feature_names)
    bases = list(metrics) or sorted({n.split("_", 1)[1] for n in JOINT_TRIPLES})
    out: list[str] = []
    for b in bases:
        names = [b] if b in feats else [f"left_{b}", f"right_{b}"]
        out.extend(n for n in names if n in feats and n not in out)
    return out


def _slope(y: Sequence[float]) -> float:
    """Least-squares slope of ``y`` vs 0..n-1 over finite values; NaN with < 3 points."""
    arr = np.asarray(y, dtype=np.float64)
    x = np.arange(len(arr), dtype=np.float64)
    ok = np.isfinite(arr)
    if ok.sum() < 3:
        return float("nan")
    xs, ys = x[ok], arr[ok]
    xc = xs - xs.mean()
    return float((xc * (ys - ys.mean())).sum() / (xc * xc).sum())


def _nan_stat(fn: Any, a: np.ndarray) -> float:
    return float(fn(a)) if a.size and np.isfinite(a).any() else float("nan")


def joint_rom(angle: np.ndarray) -> JointRom:
    """ROM of a ``(n,)`` angle series (degrees, NaN = not visible)."""
    lo = _nan_stat(np.nanmin, angle)
    hi = _nan_stat(np.nanmax, angle)
    return JointRom(lo, hi, hi - lo)


def asymmetry_pct(left: np.ndarray, right: np.ndarray) -> float:
    """Left/right asymmetry of two ``(n,)`` angle series over one rep, %.

    Symmetry index ``|L - R| / ((L + R) / 2) * 100`` of the two excursions. NaN when either side
    has an angle in fewer than ``SIDE_VISIBLE_FRAC`` of the frames, or the mean excursion is
    below ``ASYMMETRY_MIN_ROM_DEG``.
    """
    n = len(left)
    if n == 0 or len(right) != n:
        return float("nan")
    if np.isfinite(left).mean() < SIDE_VISIBLE_FRAC or np.isfinite(right).mean() < SIDE_VISIBLE_FRAC:
        return float("nan")
    el, er = joint_rom(left).excursion_deg, joint_rom(right).excursion_deg
    mean = (el + er) / 2.0
    if not np.isfinite(mean) or mean < ASYMMETRY_MIN_ROM_DEG:
        return float("nan")
    return float(abs(el - er) / mean * 100.0)


def phase_durations(
    signal: np.ndarray, t_s: np.ndarray, start: int, bottom: int, end: int
) -> tuple[float, float, float]:
    """Eccentric, bottom-pause and concentric durations (s) of one rep.

    The pause is the contiguous run of frames around ``bottom`` whose signal stays within
    ``max(PAUSE_BAND_MIN_DEG, PAUSE_BAND_FRAC * ROM)`` degrees of the value at ``bottom``
    (NaN frames inside the run are bridged). Eccentric = start -> pause start, concentric =
    pause end -> end. The three add up to the rep duration.
    """
    seg = signal[start : end + 1]
    ext = signal[bottom]
    if not np.isfinite(ext) or not np.isfinite(seg).any():
        dur = float(t_s[end] - t_s[start])
        ecc = float(t_s[bottom] - t_s[start])
        return ecc, 0.0, dur - ecc
    p0, p1 = pause_bounds(signal, start, bottom, end)
    ecc = float(t_s[p0] - t_s[start])
    pause = float(t_s[p1] - t_s[p0])
    conc = float(t_s[end] - t_s[p1])
    return ecc, pause, conc


def pause_bounds(signal: np.ndarray, start: int, bottom: int, end: int) -> tuple[int, int]:
    """``(first, last)`` frame of the bottom pause of one rep (see :func:`phase_durations`);
    ``(bottom, bottom)`` when the signal at the bottom is unknown. The concentric phase is
    ``last .. end``."""
    seg = signal[start : end + 1]
    ext = signal[bottom]
    if not np.isfinite(ext) or not np.isfinite(seg).any():
        return bottom, bottom
    rom = float(np.nanmax(np.abs(seg - ext)))
    band = max(PAUSE_BAND_MIN_DEG, PAUSE_BAND_FRAC * rom)
    near = ~(np.abs(signal - ext) > band)  # NaN counts as near (bridged)
    p0 = bottom
    while p0 > start and near[p0 - 1]:
        p0 -= 1
    p1 = bottom
    while p1 < end and near[p1 + 1]:
        p1 += 1
    # Do not let NaN bridging reach the rep edges: trim NaN frames at the run's ends.
    while p0 < bottom and not np.isfinite(signal[p0]):
        p0 += 1
    while p1 > bottom and not np.isfinite(signal[p1]):
        p1 -= 1
    return p0, p1


def _fps_of(t_s: np.ndarray) -> float:
    """Frame rate from the median frame interval of ``t_s`` (s); NaN with < 2 frames."""
    if len(t_s) < 2:
        return float("nan")
    dt = float(np.median(np.diff(t_s)))
    return 1.0 / dt if dt > 0 else float("nan")


def peak_velocity(signal: np.ndarray, t_s: np.ndarray) -> float:
    """Peak absolute angular velocity (deg/s) of a ``(n,)`` angle series at times ``t_s``,
    from the smoothed derivative (:func:`~formcoach.kinematics.velocity.smooth_derivative`:
    a one-frame glitch or per-frame jitter cannot make the peak)."""
    fps = _fps_of(t_s)
    if not np.isfinite(fps):
        return float("nan")
    v = np.abs(smooth_derivative(signal, fps))
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else float("nan")


def rep_velocity(series: Series, rep: RepEvent, point: str,
                 concentric: str = "return", height_px: float | None = None
                 ) -> RepVelocity | None:
    """Concentric velocity of ``point`` (a :data:`~formcoach.kinematics.velocity.MOVING_POINTS`
    key) in one rep, or None without poses or a point.

    The derivative is taken over the rep's frames plus half a smoothing window on each side
    (as far as the series has them) and read on the concentric phase: from the end of the
    bottom pause to the rep's end (``concentric = "return"``), or from the start to the start
    of the pause (``"away"``: curls, presses), the mean speed from the rep's bottom frame
    outwards (:func:`~formcoach.kinematics.velocity.concentric_velocity`). The speeds are
    divided by ``height_px`` (the set's standing height, px: one number for every rep, so it
    cannot move a rep's velocity loss), else by the height measured on the rep's own frames.
    So the numbers depend only on those frames and ``height_px``: the live stop cue and the
    final metrics agree.
    """
    if series.poses is None or not point or rep.start_frame == rep.end_frame:
        return None
    n = len(series.signal)
    off = series.offset
    sig = np.asarray(series.signal, dtype=np.float64)
    t_s = np.asarray(series.t_ns, dtype=np.int64) / NS_PER_S
    s0 = min(max(rep.start_frame - off, 0), n - 1)
    e0 = min(max(rep.end_frame - off, s0), n - 1)
    b0 = min(max(rep.bottom_frame - off, s0), e0)
    fps = _fps_of(t_s[s0 : e0 + 1])
    if not np.isfinite(fps):
        return None
    p0, p1 = pause_bounds(sig, s0, b0, e0)
    c0, c1 = (s0, p0) if concentric == "away" else (p1, e0)
    m = smooth_window(fps) // 2
    lo, hi = max(s0 - m, 0), min(e0 + m, n - 1)
    height = body_height_px(series.poses[s0 : e0 + 1]) if height_px is None else height_px
    poses = series.poses[lo : hi + 1]
    slots = even_grid(t_s[lo : hi + 1], fps)
    if slots is None:
        row = np.arange(hi - lo + 1)
    else:  # frames dropped (a busy live loop): the velocity is read on an even time grid
        poses, row = resample_even(poses, slots, fps), slots
    return concentric_velocity(poses, fps, point, slice(int(row[c0 - lo]), int(row[c1 - lo]) + 1),
                               turn=int(row[b0 - lo]), height_px=height)


def _faults_in(rep: RepEvent, faults: Iterable[Fault]) -> list[Fault]:
    out = []
    for f in faults:
        if f.rep_index is not None:
            if f.rep_index == rep.index:
                out.append(f)
        elif rep.start_frame <= f.frame_index <= rep.end_frame:
            out.append(f)
    return sorted(out, key=lambda f: (f.t_ns, f.rule_id))


# --------------------------------------------------------------------------------------------
# public


def rep_metrics(
    series: Series, rep: RepEvent, joints: Sequence[str], faults: Iterable[Fault] = (),
    *, point: str = "", height_m: float | None = None, concentric: str = "return",
    height_px: float | None = None,
) -> RepMetrics:
    """Metrics of one rep over its frames ``[start_frame, end_frame]``, without the score (see
    :func:`score_reps`). ``joints``: feature names to report ROM for (:func:`metric_joints`);
    ``point``: the pack's moving point for the concentric velocity (:func:`rep_velocity`;
    ``""``: none) and which half of the rep is its ``concentric`` (the pack's); ``height_m``:
    the user's height, for m/s; ``height_px``: the set's standing height in px the speeds are
    divided by (default: measured on the rep)."""
    n = len(series.signal)
    off = series.offset
    sig = np.asarray(series.signal, dtype=np.float64)
    t_s = (np.asarray(series.t_ns, dtype=np.int64) - series.start_ns) / NS_PER_S
    s0 = min(max(rep.start_frame - off, 0), n - 1)
    e0 = min(max(rep.end_frame - off, s0), n - 1)
    b0 = min(max(rep.bottom_frame - off, s0), e0)
    seg = sig[s0 : e0 + 1]
    ecc, pause, conc = phase_durations(sig, t_s, s0, b0, e0)
    roms: dict[str, JointRom] = {}
    for name in joints:
        roms[name] = joint_rom(np.asarray(series.features[name], dtype=np.float64)[s0 : e0 + 1])
    asym: dict[str, float] = {}
    for name in roms:
        if name.startswith("left_") and f"right_{name[5:]}" in roms:
            base = name[5:]
            asym[base] = asymmetry_pct(
                np.asarray(series.features[name], dtype=np.float64)[s0 : e0 + 1],
                np.asarray(series.features[f"right_{base}"], dtype=np.float64)[s0 : e0 + 1],
            )
    rom = joint_rom(seg).excursion_deg
    if not np.isfinite(rom):
        rom = float(rep.rom_deg)
    vel = rep_velocity(series, rep, point, concentric, height_px)
    h = float(height_m) if height_m is not None and np.isfinite(height_m) else float("nan")
    return RepMetrics(
        index=rep.index,
        start_frame=rep.start_frame,
        bottom_frame=rep.bottom_frame,
        end_frame=rep.end_frame,
        start_s=float(t_s[s0]),
        bottom_s=float(t_s[b0]),
        end_s=float(t_s[e0]),
        duration_s=float(t_s[e0] - t_s[s0]),
        eccentric_s=ecc,
        pause_s=pause,
        concentric_s=conc,
        rom_deg=float(rom),
        peak_velocity_dps=peak_velocity(seg, t_s[s0 : e0 + 1]),
        rom=roms,
        asymmetry_pct=asym,
        faults=_faults_in(rep, faults),
        side=rep.side,
        partial=rep.partial,
        counted_s=(rep.counted_ns - series.start_ns) / NS_PER_S,
        velocity_point=point if vel is not None else "",
        mean_velocity_bhps=vel.mean_bhps if vel is not None else float("nan"),
        peak_velocity_bhps=vel.peak_bhps if vel is not None else float("nan"),
        mean_velocity_mps=vel.mean_bhps * h if vel is not None else float("nan"),
        peak_velocity_mps=vel.peak_bhps * h if vel is not None else float("nan"),
        velocity_movements=vel.movements if vel is not None else 1,
    )


def apply_coverage(rm: RepMetrics, view: str, judged: bool, not_judged: Sequence[str]) -> None:
    """Mark a rep's coverage in place: ``view`` (its majority view), whether any rule was
    judged on it and which were not; its asymmetry becomes NaN unless ``view`` is one of
    :data:`BOTH_SIDES_VIEWS` (the far limb is a guess), so it cannot lower the score."""
    rm.view = view
    rm.judged = bool(judged)
    rm.not_judged = list(not_judged)
    if view not in BOTH_SIDES_VIEWS:
        rm.asymmetry_pct = dict.fromkeys(rm.asymmetry_pct, float("nan"))


def score_reps(reps: list[RepMetrics], baseline_rom_deg: float | None = None) -> tuple[float, str]:
    """Fill ``score`` and ``score_components`` of each rep in place.

    Returns:
        ``(reference ROM in degrees, its source)`` used by the ``rom`` component.
    """
    full = [r for r in reps if not r.partial] or reps
    if baseline_rom_deg is not None and np.isfinite(baseline_rom_deg) and baseline_rom_deg > 0:
        ref, src = float(baseline_rom_deg), "baseline"
    else:
        roms = [r.rom_deg for r in full if np.isfinite(r.rom_deg)]
        ref, src = (max(roms), "best rep in set") if roms else (float("nan"), "")
    durs = [r.duration_s for r in full if np.isfinite(r.duration_s) and r.duration_s > 0]
    med = float(np.median(durs)) if len(durs) >= 2 else float("nan")
    w = SCORE_WEIGHTS
    for r in reps:
        comp: dict[str, ScoreComponent] = {}
        if np.isfinite(ref) and ref > 0 and np.isfinite(r.rom_deg):
            frac = min(1.0, r.rom_deg / ref)
            comp["rom"] = ScoreComponent(
                w["rom"] * frac, w["rom"], f"ROM {r.rom_deg:.0f} deg = {frac:.0%} of {src} {ref:.0f}"
            )
        if np.isfinite(med) and med > 0 and np.isfinite(r.duration_s):
            dev = abs(r.duration_s - med) / med
            comp["tempo"] = ScoreComponent(
                w["tempo"] * max(0.0, 1.0 - dev),
                w["tempo"],
                f"duration {r.duration_s:.2f} s vs set median {med:.2f} s ({dev:.0%} off)",
            )
        sev: dict[str, int] = {}
        for f in r.faults:
            sev[f.rule_id] = max(sev.get(f.rule_id, 0), int(f.severity))
        lost = FAULT_POINTS_PER_SEVERITY * sum(sev.values())
        if r.judged or sev:  # a rep no rule was judged on earns no fault points
            comp["faults"] = ScoreComponent(
                max(0.0, w["faults"] - lost),
                w["faults"],
                ("faults: " + ", ".join(f"{k} (severity {v})" for k, v in sorted(sev.items())))
                if sev
                else "no faults",
            )
        asym = r.max_asymmetry_pct
        if np.isfinite(asym):
            comp["symmetry"] = ScoreComponent(
                w["symmetry"] * max(0.0, 1.0 - asym / ASYMMETRY_ZERO_PCT),
                w["symmetry"],
                f"left/right asymmetry {asym:.0f}%",
            )
        got = sum(c.points for c in comp.values())
        avail = sum(c.max_points for c in comp.values())
        r.score = round(100.0 * got / avail, 1) if avail > 0 else float("nan")
        r.score_components = comp
    return ref, src


def set_metrics(
    exercise_id: str,
    reps: list[RepMetrics],
    *,
    frames: int,
    pose_frames: int,
    duration_s: float,
    joints: Sequence[str],
    not_assessed: Iterable[str] = (),
    baseline_rom_deg: float | None = None,
    not_judged: Mapping[str, str] | None = None,
    view_advice: str = "",
    attempts: Sequence[Attempt] = (),
    stop_at_vl_pct: float | None = None,
    stop_rep: int = 0,
    height_cm: float | None = None,
    fps: float = float("nan"),
    rom_unit: str = "deg",
    hold: bool = False,
) -> SetMetrics:
    """The set's metrics from its reps' metrics (scores and each rep's velocity loss are filled
    in place: they compare each rep with the set). ``baseline_rom_deg``: the user's baseline
    ROM for the ``rom`` score; ``not_judged``, ``view_advice``, ``attempts``,
    ``stop_at_vl_pct``, ``stop_rep``, ``height_cm``: as in :class:`SetMetrics`; ``fps`` and
    ``rom_unit`` (the counting signal's) for the fatigue note (none when ``hold``)."""
    ref, src = score_reps(reps, baseline_rom_deg)
    comparable = [r.mean_velocity_bhps if r.velocity_movements == 1 else float("nan")
                  for r in reps]
    for r, vl in zip(reps, velocity_loss_pct(comparable), strict=True):
        r.velocity_loss_pct = vl
    speeds = [v for v in comparable if np.isfinite(v)]
    full = [r for r in reps if not r.partial]
    scores = [r.score for r in reps if np.isfinite(r.score)]
    return SetMetrics(
        exercise=exercise_id,
        reps=reps,
        rep_count=len(reps),
        partial_reps=len(reps) - len(full),
        tempo_slope_s_per_rep=_slope([r.duration_s for r in full]),
        rom_slope_deg_per_rep=_slope([r.rom_deg for r in full]),
        coverage_pct=100.0 * pose_frames / frames if frames else 0.0,
        frames=frames,
        duration_s=float(duration_s),
        not_assessed=sorted(set(not_assessed)),
        mean_score=float(np.mean(scores)) if scores else float("nan"),
        rom_reference_deg=ref,
        rom_reference_source=src,
        joints=list(joints),
        not_judged=dict(not_judged or {}),
        view_advice=view_advice,
        attempts=list(attempts),
        best_velocity_bhps=max(speeds) if speeds else float("nan"),
        stop_at_vl_pct=float(stop_at_vl_pct) if stop_at_vl_pct is not None else float("nan"),
        stop_rep=int(stop_rep),
        height_cm=float(height_cm) if height_cm is not None else float("nan"),
        fatigue=None if hold else fatigue_note(
            [r.rom_deg for r in full], [r.concentric_s for r in full],
            [sorted({f.rule_id for f in r.faults}) for r in full], fps=fps, rom_unit=rom_unit),
    )
