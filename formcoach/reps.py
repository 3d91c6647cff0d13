"""Rep segmentation of one scalar signal (a joint angle or a normalised height).

:class:`RepSegmenter` is a streaming state machine: ``update(value, t_ns)`` per frame returns the
reps counted by that frame, ``finish()`` flushes the end of the stream, and ``segment(values,
t_ns)`` is ``update`` over the series followed by ``finish`` (a convenience, not a second
algorithm: tests/test_reps_naive.py checks the counts against an independent batch oracle).

How a rep is found (all amplitudes in signal units, e.g. degrees):

1. The signal is flipped for ``rep_direction = "up"`` so that a rep is always a move *down*
   from a resting "top" and back.
2. A centred median over ``smooth_s`` removes single-frame glitches (corrupt frames, landmark
   flips). This is the only look-ahead: ``lag`` frames (``smooth_s / 2``). A frame with fewer
   than half of its window valid is a gap, and so is one whose window, cut by the stream
   start, holds only two frames (their median is their mean, which one glitch drags).
3. A hysteresis state machine tracks the top (``TOP``), the way down (``DOWN``) and the way up
   (``UP``). A reversal counts as a turn only when it exceeds ``hysteresis`` x the person's typical
   excursion, so noise and small wobbles at the bottom are ignored.
4. A rep is counted the moment the signal has come back ``return_frac`` of the way from the
   bottom to the top it started from, if its excursion is at least ``min_rom`` and at least
   ``rel_rom`` x the median excursion of the last reps (the thresholds adapt to the person's
   range of motion: a half rep after full ones does not count), it started from the person's
   rest level (within ``top_tol`` x the typical excursion of the median top of the last reps:
   fidgeting off the bar or between sets does not count) and it took at least ``min_rep_s``
   from passing half-way down to counting (tracking glitches are never reps).
   A descent that does not come back within ``max_rep_s`` is abandoned (a rest), and so is
   one interrupted by a frame outside the pack's ``gate`` (e.g. dropping off the bar).
   That moment is the event's ``counted_frame`` (live feedback is immediate).
5. Boundaries, symmetric, with one tolerance ``_TOP_TOL`` = 10% of the rep's excursion (large
   enough for pose noise and slow drift at rest, small next to any rep):

   - *left the top*: scanning back from the bottom (never past the previous rep's end or the
     stream start), the top is the highest value before the signal, once above half-way,
     drops more than the tolerance below it (so setup movement before the rest it started
     from is not searched); it left at the last frame before the bottom within the tolerance
     of that top;
   - *back at the top*: the first frame after the bottom within the tolerance of the higher of
     the rep's top and the highest value since the bottom (of the latter alone for a rep that
     comes back short, and an edge rep), so it moves later while the signal still rises.

   A smooth move is already under way when it is 10% away: easing like half a cosine, it
   covered 10% in ``_EASE_RATIO`` = 0.69 x the time it then takes to get half-way (a
   minimum-jerk profile gives 0.97). So ``start_frame`` is that much before it left the top and
   ``end_frame`` that much after it is back (0.15-0.25 s at usual tempos), over frames still at
   the top; the next rep never starts before this one ends, and ``end >= counted``. This
   scales with tempo, where a fixed lead would put standing still into every rep. What the
   signal does not show is not found: a counting joint that stays still while the body starts
   moving (a front-view curl's elbow; the synthetic squat's knee, whose hips do not drop for
   the first 0.3 s) reads late starts and early ends.

   Streaming: an event is returned at counting time with ``end == counted`` and its
   ``end_frame``/``end_ns`` then move later in place as frames arrive, until the end is final:
   back at the top plus the ease-in time, the next descent, a long gap or gated frame, or
   ``finish()``.
6. Clip edges: a clip that starts at or near the bottom counts its first rise as a rep (marked
   ``partial``) when the rise is a full excursion (``edge_factor`` x the smallest rep, so a
   clip starting mid-ascent does not count its first half-rise; a first rise that ends well
   above the "top" the clip began at is such a rise too, and the next rep starts from where it
   got to); a rep whose return is cut off by the end is not counted. Gaps with no signal (NaN:
   nobody detected, or outside the exercise's gate) longer than ``max_gap_s`` end any rep in
   progress (and, before the first descent, forget what was seen before them). Edge reps are
   only allowed before the first rep and before any gated frame: someone who was seen out of
   position (standing under the bar) and then gets into it is setting up, not finishing a rep.

``kind = "hold"`` (plank): intervals where the signal stays inside ``[hold_min, hold_max]``
for at least ``min_hold_s`` are reported as RepEvents (start = bottom = hold start, counted =
end = hold end: a hold is reported once it is over).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence

import numpy as np

from formcoach.exercises import CountConfig
from formcoach.types import Attempt, RepEvent, RepProgress

__all__ = ["ATTEMPT_MIN_FRAC", "RepSegmenter"]

_UNKNOWN, _TOP, _DOWN, _UP, _EDGE_UP = "unknown", "top", "down", "up", "edge_up"
_NS = 1_000_000_000
_HISTORY = 5  # reps whose median excursion sets the adaptive thresholds
_TOP_TOL = 0.1  # "at the top": within this fraction of the rep's excursion of its top level
# A smooth move out of (into) a rest eases like half a cosine: it has covered _TOP_TOL of its
# excursion after phi of its duration, half of it after 0.5. So the move began _EASE_RATIO x
# (time from _TOP_TOL to half-way) before it was _TOP_TOL away (0.69 for 0.1).
_PHI = math.acos(1.0 - 2.0 * _TOP_TOL) / math.pi
_EASE_RATIO = _PHI / (0.5 - _PHI)
#: A dip that comes back short of a rep is reported as an attempt (never counted) only when it
#: went down at least this fraction of the excursion a rep needed. Packs set ``rel_rom`` so
#: that re-racking, shuffling and breathing stay under the rep threshold, often close to it
#: (squat: re-racking measured up to 0.41 of the lifter's squat, 0.82 of the needed 0.5); the
#: floor keeps smaller wobbles out, and the other attempt conditions (after a counted rep, from
#: the usual rest level, as slow as a rep) keep set-up moves out. See ``_note_attempt``.
ATTEMPT_MIN_FRAC = 0.4


class _OpenEnd:
    """The end of the last rep while later frames refine it (values in flipped signal units).

    The rep is *back at the top* at the first frame after its bottom within ``tol``
    (``_TOP_TOL`` of its excursion) of the higher of its top (the level it started from,
    ``-inf`` for an edge rep, whose top is unknown) and the highest value since its bottom; of
    the latter alone while it has not come that close to its top (a rep that comes back
    short). So that frame moves later while the signal still rises. The end is
    that frame plus the ease-in time, ``_EASE_RATIO`` x the time from half-way up (``mid_ns``)
    to it, over frames still at the top; never before counting.

    The segmenter calls :meth:`update` on every valid frame while it is in its top state and
    drops the object (the end is then final) once :meth:`update` says so (within ``tol`` of the
    top it started from and the ease-in time gone by), when the next descent begins, on a long
    gap or a gated frame, and at ``finish()``. A rep that never gets back within ``tol`` of
    where it started keeps being refined until one of those.
    """

    __slots__ = ("back_i", "back_ns", "contiguous", "ev", "hi", "mid_ns", "tol", "top")

    def __init__(self, ev: RepEvent, top: float, tol: float, hi: float, mid_ns: int) -> None:
        self.ev, self.top, self.tol, self.hi, self.mid_ns = ev, top, tol, hi, mid_ns
        self.back_i, self.back_ns = ev.counted_frame, ev.counted_ns
        self.contiguous = True  # no frame since back_i has left the top

    def _level(self, hi: float) -> float:
        """The level "at the top" starts at, given the highest value ``hi`` since the bottom."""
        back = hi >= self.top - self.tol  # got back to where it started (or above)
        return (max(self.top, hi) if back else hi) - self.tol

    def update(self, i: int, x: float, t_ns: int, hist: deque[tuple[float, int, int]]) -> bool:
        """Refine the end with valid frame ``i`` (already in ``hist``); True once it is final."""
        level = self._level(self.hi)
        if x > self.hi:
            self.hi = x
            new = self._level(x)
            if new > level:  # the first frame at or after the current "back" at the new level
                level = new
                for v, t, j in hist:
                    if j >= self.back_i and v >= level:
                        self.back_i, self.back_ns = j, t
                        break
            self.contiguous = True
        elif x < level:
            self.contiguous = False  # left the top again: no more rest to add
        if not self.contiguous:
            return self.hi >= self.top - self.tol
        target = self.back_ns + _EASE_RATIO * max(0, self.back_ns - self.mid_ns)
        ev = self.ev
        for _, t, j in reversed(hist):  # the last frame at or before target
            if j <= ev.end_frame:
                break
            if t <= target:
                ev.end_frame, ev.end_ns = j, t
                break
        return self.hi >= self.top - self.tol and t_ns >= target


def _median(values: deque[float] | list[float]) -> float:
    a = sorted(values)
    n = len(a)
    return a[n // 2] if n % 2 else 0.5 * (a[n // 2 - 1] + a[n // 2])


class RepSegmenter:
    """Streaming rep counter for one signal.

    Args:
        config: the exercise's ``[count]`` table.
        fps: nominal frame rate (float); sets the median window in frames.
        kind: ``"reps"`` or ``"hold"``.
        side: side label written into the events (``"left"``, ``"right"``, ``"both"`` ...).

    Attributes:
        lag: frames between an ``update`` and the frame whose state it decides.
        phase: ``idle``, ``eccentric``, ``bottom``, ``concentric`` or ``top`` (lagged frame).
        count: reps so far.
        attempts: dips that began a rep and came back short of it (never counted), in order.
    """

    def __init__(
        self, config: CountConfig, fps: float, kind: str = "reps", side: str = "both"
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        if kind not in ("reps", "hold"):
            raise ValueError(f"kind must be 'reps' or 'hold', got {kind!r}")
        self.config = config
        self.fps = float(fps)
        self.kind = kind
        self.side = side
        self.sign = -1.0 if config.rep_direction == "up" else 1.0
        self.lag = max(0, round(config.smooth_s * fps / 2.0))
        self._raw: deque[tuple[float, int]] = deque(maxlen=2 * self.lag + 1)
        self._gated: deque[bool] = deque(maxlen=2 * self.lag + 1)
        self._n_in = 0  # frames received
        self._n_out = 0  # frames decided
        self.events: list[RepEvent] = []
        self.attempts: list[Attempt] = []  # dips short of a rep (not counted), see _note_attempt
        self.phase = "idle"
        self._amps: deque[float] = deque(maxlen=_HISTORY)
        # Recent (x, t_ns, frame) samples, enough to look back over one rep.
        self._hist: deque[tuple[float, int, int]] = deque(maxlen=int(config.max_rep_s * fps) + 2)
        self._tops: deque[float] = deque(maxlen=_HISTORY)
        self._ref = config.min_rom  # cached _ref_amp()
        self._open: _OpenEnd | None = None  # the last rep, while its end is being refined
        self._reset(edge=True)
        self._last_valid_ns: int | None = None
        self._first_ns: int | None = None
        self._seen_gated = False
        # hold mode
        self._hold_start: tuple[int, int] | None = None
        self._hold_last: tuple[int, int] | None = None
        self._hold_vals: list[float] = []

    # ------------------------------------------------------------------ public API
    @property
    def count(self) -> int:
        return len(self.events)

    @property
    def open_rep(self) -> RepEvent | None:
        """The last rep while its end is still being refined (None once it is final)."""
        return self._open.ev if self._open is not None else None

    @property
    def progress(self) -> RepProgress | None:
        """The rep in progress (descending, at or rising from its bottom), or None at the top,
        in a gap, or rising from a clip edge (that rep's top was never seen)."""
        if self.kind != "reps" or self._mode not in (_DOWN, _UP) or self._start_i < 0:
            return None
        bottom = self._vl_i if self._mode == _UP else None
        deep = bool(self._pk - self._vl >= self._needed_amp())
        first = self._descent_start(False)[0] if deep else -1
        turning = still = bottom
        if bottom is None and self._hist:
            turn = self.config.hysteresis * self._ref_amp()
            if self._hist[-1][0] > self._vl + 0.5 * turn:
                turning = still = self._vl_i  # on the way back up, not by the whole turn yet
            elif deep and self._still(0.1 * turn):
                still = self._vl_i
        return RepProgress(int(self._start_i), None if bottom is None else int(bottom),
                           self._n_out - 1, deep, int(first),
                           None if turning is None else int(turning),
                           None if still is None else int(still))

    def _still(self, tol: float) -> bool:
        """Whether the last tenth of a second of decided frames (at least 2) all lie within
        ``tol`` of the lowest point so far, which is one of them."""
        k = max(2, round(0.1 * self.fps))
        if len(self._hist) < k:
            return False
        last = list(itertools.islice(reversed(self._hist), k))
        return last[-1][2] <= self._vl_i and all(x - self._vl <= tol for x, _, _ in last)

    def update(self, value: float, t_ns: int, gated: bool = False) -> list[RepEvent]:
        """Feed one frame; returns the reps counted by it (usually none or one).

        A returned event has ``end == counted`` (provisional); later calls move its
        ``end_frame``/``end_ns`` to the true end in place (see the module docstring), so act on
        ``counted_*`` now and read ``end_*`` after :meth:`finish`. The frame decided by this
        call is ``lag`` frames old.

        Args:
            value: signal value, NaN when unmeasurable (nobody detected, joint missing).
            t_ns: frame timestamp, ns (increasing).
            gated: the person is out of the exercise's position (the pack's ``gate``): the
                frame is a gap and any rep in progress is abandoned.
        """
        if self._first_ns is None:
            self._first_ns = int(t_ns)
        self._raw.append((math.nan if gated else float(value), int(t_ns)))
        self._gated.append(bool(gated))
        self._n_in += 1
        out: list[RepEvent] = []
        j = self._n_in - 1 - self.lag
        if j >= 0:
            # Window [j - lag, j + lag] = the whole buffer (truncated at the stream start).
            lo = max(0, j - self.lag)
            window = list(self._raw)[len(self._raw) - (self._n_in - lo) :]
            out = self._step(j, self._median(window, first=j < self.lag), window[j - lo][1],
                             self._gated[len(self._raw) - (self._n_in - j)])
        return out

    def finish(self) -> list[RepEvent]:
        """Flush the last ``lag`` frames (windows truncated at the end) and any open hold;
        returns the reps counted by them. After it every event's ``end_*`` is final."""
        out: list[RepEvent] = []
        raw = list(self._raw)
        gated = list(self._gated)
        first = self._n_in - len(raw)  # stream index of raw[0]
        for j in range(max(0, self._n_in - self.lag), self._n_in):
            if j < self._n_out:
                continue
            lo = max(first, j - self.lag)
            window = raw[lo - first :]
            out += self._step(j, self._median(window, first=j < self.lag), raw[j - first][1],
                              gated[j - first])
        if self.kind == "hold":
            out += self._close_hold()
        self._open = None  # the stream ended: every end is final
        return out

    def segment(
        self,
        values: Sequence[float] | np.ndarray,
        t_ns: Sequence[int] | np.ndarray,
        gated: Sequence[bool] | np.ndarray | None = None,
    ) -> list[RepEvent]:
        """Batch: every rep in a ``(T,)`` series with ``(T,)`` int ns timestamps (and optional
        ``(T,)`` bool gate flags, see :meth:`update`).

        Runs on a fresh copy of this segmenter's settings: ``update`` over the series followed
        by ``finish``, so every end is final.
        """
        v = np.asarray(values, dtype=np.float64)
        t = np.asarray(t_ns, dtype=np.int64)
        if v.shape != t.shape or v.ndim != 1:
            raise ValueError(f"values and t_ns must both be (T,), got {v.shape} and {t.shape}")
        seg = RepSegmenter(self.config, self.fps, self.kind, self.side)
        out: list[RepEvent] = []
        g = np.zeros(v.shape, dtype=bool) if gated is None else np.asarray(gated, dtype=bool)
        if g.shape != v.shape:
            raise ValueError(f"gated must be (T,) like values, got {g.shape}")
        for x, ts, gi in zip(v.tolist(), t.tolist(), g.tolist(), strict=True):
            out += seg.update(x, ts, gi)
        out += seg.finish()
        return out

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _median(window: list[tuple[float, int]], first: bool = False) -> float:
        """NaN-median of a window; NaN when fewer than half of its frames are valid.

        ``first``: the window is cut by the start of the stream. Then two valid values are no
        measurement either: their median is their mean, which one glitch drags half-way, and
        at 15-30 fps (a 3-frame window) a landmark flip on the first frame became a bogus top
        that hid every rep for ``max_rep_s``."""
        vals = sorted(v for v, _ in window if v == v)  # drop NaN
        if not vals or 2 * len(vals) < len(window) or (first and len(vals) == 2):
            return math.nan
        n = len(vals)
        return vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])

    def _reset(self, edge: bool) -> None:
        """Forget any rep in progress; ``edge``: the next rise may count as an edge rep."""
        self._open = None  # a gap or a gate: the last rep's end is final
        self._mode = _UNKNOWN
        self._edge = edge
        self._pk = self._vl = self._hi = -math.inf
        self._mn = math.inf
        self._pk_i = self._vl_i = self._start_i = self._mn_i = -1
        self._pk_ns = self._vl_ns = self._start_ns = self._mn_ns = 0
        self._floor_i = -1  # earliest frame the next rep may start at (-1: the next valid one)

    def _ref_amp(self) -> float:
        """Typical excursion: median of the last reps, floored by ``min_rom``."""
        return self._ref

    def _from_rest(self, top: float) -> bool:
        """Whether a descent that began at ``top`` began at the person's usual rest level
        (within ``top_tol`` x the typical excursion of the median top of the last reps)."""
        if not self._tops:
            return True
        return top >= _median(self._tops) - self.config.top_tol * self._ref_amp()

    def _long_enough(self, t_ns: int, edge: bool) -> bool:
        """Whether the rep ending now lasted ``min_rep_s``: from the moment the way down passed
        half-way to the bottom (for an edge rep: half of it from the bottom), so a tracking
        glitch of a few frames is never a rep, however deep."""
        need = self.config.min_rep_s * _NS
        if edge:
            return t_ns - self._vl_ns >= 0.5 * need
        mid = 0.5 * (self._pk + self._vl)
        t_mid = self._start_ns
        for x, t, _ in reversed(self._hist):
            if t <= self._vl_ns and x >= mid:
                t_mid = t
                break
        return t_ns - t_mid >= need

    def _edge_need(self) -> float:
        """Rise an edge rep (descent not seen) must show: ``edge_factor`` x a rep's minimum, so
        a clip that starts mid-ascent does not count its first, partial rise."""
        base = self.config.min_rom if not self._amps else self._needed_amp()
        return self.config.edge_factor * base

    def _needed_amp(self) -> float:
        """Smallest excursion that counts as a rep now (before the first rep, when the person's
        range is unknown, ``first_factor`` x ``min_rom``)."""
        if not self._amps:
            return self.config.first_factor * self.config.min_rom
        return max(self.config.min_rom, self.config.rel_rom * self._ref_amp())

    def _step(self, i: int, y: float, t_ns: int, gated: bool = False) -> list[RepEvent]:
        self._n_out = i + 1
        if self.kind == "hold":
            return self._step_hold(i, y, t_ns)
        cfg = self.config
        self._seen_gated = self._seen_gated or gated
        if gated:
            self._open = None  # out of position: the last rep's end is final
        if gated and self._mode in (_DOWN, _UP, _EDGE_UP):
            self._reset(edge=False)
            self.phase = "idle"
        if y != y:  # NaN: gap
            if (
                self._last_valid_ns is not None
                and t_ns - self._last_valid_ns > cfg.max_gap_s * _NS
                and (self._mode != _UNKNOWN or self._hi > -math.inf)
            ):
                # A long gap ends any rep in progress; what follows starts from scratch but is
                # not a clip edge (the person was there, just not measurable). Also before the
                # first descent: what was seen before the hole is not this rep's top.
                self._reset(edge=False)
                self.phase = "idle"
            return []
        if self._last_valid_ns is None and self._seen_gated:
            # The person was there but out of position (gated) before the signal appeared:
            # the first rise is getting into position (e.g. jumping to the bar), not a rep.
            self._edge = False
        self._last_valid_ns = t_ns
        x = self.sign * y
        self._hist.append((x, t_ns, i))
        if self._floor_i < 0:
            self._floor_i = i
        turn = cfg.hysteresis * self._ref_amp()
        mode = self._mode
        out: list[RepEvent] = []
        if self._open is not None and self._open.update(i, x, t_ns, self._hist):
            self._open = None  # back at the top and the ease-in time added: its end is final

        if mode == _UNKNOWN:
            # Start of the stream (or after a long gap): which way does it go first?
            if x > self._hi:
                self._hi, self._pk_i, self._pk_ns = x, i, t_ns
            if x < self._mn:
                self._mn, self._mn_i, self._mn_ns = x, i, t_ns
            if x >= self._hi - turn:
                self._start_i, self._start_ns = i, t_ns  # last frame near the top
            if x < self._hi - turn:
                # Falling from the highest point so far: a normal descent from a top.
                self._enter_down(i, x, t_ns, self._hi, self._start_i, self._start_ns)
            elif x > self._mn + turn and not self._edge:
                self._to_top(i, x, t_ns)  # not at a clip edge: this rise is not a rep
            elif x > self._mn + turn:
                # Rising from the lowest point so far: the clip started near a bottom.
                self._mode = _EDGE_UP
                self._vl, self._vl_i, self._vl_ns = self._mn, self._mn_i, self._mn_ns
                self._start_i, self._start_ns = self._mn_i, self._mn_ns
                self._hi, self._pk_i, self._pk_ns = x, i, t_ns
                self.phase = "concentric"
        elif mode == _TOP:
            if x >= self._pk:
                self._pk, self._pk_i, self._pk_ns = x, i, t_ns
            if x >= self._pk - turn:
                self._start_i, self._start_ns = i, t_ns
                self.phase = "top" if self.events else "idle"
            else:
                self._enter_down(i, x, t_ns, self._pk, self._start_i, self._start_ns)
        elif mode == _DOWN:
            if x <= self._vl:
                self._vl, self._vl_i, self._vl_ns = x, i, t_ns
            if x > self._vl + turn:
                self._mode = _UP
                self._hi, self._pk_i, self._pk_ns = x, i, t_ns
                self.phase = "concentric"
            else:
                self.phase = "bottom" if x < self._vl + 0.5 * turn else "eccentric"
                self._check_abandon(i, x, t_ns)
        elif mode == _UP:
            if x > self._hi:
                self._hi, self._pk_i, self._pk_ns = x, i, t_ns
            amp = self._pk - self._vl
            need = self._needed_amp()
            if self._edge and amp < need and x - self._vl >= self._edge_need():
                # Still at the clip start: the "top" before this bottom was a start-up wiggle
                # and the clip began near a bottom; the rise is a full excursion: an edge rep.
                if self._long_enough(t_ns, edge=True):
                    out.append(self._emit(i, x, t_ns, x - self._vl, partial=True))
            elif x - self._vl >= cfg.return_frac * amp:
                if amp >= need and self._from_rest(self._pk):
                    if self._long_enough(t_ns, edge=False):
                        out.append(self._emit(i, x, t_ns, amp, partial=False))
                    else:
                        self._to_top(i, x, t_ns)  # too fast for a rep: a tracking glitch
                elif not self._edge:
                    # A small dip, fully recovered: not a rep; we are back at the top.
                    if amp < need:
                        self._note_attempt(i, t_ns, amp, need)
                    self._to_top(i, x, t_ns)
                elif x > self._pk + turn:
                    # Still at the clip start and now well above the "top" it began at: that
                    # was a wiggle on the way up from a bottom (the clip began near one). Go on
                    # as a rise from that bottom: an edge rep if it gets big enough, else the
                    # top it reaches is where the next rep starts from.
                    self._mode = _EDGE_UP
                    self._start_i, self._start_ns = self._vl_i, self._vl_ns
            elif x < self._hi - turn:
                # Wobble near the bottom: the same rep continues, keeping its top.
                self._mode = _DOWN
                self.phase = "eccentric"
                if x <= self._vl:
                    self._vl, self._vl_i, self._vl_ns = x, i, t_ns
            else:
                self._check_abandon(i, x, t_ns)
        else:  # _EDGE_UP
            if x > self._hi:
                self._hi, self._pk_i, self._pk_ns = x, i, t_ns
            amp = x - self._vl
            if amp >= self._edge_need() and self._long_enough(t_ns, edge=True):
                out.append(self._emit(i, x, t_ns, amp, partial=True))
            elif x < self._hi - turn:
                # The first rise was too small for a rep: it ended at a top; now descending.
                # (Still at the clip start: a later full rise may yet be an edge rep.)
                self._enter_down(i, x, t_ns, self._hi, self._pk_i, self._pk_ns)
            else:
                self._check_abandon(i, x, t_ns)
        if self._mode != _TOP:
            self._open = None  # the next movement began: the last rep's end is final
        return out

    def _note_attempt(self, i: int, t_ns: int, amp: float, need: float) -> None:
        """Record a dip short of a rep as an :class:`~formcoach.types.Attempt` when it looks
        like a real try; counting is not affected (the caller goes back to the top as before).

        A real try: at least one rep was counted before (the person's range is known: before
        it, moving into position is not an attempt), it started from the usual rest level and
        took ``min_rep_s`` like a rep, and it went down at least :data:`ATTEMPT_MIN_FRAC` of
        the excursion a rep needs."""
        if not self._amps or amp < ATTEMPT_MIN_FRAC * need:
            return
        if not (self._from_rest(self._pk) and self._long_enough(t_ns, edge=False)):
            return
        start_i, start_ns = self._descent_start(False)
        self.attempts.append(Attempt(
            index=len(self.attempts), start_frame=start_i, bottom_frame=self._vl_i,
            end_frame=i, start_ns=start_ns, bottom_ns=self._vl_ns, end_ns=t_ns,
            rom=float(amp), needed=float(need), after_rep=len(self.events),
        ))

    def _to_top(self, i: int, x: float, t_ns: int) -> None:
        self._mode = _TOP
        self._edge = False
        self._pk, self._pk_i, self._pk_ns = x, i, t_ns
        self._start_i, self._start_ns = i, t_ns
        self._floor_i = i
        self.phase = "top" if self.events else "idle"

    def _enter_down(self, i: int, x: float, t_ns: int, pk: float, start_i: int,
                    start_ns: int) -> None:
        self._mode = _DOWN
        self._pk = pk
        self._start_i, self._start_ns = start_i, start_ns
        self._vl, self._vl_i, self._vl_ns = x, i, t_ns
        self.phase = "eccentric"

    def _check_abandon(self, i: int, x: float, t_ns: int) -> None:
        """Give up on a rep that has taken longer than ``max_rep_s`` (a rest, a walk-off)."""
        if t_ns - self._start_ns > self.config.max_rep_s * _NS:
            self._to_top(i, x, t_ns)

    def _descent_start(self, partial: bool) -> tuple[int, int]:
        """(frame, t_ns) of the start of the rep being emitted (see the module docstring).

        The top it left: scanning back from the bottom (not before the previous rep's end or
        the stream start), the highest value until, once above half-way, the signal drops more
        than ``_TOP_TOL`` of the excursion below it (the rest it started from ends there: a
        setup step or sag, the previous rep's way up; a wobble at the bottom does not count).
        It left the top at the last frame before the bottom within that tolerance of it, and
        starts ``_EASE_RATIO`` x (time from there to half-way down) earlier, over frames still
        there. An edge rep (its descent not seen) starts at its bottom."""
        if partial or self._start_i < 0:
            return self._start_i, self._start_ns
        floor = max(self._floor_i, self.events[-1].end_frame if self.events else -1)
        seg = [(x, t, j) for x, t, j in self._hist if floor <= j <= self._vl_i]
        if not seg:
            return self._start_i, self._start_ns
        tol = _TOP_TOL * (self._pk - self._vl)
        half = 0.5 * (self._pk + self._vl)
        k = len(seg) - 1
        top = seg[k][0]
        while k > 0 and (seg[k - 1][0] >= top - tol or top < half):
            k -= 1
            top = max(top, seg[k][0])
        level = top - tol
        k = len(seg) - 1
        while k > 0 and seg[k][0] < level:
            k -= 1
        t_leave = seg[k][1]
        m = k  # the first frame past half-way down
        while m < len(seg) - 1 and seg[m][0] >= 0.5 * (top + self._vl):
            m += 1
        lead = _EASE_RATIO * (seg[m][1] - t_leave)
        while k > 0 and seg[k - 1][0] >= level and t_leave - seg[k - 1][1] <= lead:
            k -= 1
        return seg[k][2], seg[k][1]

    def _emit(self, i: int, x: float, t_ns: int, amp: float, partial: bool) -> RepEvent:
        """Record the rep counted at frame ``i`` (its end refined from now on) and go back to
        the top state."""
        top = self._vl + amp
        lo, hi = sorted((self.sign * self._vl, self.sign * top))
        start_i, start_ns = self._descent_start(partial)
        ev = RepEvent(
            index=len(self.events),
            start_frame=start_i,
            bottom_frame=self._vl_i,
            end_frame=i,
            start_ns=start_ns,
            bottom_ns=self._vl_ns,
            end_ns=t_ns,
            rom_deg=float(amp),
            min_deg=float(lo),
            max_deg=float(hi),
            side=self.side,
            partial=partial,
            counted_frame=i,
            counted_ns=t_ns,
        )
        self.events.append(ev)
        # Its end is refined from now on (_OpenEnd); an edge rep's top is not known.
        hi = max(v for v, _, j in self._hist if j >= self._vl_i)
        mid_ns = next((t for v, t, j in self._hist if j >= self._vl_i and v >= self._vl + 0.5 * amp),
                      t_ns)  # half-way up (with return_frac < 0.5 not yet: from now)
        self._open = _OpenEnd(ev, -math.inf if partial else self._pk, _TOP_TOL * amp, hi, mid_ns)
        self._amps.append(amp)
        self._ref = max(_median(self._amps), self.config.min_rom)
        if not partial:
            self._tops.append(self._pk)
        self._to_top(i, x, t_ns)
        return ev

    # ------------------------------------------------------------------ hold mode
    def _step_hold(self, i: int, y: float, t_ns: int) -> list[RepEvent]:
        cfg = self.config
        inside = y == y and cfg.hold_min <= y <= cfg.hold_max
        if inside:
            if self._hold_start is None:
                self._hold_start = (i, t_ns)
                self._hold_vals = []
            self._hold_last = (i, t_ns)
            self._hold_vals.append(y)
            self.phase = "bottom"
            return []
        if self._hold_start is not None and self._hold_last is not None:
            if t_ns - self._hold_last[1] > cfg.max_gap_s * _NS:
                return self._close_hold()
        return []

    def _close_hold(self) -> list[RepEvent]:
        if self._hold_start is None or self._hold_last is None:
            return []
        (i0, t0), (i1, t1) = self._hold_start, self._hold_last
        vals = self._hold_vals
        self._hold_start = self._hold_last = None
        self._hold_vals = []
        self.phase = "idle"
        if t1 - t0 < self.config.min_hold_s * _NS:
            return []
        ev = RepEvent(
            index=len(self.events), start_frame=i0, bottom_frame=i0, end_frame=i1, start_ns=t0,
            bottom_ns=t0, end_ns=t1, rom_deg=float(max(vals) - min(vals)),
            min_deg=float(min(vals)), max_deg=float(max(vals)), side=self.side, partial=False,
            counted_frame=i1, counted_ns=t1,
        )
        self.events.append(ev)
        return [ev]
