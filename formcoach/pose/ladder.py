"""Which rung of the BlazePose ladder (lite, full, heavy) to run on this machine.

The rungs share the detector and differ only in the landmark network, which runs on every
tracked frame and is what decides whether a machine keeps up. :func:`choose_model` picks the
first rung of :data:`AUTO_MODELS` (the most accurate on real footage first) whose landmark
network fits a share of the frame interval:

- ``live`` (:data:`LIVE_SHARE` of the interval at :data:`LIVE_MIN_FPS`, or at the camera's
  rate when that is lower): capture, features, rules, overlay and speech share the CPU, and a
  frame that is not done in time is dropped, which costs nothing down to that rate;
- ``offline`` (:data:`OFFLINE_SHARE` of the interval at the video's rate): decoding runs on
  its own thread, and the analysis must stay at or above 1x real time with a margin for a busy
  machine.

Heavy is never an automatic choice (``--model heavy`` asks for it): see :data:`AUTO_MODELS`.

The measurement (:func:`measure_model_ms`) is short: one warm-up and :data:`TIMED_RUNS`
landmark-network runs on a fixed input, median, cached per process. An explicit ``--model``, or
``FORMCOACH_MODEL`` in the environment (tests pin it), skips it entirely.

``live`` measures at every start: what keeps up now is what matters there. ``offline`` uses
this machine's **remembered** speeds (:func:`machine_speeds`: measured once on a quiet machine,
kept in the config folder as :data:`SPEEDS_FILE`, re-measured by ``formcoach bench`` or when
the models, the runtime or the core count change): an analysis must not pick another rung, and so report other
numbers for the same video, because the machine happened to be busy at that moment.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from formcoach.errors import BackendUnavailable, FormcoachError, InputError
from formcoach.io_utils import atomic_write_text, config_dir
from formcoach.pose.models import DEFAULT_MODEL, MODELS, ModelName, check_model

log = logging.getLogger(__name__)

#: Environment variable that pins the rung wherever formcoach would otherwise measure.
MODEL_ENV = "FORMCOACH_MODEL"
#: What ``--model`` accepts on the command line: a rung, or ``auto`` (measure here).
MODEL_CHOICES: tuple[str, ...] = ("auto", *MODELS)
#: Share of the frame interval the landmark network may take, per purpose.
LIVE_SHARE = 0.5
OFFLINE_SHARE = 0.8
#: The rungs an automatic choice takes, in order of preference: measured accuracy on real
#: footage, not the published landmark benchmark. On the 38 real clips of ``../shared``
#: (``formcoach eval reps``, 2026-12-03) Full counts 38/38, Heavy 36/38 and Lite 30/38; on its
#: 30 correct fault clips (``formcoach eval faults``) Full flags a false fault on 0 and Heavy on
#: 2. Heavy's gain is smaller large angle errors (README, "Model ladder"): a PT who wants it
#: asks for it with ``--model heavy``. Lite only where Full cannot keep up.
AUTO_MODELS: tuple[ModelName, ...] = ("full", "lite")
#: Live keeps up when the landmark network fits :data:`LIVE_SHARE` of a frame interval at
#: this processed rate (frames/s): the rest are dropped. Dropping costs nothing down to it:
#: on the 38 real clips, Full's poses at every 2nd, 3rd and 4th frame (15, 10 and 7.5 fps of a
#: 30 fps clip) count 38/38 with the same faults, and on the 18 bundled samples every 2nd frame
#: gives the same counts and faults as every frame (every 3rd miscounts 2 of 18). Lite at
#: every frame counts 30/38: a slower, better rung beats a faster, worse one.
LIVE_MIN_FPS = 15.0
#: Timed landmark-network runs per rung (after one warm-up).
TIMED_RUNS = 5
#: Per-frame cost of the pose pipeline around the landmark network (crop warp, decoding,
#: smoothing), ms: whole ``process()`` minus the network alone on the 2-core VM, same run
#: (Full 9.8 - 6.9, Heavy 27.7 - 25.0).
PIPELINE_OVERHEAD_MS = 3.0
#: MediaPipe Tasks runs the same networks on TFLite/XNNPACK, measured slower than formcoach's
#: ONNX graph on the 2-core VM (Full 17.3 vs 9.8 ms, Heavy 50.9 vs 27.7 ms per frame in the same
#: run: x1.76 and x1.84); the ONNX timing times this ratio stands in for it.
MEDIAPIPE_COST_RATIO = 1.8

#: This machine's remembered per-rung speeds, in the config folder (see the module docstring).
SPEEDS_FILE = "pose_speeds.json"
#: Speeds timed while the 1-minute load average per core is above this are used for that run
#: only, never remembered (except by an explicit re-measure: ``formcoach bench``).
QUIET_LOAD_PER_CPU = 0.75

Purpose = Literal["live", "offline"]
#: ``timer(backend, model) -> ms`` per frame of that rung's landmark network.
Timer = Callable[[str, ModelName], float]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """The rung to run and why.

    Attributes:
        model: the rung.
        source: ``"argument"`` (``--model`` / ``model=``), ``"environment"``
            (:data:`MODEL_ENV`), ``"measured"`` (now), ``"remembered"`` (this machine's
            speeds, :func:`machine_speeds`), ``"default"`` (nothing to measure with:
            onnxruntime is not installed), or ``"busy"`` (offline on a busy machine with no
            quiet timing remembered: the default rung, so the numbers do not hang on the load).
        budget_ms: the per-frame budget the measurement was held to (0 when not measured).
        measured_ms: ``{rung: ms per frame}`` of the rungs timed (empty when not measured).
    """

    model: ModelName
    source: Literal["argument", "environment", "measured", "remembered", "default", "busy"]
    budget_ms: float = 0.0
    measured_ms: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for logs and the terminal, e.g. ``heavy (measured 24.1 ms <= 26.7 ms)``."""
        if self.source not in ("measured", "remembered"):
            why = {"argument": "--model", "environment": MODEL_ENV,
                   "default": "default: onnxruntime is missing, nothing to measure with",
                   "busy": "default: this machine is busy and has no quiet timing remembered; "
                           "'formcoach bench' on a quiet machine times it"}
            return f"{self.model} ({why[self.source]})"
        ms = self.measured_ms.get(self.model)
        fits = "<=" if ms is not None and ms <= self.budget_ms else ">"
        how = "measured" if self.source == "measured" else "this machine's speed"
        return f"{self.model} ({how} {ms:.1f} ms/frame {fits} budget {self.budget_ms:.1f} ms)"

    @property
    def automatic(self) -> bool:
        """Chosen by formcoach (measured or remembered), not asked for."""
        return self.source in ("measured", "remembered")


