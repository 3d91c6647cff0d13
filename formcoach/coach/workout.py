"""Workouts: a plan of exercises with sets × reps (or hold seconds), run set after set.

A plan is a TOML file (two examples ship in ``formcoach/exercises/plans``)::

    name = "Legs and push"
    rest_s = 60                 # default rest between sets, s

    [[exercise]]
    id = "squat"                # a rule-pack id or alias
    sets = 3
    reps = 10
    rest_s = 90                 # this exercise's rest (default: the plan's)
    rom_target_deg = 100        # optional: range of motion to reach, deg
    tempo_s = 3.0               # optional: seconds per rep to aim for

    [[exercise]]
    id = "plank"
    sets = 2
    hold_s = 30                 # holds: seconds instead of reps

A plan exported by the PT workspace (``formcoach serve``) also names the patient (top-level
``patient = "A. B."``) and, per exercise, the prescription it carries out (``prescription =
12``, its id in the session database): ``formcoach live --workout`` saves each set with them.

Every error names ``file:line``. :class:`WorkoutRunner` announces each set ("set 2 of 3,
squats, 10 reps"), runs it until the target is reached (or the source ends, or the user moves
on), says the set's summary, counts the rest down aloud and moves on. The set itself is any
callable that coaches one set (the CLI passes :func:`~formcoach.coach.live.run_live`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from formcoach.clock import Clock
from formcoach.coach.result import SessionResult
from formcoach.cues.kinds import WORKOUT_RULE_ID
from formcoach.cues.speech import Speaker
from formcoach.errors import ConfigError
from formcoach.exercises import load_exercise, parse_toml
from formcoach.metrics import RepMetrics
from formcoach.text import MAX_CONFIG_BYTES, clean_text, read_text_capped
from formcoach.types import NS_PER_S, Cue

log = logging.getLogger(__name__)

__all__ = [
    "PlannedExercise", "PlannedSet", "SetOutcome", "WorkoutPlan", "WorkoutResult",
    "WorkoutRunner", "announce_set", "bundled_plans", "load_plan", "parse_plan", "plan_from_args",
    "rest_calls", "set_summary_text",
]

#: Limits a plan is checked against.
MAX_SETS = 50
MAX_REPS = 1000
MAX_SECONDS = 3600.0
MAX_ITEMS = 50
#: Priority of the workout's announcements (between sets nothing else is speaking).
ANNOUNCE_PRIORITY = 1
#: Seconds before the end of a rest at which the countdown speaks.
COUNTDOWN_AT_S: tuple[float, ...] = (10.0, 3.0, 2.0, 1.0)

_TOP_KEYS = {"name", "rest_s", "exercise", "patient"}
_ITEM_KEYS = {"id", "sets", "reps", "hold_s", "rest_s", "rom_target_deg", "tempo_s",
              "prescription"}


@dataclass(frozen=True, slots=True)
class PlannedExercise:
    """One exercise of a plan.

    Attributes:
        exercise: rule-pack id (resolved from an alias).
        name: the pack's display name.
        sets: how many sets (1..MAX_SETS).
        reps: target reps per set (rep exercises), else None.
        hold_s: target seconds per set (holds), else None.
        rest_s: rest after each of its sets, s.
        rom_target_deg: range of motion to reach, deg (optional).
        tempo_s: seconds per rep to aim for (optional).
        prescription_id: the workspace prescription this carries out (optional).
    """

    exercise: str
    name: str
    sets: int
    reps: int | None
    hold_s: float | None
    rest_s: float
    rom_target_deg: float | None = None
    tempo_s: float | None = None
    prescription_id: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedSet:
    """Set ``number`` of ``of`` of one planned exercise; ``index`` counts sets over the plan."""

    item: PlannedExercise
    number: int
    of: int
    index: int

    @property
    def target(self) -> int | None:
        return self.item.reps


@dataclass(frozen=True, slots=True)
class WorkoutPlan:
    """A named list of planned exercises, done in order (``patient``: whose plan, optional)."""

    name: str
    items: tuple[PlannedExercise, ...]
    patient: str | None = None

    def sets(self) -> list[PlannedSet]:
        """Every set in order (all sets of the first exercise, then the next...)."""
        out: list[PlannedSet] = []
        for item in self.items:
            for k in range(item.sets):
                out.append(PlannedSet(item, k + 1, item.sets, len(out)))
        return out


@dataclass(slots=True)
class SetOutcome:
    """What one set did: its plan, the session result, and why it ended (``target``: reps or
    hold reached; ``next``: the user moved on; ``ended``: the source ended or it was stopped)."""

    planned: PlannedSet
    result: SessionResult
    ended_by: str
    rest_s: float = 0.0


@dataclass(slots=True)
class WorkoutResult:
    """Every set of a workout run, in order; ``announcements`` = everything said between
    sets, as ``(session-clock ns, text)``."""

    plan: WorkoutPlan
    sets: list[SetOutcome] = field(default_factory=list)
    announcements: list[tuple[int, str]] = field(default_factory=list)
    stopped: bool = False


# ------------------------------------------------------------------------------ parsing
def _line_of(text: str, index: int, key: str | None) -> int | None:
    """Line (1-based) of ``key`` inside the ``index``-th ``[[exercise]]`` table, or of the
    table's header (``key`` None or absent); top-level keys when ``index`` < 0."""
    lines = text.splitlines()
    starts = [i for i, ln in enumerate(lines) if re.match(r"^\s*\[\[\s*exercise\s*\]\]", ln)]
    if index < 0:
        lo, hi = 0, starts[0] if starts else len(lines)
    elif index < len(starts):
        lo = starts[index]
        hi = starts[index + 1] if index + 1 < len(starts) else len(lines)
    else:
        return None
    if key is not None:
        pat = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for i in range(lo, hi):
            if pat.match(lines[i]):
                return i + 1
    return lo + 1 if index >= 0 else None


