"""Form-fault rules: parsing ``[[rules]]`` tables and judging them on a pose stream.

A rule compares one feature (see :mod:`formcoach.kinematics.features` and
:mod:`formcoach.kinematics.derived`) with a threshold (schema: ``docs/rule_packs.md``):

* ``scope = "frame"``: judged on every frame; a fault fires once the violation has lasted
  ``hold_s`` seconds, and re-arms when the form is good again.
* ``scope = "rep"``: judged once per rep, when the rep segmenter reports it, by reducing the
  feature over the rep's frames or one phase of it (``min``, ``max``, ``mean``, ``range``, ...).

Rules are only judged from the views they list; from any other view (or when the joints are not
visible) a rule is **not assessed**: the engine never guesses. From a view in a rep rule's
``fault_views`` (where the reading can only err towards passing) a violation is a fault and a
pass is not assessed.

:class:`RulesEngine` is driven by the coach: ``on_frame(state)`` and ``on_rep(rep)`` return the
faults they find. It reads the features and view the coach computed for the frame
(:class:`~formcoach.types.FrameState`) and computes only its rule-only derived features, so it
can also be driven directly (:func:`judge_sequence`, :func:`judge_frames`).
"""

from __future__ import annotations

import itertools
import logging
import math
import operator
import re
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from formcoach.errors import ConfigError
from formcoach.exercises import Exercise
from formcoach.kinematics.derived import RuleFeatureExtractor, compute_rule_features, is_feature
from formcoach.kinematics.features import FEATURES, compute_features
from formcoach.kinematics.view import VIEW_ALIASES, VIEWS, ViewDetector, frame_view
from formcoach.rules.hold import DOWN_NOT_HOLDING, IN_POSITION, HoldTimer, hold_position
from formcoach.skeleton import LM, NUM_LANDMARKS
from formcoach.text import MAX_CONFIG_BYTES, clean_text
from formcoach.types import NS_PER_S, Fault, FrameState, PoseResult, RepEvent, RepProgress

__all__ = [
    "ASSESSED",
    "FAULT",
    "NOT_ASSESSED",
    "OK",
    "Rule",
    "RulesEngine",
    "judge_frames",
    "judge_sequence",
    "parse_rules",
]

log = logging.getLogger(__name__)

OK = "ok"
FAULT = "fault"
NOT_ASSESSED = "not_assessed"
ASSESSED = (OK, FAULT)

SCOPES = ("rep", "frame")
PHASES = ("bottom", "top", "concentric", "eccentric", "any")
REDUCES = ("min", "max", "mean", "range", "spread", "p10", "p90", "rise", "fall")
SIDES = ("auto", "left", "right", "worst")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_REQUIRED = ("id", "cue", "feature", "op", "threshold", "rationale")
_KEYS = {
    "id", "cue", "severity", "views", "scope", "phase", "feature", "side", "reduce", "op",
    "threshold", "hold_s", "rationale", "min_valid", "reference", "reason", "fault_views",
}
#: Landmarks out of the picture for each framing problem of
#: :func:`formcoach.coach.framing.framing_problem`: on such a frame, features that read them
#: are unmeasured (a heel below the frame's edge cannot be seen to lift).
_HEAD = frozenset(range(11))
_FEET = frozenset(range(27, 33))
OUT_OF_VIEW: dict[str, frozenset[int]] = {
    "head_out": _HEAD, "feet_out": _FEET, "too_close": _HEAD | _FEET,
    "knees_hidden": frozenset((25, 26)), "feet_hidden": _FEET,
}

#: Seconds either side of a frame dropped as implausible whose values the rep rules do not use.
DROP_GUARD_S = 0.1
#: Fraction of a rep (each side of the turnaround) that makes up the ``bottom``/``top`` phase.
PHASE_FRACTION = 0.15
#: A feature name ending in this is the time derivative of the rest (units per second).
VELOCITY_SUFFIX = "_velocity"
#: Time base of velocities: the difference over this many seconds (at least one frame).
VELOCITY_WINDOW_S = 0.1


def _base(name: str) -> str:
    """The feature a ``<feature>_velocity`` name differentiates (the name itself otherwise)."""
    return name[: -len(VELOCITY_SUFFIX)] if name.endswith(VELOCITY_SUFFIX) else name

_LEFT_SIDE = np.array([LM.LEFT_SHOULDER, LM.LEFT_ELBOW, LM.LEFT_WRIST, LM.LEFT_HIP,
                       LM.LEFT_KNEE, LM.LEFT_ANKLE])
_RIGHT_SIDE = np.array([LM.RIGHT_SHOULDER, LM.RIGHT_ELBOW, LM.RIGHT_WRIST, LM.RIGHT_HIP,
                        LM.RIGHT_KNEE, LM.RIGHT_ANKLE])