def choose_model(
    backend: str,
    fps: float,
    purpose: Purpose,
    *,
    requested: str | None = None,
    timer: Timer | None = None,
    env: dict[str, str] | None = None,
) -> ModelChoice:
    """The first rung of :data:`AUTO_MODELS` that keeps up with ``fps`` frames/s for
    ``purpose`` (``live``: with dropped frames, at :data:`LIVE_MIN_FPS` at least).

    Args:
        backend: ``"onnx"`` or ``"mediapipe"``.
        fps: frames per second the pose model must keep up with (> 0; 30 when unknown).
        purpose: ``"live"`` or ``"offline"`` (see the module docstring for the budgets).
        requested: ``"lite"``, ``"full"``, ``"heavy"`` (used as is), or None / ``"auto"``.
        timer: ms per frame of a rung (default :func:`measure_model_ms`); tests inject one.
        env: environment to read :data:`MODEL_ENV` from (default ``os.environ``).

    Returns:
        The choice; when no rung fits the budget, the last of :data:`AUTO_MODELS` (Lite, the
        fastest there is); when there
        is nothing to time with (no onnxruntime), :data:`DEFAULT_MODEL`.

    Raises:
        InputError: ``requested`` or :data:`MODEL_ENV` is not a rung (nor ``auto``), or a bad
            purpose.
    """
    if requested not in (None, "auto"):
        return ModelChoice(check_model(requested), "argument")
    pinned = (os.environ if env is None else env).get(MODEL_ENV, "")
    if pinned and pinned != "auto":
        if pinned not in MODELS:
            raise InputError(f"{MODEL_ENV}={pinned!r} is not a pose model; use one of: "
                             f"{', '.join(MODEL_CHOICES)} (or unset it)")
        return ModelChoice(check_model(pinned), "environment")
    if purpose not in ("live", "offline"):
        raise InputError(f"unknown purpose {purpose!r}; use 'live' or 'offline'")
    rate = fps if fps and fps > 0 and np.isfinite(fps) else 30.0
    if purpose == "live":
        budget = LIVE_SHARE * 1000.0 / min(rate, LIVE_MIN_FPS)
    else:
        budget = OFFLINE_SHARE * 1000.0 / rate
    source: Literal["measured", "remembered"] = "measured"
    if timer is not None:
        time_it = timer
    elif purpose == "offline":
        try:
            speeds, fresh = machine_speeds(backend)
        except BackendUnavailable as e:
            log.info("cannot measure the pose models (%s); using %s", e, DEFAULT_MODEL)
            return ModelChoice(DEFAULT_MODEL, "default")
        if fresh and not quiet_machine():
            # Nothing quiet remembered and a busy moment's timing says little about this
            # machine (the same video would get other numbers on a quiet day): the default.
            log.info("machine busy and no quiet timing remembered: pose model %s", DEFAULT_MODEL)
            return ModelChoice(DEFAULT_MODEL, "busy")
        source = "measured" if fresh else "remembered"

        def time_it(_backend: str, model: ModelName) -> float:
            return speeds[model]
    else:
        time_it = measure_model_ms
    measured: dict[str, float] = {}
    for model in AUTO_MODELS:  # most accurate first; stop at the first that fits
        try:
            ms = float(time_it(backend, model))
        except BackendUnavailable as e:  # e.g. mediapipe installed without onnxruntime
            log.info("cannot measure the pose models (%s); using %s", e, DEFAULT_MODEL)
            return ModelChoice(DEFAULT_MODEL, "default")
        measured[model] = round(ms, 3)
        if ms <= budget:
            choice = ModelChoice(model, source, round(budget, 3), measured)
            break
    else:
        last = AUTO_MODELS[-1]
        choice = ModelChoice(last, source, round(budget, 3), measured)
        log.warning("even the %s pose model (%.1f ms/frame) misses the %.1f ms budget at %.1f fps: "
                    "expect dropped frames", last, measured[last], budget, rate)
    log.info("pose model: %s", choice.describe())
    return choice


