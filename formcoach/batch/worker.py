"""The worker side of a batch: one file in, one :class:`Outcome` out (never raises).

Workers never write anything: the driver saves the JSON, the database rows and the summary.
Each worker process keeps its pose models (:class:`~formcoach.analysis.EstimatorCache`)
and exercise packs across files; :func:`pin_threads` (run first, before onnxruntime or numba is
loaded) gives it ``cores // workers`` threads so N workers do not oversubscribe the machine.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from formcoach.analysis import AnalysisOptions, AnalysisPlan, EstimatorCache
    from formcoach.metrics import SetMetrics

log = logging.getLogger(__name__)

__all__ = ["Outcome", "Task", "analyze_task", "init_worker", "pin_threads", "probe",
           "thread_config", "threads_per_worker"]

#: Environment variables that size the thread pools of the native libraries.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


@dataclass(frozen=True, slots=True)
class Task:
    """One file to analyse.

    Attributes:
        key: sha256 of the video's bytes (the result is ``OUT/<key>.json``).
        path: the video as given (the result's ``source``).
        options: the analysis options, ``exercise`` already the item's.
        attempt: 1 for the first try, 2 for the retry.
        patient: the manifest's patient ("" when none), carried to the :class:`Outcome`.
    """

    key: str
    path: str
    options: AnalysisOptions
    attempt: int = 1
    patient: str = ""


@dataclass(slots=True)
class Outcome:
    """What a worker sends back for one :class:`Task`.

    Attributes:
        key, path: the task's.
        error: one-line reason when it failed (None: it worked).
        json_text: the ``analyze --json`` document.
        exercise, backend, model_sha256, metrics: for the session database.
        angles_text: the per-frame joint angles JSON the database keeps with the set
            (:func:`~formcoach.report.outputs.angles_text`, as ``analyze`` saves it).
        recorded_at, recorded_at_source: when the video was recorded and how that is known
            (:func:`~formcoach.io_utils.recorded_at`; "" when it could not be read).
        patient: the task's.
        video_s: the clip's length, s; wall_s: seconds the analysis took; worker: pid@host.
    """

    key: str
    path: str
    error: str | None = None
    json_text: str = ""
    exercise: str = ""
    backend: str = ""
    model_sha256: str = ""
    metrics: SetMetrics | None = None
    video_s: float = 0.0
    wall_s: float = 0.0
    worker: str = ""
    angles_text: str = ""
    recorded_at: str = ""
    recorded_at_source: str = ""
    patient: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """``cores // workers``, at least 1 (``cores`` None: this machine's)."""
    n = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, n // max(1, workers))


#: Native libraries whose thread pools :func:`pin_threads` sizes.
NATIVE = ("numba", "onnxruntime")


def pin_threads(threads: int) -> None:
    """Size OpenMP / BLAS / numba thread pools to ``threads`` (call before they load); numba,
    if already loaded, is capped at run time instead: it re-reads ``NUMBA_NUM_THREADS`` when
    it compiles and raises if the value differs from its running pool's."""
    import sys

    numba = sys.modules.get("numba")
    for name in THREAD_ENV:
        if name != "NUMBA_NUM_THREADS" or numba is None:
            os.environ[name] = str(threads)
    if numba is not None:
        try:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except Exception as e:  # e.g. a threading layer that cannot be resized
            log.debug("numba.set_num_threads(%d): %s", threads, e)


_state: dict[str, Any] = {}


def init_worker(threads: int, backend: str = "onnx", model: str = "", quiet_sigint: bool = True
                ) -> None:
    """Per-process set-up: pin threads, ignore Ctrl-C (the driver stops the workers), and load
    the pose model once (``model`` empty: loaded at the first file)."""
    if quiet_sigint:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the main thread (e.g. a Dask worker thread): nothing to do
            pass
    import sys

    if "estimators" not in _state:  # the first call in this process pins (a later one reuses)
        _state["preloaded"] = tuple(m for m in NATIVE if m in sys.modules)
        _state["threads"] = threads
        pin_threads(threads)
    from formcoach.analysis import EstimatorCache

    cache = _state.get("estimators")
    if cache is None:
        cache = EstimatorCache(num_threads=threads)
        _state["estimators"] = cache
        _state["plans"] = {}
    if model:
        cache.get(backend, model)


def probe(delay_s: float = 0.0) -> dict[str, Any]:
    """:func:`thread_config` after ``delay_s`` seconds (so that a pool's other workers take the
    other probes of a round)."""
    time.sleep(delay_s)
    return thread_config()


def thread_config() -> dict[str, Any]:
    """This process's pinned thread configuration, read back from the libraries.

    Returns:
        ``pid``; ``threads`` (what :func:`init_worker` pinned, 0: not initialised);
        ``preloaded`` (native libraries already imported when it pinned: their environment
        variables came too late, only the run-time caps apply); ``env`` (:data:`THREAD_ENV`);
        ``numba_threads`` (``numba.get_num_threads()``, None: numba not loaded);
        ``ort`` (``[intra_op, inter_op]`` of every onnxruntime session the worker holds);
        ``os_threads`` (threads of this process now, from ``/proc/self/task``; None elsewhere).
    """
    import sys

    numba = sys.modules.get("numba")
    sessions: list[list[int]] = []
    cache = _state.get("estimators")
    for est in getattr(cache, "_kept", {}).values():
        for name in ("_det", "_lmk"):
            sess = getattr(est, name, None)
            if sess is not None:
                so = sess.get_session_options()
                sessions.append([int(so.intra_op_num_threads), int(so.inter_op_num_threads)])
    try:
        os_threads: int | None = len(os.listdir("/proc/self/task"))
    except OSError:
        os_threads = None
    return {"pid": os.getpid(), "threads": int(_state.get("threads", 0)),
            "preloaded": list(_state.get("preloaded", ())),
            "env": {k: os.environ.get(k) for k in THREAD_ENV},
            "numba_threads": int(numba.get_num_threads()) if numba is not None else None,
            "ort": sessions, "os_threads": os_threads}


def _one_line(e: BaseException) -> str:
    from formcoach.errors import FormcoachError

    text = " ".join(str(e).split())
    if isinstance(e, FormcoachError):
        return text or type(e).__name__
    return f"internal error: {type(e).__name__}: {text}" if text else \
        f"internal error: {type(e).__name__}"


def _plan(options: AnalysisOptions) -> AnalysisPlan:
    from formcoach.analysis import plan_analysis

    plans: dict[AnalysisOptions, AnalysisPlan] = _state.setdefault("plans", {})
    plan = plans.get(options)
    if plan is None:
        plan = plans[options] = plan_analysis(options)
    return plan


def analyze_task(task: Task) -> Outcome:
    """Analyse one file as ``formcoach analyze PATH --json`` does; every failure becomes
    :attr:`Outcome.error` (one line)."""
    import socket

    from formcoach.analysis import analyze_file
    from formcoach.io_utils import recorded_at
    from formcoach.report.outputs import angles_text, json_text

    if "estimators" not in _state:  # an engine that did not run init_worker
        init_worker(threads_per_worker(1), quiet_sigint=False)
    estimators: EstimatorCache = _state["estimators"]
    who = f"{os.getpid()}@{socket.gethostname()}"
    t0 = time.perf_counter()
    try:
        result = analyze_file(_plan(task.options), video=task.path, estimators=estimators)
        text = json_text(result)
        angles = angles_text(result)
    except Exception as e:
        return Outcome(task.key, task.path, error=_one_line(e), wall_s=time.perf_counter() - t0,
                       worker=who, patient=task.patient)
    try:
        when, source = recorded_at(task.path)
    except OSError as e:  # read a moment ago: only a file removed since; dated when saved
        log.warning("cannot date %s: %s", task.path, e)
        when = source = ""
    return Outcome(
        task.key, task.path, json_text=text, exercise=result.exercise.id, backend=result.backend,
        model_sha256=result.model_sha256, metrics=result.metrics, video_s=result.duration_s,
        wall_s=time.perf_counter() - t0, worker=who, angles_text=angles, recorded_at=when,
        recorded_at_source=source, patient=task.patient,
    )


def with_exercise(options: AnalysisOptions, exercise: str) -> AnalysisOptions:
    """``options`` for one item's exercise."""
    return replace(options, exercise=exercise)
