"""The exercise catalogue: one TOML rule pack per exercise (schema: docs/rule_packs.md).

>>> ex = load_exercise("push-ups")        # id, alias, or a path to a user's .toml
>>> ex.id, ex.count.signal
('pushup', 'elbow')

This module owns the top-level keys, ``[count]`` and ``[metrics]``; ``[[rules]]`` is kept as raw
dicts in :attr:`Exercise.rules_raw` and validated by :mod:`formcoach.rules`. Unknown keys,
wrong types and TOML syntax errors raise :class:`~formcoach.errors.ConfigError` with
``file:line``.

Crafted packs are refused before or while parsing (limits: :data:`MAX_PACK_BYTES`,
:data:`MAX_TOML_DEPTH`, :data:`MAX_KEY_PARTS`, numbers finite and within :data:`MAX_NUMBER`),
and control characters in the pack's text (cue, name, ...) are escaped (:func:`clean_text`),
so printing a pack's strings cannot drive the terminal.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import tomllib
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from formcoach.errors import ConfigError
from formcoach.kinematics.view import VIEW_ALIASES, VIEWS
from formcoach.text import MAX_CONFIG_BYTES, bracket_depth, clean_text, read_text_capped

__all__ = [
    "MAX_KEY_PARTS", "MAX_NUMBER", "MAX_PACK_BYTES", "MAX_TOML_DEPTH", "CountConfig", "Exercise",
    "exercise_ids", "list_exercises", "load_exercise", "parse_toml",
]

log = logging.getLogger(__name__)

#: Largest rule pack accepted, bytes (the bundled ones are < 4 KB).
MAX_PACK_BYTES = MAX_CONFIG_BYTES
#: Deepest nesting of arrays / inline tables (``[[rules]]`` is 2).
MAX_TOML_DEPTH = 16
#: Most parts in one dotted key or table name (``a.b.c`` has 3). tomllib's time grows with the
#: square of this: a 100 KB key of 50 000 parts stalls it for about a minute.
MAX_KEY_PARTS = 16
#: Largest magnitude of a number in ``[count]`` (besides the seconds limits below).
MAX_NUMBER = 1e6
#: Upper limits of the ``[count]`` durations, seconds.
_MAX_SECONDS = {"min_rep_s": 600.0, "max_rep_s": 600.0, "smooth_s": 10.0, "max_gap_s": 600.0,
                "min_hold_s": 86400.0}
#: ``[count]`` bounds that may be +-inf (their defaults are), never NaN.
_INF_OK = frozenset({"hold_min", "hold_max", "gate_min", "gate_max"})


@dataclass(frozen=True, slots=True)
class CountConfig:
    """How reps are segmented (the ``[count]`` table); knobs documented in :mod:`formcoach.reps`.

    Attributes:
        signal: feature name; a side-less joint name (``"knee"``) expands to left_/right_.
        side: ``auto`` (visibility-weighted), ``left``, ``right`` or ``both`` (mean).
        rep_direction: ``down`` (a rep moves the signal down from rest and back) or ``up``.
        min_rom: smallest excursion that can be a rep, in signal units (deg for angles).
        rel_rom: a rep must reach this fraction of the person's typical excursion.
        return_frac: fraction of the way back to the start that counts a rep.
        hysteresis: fraction of the typical excursion a reversal must exceed to be a turn.
        min_visibility: frames where the signal's landmarks are seen less clearly than this
            (BlazePose visibility) are gaps: the model is guessing.
        edge_factor: a rep cut by the clip start (only its rise is seen) must rise this many
            times the smallest rep excursion.
        first_factor: before the first rep (the person's range unknown) a rep must reach
            ``first_factor`` x ``min_rom``: stepping or shuffling into position is not a rep.
        max_lean: frames whose torso leans further than this from upright (deg; 180 = upside
            down) are tracking failures for this exercise and treated as gaps.
        top_tol: a rep must start within this fraction of the typical excursion of the usual
            rest (top) level.
        min_rep_s: shortest plausible rep (s), from half-way down to the count.
        max_rep_s: longest plausible descent-to-return time (s).
        smooth_s: centred median window (s) applied to the signal (bounded look-ahead).
        max_gap_s: NaN gaps longer than this reset a rep in progress (s).
        hold_min, hold_max: for ``kind = "hold"``: signal range that counts as holding.
        min_hold_s: shortest hold reported (s).
        gate: optional feature that must lie in ``[gate_min, gate_max]`` for a frame to count
            (e.g. ``torso_lean`` for push-ups: not upright); other frames are treated as gaps.
    """

    signal: str = "knee"
    side: str = "auto"
    rep_direction: str = "down"
    min_rom: float = 30.0
    rel_rom: float = 0.4
    return_frac: float = 0.6
    hysteresis: float = 0.2
    top_tol: float = 0.5
    min_visibility: float = 0.25
    edge_factor: float = 2.0
    first_factor: float = 1.3
    max_lean: float = 180.0
    min_rep_s: float = 0.3
    max_rep_s: float = 20.0
    smooth_s: float = 0.1
    max_gap_s: float = 1.0
    hold_min: float = float("-inf")
    hold_max: float = float("inf")
    min_hold_s: float = 1.0
    gate: str = ""
    gate_min: float = float("-inf")
    gate_max: float = float("inf")


@dataclass(frozen=True, slots=True)
class Exercise:
    """One rule pack.

    Attributes:
        id: canonical id (as in manifests), e.g. ``"pushup"``.
        name: display name.
        aliases: other names accepted by :func:`load_exercise`.
        kind: ``"reps"`` or ``"hold"``.
        views: views the exercise can be coached from.
        count: the ``[count]`` table.
        metrics: feature names (side-less allowed) whose per-rep range of motion is reported.
        rules_raw: the ``[[rules]]`` tables as parsed, for :mod:`formcoach.rules`.
        description: free text.
        path: the TOML file it came from.
        attempt_cue: said when a movement starts a rep but does not reach the counted range
            (``""``: no such cue); ``kind = "reps"`` only.
        velocity_point: ``[metrics] velocity_point``, the point whose concentric velocity is
            measured per rep (``"hip"``, ``"shoulder"``, ``"wrist"``; ``""``: none).
        concentric: ``[metrics] concentric``, which half of a rep is the lift (concentric):
            ``"return"`` (back to rest: squat, push-up, bench press) or ``"away"`` (away from
            rest: curl, press, pull-up).
    """

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    kind: str = "reps"
    views: tuple[str, ...] = ("front", "side", "45")
    count: CountConfig = field(default_factory=CountConfig)
    metrics: tuple[str, ...] = ()
    rules_raw: list[dict[str, Any]] = field(default_factory=list)
    description: str = ""
    path: Path | None = None
    attempt_cue: str = ""
    velocity_point: str = ""
    concentric: str = "return"


_TOP_KEYS = {"id", "name", "aliases", "kind", "views", "description", "count", "metrics", "rules",
             "attempt_cue"}
_COUNT_TYPES: dict[str, type] = {f.name: type(f.default) for f in fields(CountConfig)}
_COUNT_ALIASES = {"min_rom_deg": "min_rom"}
_METRIC_KEYS = {"joints", "velocity_point", "concentric"}
_CONCENTRIC = ("return", "away")
_SIDES = ("auto", "left", "right", "both")
_DIRECTIONS = ("down", "up")
_KINDS = ("reps", "hold")
_VIEWS = (*VIEWS, *VIEW_ALIASES, "any")


def _line_of(text: str, table: str | None, key: str) -> int:
    """1-based line where ``key =`` appears inside ``[table]`` (top level when None); 0 if not
    found."""
    current: str | None = None
    for i, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if s.startswith("["):
            current = s.strip("[] ").split("]")[0].strip()
            if table is not None and current == table and key == "":
                return i
            continue
        if current == table and re.match(rf"{re.escape(key)}\s*=", s):
            return i
    return 0


class _Ctx:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: str | None, key: str, msg: str) -> ConfigError:
        line = _line_of(self.text, table, key)
        msg = f"{self.path}:{line}: {msg}" if line else f"{self.path}: {msg}"
        return ConfigError(clean_text(msg, keep_newlines=False))

    def clean(self, table: str | None, key: str, value: str, one_line: bool = True) -> str:
        """``value`` with control characters escaped (a warning says where)."""
        cleaned = clean_text(value, keep_newlines=not one_line)
        if cleaned != value:
            log.warning("%s:%s: control characters in '%s' escaped: %s",
                        clean_text(str(self.path), False), _line_of(self.text, table, key) or "?",
                        clean_text(key, False), clean_text(cleaned, False)[:80])
        return cleaned


def _norm(name: str) -> str:
    """Lower-case, strip separators: 'Push-Ups' -> 'pushups'."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _pack_dir() -> Path:
    return Path(str(resources.files("formcoach.exercises")))


@cache
def _catalogue() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_pack_dir().glob("*.toml"))}