def _number(raw: Any, what: str, lo: float, hi: float, integer: bool) -> float:
    ok = isinstance(raw, int | float) and not isinstance(raw, bool)
    if ok and integer and not (isinstance(raw, int) or float(raw).is_integer()):
        ok = False
    if not ok or not math.isfinite(float(raw)) or not lo <= float(raw) <= hi:
        kind = "a whole number" if integer else "a number"
        raise ValueError(f"{what} must be {kind} in {lo:g}..{hi:g}, got {str(raw)[:40]!r}")
    return float(raw)


def parse_plan(text: str, source: str = "<plan>") -> WorkoutPlan:
    """A plan from TOML text (format: module docstring).

    Raises:
        ConfigError: ``source:line: what is wrong``.
    """
    raw = parse_toml(Path(source), text, "workout plan")

    def fail(index: int, key: str | None, msg: str) -> ConfigError:
        line = _line_of(text, index, key)
        where = f"{source}:{line}" if line is not None else source
        return ConfigError(clean_text(f"{where}: {msg}", False))

    for key in raw:
        if key not in _TOP_KEYS:
            raise fail(-1, key, f"unknown key {key[:40]!r}; known: {', '.join(sorted(_TOP_KEYS))}")
    name = raw.get("name", Path(source).stem)
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise fail(-1, "name", "'name' must be a short non-empty string")
    try:
        default_rest = _number(raw.get("rest_s", 60.0), "'rest_s'", 0.0, MAX_SECONDS, False)
    except ValueError as e:
        raise fail(-1, "rest_s", str(e)) from None
    patient = raw.get("patient")
    if patient is not None and (not isinstance(patient, str) or not patient.strip()
                                or len(patient) > 100):
        raise fail(-1, "patient", "'patient' must be a short non-empty string")
    items_raw = raw.get("exercise")
    if not isinstance(items_raw, list) or not items_raw:
        raise fail(-1, None, "a plan needs at least one [[exercise]] table")
    if len(items_raw) > MAX_ITEMS:
        raise fail(-1, None, f"{len(items_raw)} exercises; the limit is {MAX_ITEMS}")
    items = []
    for k, it in enumerate(items_raw):
        if not isinstance(it, dict):
            raise fail(k, None, "each [[exercise]] must be a table")
        for key in it:
            if key not in _ITEM_KEYS:
                raise fail(k, key, f"unknown key {key[:40]!r}; known: "
                           f"{', '.join(sorted(_ITEM_KEYS))}")
        if not isinstance(it.get("id"), str):
            raise fail(k, "id", "each [[exercise]] needs an 'id' (an exercise id or alias)")
        try:
            ex = load_exercise(it["id"])
        except ConfigError as e:
            raise fail(k, "id", str(e)) from None
        got: dict[str, float | None] = {}
        try:
            got["sets"] = _number(it.get("sets", 1), "'sets'", 1, MAX_SETS, True)
            got["rest_s"] = _number(it.get("rest_s", default_rest), "'rest_s'", 0.0,
                                    MAX_SECONDS, False)
            for key, hi, integer in (("reps", MAX_REPS, True), ("hold_s", MAX_SECONDS, False),
                                     ("rom_target_deg", 360.0, False),
                                     ("tempo_s", 60.0, False),
                                     ("prescription", 2.0**62, True)):
                got[key] = None if key not in it else _number(
                    it[key], f"'{key}'", 1 if integer else 0.1, hi, integer)
        except ValueError as e:
            bad = next((key for key in _ITEM_KEYS if key in str(e).split("'")[1:2]), None)
            raise fail(k, bad, str(e)) from None
        hold = ex.kind == "hold"
        if hold and got["reps"] is not None:
            raise fail(k, "reps", f"{ex.id} is a hold: give 'hold_s' (seconds), not 'reps'")
        if not hold and got["hold_s"] is not None:
            raise fail(k, "hold_s", f"{ex.id} counts reps: give 'reps', not 'hold_s'")
        items.append(PlannedExercise(
            exercise=ex.id, name=ex.name, sets=int(got["sets"] or 1),
            reps=None if got["reps"] is None else int(got["reps"]), hold_s=got["hold_s"],
            rest_s=float(got["rest_s"] or 0.0), rom_target_deg=got["rom_target_deg"],
            tempo_s=got["tempo_s"],
            prescription_id=None if got["prescription"] is None else int(got["prescription"])))
    return WorkoutPlan(name.strip(), tuple(items),
                       None if patient is None else " ".join(patient.split()))