def _load_1min() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


def quiet_machine(load: float | None = None) -> bool:
    """Whether the 1-minute load (now, or ``load``) is at most :data:`QUIET_LOAD_PER_CPU`
    per core."""
    load = _load_1min() if load is None else load
    return load <= QUIET_LOAD_PER_CPU * (os.cpu_count() or 1)


def speeds_path() -> Path:
    """Where this machine's remembered speeds live (the config folder, :data:`SPEEDS_FILE`)."""
    return config_dir() / SPEEDS_FILE


def _machine_key(backend: str) -> str:
    """What the remembered speeds depend on: backend, runtime version, cores, model files."""
    from formcoach.pose import models

    try:
        import onnxruntime as ort

        runtime = str(ort.__version__)
    except ImportError:  # pragma: no cover - onnxruntime missing
        runtime = "none"
    files = models.model_sha256(*(models.ONNX_LANDMARKERS[m] for m in MODELS))
    return f"{backend}|onnxruntime {runtime}|{os.cpu_count()} cpus|{files[:16]}"


def machine_speeds(backend: str, *, remeasure: bool = False) -> tuple[dict[str, float], bool]:
    """This machine's ms per frame of every rung (:func:`measure_model_ms`), remembered in
    :func:`speeds_path`; measured (and saved) when nothing valid is remembered for
    :func:`_machine_key`, or when ``remeasure``. Returns ``(speeds, measured_now)``.

    A file that cannot be read is measured over; one that cannot be written is only logged
    (the choice then holds for this process).

    Raises:
        BackendUnavailable: onnxruntime is not installed (nothing to measure with).
    """
    path, key = speeds_path(), _machine_key(backend)
    if not remeasure:
        try:
            entry = json.loads(path.read_text(encoding="utf-8")).get(key, {})
            speeds: dict[str, float] = {m: float(entry["ms"][m]) for m in MODELS}
            # An entry timed on a busy machine (written before 'bench' checked the load)
            # is measured over: it would keep a lower rung for good.
            if all(np.isfinite(v) and v > 0 for v in speeds.values()) and \
                    quiet_machine(float(entry.get("load_1min", 0.0))):
                return speeds, False
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # nothing (valid) remembered: measure
    speeds = {str(m): round(float(measure_model_ms(backend, m)), 3) for m in MODELS}
    load = _load_1min()
    if not quiet_machine(load):
        # A busy moment's timing would stick (and pick a lower rung for good): used for this
        # run only, 'formcoach bench' included; a quiet run is the one remembered.
        log.info("machine busy (load %.1f): pose model speeds used now, not remembered", load)
        return speeds, True
    try:
        try:
            known = json.loads(path.read_text(encoding="utf-8"))
            known = known if isinstance(known, dict) else {}
        except (OSError, ValueError):
            known = {}
        known[key] = {"ms": speeds, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "load_1min": round(load, 2)}
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(known, indent=1, sort_keys=True))
    except OSError as e:
        log.warning("could not remember the pose models' speeds in %s (%s)", path, e)
    return speeds, True