@dataclass(frozen=True, slots=True)
class Rule:
    """One parsed ``[[rules]]`` table (see ``docs/rule_packs.md`` for each field)."""

    id: str
    cue: str
    feature: str
    op: str
    threshold: float
    rationale: str
    severity: int = 2
    views: tuple[str, ...] = VIEWS
    scope: str = "rep"
    phase: str = "any"
    side: str = "auto"
    reduce: str = "max"
    hold_s: float = 0.0
    min_valid: float = 0.5
    source: str = ""
    #: Literature or other source behind the threshold (optional ``reference`` key).
    reference: str = ""
    reason: str = ""
    #: Views where the reading can only err towards passing (optional ``fault_views`` key): a
    #: violation seen there is a fault, but a pass proves nothing, so the rule stays not judged.
    fault_views: tuple[str, ...] = ()

    def judged_from(self, view: str) -> bool:
        """True when ``view`` can show this rule's fault (a view of :attr:`views` or of
        :attr:`fault_views`)."""
        return view in self.views or view in self.fault_views

    @property
    def sided(self) -> tuple[str, str] | None:
        """``(left_<feature>, right_<feature>)`` for a side-less sided feature, else None."""
        if is_feature(_base(self.feature)):
            return None
        return f"left_{self.feature}", f"right_{self.feature}"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Registry names the rule reads."""
        return self.sided or (self.feature,)

    def violated(self, value: float) -> bool:
        """True when ``value op threshold`` (False for NaN)."""
        return bool(np.isfinite(value)) and _OPS[self.op](value, self.threshold)

    def worse(self, a: float, b: float) -> float:
        """The more violating of two values (NaN-aware)."""
        if not np.isfinite(a):
            return b
        if not np.isfinite(b):
            return a
        return max(a, b) if self.op in (">", ">=") else min(a, b)


# --------------------------------------------------------------------------- parsing
def _rule_line(source: str, rule_id: str | None, index: int) -> str:
    """``file:line`` of a rule's ``id = "..."`` (or its n-th ``[[rules]]``) when ``source`` is a
    readable file; otherwise ``source`` plus the rule id."""
    path = Path(source)
    try:
        small = source and path.is_file() and path.stat().st_size <= MAX_CONFIG_BYTES
        text = path.read_text(encoding="utf-8") if small else None
    except (OSError, UnicodeDecodeError):
        text = None
    if text is not None:
        lines = text.splitlines()
        if rule_id is not None:
            pat = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(rule_id)}[\"']")
            for i, line in enumerate(lines, 1):
                if pat.match(line):
                    return f"{source}:{i}"
        n = -1
        for i, line in enumerate(lines, 1):
            if line.strip().startswith("[[rules]]"):
                n += 1
                if n == index:
                    return f"{source}:{i}"
    where = f"rule {rule_id!r}" if rule_id else f"rules[{index}]"
    return f"{source}: {where}" if source else where


#: Largest magnitude of a rule threshold (degrees, ratios and velocities are far below it).
MAX_THRESHOLD = 1e6


def _short(value: Any) -> str:
    """``repr(value)`` cut to 60 characters (a 400-digit number is not echoed whole)."""
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


def _finite(x: float) -> bool:
    """A finite number within :data:`MAX_THRESHOLD` (huge ints do not overflow here)."""
    return -MAX_THRESHOLD <= x <= MAX_THRESHOLD


def _pack_text(text: str, source: str, rid: str, key: str, multiline: bool = False) -> str:
    """A pack string with terminal control characters escaped (cue text is printed)."""
    cleaned = clean_text(text, keep_newlines=multiline)
    if cleaned != text:
        log.warning("%s: rule %s: control characters in %s escaped: %s",
                    clean_text(source, False), rid, key, cleaned[:80])
    return cleaned


def _known_feature(name: str) -> bool:
    name = _base(name)
    return is_feature(name) or (is_feature(f"left_{name}") and is_feature(f"right_{name}"))


def parse_rules(raw: Sequence[dict[str, Any]], source: str = "") -> list[Rule]:
    """Validate ``[[rules]]`` tables into :class:`Rule` objects.

    Args:
        raw: the tables as parsed by ``tomllib``.
        source: the pack's file path (for ``file:line`` in errors) or a name.

    Raises:
        ConfigError: unknown or missing keys, bad values, unknown features, duplicate ids;
            the message starts with ``file:line`` (or the source and rule id).
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        rid = item.get("id") if isinstance(item, dict) else None
        rid = rid if isinstance(rid, str) and len(rid) <= 64 else None

        def fail(msg: str, _rid: str | None = rid, _i: int = i) -> ConfigError:
            return ConfigError(clean_text(f"{_rule_line(source, _rid, _i)}: {msg}", False))

        if not isinstance(item, dict):
            raise fail("each [[rules]] entry must be a table")
        unknown = sorted(set(item) - _KEYS)
        if unknown:
            raise fail(f"unknown key {_short(unknown[0])} in [[rules]]; allowed: {', '.join(sorted(_KEYS))}")
        missing = [k for k in _REQUIRED if k not in item]
        if missing:
            raise fail(f"rule is missing required key {missing[0]!r}")
        if not rid or not re.fullmatch(r"[a-z0-9_]{1,64}", rid):
            raise fail(f"rule id must be lower_snake_case text of at most 64 characters, got "
                       f"{_short(item.get('id'))}")
        if rid in seen:
            raise fail(f"duplicate rule id {rid!r}; ids must be unique within a pack")
        seen.add(rid)
        for key in ("cue", "rationale", "feature", "op"):
            if not isinstance(item[key], str) or not item[key].strip():
                raise fail(f"{key!r} must be non-empty text, got {_short(item[key])}")
        if not isinstance(item.get("reason", ""), str):
            raise fail(f"'reason' must be text, got {_short(item['reason'])}")
        op = item["op"]
        if op not in _OPS:
            raise fail(f"bad op {_short(op)}; use one of {', '.join(_OPS)}")
        thr = item["threshold"]
        if isinstance(thr, bool) or not isinstance(thr, int | float) or not _finite(thr):
            raise fail(f"threshold must be a finite number of magnitude <= {MAX_THRESHOLD:g}, "
                       f"got {_short(thr)}")
        feature = item["feature"]
        if not _known_feature(feature):
            raise fail(f"unknown feature {_short(feature)}; see formcoach/kinematics/features.py "
                       "and formcoach/kinematics/derived.py for the names")
        severity = item.get("severity", 2)
        if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 3:
            raise fail(f"severity must be 1, 2 or 3, got {_short(severity)}")
        scope = item.get("scope", "rep")
        if scope not in SCOPES:
            raise fail(f"bad scope {_short(scope)}; use 'rep' or 'frame'")
        phase = item.get("phase", "any")
        if phase not in PHASES:
            raise fail(f"bad phase {_short(phase)}; use one of {', '.join(PHASES)}")
        reduce = item.get("reduce", "max" if op in (">", ">=") else "min")
        if reduce not in REDUCES:
            raise fail(f"bad reduce {_short(reduce)}; use one of {', '.join(REDUCES)}")
        side = item.get("side", "auto")
        if side not in SIDES:
            raise fail(f"bad side {_short(side)}; use one of {', '.join(SIDES)}")
        if side != "auto" and is_feature(_base(feature)):
            raise fail(f"side {_short(side)} needs a side-less feature with left_/right_ "
                       f"variants, got {_short(feature)}")
        views = _views(item.get("views", ["any"]), "views", fail)
        fault_views = _views(item.get("fault_views", []), "fault_views", fail, empty_ok=True)
        both = [v for v in fault_views if v in views]
        if both:
            raise fail(f"view {both[0]!r} is in both 'views' and 'fault_views'; a view is either "
                       "trusted both ways or only for a fault")
        if fault_views and scope != "rep":
            raise fail("fault_views only applies to scope = 'rep'")
        hold_s = item.get("hold_s", 0.0)
        if isinstance(hold_s, bool) or not isinstance(hold_s, int | float) or not (
            0 <= hold_s < 3600
        ):
            raise fail(f"hold_s must be seconds >= 0, got {_short(hold_s)}")
        if hold_s and scope != "frame":
            raise fail("hold_s only applies to scope = 'frame'")
        min_valid = item.get("min_valid", 0.5)
        if isinstance(min_valid, bool) or not isinstance(min_valid, int | float) or not (
            0 < min_valid <= 1
        ):
            raise fail(f"min_valid must be a fraction in (0, 1], got {_short(min_valid)}")
        reference = item.get("reference", "")
        if not isinstance(reference, str):
            raise fail(f"'reference' must be text, got {_short(reference)}")
        rules.append(
            Rule(
                id=rid, cue=_pack_text(item["cue"].strip(), source, rid, "cue"),
                feature=feature, op=op, threshold=float(thr),
                rationale=_pack_text(item["rationale"].strip(), source, rid, "rationale", True),
                severity=severity,
                views=tuple(dict.fromkeys(views)), scope=scope, phase=phase, side=side,
                reduce=reduce, hold_s=float(hold_s), min_valid=float(min_valid), source=source,
                reference=_pack_text(reference.strip(), source, rid, "reference"),
                reason=_pack_text(item.get("reason", "").strip(), source, rid, "reason"),
                fault_views=tuple(dict.fromkeys(fault_views)),
            )
        )
    return rules


