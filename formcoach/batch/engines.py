"""Where a batch's files are analysed: a local process pool, a Dask cluster or a Ray cluster.

Every engine runs :func:`formcoach.batch.worker.analyze_task` in long-lived worker processes
that load the pose model once (:func:`~formcoach.batch.worker.init_worker`) and hands back
:class:`~formcoach.batch.worker.Outcome` objects; the driver alone writes files and the
database. ``ray`` and ``dask`` are optional extras, imported only when asked for.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

from formcoach.batch.worker import (
    THREAD_ENV,
    Outcome,
    Task,
    analyze_task,
    init_worker,
    probe,
    thread_config,
    threads_per_worker,
)
from formcoach.errors import FormcoachError, InputError

log = logging.getLogger(__name__)

__all__ = ["ENGINES", "Engine", "make_engine"]

ENGINES = ("local", "ray", "dask")


class EngineUnavailable(FormcoachError):
    """An optional engine's package is not installed."""


def _crashed(task: Task, e: BaseException) -> Outcome:
    text = " ".join(str(e).split())
    why = f"worker failed: {type(e).__name__}" + (f": {text}" if text else "")
    return Outcome(task.key, task.path, error=why)


class Engine(ABC):
    """Runs tasks; :meth:`next_done` returns finished ``(task, outcome)`` pairs.

    Attributes:
        workers: worker processes.
        threads: threads each worker uses (``cores // workers`` unless given).
    """

    name = ""

    def __init__(self, workers: int, backend: str, model: str, threads: int = 0) -> None:
        # 0: one per core here (a cluster engine may change it to the cluster's size)
        self.workers = int(workers) if workers > 0 else (os.cpu_count() or 1)
        self.threads = int(threads) if threads > 0 else threads_per_worker(self.workers)
        self.backend = backend
        self.model = model

    def warm_up(self) -> list[dict[str, Any]]:
        """Start every worker and wait until each has loaded its model (otherwise that happens
        at the first tasks); each worker's :func:`~formcoach.batch.worker.thread_config`."""
        return []

    @abstractmethod
    def submit(self, task: Task) -> None:
        """Queue one task."""

    @abstractmethod
    def next_done(self, timeout: float) -> list[tuple[Task, Outcome]]:
        """Finished tasks (waits up to ``timeout`` s for the first; [] when none)."""

    @abstractmethod
    def in_flight(self) -> int:
        """Tasks submitted and not yet returned by :meth:`next_done`."""

    @abstractmethod
    def close(self, cancel: bool = False) -> None:
        """Stop the workers (``cancel``: at once, dropping what runs)."""

    def describe(self) -> str:
        return f"{self.name}, {self.workers} worker(s) x {self.threads} thread(s)"