def bundled_plans() -> dict[str, Path]:
    """The example plans shipped in ``formcoach/exercises/plans``, by name."""
    folder = Path(str(resources.files("formcoach.exercises").joinpath("plans")))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_plan(path: str | Path) -> WorkoutPlan:
    """:func:`parse_plan` of a file (at most :data:`~formcoach.text.MAX_CONFIG_BYTES`), or of
    a bundled plan given by name (see :func:`bundled_plans`).

    Raises:
        ConfigError: missing, unreadable, too large, or invalid (``file:line``).
    """
    p = Path(path)
    if not p.is_file():
        bundled = bundled_plans()
        if str(path) not in bundled:
            raise ConfigError(clean_text(f"workout plan not found: {p} (bundled plans: "
                                         f"{', '.join(bundled)})", False))
        p = bundled[str(path)]
    return parse_plan(read_text_capped(p, MAX_CONFIG_BYTES, "workout plan", ConfigError), str(p))


def plan_from_args(exercise: str, sets: int = 1, reps: int | None = None,
                   rest_s: float = 60.0, hold_s: float | None = None) -> WorkoutPlan:
    """A one-exercise plan from the command line (``--sets 3 --reps 10 --rest 60``).

    Raises:
        ConfigError: out-of-range values or an unknown exercise (one line).
    """
    what = f"{reps} reps" if reps is not None else f"{hold_s:g} s" if hold_s is not None else ""
    name = f"{exercise} {int(sets)} x {what}".strip().rstrip("x").strip()
    lines = [f"name = {name!r}", f"rest_s = {float(rest_s)!r}", "[[exercise]]",
             f"id = {exercise!r}",
             f"sets = {int(sets)}"]
    if reps is not None:
        lines.append(f"reps = {int(reps)}")
    if hold_s is not None:
        lines.append(f"hold_s = {float(hold_s)!r}")
    try:
        return parse_plan("\n".join(lines) + "\n", "command line")
    except ConfigError as e:
        msg = re.sub(r"^command line:\d+: ", "", str(e))
        for key, flag in (("'hold_s'", "--hold"), ("'reps'", "--reps"), ("'sets'", "--sets"),
                          ("'rest_s'", "--rest")):
            msg = msg.replace(key, flag)
        raise ConfigError(msg) from None