def uses_silhouette(exercise: Exercise, rules: Sequence[Rule] | None = None) -> bool:
    """True when a rule of ``exercise`` (or of ``rules``) reads the backend's silhouette
    measure (a :class:`~formcoach.kinematics.features.Feature` with ``silhouette`` set): the
    pose backend must then be created with ``silhouette=True``."""
    from formcoach.kinematics.derived import RULE_FEATURES

    if rules is None:
        try:
            rules = parse_rules(exercise.rules_raw, str(exercise.path or exercise.id))
        except ConfigError:
            return False  # the engine reports the pack's error itself
    return any(f is not None and f.silhouette
               for r in rules for f in (RULE_FEATURES.get(n) for n in r.feature_names))


def _views(raw: Any, key: str, fail: Callable[[str], ConfigError],
           empty_ok: bool = False) -> list[str]:
    """A rule's ``views`` / ``fault_views`` value as canonical view names ("any" expands to
    every view, "rear" is "back")."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not (raw or empty_ok):
        raise fail(f"{key} must be a non-empty list, got {_short(raw)}")
    views: list[str] = []
    for v in raw:
        if not isinstance(v, str):
            raise fail(f"{key} must be view names, got {_short(v)}")
        if v == "any":
            views.extend(VIEWS)
            continue
        v = VIEW_ALIASES.get(v, v)
        if v not in VIEWS:
            raise fail(f"bad view {_short(v)}; use any of {', '.join((*VIEWS, 'rear', 'any'))}")
        views.append(v)
    return views


# --------------------------------------------------------------------------- evaluation
def _reduce(values: np.ndarray, how: str, min_valid: float) -> float:
    """Reduce a (N,) series (NaN = unmeasured); NaN when too few frames are measured."""
    n = values.shape[0]
    ok = values[np.isfinite(values)]
    if n == 0 or ok.shape[0] < max(1, math.ceil(min_valid * n)):
        return float("nan")
    if how == "min":
        return float(ok.min())
    if how == "max":
        return float(ok.max())
    if how == "mean":
        return float(ok.mean())
    if how == "range":
        return float(ok.max() - ok.min())
    if how == "spread":
        return float(np.percentile(ok, 95) - np.percentile(ok, 5))
    if how == "p10":
        return float(np.percentile(ok, 10))
    if how == "p90":
        return float(np.percentile(ok, 90))
    if how in ("p20", "p80"):  # early judgement on a descent (not a pack reduce)
        return float(np.percentile(ok, int(how[1:])))
    if how == "spread80":  # the same, for a spread: 90th - 10th percentile of the descent
        return float(np.percentile(ok, 90) - np.percentile(ok, 10))
    if how == "rise":
        return float(ok.max() - ok[0])
    if how == "fall":
        return float(ok[0] - ok.min())
    raise ValueError(f"unknown reduce {how!r}")


def _side_vis(pose: np.ndarray) -> tuple[float, float]:
    """Mean visibility of the left and right limb landmarks (missing = 0)."""
    v = np.nan_to_num(pose[:, 3], nan=0.0)
    v = np.where(np.isfinite(pose[:, 0]), v, 0.0)
    return float(v[_LEFT_SIDE].mean()), float(v[_RIGHT_SIDE].mean())


def _frame_value(rule: Rule, values: dict[str, float], vis: tuple[float, float]) -> float:
    """The rule's feature value on one frame (side resolved)."""
    pair = rule.sided
    if pair is None:
        return values[rule.feature]
    left, right = values[pair[0]], values[pair[1]]
    if rule.side == "left":
        return left
    if rule.side == "right":
        return right
    if rule.side == "worst":
        return rule.worse(left, right)
    first, second = (left, right) if vis[0] >= vis[1] else (right, left)
    return first if np.isfinite(first) else second