def exercise_ids() -> list[str]:
    """Ids of the bundled packs, sorted."""
    return sorted(_catalogue())


def list_exercises() -> list[Exercise]:
    """Every bundled pack, loaded, sorted by id."""
    return [load_exercise(_catalogue()[i]) for i in exercise_ids()]


@cache
def _alias_map() -> dict[str, str]:
    out: dict[str, str] = {}
    for ex_id, path in _catalogue().items():
        ex = _load_file(path)
        for n in (ex_id, ex.name, *ex.aliases):
            key = _norm(n)
            out[key] = ex_id
            if not key.endswith("s"):
                out.setdefault(key + "s", ex_id)
    return out


def load_exercise(name_or_path: str | Path) -> Exercise:
    """Load a bundled pack by id/alias (``"push-up"``, ``"pushups"``) or a user's TOML file.

    Raises:
        ConfigError: unknown name (the message lists valid ids), or a malformed pack
            (``file:line: message``).
        InputError: never; a path that does not exist is reported as ConfigError.
    """
    s = str(name_or_path)
    if isinstance(name_or_path, Path) or s.endswith(".toml") or "/" in s or "\\" in s:
        path = Path(s).expanduser()
        if not path.is_file():
            raise ConfigError(f"exercise file not found: {path}")
        return _load_file(path)
    ex_id = _alias_map().get(_norm(s))
    if ex_id is None:
        raise ConfigError(
            f"unknown exercise {s!r}; choose one of: {', '.join(exercise_ids())} "
            "(or pass a path to your own .toml rule pack)"
        )
    return _load_file(_catalogue()[ex_id])