# ------------------------------------------------------------------------------ speech
def _plural(name: str) -> str:
    low = name.lower()
    return low if low.endswith("s") else f"{low}s"


def announce_set(ps: PlannedSet) -> str:
    """What is said before a set: ``set 2 of 3, squats, 10 reps``."""
    it = ps.item
    what = (f"{it.reps} reps" if it.reps is not None
            else f"hold {it.hold_s:g} seconds" if it.hold_s is not None else "as many as you can")
    return f"set {ps.number} of {ps.of}, {_plural(it.name)}, {what}"


def set_summary_text(result: SessionResult, item: PlannedExercise | None = None) -> str:
    """The spoken end-of-set summary: ``10 reps, 8 clean, knee valgus on 2``, plus how the set
    compares with the plan's ROM or tempo target when ``item`` has one ("range 72 degrees,
    target 90"; "2.1 seconds a rep, target 3")."""
    m = result.metrics
    if result.exercise.kind == "hold":
        held = m.held_s if math.isfinite(m.held_s) else 0.0
        return f"held {held:.0f} seconds"
    n = len(result.reps)
    clean = sum(1 for r in m.reps if r.judged and not r.faults)
    parts = [f"{n} rep" + ("" if n == 1 else "s")]
    if any(r.judged for r in m.reps):
        parts.append(f"{clean} clean")
    counts: dict[str, set[int]] = {}
    for f in result.faults:
        if f.rep_index is not None:
            counts.setdefault(f.rule_id, set()).add(f.rep_index)
    if counts:
        rule, reps = max(counts.items(), key=lambda kv: (len(kv[1]), kv[0]))
        parts.append(f"{rule.replace('_', ' ')} on {len(reps)}")
    roms = [r.rom_deg for r in m.reps if math.isfinite(r.rom_deg)]
    if item is not None and item.rom_target_deg is not None and roms:
        rom = sum(roms) / len(roms)
        if rom < item.rom_target_deg:
            parts.append(f"range {rom:.0f} degrees, target {item.rom_target_deg:g}")
    durs = [r.duration_s for r in m.reps if math.isfinite(r.duration_s)]
    if item is not None and item.tempo_s is not None and durs:
        tempo = sum(durs) / len(durs)
        if abs(tempo - item.tempo_s) > 0.25 * item.tempo_s:
            parts.append(f"{tempo:.1f} seconds a rep, target {item.tempo_s:g}")
    return ", ".join(parts)


def rest_calls(rest_s: float) -> list[tuple[float, str]]:
    """``(seconds into the rest, text)`` spoken during a rest: its length first, then the
    countdown (at 10, 3, 2 and 1 s left, those the rest is long enough for)."""
    if rest_s <= 0:
        return []
    out = [(0.0, f"rest {rest_s:g} seconds")]
    for left in COUNTDOWN_AT_S:
        if left < rest_s - 1.0 or (left <= 3.0 and left < rest_s):
            out.append((rest_s - left, f"{left:g}"))
    return out


# ------------------------------------------------------------------------------ running
RunSet = Callable[[PlannedSet, threading.Event, Callable[[RepMetrics], None]], SessionResult]