def _window_value(rule: Rule, values: dict[str, np.ndarray], vis: np.ndarray,
                  how: str | None = None) -> float:
    """The rule's reduced value over a window: values ``{name: (N,)}``, vis ``(N, 2)``;
    ``how`` replaces the rule's reduce (None: the rule's own)."""
    how = how or rule.reduce
    pair = rule.sided
    if pair is None:
        return _reduce(values[rule.feature], how, rule.min_valid)
    left = _reduce(values[pair[0]], how, rule.min_valid)
    right = _reduce(values[pair[1]], how, rule.min_valid)
    if rule.side == "left":
        return left
    if rule.side == "right":
        return right
    if rule.side == "worst":
        return rule.worse(left, right)
    lv, rv = (float(vis[:, 0].sum()), float(vis[:, 1].sum())) if vis.size else (0.0, 0.0)
    first, second = (left, right) if lv >= rv else (right, left)
    return first if np.isfinite(first) else second


def phase_window(rep: RepEvent, phase: str, end: int | None = None) -> np.ndarray:
    """Frame indices of a rep's phase.

    ``any``: start..end; ``eccentric``: start..bottom; ``concentric``: bottom..end;
    ``bottom``: within :data:`PHASE_FRACTION` of the rep's length of the turnaround
    (``bottom_frame``, the extreme of the counting signal); ``top``: the same fraction at the
    start and at the end (the rest position). ``end`` defaults to ``rep.end_frame``;
    :meth:`RulesEngine.on_rep` passes ``rep.counted_frame`` (the frames there are when a rep
    is counted, live and offline alike).
    """
    s, b, e = rep.start_frame, rep.bottom_frame, rep.end_frame if end is None else end
    w = max(1, round(PHASE_FRACTION * (e - s)))
    if phase == "any":
        return np.arange(s, e + 1)
    if phase == "eccentric":
        return np.arange(s, b + 1)
    if phase == "concentric":
        return np.arange(b, e + 1)
    if phase == "bottom":
        return np.arange(max(s, b - w), min(e, b + w) + 1)
    if phase == "top":
        return np.unique(np.concatenate([np.arange(s, min(e, s + w) + 1),
                                         np.arange(max(s, e - w), e + 1)]))
    raise ValueError(f"unknown phase {phase!r}")


@dataclass(slots=True)
class _Row:
    index: int
    t_ns: int
    values: dict[str, float]
    vis: tuple[float, float]
    view: str
    status: dict[str, str]
    near_drop: bool = False  # within DROP_GUARD_S of a frame dropped as implausible


@dataclass(slots=True)
class _FrameRuleState:
    since_ns: int | None = None
    fired: bool = False


