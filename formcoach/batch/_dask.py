"""Dask glue kept apart from :mod:`formcoach.batch.engines` because it imports ``distributed``
at the top (imported only when ``--engine dask`` is asked for)."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from formcoach.batch.worker import init_worker


def local_cluster_config(threads: int) -> dict[str, Any]:
    """Settings for a :class:`~distributed.LocalCluster` the batch starts (its workers receive
    the driver's config; a cluster at ``--address`` keeps its own):

    * the worker's statistical profiler (a 10 ms timer that takes the GIL from the analysis
      thread, for a flame graph nobody looks at here) off;
    * the thread variables the nanny sets before it starts a worker: ``threads`` (Dask's
      default is 1), without its ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap
      threshold at 128 KiB so that every frame-sized array is a fresh mmap, page faults and
      munmap (the local engine does not set it either);
    * the 20 ms event-loop tick, 100 ms memory monitor and work stealing slowed or off: one
      long task per worker at a time needs none of them.
    """
    n = str(threads)
    return {
        "distributed.worker.profile.enabled": False,
        "distributed.nanny.pre-spawn-environ": {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n,
                                                "OPENBLAS_NUM_THREADS": n,
                                                "NUMBA_NUM_THREADS": n},
        "distributed.admin.tick.interval": "500ms",
        "distributed.worker.memory.monitor-interval": "1s",
        "distributed.admin.system-monitor.interval": "2s",
        "distributed.scheduler.work-stealing": False,
    }


class BatchWorkerSetup(WorkerPlugin):
    """Runs on every worker when it joins the cluster, including one that replaces a dead
    worker: pins its threads and loads the pose model once (the process keeps it for every
    file)."""

    name = "formcoach-batch-setup"

    def __init__(self, threads: int, backend: str, model: str) -> None:
        self.threads = threads
        self.backend = backend
        self.model = model

    def setup(self, worker: Any) -> None:
        init_worker(self.threads, self.backend, self.model, quiet_sigint=False)
