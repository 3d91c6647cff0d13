"""What one synthetic sample is: :class:`SynthSpec`, and reading a set of them from TOML.

A spec file holds an optional ``[defaults]`` table and one ``[[sample]]`` table per clip::

    [defaults]
    fps = 30.0

    [[sample]]
    name = "squat_side_clean"
    exercise = "squat"
    view = "side"
    reps = 4
    seed = 1
    faults = [{ type = "shallow_squat", reps = [1, 2] }]

Unknown keys, bad values and unknown exercises or faults raise :class:`ConfigError` (one line).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formcoach.errors import ConfigError, InputError

__all__ = [
    "EXERCISES",
    "FAULTS",
    "VIEWS",
    "FaultSpec",
    "SynthSpec",
    "load_specs",
    "spec_from_dict",
]

#: Exercise ids (the manifest's) the synthetic athlete can perform.
EXERCISES: tuple[str, ...] = (
    "squat",
    "pushup",
    "lunge",
    "bicep_curl",
    "shoulder_press",
    "jumping_jack",
    "situp",
    "plank",
)

#: Injectable faults and the exercises each applies to.
FAULTS: dict[str, tuple[str, ...]] = {
    "shallow_squat": ("squat",),
    "knee_valgus": ("squat",),
    "hip_sag": ("pushup", "plank"),
    "hip_pike": ("pushup", "plank"),
    "partial_curl": ("bicep_curl",),
    "torso_swing": ("bicep_curl",),
    "incomplete_lockout": ("shoulder_press", "pushup"),
    "shallow_lunge": ("lunge",),
    "knee_over_toe": ("lunge",),
    "partial_jack": ("jumping_jack",),
    "partial_situp": ("situp",),
}

#: Named views and their camera azimuth in degrees (0 = facing the camera, 90 = left side on).
VIEWS: dict[str, float] = {"front": 0.0, "45": 45.0, "side": 90.0}

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault to inject: on whole reps (``reps``: 0-based indices, or None = all) or, for holds,
    over a time span ``[start_s, end_s]``. ``severity`` scales it (1 = the default amount)."""

    type: str
    reps: tuple[int, ...] | None = None
    start_s: float | None = None
    end_s: float | None = None
    severity: float = 1.0


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """One synthetic clip. Durations in seconds, sizes in pixels, lengths in metres.

    ``view`` names the camera azimuth (see :data:`VIEWS`) unless ``azimuth_deg`` is given.
    ``distance_m`` / ``camera_height_m`` of None frame the whole motion automatically.
    ``setup`` is the non-rep movement before the first rep: ``auto`` picks one per exercise.
    ``landmark_noise_px`` adds seeded Gaussian noise to :func:`truth_poses` output only.
    ``framing`` (see :data:`FRAMINGS`) frames a close camera that cuts the head or the feet off;
    ``occluder`` ``"plate"`` stands a 45 cm bumper plate on the floor between the camera and
    the shins (drawn over the body, the landmarks stay where the body is).
    ``velocity_loss`` (percent, 0 = off) slows each rep's concentric (way back up) so that its
    mean velocity falls linearly from the first rep to ``velocity_loss`` % less at the last
    (every rep then goes to full depth, so the loss is exactly the tempo change; the truth's
    reps carry ``velocity_loss_pct``).
    """

    name: str
    exercise: str
    view: str = "side"
    seed: int = 0
    reps: int = 4
    tempo_s: float | None = None
    pause_bottom_s: float = 0.15
    pause_top_s: float = 0.25
    setup: str = "auto"
    setup_s: float = 1.2
    tail_s: float = 0.6
    hold_s: float = 6.0
    fps: float = 30.0
    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0
    azimuth_deg: float | None = None
    distance_m: float | None = None
    camera_height_m: float | None = None
    sway: float = 1.0
    tempo_jitter: float = 0.08
    landmark_noise_px: float = 0.0
    body_height_m: float = 1.75
    leg: float = 1.0
    arm: float = 1.0
    girth: float = 1.0
    faults: tuple[FaultSpec, ...] = field(default_factory=tuple)
    framing: str = "full"
    occluder: str = "none"
    velocity_loss: float = 0.0

    @property
    def azimuth(self) -> float:
        """Camera azimuth in degrees."""
        return float(self.azimuth_deg) if self.azimuth_deg is not None else VIEWS[self.view]

    @property
    def is_hold(self) -> bool:
        return self.exercise == "plank"


#: Camera framings: the whole body, or a close camera with the head (above the shoulders) or the
#: feet (below mid-shin) out of the picture.
FRAMINGS = ("full", "head_cut", "feet_cut")
OCCLUDERS = ("none", "plate")
SETUPS = ("auto", "none", "arm_swing", "settle", "step_in", "walk_in")
_STANDING = ("squat", "bicep_curl", "shoulder_press", "jumping_jack")
_FIELDS = {f.name: f for f in dataclasses.fields(SynthSpec)}