class RulesEngine:
    """Judges an exercise's rules on the coach's frame states; returns the faults it finds.

    Args:
        exercise: an :class:`~formcoach.exercises.Exercise` (uses ``id``, ``kind``,
            ``rules_raw``, ``path``).
        fps: frames per second of the stream (float).
        rules: already parsed rules (default: parsed from ``exercise.rules_raw``).
        view: a fixed view (``front``/``side``/``45``/``back``); default: the view the coach
            detected for each frame (``FrameState.view``).
        buffer_s: seconds of per-frame values kept for rep rules (longest judged rep).
        early: judge a rep's rules while it is under way (:meth:`on_progress`) so its cue
            comes while the fault is happening; False is the reference that judges only when
            the rep is counted. The final faults are the same either way.

    Attributes:
        faults: every fault so far, in time order.
        rep_faults: faults per rep index (frame faults inside the rep are included).
        rep_status: per rep index, each rule's ``ok`` / ``fault`` / ``not_assessed``.
        status: each rule's latest status.
        hold: for ``kind = "hold"``: the :class:`~formcoach.rules.hold.HoldTimer` (time held in
            position, time in good form, each hold); ``position``: the last frame's answer of
            :func:`~formcoach.rules.hold.hold_position`.
        view: the current view.
    """

    def __init__(
        self,
        exercise: Exercise,
        fps: float,
        *,
        rules: list[Rule] | None = None,
        view: str | None = None,
        buffer_s: float = 60.0,
        early: bool = True,
    ) -> None:
        if not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        self.exercise = exercise.id
        self.kind = exercise.kind
        if rules is None:
            rules = parse_rules(exercise.rules_raw, str(exercise.path or exercise.id))
        self.rules = list(rules)
        self.fps = float(fps)
        if view is not None:
            view = VIEW_ALIASES.get(view, view)
            if view not in VIEWS:
                raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self._fixed_view = view
        names = sorted({n for r in self.rules for n in r.feature_names})
        self._names = names
        self._velocity = [n for n in names if n.endswith(VELOCITY_SUFFIX)]
        base = sorted({_base(n) for n in names})
        self._base_names = base
        # Shared-registry features come from the coach's FrameState (computed once per frame);
        # the engine computes only the rule-only derived ones.
        self.shared_features = [n for n in base if n in FEATURES]
        self._landmarks = {n: set(FEATURES[n].landmarks) for n in self.shared_features}
        self._extractor = RuleFeatureExtractor(self.fps, [n for n in base if n not in FEATURES])
        self._vel_lag = max(1, round(VELOCITY_WINDOW_S * self.fps))
        self._buf: deque[_Row] = deque(maxlen=max(2, int(buffer_s * self.fps)))
        # Frames next to one dropped as implausible (a collapsing estimate, see
        # formcoach.coach.framing) cannot prove a fault: the model slides into and out of
        # such a collapse over a few frames, whose values (a foot standing on end, a knee
        # folded) pass the bone-length check but are not the person's (_judge_window).
        self._guard = max(1, round(DROP_GUARD_S * self.fps))
        self._guard_left = 0
        self._frame_rules = [r for r in self.rules if r.scope == "frame"]
        self._rep_rules = [r for r in self.rules if r.scope == "rep"]
        self._tops_pending: list[RepEvent] = []  # counted reps whose top rules wait
        #: Judge ``top`` rules once a rep's end is final (:meth:`settle_tops`; the coach turns
        #: this on) instead of on the frames up to the count (a caller that has no segmenter).
        self.defer_tops = False
        self._fstate = {r.id: _FrameRuleState() for r in self._frame_rules}
        self._last_t_ns: int | None = None
        self.faults: list[Fault] = []
        self._new: list[Fault] = []
        self.rep_faults: dict[int, list[Fault]] = {}
        self.rep_status: dict[int, dict[str, str]] = {}
        self.status: dict[str, str] = {r.id: NOT_ASSESSED for r in self.rules}
        self.hold = HoldTimer(exercise.count.min_hold_s, exercise.count.max_gap_s)
        self.position = "unseen"
        self.view = view or "unknown"
        self.early = bool(early)
        self._count_signal = _base(exercise.count.signal)
        self._early: dict[str, Fault] = {}  # rule id -> provisional fault of the rep under way
        self._early_start: int | None = None
        self._handed: dict[int, Fault] = {}  # the faults take_new handed out, by id
        #: Provisional faults the rep's final verdict did not confirm (taken by the session).
        self.retracted: list[Fault] = []

    @property
    def hold_seconds(self) -> float:
        """For ``kind = "hold"``: seconds held in position with every frame rule judged ok."""
        return self.hold.current_good_s

    # ------------------------------------------------------------------ per frame and per rep
    def on_frame(self, state: FrameState) -> list[Fault]:
        """Judge frame rules on one frame and buffer its values for rep rules; returns the
        faults that fired at this frame."""
        self._new = []
        lm = state.pose.landmarks
        t_ns = state.t_ns
        index = state.index
        detected = state.pose.detected
        if self._fixed_view is None and detected:
            self.view = state.view
        if detected:
            values = {n: state.features[n] for n in self.shared_features if n in state.features}
            hidden = OUT_OF_VIEW.get(state.framing or "")
            if hidden:  # the model's guess of a part out of the picture is never judged
                lm = lm.copy()
                lm[list(hidden), :2] = np.nan
                for n in values:
                    if hidden & self._landmarks[n]:
                        values[n] = math.nan
            values.update(self._extractor.update(lm, state.pose.world, state.pose.back_bulge))
        else:
            values = dict.fromkeys(self._base_names, np.nan)
        if self._velocity:
            self._add_velocities(values, index, t_ns)
        vis = _side_vis(lm)
        status: dict[str, str] = {}
        if self.kind == "hold":
            self.position = hold_position(self.exercise, lm) if detected else "unseen"
        for rule in self._frame_rules:
            status[rule.id] = self._judge_frame_rule(rule, values, vis, index, t_ns)
        self.status.update(status)
        near = state.dropped or self._guard_left > 0
        self._guard_left = self._guard if state.dropped else max(0, self._guard_left - 1)
        if state.dropped:  # and the frames just before it
            for row in itertools.islice(reversed(self._buf), self._guard):
                row.near_drop = True
        self._buf.append(_Row(index, t_ns, values, vis, self.view, status, near))
        if self.kind == "hold":
            good = bool(self._frame_rules) and all(s == OK for s in status.values()) and all(
                self._fstate[r.id].since_ns is None for r in self._frame_rules)
            self.hold.update(index, t_ns, self.position == IN_POSITION, good)
        self._last_t_ns = t_ns
        return self._new

    def on_rep(self, rep: RepEvent) -> list[Fault]:
        """Judge rep rules over the rep's frames; returns the rep's faults (frame faults that
        fired inside the rep included).

        Called when the rep is counted: it judges ``start_frame..counted_frame`` (the true end
        comes later, see :class:`~formcoach.types.RepEvent`), so the verdict is the same live
        and offline and never waits for the body to be back at the top."""
        last = rep.counted_frame
        rows = [r for r in self._buf if rep.start_frame <= r.index <= last]
        by_index = {r.index: r for r in rows}
        rep_status: dict[str, str] = {}
        new: list[Fault] = []
        for rule in self._rep_rules:
            if rule.phase == "top" and self.defer_tops:
                continue  # judged once the rep's end is final (settle_tops)
            idx = [i for i in phase_window(rep, rule.phase, last) if i in by_index]
            # An edge rep (``partial``: the clip began near its bottom) has no rest position
            # before it: its top phase was not seen.
            window = [by_index[i] for i in idx]
            value = math.nan if rep.partial and rule.phase == "top" else self._judge_window(
                rule, window)
            rep_status[rule.id] = self._verdict(rule, value, window)
            if rep_status[rule.id] == FAULT:
                at = rep.bottom_frame if rule.phase in ("bottom", "any") else last
                t_ns = by_index[at].t_ns if at in by_index else rep.counted_ns
                new.append(self._emit(rule, t_ns, at, value, rep.index))
        for rule in self._frame_rules:
            seen = [r.status.get(rule.id, NOT_ASSESSED) for r in rows]
            rep_status[rule.id] = (
                FAULT if FAULT in seen else OK if OK in seen else NOT_ASSESSED
            )
        early = {id(f) for f in self._early.values()}
        inside = [f for f in self.faults if f.rep_index is None and id(f) not in early
                  and rep.start_frame <= f.frame_index <= last]
        for f in inside:
            f.rep_index = rep.index
            rep_status[f.rule_id] = FAULT
        new = self._settle_early(new)
        self.status.update({k: v for k, v in rep_status.items()})
        faults = sorted(inside + new, key=lambda f: f.t_ns)
        self.rep_faults[rep.index] = faults
        self.rep_status[rep.index] = rep_status
        if self.defer_tops and any(r.phase == "top" for r in self._rep_rules):
            self._tops_pending.append(rep)
        return faults

    def awaiting_top(self, rep_index: int) -> frozenset[str]:
        """Ids of the ``top`` rules of counted rep ``rep_index`` not judged yet because its top
        is still to come (:meth:`settle_tops`): pending, not "not judged"."""
        if not any(r.index == rep_index for r in self._tops_pending):
            return frozenset()
        return frozenset(r.id for r in self._rep_rules if r.phase == "top")

    def settle_tops(self, open_rep: RepEvent | None) -> list[Fault]:
        """Judge the ``top`` rules (lockout, the rest position) of every counted rep whose end
        is final, i.e. every pending rep but ``open_rep`` (the segmenter's rep whose end is
        still being refined; None at the end of the stream: all of them).

        A rep is counted on its way back up, before it reaches the top, so its top phase is
        judged later, once the body is back at the top (or the next movement began): on the
        last :data:`PHASE_FRACTION` of the rep up to its true end, the rest position it
        returns to (the one before it belongs to the previous rep). The faults join the rep's
        faults and status; returns them."""
        out: list[Fault] = []
        keep: list[RepEvent] = []
        for rep in self._tops_pending:
            if rep is open_rep:
                keep.append(rep)
                continue
            out.extend(self._judge_tops(rep))
        self._tops_pending = keep
        return out

    def _judge_tops(self, rep: RepEvent) -> list[Fault]:
        by_index = {r.index: r for r in self._buf if rep.start_frame <= r.index <= rep.end_frame}
        status = self.rep_status.setdefault(rep.index, {})
        new: list[Fault] = []
        for rule in self._rep_rules:
            if rule.phase != "top":
                continue
            # The rest position the rep comes back to: the top before it is the previous rep's
            # (or the setup's), and a good one there must not hide a bad one here.
            window = phase_window(rep, "top")
            window = window[window > rep.bottom_frame]
            idx = [i for i in window if i in by_index]
            rows = [by_index[i] for i in idx]
            value = self._judge_window(rule, rows)
            status[rule.id] = self._verdict(rule, value, rows)
            if status[rule.id] == FAULT:
                at = idx[-1]
                new.append(self._emit(rule, by_index[at].t_ns, at, value, rep.index))
            self.status[rule.id] = status[rule.id]
        if new:
            self.rep_faults[rep.index] = sorted(self.rep_faults.get(rep.index, []) + new,
                                                key=lambda f: f.t_ns)
        return new

    def on_progress(self, progress: RepProgress | None) -> list[Fault]:
        """Judge the rep under way on the frames seen so far, so a fault is cued while it is
        happening: whole-rep and descent rules (``any``, ``eccentric``) as the body goes down,
        ``bottom`` rules once the turnaround is passed; rising and ``top`` rules wait for the
        count. Only rules that a window can only confirm as it grows are judged early
        ("must not exceed": a max above, a min below, a rise, a range; a 10th or 90th
        percentile on the descent at twice its weight, i.e. the 20th / 80th, then on the whole
        window once the bottom is seen): a "must reach" rule (depth, lockout) is not failed by a rep that is
        still on its way. Each rule fires at most once per rep; the fault is provisional until
        :meth:`on_rep` confirms it (then it takes the final values) or retracts it
        (:attr:`retracted`). Returns the faults that fired now."""
        if not self.early:
            return []
        if progress is None or progress.start_frame != self._early_start:
            self._retract_early()  # the rep was abandoned (an attempt), or a new one began
            self._early_start = None if progress is None else progress.start_frame
        if progress is None or not progress.deep_enough:
            return []  # not (yet) a rep: a wiggle or the start of an attempt says nothing
        # From the top the rep left, by the same scan back as the counted rep's start (the
        # segmenter's own start can be later: a curl begun with a swing starts before it).
        first = progress.first_frame
        rows = [r for r in self._buf if first <= r.index <= progress.frame]
        if not rows:
            return []
        by_index = {r.index: r for r in rows}
        span = progress.frame - first
        w = max(1, round(PHASE_FRACTION * span))
        fired: list[Fault] = []
        for rule in self._rep_rules:
            # A "must reach" rule on the counting signal itself (depth, a curl's range), over
            # the bottom or the whole rep, is decided at the turnaround: the rep's extreme of
            # that signal is its bottom.
            at_turn = rule.phase in ("bottom", "any") and \
                _base(rule.feature) == self._count_signal and not grows_with_window(rule)
            if rule.id in self._early or not (grows_with_window(rule) or at_turn):
                continue
            # Where the turnaround is, as far as this rule needs it: a "must reach" rule waits
            # until the signal has come back a tenth of the rep's usual range (half the
            # segmenter's hysteresis; a pause on the way down does not come back at all), a
            # "must not exceed" one (valgus at the bottom) takes a pause at the lowest point
            # too. A turn that was not the bottom (the descent goes on) leaves a verdict on
            # frames higher up, which the counted rep confirms or retracts.
            turn = progress.turn_frame if at_turn else progress.still_frame
            if at_turn and turn is None:
                continue  # still on its way: not failed yet
            how = None
            if rule.reduce in _PERCENTILES and progress.bottom_frame is None:
                # On the way down, a sag held on a tenth of the rep must be on a fifth of the
                # descent (exact while the way back up is no longer than the way down; a
                # verdict the whole rep does not confirm is retracted).
                how = _DESCENT_PERCENTILE.get(rule.reduce)
                if how is None:
                    continue
            if rule.phase in ("any", "eccentric"):
                hi = progress.frame if rule.phase == "any" or progress.bottom_frame is None \
                    else progress.bottom_frame
                idx = range(first, hi + 1)
            elif rule.phase == "bottom" and turn is not None and how is None:
                # Judged as soon as the turnaround is known, on the part of the bottom window
                # seen so far: a "must not exceed" value only grows with its window, and the
                # counting signal's extreme (depth) is at the turnaround itself. Around the
                # bottom the rep will have, this early window is inside the final one (it is
                # narrower: the rep is shorter so far).
                idx = range(max(first, turn - w), min(progress.frame, turn + w) + 1)
            else:
                continue
            value = self._judge_window(rule, [by_index[i] for i in idx if i in by_index], how)
            if np.isfinite(value) and rule.violated(value):
                row = rows[-1]
                f = self._emit(rule, row.t_ns, row.index, value, None)
                self._early[rule.id] = f
                fired.append(f)
        return fired

    def _judge_window(self, rule: Rule, window: list[_Row], how: str | None = None) -> float:
        """The rule's value over buffered rows (NaN: not assessed from this view or data);
        ``how`` replaces the rule's reduce."""
        if not window or not rule.judged_from(self._window_view(window)):
            return math.nan
        # A "must not exceed" rule ignores frames next to a collapse (a garbage value there
        # could only make a false fault); a "must reach" one keeps them (dropping them could
        # only make one).
        skip = grows_with_window(rule)
        vals = {n: np.array([math.nan if skip and r.near_drop else r.values[n] for r in window])
                for n in rule.feature_names}
        vis = np.array([r.vis for r in window])
        return _window_value(rule, vals, vis, how)

    def _window_view(self, window: list[_Row]) -> str:
        """The majority view of buffered rows; a tie goes to the view seen last (deterministic:
        iterating a set of strings follows PYTHONHASHSEED, which made runs disagree)."""
        views = [r.view for r in window if r.view != "unknown"]
        return max(dict.fromkeys(reversed(views)), key=views.count) if views else self.view

    def _verdict(self, rule: Rule, value: float, window: list[_Row]) -> str:
        """``fault`` / ``ok`` / ``not_assessed`` of a rep rule's window value; a pass seen from
        one of the rule's :attr:`~Rule.fault_views` proves nothing (not assessed)."""
        if not np.isfinite(value):
            return NOT_ASSESSED
        if rule.violated(value):
            return FAULT
        return OK if self._window_view(window) in rule.views else NOT_ASSESSED

    def _settle_early(self, final: list[Fault]) -> list[Fault]:
        """The rep's final faults, where a provisional one it confirms keeps its identity (the
        session already holds it) and takes the final values; the rest are retracted."""
        out = []
        for f in final:
            e = self._early.pop(f.rule_id, None)
            if e is None:
                out.append(f)
                continue
            e.t_ns, e.frame_index, e.value, e.rep_index = f.t_ns, f.frame_index, f.value, \
                f.rep_index
            _drop(self.faults, f)
            _drop(self._new, f)
            out.append(e)
        self._retract_early()
        self._early_start = None
        return out

    def _retract_early(self) -> None:
        for f in self._early.values():
            _drop(self.faults, f)
            _drop(self._new, f)
            self.retracted.append(f)
        self._early.clear()

    @property
    def provisional(self) -> list[Fault]:
        """The rep under way's provisional faults (fired early, not yet confirmed or
        retracted): still happening while the rep goes on."""
        return list(self._early.values())

    def take_new(self) -> list[Fault]:
        """Faults emitted since the last call and still standing (frame, early and final)."""
        out = [f for f in self.faults if id(f) not in self._handed]
        self._handed.update((id(f), f) for f in out)  # kept alive: an id is never reused
        return out

    # ------------------------------------------------------------------ helpers
    def _add_velocities(self, values: dict[str, float], index: int, t_ns: int) -> None:
        """``<feature>_velocity`` = change over :data:`VELOCITY_WINDOW_S` / elapsed s."""
        k = self._vel_lag
        old = self._buf[-k] if len(self._buf) >= k else None
        ok = old is not None and old.index == index - k and t_ns > old.t_ns
        for name in self._velocity:
            base = _base(name)
            if ok:
                assert old is not None
                values[name] = (values[base] - old.values[base]) / ((t_ns - old.t_ns) / NS_PER_S)
            else:
                values[name] = float("nan")

    def _judge_frame_rule(
        self, rule: Rule, values: dict[str, float], vis: tuple[float, float], index: int,
        t_ns: int,
    ) -> str:
        st = self._fstate[rule.id]
        value = _frame_value(rule, values, vis)
        if self.view not in rule.views or not np.isfinite(value) or self.position in DOWN_NOT_HOLDING:
            st.since_ns, st.fired = None, False
            return NOT_ASSESSED
        if not rule.violated(value):
            st.since_ns, st.fired = None, False
            return OK
        if st.since_ns is None:
            st.since_ns = t_ns
        if not st.fired and (t_ns - st.since_ns) >= round(rule.hold_s * NS_PER_S):
            st.fired = True
            self._emit(rule, t_ns, index, value, None)
            return FAULT
        return FAULT if st.fired else OK

    def _emit(self, rule: Rule, t_ns: int, index: int, value: float, rep: int | None) -> Fault:
        fault = Fault(
            rule_id=rule.id, exercise=self.exercise, cue=rule.cue, severity=rule.severity,
            t_ns=int(t_ns), frame_index=int(index), value=float(value),
            threshold=rule.threshold, rep_index=rep,
        )
        self.faults.append(fault)
        self._new.append(fault)
        log.debug("fault %s at frame %d: %.3g %s %.3g", rule.id, index, value, rule.op,
                  rule.threshold)
        return fault

    def not_assessed(self) -> list[str]:
        """Ids of rules whose latest status is ``not_assessed``."""
        return [k for k, v in self.status.items() if v == NOT_ASSESSED]