def measure_model_ms(backend: str, model: ModelName) -> float:
    """Estimated ms per tracked frame of rung ``model`` here: the median of :data:`TIMED_RUNS`
    landmark-network runs (2 threads, as the backend) plus :data:`PIPELINE_OVERHEAD_MS`.

    Always times formcoach's ONNX graph (cheap to load, no person needed); for the ``mediapipe``
    backend the result is scaled by :data:`MEDIAPIPE_COST_RATIO`. Cached per process.

    Raises:
        ModelError: the rung's model file is missing or corrupt.
        BackendUnavailable: onnxruntime is not installed.
    """
    ms = _onnx_landmark_ms(model) + PIPELINE_OVERHEAD_MS
    return ms * MEDIAPIPE_COST_RATIO if backend == "mediapipe" else ms


@functools.lru_cache(maxsize=len(MODELS))
def _onnx_landmark_ms(model: ModelName) -> float:
    from formcoach.pose import models

    try:
        from formcoach.pose.onnx_backend import DEFAULT_THREADS, _session
    except ImportError as e:  # pragma: no cover - onnxruntime missing
        raise BackendUnavailable(
            f"measuring the pose models needs onnxruntime ({e}); install it with "
            "'pip install onnxruntime', or pass --model"
        ) from e
    sess = _session(models.model_path(models.ONNX_LANDMARKERS[model]), DEFAULT_THREADS)
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).uniform(0.0, 1.0, shape).astype(np.float32)
    sess.run(None, {inp.name: x})  # warm-up: allocations, kernel selection
    times = []
    for _ in range(TIMED_RUNS):
        t0 = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def resolve_model(backend: str, fps: float, purpose: Purpose, requested: str | None) -> ModelChoice:
    """:func:`choose_model` for the CLI: the same, with a measurement failure (a missing rung
    file) reported as the usual one-line error rather than a traceback."""
    try:
        return choose_model(backend, fps, purpose, requested=requested)
    except FormcoachError:
        raise
    except Exception as e:  # onnxruntime's own exception types
        raise InputError(f"could not measure the pose models ({e}); pass --model lite|full|heavy") from e