def _fail(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{where}: {msg}")


def _fault_from(obj: Any, where: str, exercise: str) -> FaultSpec:
    if not isinstance(obj, dict):
        raise _fail(where, f"each fault must be a table like {{ type = \"hip_sag\" }}, got {obj!r}")
    unknown = set(obj) - {"type", "reps", "start_s", "end_s", "severity"}
    if unknown:
        raise _fail(where, f"unknown fault key(s) {sorted(unknown)}; allowed: type, reps, "
                           "start_s, end_s, severity")
    ftype = obj.get("type")
    if ftype not in FAULTS:
        raise _fail(where, f"unknown fault type {ftype!r}; choose one of: {', '.join(FAULTS)}")
    if exercise not in FAULTS[ftype]:
        raise _fail(where, f"fault {ftype!r} does not apply to {exercise!r} "
                           f"(it applies to: {', '.join(FAULTS[ftype])})")
    reps = obj.get("reps", "all")
    if reps == "all":
        reps_t: tuple[int, ...] | None = None
    elif isinstance(reps, list) and all(isinstance(r, int) and r >= 0 for r in reps):
        reps_t = tuple(reps)
    else:
        raise _fail(where, f"fault reps must be \"all\" or a list of 0-based rep indices, got {reps!r}")
    start, end = obj.get("start_s"), obj.get("end_s")
    if (start is None) != (end is None):
        raise _fail(where, "give both start_s and end_s for a timed fault, or neither")
    if start is not None and not (isinstance(start, int | float) and isinstance(end, int | float)
                                  and 0 <= start < end):
        raise _fail(where, f"fault span needs 0 <= start_s < end_s, got {start!r}..{end!r}")
    if exercise == "plank" and start is None:
        raise _fail(where, f"fault {ftype!r} on a hold needs start_s and end_s")
    sev = obj.get("severity", 1.0)
    if not isinstance(sev, int | float) or not 0 < sev <= 2:
        raise _fail(where, f"fault severity must be in (0, 2], got {sev!r}")
    return FaultSpec(ftype, reps_t, None if start is None else float(start),
                     None if end is None else float(end), float(sev))


def spec_from_dict(d: dict[str, Any], where: str = "spec") -> SynthSpec:
    """Validate one sample table and build its :class:`SynthSpec`.

    Raises:
        ConfigError: unknown key, wrong type or out-of-range value (message names it).
    """
    unknown = set(d) - set(_FIELDS)
    if unknown:
        raise _fail(where, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(_FIELDS)}")
    for req in ("name", "exercise"):
        if req not in d:
            raise _fail(where, f"missing required key {req!r}")
    name = d["name"]
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _fail(where, f"name must be 1-80 characters of A-Z a-z 0-9 _ . -, got {name!r}")
    where = f"{where} '{name}'"
    ex = d["exercise"]
    if ex not in EXERCISES:
        raise _fail(where, f"unknown exercise {ex!r}; choose one of: {', '.join(EXERCISES)}")
    kwargs: dict[str, Any] = {}
    for key, val in d.items():
        if key == "faults":
            if not isinstance(val, list):
                raise _fail(where, "faults must be a list of tables")
            kwargs[key] = tuple(_fault_from(f, where, ex) for f in val)
            continue
        default = _FIELDS[key].default
        if key in ("distance_m", "camera_height_m", "azimuth_deg", "tempo_s"):
            ok = isinstance(val, int | float) and not isinstance(val, bool)
            if ok:
                val = float(val)
        elif isinstance(default, bool):
            ok = isinstance(val, bool)
        elif isinstance(default, int) and not isinstance(default, bool):
            ok = isinstance(val, int) and not isinstance(val, bool)
        elif isinstance(default, float):
            ok = isinstance(val, int | float) and not isinstance(val, bool)
            if ok:
                val = float(val)
        else:
            ok = isinstance(val, str)
        if not ok:
            raise _fail(where, f"{key} has the wrong type: {val!r}")
        kwargs[key] = val
    spec = SynthSpec(**kwargs)
    _check_ranges(spec, where)
    return spec


def _check_ranges(s: SynthSpec, where: str) -> None:
    checks: list[tuple[bool, str]] = [
        (s.view in VIEWS, f"view must be one of {', '.join(VIEWS)}, got {s.view!r}"),
        (s.framing in FRAMINGS, f"framing must be one of {', '.join(FRAMINGS)}, got {s.framing!r}"),
        (s.occluder in OCCLUDERS, f"occluder must be one of {', '.join(OCCLUDERS)}, got {s.occluder!r}"),
        (s.setup in SETUPS, f"setup must be one of {', '.join(SETUPS)}, got {s.setup!r}"),
        (0 <= s.reps <= 50, f"reps must be 0..50, got {s.reps}"),
        # numpy's seeded generators take no negative seed (it was an internal error).
        (s.seed >= 0, f"seed must be a whole number >= 0, got {s.seed}"),
        (s.tempo_s is None or 0.5 <= s.tempo_s <= 10, f"tempo_s must be 0.5..10 s, got {s.tempo_s}"),
        (0 <= s.pause_bottom_s <= 5 and 0 <= s.pause_top_s <= 5, "pauses must be 0..5 s"),
        (0 <= s.setup_s <= 10 and 0 <= s.tail_s <= 10, "setup_s and tail_s must be 0..10 s"),
        (0.5 <= s.hold_s <= 120, f"hold_s must be 0.5..120 s, got {s.hold_s}"),
        (1 <= s.fps <= 240, f"fps must be 1..240, got {s.fps}"),
        (64 <= s.width <= 3840 and 64 <= s.height <= 3840, "width/height must be 64..3840 px"),
        (20 <= s.hfov_deg <= 120, f"hfov_deg must be 20..120, got {s.hfov_deg}"),
        (s.distance_m is None or 0.8 <= s.distance_m <= 30, "distance_m must be 0.8..30 m"),
        (s.camera_height_m is None or 0.05 <= s.camera_height_m <= 5, "camera_height_m: 0.05..5 m"),
        (0 <= s.sway <= 5, f"sway must be 0..5, got {s.sway}"),
        (0 <= s.tempo_jitter <= 0.3, f"tempo_jitter must be 0..0.3, got {s.tempo_jitter}"),
        (0 <= s.landmark_noise_px <= 50, "landmark_noise_px must be 0..50"),
        (1.2 <= s.body_height_m <= 2.2, f"body_height_m must be 1.2..2.2, got {s.body_height_m}"),
        (all(0.8 <= v <= 1.2 for v in (s.leg, s.arm)), "leg and arm must be 0.8..1.2"),
        (0.6 <= s.girth <= 1.6, f"girth must be 0.6..1.6, got {s.girth}"),
        (0 <= s.velocity_loss <= 70, f"velocity_loss must be 0..70 %, got {s.velocity_loss}"),
        (s.velocity_loss == 0 or s.exercise != "plank", "velocity_loss needs a rep exercise"),
        (s.exercise == "plank" or s.reps >= 1, "reps must be >= 1 for a rep exercise"),
        (s.setup not in ("walk_in", "arm_swing") or s.exercise in _STANDING,
         f"setup {s.setup!r} needs a standing exercise ({', '.join(_STANDING)})"),
        (s.setup not in ("step_in",) or s.exercise == "lunge", "setup 'step_in' is for lunge"),
        (s.framing == "full" or s.exercise not in ("pushup", "plank", "situp"),
         f"framing {s.framing!r} is for a standing exercise, not {s.exercise!r}"),
        (s.setup != "settle" or s.exercise in ("pushup", "plank", "situp"),
         "setup 'settle' is for pushup, plank and situp"),
    ]
    for ok, msg in checks:
        if not ok:
            raise _fail(where, msg)
    for f in s.faults:
        if f.reps is not None and any(r >= s.reps for r in f.reps):
            raise _fail(where, f"fault {f.type!r} names rep {max(f.reps)} but the set has "
                               f"{s.reps} reps (0-based)")


def load_specs(path: str | os.PathLike[str]) -> list[SynthSpec]:
    """Read every ``[[sample]]`` of a spec TOML file, ``[defaults]`` applied first.

    Raises:
        InputError: the file is missing or unreadable.
        ConfigError: TOML syntax error, unknown key, bad value or duplicate name.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"spec file not found: {p}")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: invalid TOML: {e}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read spec file {p}: {e}") from e
    except (RecursionError, ValueError) as e:  # arrays nested thousands deep, a huge integer
        raise ConfigError(f"{p}: invalid TOML: unreadable value ({str(e)[:80]})") from e
    unknown = set(doc) - {"defaults", "sample"}
    if unknown:
        raise ConfigError(f"{p}: unknown top-level key(s) {sorted(unknown)}; use [defaults] and "
                          "[[sample]]")
    defaults = doc.get("defaults", {})
    samples = doc.get("sample", [])
    if not isinstance(defaults, dict) or not isinstance(samples, list) or not samples:
        raise ConfigError(f"{p}: needs at least one [[sample]] table")
    specs: list[SynthSpec] = []
    seen: set[str] = set()
    for i, s in enumerate(samples):
        spec = spec_from_dict({**defaults, **s}, where=f"{p}: sample #{i + 1}")
        if spec.name in seen:
            raise ConfigError(f"{p}: duplicate sample name {spec.name!r}; names must be unique")
        seen.add(spec.name)
        specs.append(spec)
    return specs