class WorkoutRunner:
    """Runs a plan: announce, coach the set until its target, summary, rest countdown, next.

    Args:
        plan: the plan.
        run_set: coaches one set: ``run_set(planned, stop, on_rep) -> SessionResult``; it must
            return when ``stop`` is set, call ``on_rep`` with each finished rep, and end the
            set at its target (``planned.target`` reps counted, or ``planned.item.hold_s``
            seconds held in position; :func:`~formcoach.coach.live.run_live` does both).
        speaker: says the announcements (the same speaker the set's cues use; between sets
            nothing else is speaking).
        clock: session clock, for the announcement log.
        sleep: waits that many seconds (tests pass a fake that moves a FakeClock).
        next_set: an event the UI sets to end the current set or skip the rest ("n").
        stop: an event that ends the whole workout ("q", Ctrl-C).
        on_announce: called with each announcement's text (the CLI prints it).
        on_rest: called through each rest with ``(the set just done, seconds of rest left,
            the next set)`` (the CLI shows the end-of-set card).
    """

    def __init__(self, plan: WorkoutPlan, run_set: RunSet, speaker: Speaker, clock: Clock,
                 *, sleep: Callable[[float], None] = time.sleep,
                 next_set: threading.Event | None = None,
                 stop: threading.Event | None = None,
                 on_announce: Callable[[str], None] | None = None,
                 on_rest: Callable[[SetOutcome, float, PlannedSet], None] | None = None
                 ) -> None:
        self.plan, self.run_set, self.speaker, self.clock = plan, run_set, speaker, clock
        self.on_announce, self.on_rest = on_announce, on_rest
        self.sleep = sleep
        self.next_set = next_set or threading.Event()
        self.stop = stop or threading.Event()

    def _say(self, out: WorkoutResult, text: str) -> None:
        now = self.clock.now_ns()
        out.announcements.append((now, text))
        log.info("workout: %s", text)
        if self.on_announce is not None:
            self.on_announce(text)
        self.speaker.say(Cue(text, ANNOUNCE_PRIORITY, WORKOUT_RULE_ID, now, now))

    def run(self) -> WorkoutResult:
        """Every set of the plan in order; returns early (``stopped``) when ``stop`` is set."""
        out = WorkoutResult(self.plan)
        sets = self.plan.sets()
        for ps in sets:
            if self.stop.is_set():
                out.stopped = True
                break
            self._say(out, announce_set(ps))
            outcome = self._one_set(ps)
            out.sets.append(outcome)
            self._say(out, set_summary_text(outcome.result, ps.item))
            if ps.index + 1 < len(sets) and not self.stop.is_set():
                outcome.rest_s = self._rest(out, ps.item.rest_s, outcome, sets[ps.index + 1])
        out.stopped = out.stopped or self.stop.is_set()
        return out

    def _one_set(self, ps: PlannedSet) -> SetOutcome:
        done = threading.Event()
        reached = threading.Event()
        self.next_set.clear()
        count = [0]

        def on_rep(_: RepMetrics) -> None:
            count[0] += 1

        watcher = threading.Thread(target=self._watch, args=(done,), daemon=True)
        watcher.start()
        try:
            result = self.run_set(ps, done, on_rep)
        finally:
            done.set()
            watcher.join(timeout=1.0)
        held = result.metrics.held_s
        if ps.item.hold_s is not None and math.isfinite(held) and held >= ps.item.hold_s:
            reached.set()
        if ps.target is not None and len(result.reps) >= ps.target:
            reached.set()
        ended = ("target" if reached.is_set() else "next" if self.next_set.is_set()
                 else "ended")
        return SetOutcome(ps, result, ended)

    def _watch(self, done: threading.Event) -> None:
        """Ends the set when the user moves on (``next_set``) or quits (``stop``)."""
        while not done.wait(0.05):
            if self.next_set.is_set() or self.stop.is_set():
                done.set()

    def _rest(self, out: WorkoutResult, rest_s: float, done: SetOutcome,
              nxt: PlannedSet) -> float:
        """Rest with the spoken countdown; ``next_set`` skips the rest of it. Returns the
        seconds rested."""
        self.next_set.clear()
        start = self.clock.now_ns()

        def elapsed() -> float:
            return (self.clock.now_ns() - start) / NS_PER_S

        def wait_until(at: float) -> bool:
            """Sleep until ``at`` s into the rest; False when the rest was cut short."""
            while elapsed() < at:
                if self.next_set.is_set() or self.stop.is_set():
                    return False
                if self.on_rest is not None:
                    self.on_rest(done, rest_s - elapsed(), nxt)
                self.sleep(min(0.1, at - elapsed()))
            return True

        for at, text in rest_calls(rest_s):
            if not wait_until(at):
                return elapsed()
            self._say(out, text)
        wait_until(rest_s)
        return elapsed()