#: Reduces whose value can only move towards a violation as the window grows, by ``op``.
_GROWING = {">": {"max", "rise", "range", "spread", "p90"}, ">=": {"max", "rise", "range",
            "spread", "p90"}, "<": {"min", "fall", "p10"}, "<=": {"min", "fall", "p10"}}
_PERCENTILES = {"p10", "p90", "spread"}
#: A rep percentile judged on the descent alone (see :meth:`RulesEngine.on_progress`).
# On the way down, a rep percentile is judged at twice its weight on the descent: 10% of the
# descent's frames are >= its p90, which is >= 5% of a rep at most twice as long, so that rep's
# p95 is at least as high. Hence p10 -> p20, p90 -> p80, a spread (p95 - p5) -> p90 - p10.
_DESCENT_PERCENTILE = {"p10": "p20", "p90": "p80", "spread": "spread80"}


def grows_with_window(rule: Rule) -> bool:
    """Whether a violation on part of a rep's window stands on the whole window (up to the
    percentiles' drift), so the rule may be judged before the rep is counted."""
    return rule.reduce in _GROWING.get(rule.op, set())


def _drop(items: list[Fault], fault: Fault) -> None:
    """Remove ``fault`` itself (by identity: a confirmed provisional fault equals its final
    twin field for field) from ``items``, if it is there."""
    for k, f in enumerate(items):
        if f is fault:
            del items[k]
            return