class LocalEngine(Engine):
    """A :class:`concurrent.futures.ProcessPoolExecutor` (``forkserver`` where there is one,
    else ``spawn``: no forked copies of the driver's threads or open database)."""

    name = "local"

    def __init__(self, workers: int, backend: str, model: str, threads: int = 0) -> None:
        super().__init__(workers, backend, model, threads)
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._futures: dict[Any, Task] = {}
        self._pool: Any = None

    def _ensure_pool(self) -> Any:
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=self._ctx, initializer=init_worker,
                initargs=(self.threads, self.backend, self.model),
            )
        return self._pool

    def warm_up(self) -> list[dict[str, Any]]:
        import time

        pool = self._ensure_pool()
        seen: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + 600.0
        # a worker takes tasks only after its initializer (the model) is done; with no idle
        # worker each submit starts a process, so the first round starts them all; rounds of
        # short probes go on until every worker has answered one
        while len(seen) < self.workers:
            probes = [pool.submit(probe, 0.05) for _ in range(self.workers)]
            try:
                for f in probes:
                    cfg = f.result()
                    seen[cfg["pid"]] = cfg
            except Exception as e:  # a worker that failed to start breaks the pool
                raise FormcoachError(f"batch workers did not start: {e}") from e
            if time.monotonic() > deadline:
                raise FormcoachError(f"only {len(seen)} of {self.workers} batch workers started "
                                     "in 10 minutes")
        return list(seen.values())

    def submit(self, task: Task) -> None:
        self._futures[self._ensure_pool().submit(analyze_task, task)] = task

    def next_done(self, timeout: float) -> list[tuple[Task, Outcome]]:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out = []
        broken = False
        for fut in done:
            task = self._futures.pop(fut)
            try:
                out.append((task, fut.result()))
            except BrokenProcessPool as e:
                broken = True
                out.append((task, _crashed(task, e)))
            except Exception as e:  # the task could not be sent or its result not read back
                out.append((task, _crashed(task, e)))
        if broken:  # a worker died (killed, out of memory): a fresh pool for the retries
            log.warning("a worker process died; starting new workers")
            self._drop_pool(cancel=True)
        return out

    def in_flight(self) -> int:
        return len(self._futures)

    def _drop_pool(self, cancel: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            procs = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # what runs now is dropped: the rerun does it again
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        else:
            pool.shutdown(wait=True)

    def close(self, cancel: bool = False) -> None:
        self._futures.clear() if cancel else None
        self._drop_pool(cancel)


class DaskEngine(Engine):
    """``dask.distributed``: a :class:`LocalCluster` of ``workers`` single-threaded processes,
    or the scheduler at ``address`` (its workers need formcoach installed and the videos at the
    same paths)."""

    name = "dask"

    def __init__(self, workers: int, backend: str, model: str, address: str | None,
                 threads: int = 0) -> None:
        super().__init__(workers, backend, model, threads)
        try:
            import dask
            from dask.distributed import Client, LocalCluster

            from formcoach.batch._dask import BatchWorkerSetup, local_cluster_config
        except ImportError as e:
            raise EngineUnavailable(f"--engine dask needs dask.distributed ({e}); install it with "
                                    "pip install 'formcoach[dask]'") from e
        self._cluster = None
        if log.getEffectiveLevel() > logging.INFO:
            logging.getLogger("distributed").setLevel(logging.WARNING)
        try:
            if address:
                self._client = Client(address, timeout="30s")
            else:
                quiet = logging.WARNING if log.getEffectiveLevel() > logging.INFO else False
                # The nannies run in this process and put the thread variables into its own
                # environment before they spawn the workers: put the driver's back (numba
                # refuses a changed NUMBA_NUM_THREADS once its pool runs here).
                saved = {k: os.environ.get(k) for k in THREAD_ENV}
                try:
                    with dask.config.set(local_cluster_config(self.threads)):
                        self._cluster = LocalCluster(
                            n_workers=self.workers, threads_per_worker=1, processes=True,
                            scheduler_kwargs={"dashboard": False}, silence_logs=quiet)
                finally:
                    for k, v in saved.items():
                        if v is None:
                            os.environ.pop(k, None)
                        else:
                            os.environ[k] = v
                self._client = Client(self._cluster)
        except OSError as e:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {e}") from e
        if address:
            n = len(self._client.scheduler_info().get("workers", {}))
            self.workers = max(1, n)
            self.threads = 1 if n else self.threads
        # every worker, and any that joins later (a replacement for one that died), pins its
        # threads and loads the model once (register_plugin waits for the current workers)
        self._client.register_plugin(BatchWorkerSetup(self.threads, backend, model))
        self._futures: dict[Any, Task] = {}

    def warm_up(self) -> list[dict[str, Any]]:
        return list(self._client.run(thread_config).values())

    def submit(self, task: Task) -> None:
        fut = self._client.submit(analyze_task, task, pure=False, retries=0)
        self._futures[fut] = task

    def next_done(self, timeout: float) -> list[tuple[Task, Outcome]]:
        from dask.distributed import wait

        if not self._futures:
            return []
        try:
            done, _ = wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        out = []
        for fut in done:
            task = self._futures.pop(fut)
            try:
                out.append((task, fut.result()))
            except Exception as e:  # the worker died (KilledWorker) or the result was lost
                out.append((task, _crashed(task, e)))
        return out

    def in_flight(self) -> int:
        return len(self._futures)

    def close(self, cancel: bool = False) -> None:
        if cancel and self._futures:
            self._client.cancel(list(self._futures))
        self._futures.clear()
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


class _RayWorkerBase:
    """The body of the Ray actor: one per worker, model loaded once in ``__init__``."""

    def __init__(self, threads: int, backend: str, model: str) -> None:
        init_worker(threads, backend, model, quiet_sigint=False)

    def analyze(self, task: Task) -> Outcome:
        return analyze_task(task)

    def config(self) -> dict[str, Any]:
        return thread_config()


class RayEngine(Engine):
    """Ray: ``workers`` actors (1 CPU each) that load the model once and analyse one file at a
    time, with :attr:`DEPTH` calls queued on each (the next file is there when one ends: no idle
    gap while the driver saves a result); ``address`` connects to a running cluster
    (``ray start --head``), else a local one."""

    name = "ray"
    #: Calls queued on one actor (it runs them one after the other).
    DEPTH = 2

    def __init__(self, workers: int, backend: str, model: str, address: str | None,
                 threads: int = 0) -> None:
        super().__init__(workers, backend, model, threads)
        try:
            import ray
        except ImportError as e:
            raise EngineUnavailable(f"--engine ray needs ray ({e}); install it with "
                                    "pip install 'formcoach[ray]'") from e
        self._ray = ray
        env = {k: str(self.threads) for k in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
        env["FORMCOACH_MODEL"] = model
        level = logging.WARNING if log.getEffectiveLevel() > logging.INFO else logging.INFO
        try:
            if address:
                ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=False,
                         logging_level=level)
            else:
                ray.init(num_cpus=max(self.workers, os.cpu_count() or 1), include_dashboard=False,
                         runtime_env={"env_vars": env}, log_to_driver=False, logging_level=level)
        except ConnectionError as e:
            raise InputError(f"cannot reach the Ray cluster at {address}: {e}") from e
        if address and workers <= 0:  # one worker per CPU of the cluster
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
            self.threads = 1
        actor = ray.remote(num_cpus=1)(_RayWorkerBase)
        self._actors: list[Any] = [actor.remote(self.threads, backend, model)  # type: ignore[attr-defined, unused-ignore]
                        for _ in range(self.workers)]
        # free call slots: every actor DEPTH times, interleaved so the first tasks spread out
        self._idle: deque[Any] = deque(a for _ in range(self.DEPTH) for a in self._actors)
        self._dead: set[int] = set()
        self._queue: deque[Task] = deque()
        self._running: dict[Any, tuple[Task, Any]] = {}

    def warm_up(self) -> list[dict[str, Any]]:
        configs: list[dict[str, Any]] = self._ray.get([a.config.remote() for a in self._actors])
        return configs

    def _dispatch(self) -> None:
        while self._idle and self._queue:
            actor, task = self._idle.popleft(), self._queue.popleft()
            self._running[actor.analyze.remote(task)] = (task, actor)

    def submit(self, task: Task) -> None:
        self._queue.append(task)
        self._dispatch()

    def next_done(self, timeout: float) -> list[tuple[Task, Outcome]]:
        self._dispatch()
        if not self._running:
            return []
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=timeout)
        out = []
        for ref in ready:
            task, actor = self._running.pop(ref)
            try:
                out.append((task, self._ray.get(ref)))
                self._idle.append(actor)
            except Exception as e:  # the actor died: replace it
                out.append((task, _crashed(task, e)))
                if id(actor) in self._dead:  # its other queued call: already replaced
                    continue
                self._dead.add(id(actor))
                self._idle = deque(a for a in self._idle if a is not actor)
                log.warning("a Ray worker died; starting a new one")
                cls = self._ray.remote(num_cpus=1)(_RayWorkerBase)
                fresh = cls.remote(self.threads, self.backend, self.model)
                self._actors.append(fresh)
                self._idle.extend([fresh] * self.DEPTH)
        self._dispatch()
        return out

    def in_flight(self) -> int:
        return len(self._running) + len(self._queue)

    def close(self, cancel: bool = False) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)  # type: ignore[arg-type]
            except Exception as e:  # already gone
                log.debug("ray.kill: %s", e)
        self._running.clear()
        self._queue.clear()
        self._ray.shutdown()


def make_engine(name: str, workers: int, backend: str, model: str,
                address: str | None = None, threads: int = 0) -> Engine:
    """The engine ``name`` (one of :data:`ENGINES`); ``threads`` per worker, 0: ``cores //
    workers``.

    Raises:
        EngineUnavailable: ``ray`` / ``dask`` is not installed (the message names the extra).
        InputError: unknown engine, ``--address`` with ``local``, an unreachable cluster.
    """
    if name == "local":
        if address:
            raise InputError("--address needs --engine ray or --engine dask (local runs here)")
        return LocalEngine(workers, backend, model, threads)
    if name == "dask":
        return DaskEngine(workers, backend, model, address, threads)
    if name == "ray":
        return RayEngine(workers, backend, model, address, threads)
    raise InputError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINES)}")