def _short(value: Any) -> str:
    """``repr(value)``, cut to 60 characters (a 400-digit number is not echoed whole)."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _expect(ctx: _Ctx, table: str | None, key: str, value: Any, typ: type | tuple) -> Any:
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_NUMBER:
            raise ctx.fail(table, key, f"'{key}' = {_short(value)} is out of range (at most "
                           f"{MAX_NUMBER:g} in magnitude)")
        value = float(value)
    if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
        want = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise ctx.fail(table, key, f"'{key}' must be a {want}, got {_short(value)}")
    if typ is float and isinstance(value, float):
        if math.isnan(value):
            raise ctx.fail(table, key, f"'{key}' must be a number, got nan")
        if math.isinf(value) and key not in _INF_OK:
            raise ctx.fail(table, key, f"'{key}' must be finite, got {value}")
        if math.isfinite(value) and abs(value) > MAX_NUMBER:
            raise ctx.fail(table, key, f"'{key}' = {_short(value)} is out of range (at most "
                           f"{MAX_NUMBER:g} in magnitude)")
    if typ is str and isinstance(value, str):
        value = ctx.clean(table, key, value, one_line=key != "description")
    return value


def _str_list(ctx: _Ctx, table: str | None, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.fail(table, key, f"'{key}' must be a list of strings, got {_short(value)}")
    return tuple(ctx.clean(table, key, v) for v in value)


def _choice(ctx: _Ctx, table: str | None, key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ctx.fail(table, key, f"'{key}' = {_short(value)}; use one of: {', '.join(choices)}")
    return value


def _parse_count(ctx: _Ctx, raw: Any) -> CountConfig:
    if not isinstance(raw, dict):
        raise ctx.fail(None, "count", "[count] must be a table")
    kw: dict[str, Any] = {}
    for key, value in raw.items():
        name = _COUNT_ALIASES.get(key, key)
        if name not in _COUNT_TYPES:
            raise ctx.fail(
                "count", key, f"unknown key '{key}' in [count]; known: {', '.join(_COUNT_TYPES)}"
            )
        kw[name] = _expect(ctx, "count", key, value, _COUNT_TYPES[name])
    cfg = CountConfig(**kw)
    _choice(ctx, "count", "side", cfg.side, _SIDES)
    _choice(ctx, "count", "rep_direction", cfg.rep_direction, _DIRECTIONS)
    from formcoach.kinematics.features import FEATURES, sided

    if cfg.signal not in FEATURES and sided(cfg.signal) is None:
        raise ctx.fail("count", "signal", f"unknown signal feature {cfg.signal!r}; see "
                       "formcoach/kinematics/features.py for the names")
    if cfg.gate and cfg.gate not in FEATURES and sided(cfg.gate) is None:
        raise ctx.fail("count", "gate", f"unknown gate feature {cfg.gate!r}")
    vals = dataclasses.asdict(cfg)
    for key in ("min_rom", "edge_factor", "first_factor", "max_lean", "min_rep_s", "max_rep_s", "max_gap_s"):
        if not vals[key] > 0:
            raise ctx.fail("count", key, f"'{key}' must be > 0, got {vals[key]}")
    for key in ("rel_rom", "return_frac", "hysteresis", "top_tol", "min_visibility"):
        if not 0 < vals[key] <= 1:
            raise ctx.fail("count", key, f"'{key}' must be in (0, 1], got {vals[key]}")
    if cfg.smooth_s < 0:
        raise ctx.fail("count", "smooth_s", f"'smooth_s' must be >= 0, got {cfg.smooth_s}")
    if cfg.max_lean > 180:
        raise ctx.fail("count", "max_lean", f"'max_lean' must be <= 180 (deg), got {cfg.max_lean}")
    for key, hi in _MAX_SECONDS.items():
        if vals[key] > hi:
            raise ctx.fail("count", key, f"'{key}' must be <= {hi:g} s, got {vals[key]}")
    return cfg


# Strings and comments of a TOML text (multi-line forms first), for the structural pre-check.
_TOML_SKIP = re.compile(
    r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*'
)
# Possessive quantifiers and the look-behind keep the search linear on crafted text.
_BARE = r"[A-Za-z0-9_-]++"
_LONG_KEY = re.compile(
    rf"(?<![A-Za-z0-9_-]){_BARE}(?:[ \t]*+\.[ \t]*+{_BARE}){{{MAX_KEY_PARTS},}}"
)


def _toml_skeleton(text: str) -> str:
    """``text`` with every string replaced by ``_`` and comments removed; lines kept."""

    def sub(m: re.Match[str]) -> str:
        s = m.group()
        return "" if s.startswith("#") else "_" + "\n" * s.count("\n")

    return _TOML_SKIP.sub(sub, text)


def _precheck(path: Path, text: str, what: str = "rule pack") -> None:
    """Refuse structures that make tomllib slow or recurse deeply, before parsing (linear)."""
    skel = _toml_skeleton(text)
    m = _LONG_KEY.search(skel)
    if m is not None:
        line = skel.count("\n", 0, m.start()) + 1
        parts = m.group().count(".") + 1
        raise ConfigError(clean_text(
            f"{path}:{line}: dotted key or table name with {parts} parts (the limit is "
            f"{MAX_KEY_PARTS}); {what}s use plain keys", False))
    depth, at = bracket_depth(skel)
    if depth > MAX_TOML_DEPTH:
        line = skel.count("\n", 0, at) + 1
        raise ConfigError(clean_text(
            f"{path}:{line}: arrays or tables nested {depth} levels deep (the limit is "
            f"{MAX_TOML_DEPTH}); not a {what}", False))


def parse_toml(path: Path, text: str, what: str = "rule pack") -> dict[str, Any]:
    """Parse a capped TOML config with formcoach's limits (see the module docstring).

    Raises:
        ConfigError: ``file:line`` and what is wrong (crafted structure, syntax, bad value).
    """
    _precheck(path, text, what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        line = m.group(1) if m else "?"
        raise ConfigError(clean_text(f"{path}:{line}: TOML syntax error: {e}", False)) from e
    except (ValueError, RecursionError) as e:  # e.g. an integer of more than 4300 digits
        raise ConfigError(clean_text(
            f"{path}: unreadable TOML value ({str(e)[:80]}); numbers must be plain and short",
            False)) from e


def _parse(path: Path, text: str) -> Exercise:
    ctx = _Ctx(path, text)
    raw = parse_toml(path, text)
    for key in raw:
        if key not in _TOP_KEYS:
            raise ctx.fail(None, key, f"unknown key {_short(key)}; known: "
                           f"{', '.join(sorted(_TOP_KEYS))}")
    if "id" not in raw:
        raise ConfigError(f"{path}: missing required key 'id'")
    ex_id = _expect(ctx, None, "id", raw["id"], str)
    name = _expect(ctx, None, "name", raw.get("name", ex_id), str)
    kind = _choice(ctx, None, "kind", _expect(ctx, None, "kind", raw.get("kind", "reps"), str),
                   _KINDS)
    aliases = _str_list(ctx, None, "aliases", raw.get("aliases", []))
    views = _str_list(ctx, None, "views", raw.get("views", ["front", "side", "45"]))
    for v in views:
        _choice(ctx, None, "views", v, _VIEWS)
    description = _expect(ctx, None, "description", raw.get("description", ""), str)
    count = _parse_count(ctx, raw.get("count", {}))
    metrics_raw = raw.get("metrics", {})
    if not isinstance(metrics_raw, dict):
        raise ctx.fail(None, "metrics", "[metrics] must be a table")
    for key in metrics_raw:
        if key not in _METRIC_KEYS:
            raise ctx.fail("metrics", key, f"unknown key '{key}' in [metrics]; known: "
                           f"{', '.join(sorted(_METRIC_KEYS))}")
    metrics = _str_list(ctx, "metrics", "joints", metrics_raw.get("joints", []))
    from formcoach.kinematics.features import FEATURES, sided
    from formcoach.kinematics.velocity import MOVING_POINTS

    point = _expect(ctx, "metrics", "velocity_point", metrics_raw.get("velocity_point", ""), str)
    if point:
        _choice(ctx, "metrics", "velocity_point", point, tuple(MOVING_POINTS))
    concentric = _choice(ctx, "metrics", "concentric", _expect(
        ctx, "metrics", "concentric", metrics_raw.get("concentric", "return"), str), _CONCENTRIC)
    if point and kind != "reps":
        raise ctx.fail("metrics", "velocity_point", "'velocity_point' needs kind = \"reps\"")

    for metric in metrics:
        if metric not in FEATURES and sided(metric) is None:
            raise ctx.fail("metrics", "joints", f"unknown metric feature {metric!r}")
    attempt_cue = _expect(ctx, None, "attempt_cue", raw.get("attempt_cue", ""), str)
    if attempt_cue and kind != "reps":
        raise ctx.fail(None, "attempt_cue", "'attempt_cue' needs kind = \"reps\" (a hold has "
                       "no attempts)")
    rules = raw.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ctx.fail(None, "rules", "'rules' must be an array of tables ([[rules]])")
    return Exercise(
        id=ex_id, name=name, aliases=aliases, kind=kind, views=views, count=count,
        metrics=metrics, rules_raw=rules, description=description, path=path,
        attempt_cue=attempt_cue, velocity_point=point, concentric=concentric,
    )


def _load_file(path: Path) -> Exercise:
    text = read_text_capped(path, MAX_PACK_BYTES, "exercise file", ConfigError)
    return _parse(path, text)