def _bottom_frame(exercise: Exercise, poses: np.ndarray, fps: float,
                  world: np.ndarray | None = None) -> int:
    """Turnaround of a one-rep sequence: the extreme of the pack's counting signal."""
    n = poses.shape[0]
    count = exercise.count
    signal = count.signal
    if not signal:
        return n // 2
    names = [signal] if signal in FEATURES else [f"left_{signal}", f"right_{signal}"]
    if not all(nm in FEATURES for nm in names):
        return n // 2
    vals = compute_features(poses, fps, names, world=world)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            series = np.nanmean(np.stack([vals[nm] for nm in names]), axis=0)
    if not np.isfinite(series).any():
        return n // 2
    down = count.rep_direction == "down"
    return int(np.nanargmin(series) if down else np.nanargmax(series))


def judge_sequence(
    exercise: Exercise,
    poses: np.ndarray,
    fps: float,
    *,
    rules: list[Rule] | None = None,
    view: str | None = None,
    world: np.ndarray | None = None,
    back_bulge: np.ndarray | None = None,
) -> tuple[dict[str, str], RulesEngine]:
    """Judge a ``(T, 33, 4)`` sequence as **one rep** (e.g. a one-rep clip); ``world``
    ``(T, 33, 3)`` and ``back_bulge`` ``(T,)`` are the backend's extras, when known.

    Frames go through :meth:`RulesEngine.on_frame`, then one :class:`RepEvent` spanning the
    whole sequence (turnaround at the extreme of the pack's counting signal) through
    :meth:`RulesEngine.on_rep`.

    Returns:
        ``({rule id: ok|fault|not_assessed}, engine)``.
    """
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_LANDMARKS, 4) or arr.shape[0] == 0:
        raise ValueError(f"poses must be (T>0, 33, 4), got {arr.shape}")
    engine = RulesEngine(exercise, fps, rules=rules, view=view, buffer_s=arr.shape[0] / fps + 1)
    t = [round(i * NS_PER_S / fps) for i in range(arr.shape[0])]
    wld = np.full((arr.shape[0], NUM_LANDMARKS, 3), np.nan) if world is None else world
    shared = compute_features(arr, fps, engine.shared_features, world=wld)
    views = ViewDetector()
    size = (1, 1)
    bulge = np.full(arr.shape[0], np.nan) if back_bulge is None else np.asarray(back_bulge)
    for i in range(arr.shape[0]):
        pose = PoseResult(arr[i], wld[i], t[i], size, 1.0, float(bulge[i]))
        view = views.update(arr[i], wld[i]) if pose.detected else "unknown"
        feats = {n: float(v[i]) for n, v in shared.items()}
        engine.on_frame(FrameState(i, t[i], pose, feats, math.nan, 0, "idle", view=view))
    n = arr.shape[0]
    b = _bottom_frame(exercise, arr, fps, world)
    rep = RepEvent(index=0, start_frame=0, bottom_frame=b, end_frame=n - 1, start_ns=t[0],
                   bottom_ns=t[b], end_ns=t[-1], rom_deg=float("nan"), min_deg=float("nan"),
                   max_deg=float("nan"), counted_frame=n - 1, counted_ns=t[-1])
    engine.on_rep(rep)
    return dict(engine.rep_status[0]), engine


def judge_frames(
    rules: list[Rule], poses: np.ndarray, fps: float = 30.0, views: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """Judge every rule on every frame **independently** (unordered labelled frames).

    Frame rules ignore ``hold_s``; rep rules see a one-frame window (so ``range``-like reduces
    are 0); velocities are unknown (not assessed). Views default to
    :func:`~formcoach.kinematics.view.frame_view` per frame.

    Args:
        rules: parsed rules.
        poses: ``(N, 33, 4)`` pixels.
        fps: only for features that need it.
        views: per-frame views (default: detected per frame).

    Returns:
        ``{rule id: (N,) array of ok|fault|not_assessed}``.
    """
    arr = np.asarray(poses, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_LANDMARKS, 4):
        raise ValueError(f"poses must be (N, 33, 4), got {arr.shape}")
    n = arr.shape[0]
    names = sorted({nm for r in rules for nm in r.feature_names})
    plain = [nm for nm in names if not nm.endswith(VELOCITY_SUFFIX)]
    feats = compute_rule_features(arr, fps, plain) if n else {nm: np.zeros(0) for nm in plain}
    for nm in names:
        feats.setdefault(nm, np.full(n, np.nan))
    if views is None:
        views = [frame_view(arr[i]) for i in range(n)]
    vis = [_side_vis(arr[i]) for i in range(n)]
    out: dict[str, np.ndarray] = {}
    for rule in rules:
        res = np.empty(n, dtype=object)
        for i in range(n):
            values = {nm: float(feats[nm][i]) for nm in rule.feature_names}
            value = _frame_value(rule, values, vis[i])
            if not rule.judged_from(views[i]) or not np.isfinite(value):
                res[i] = NOT_ASSESSED
            elif rule.violated(value):
                res[i] = FAULT
            else:
                res[i] = OK if views[i] in rule.views else NOT_ASSESSED
        out[rule.id] = res
    return out
