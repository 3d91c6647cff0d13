"""Dask glue kept apart from :mod:`formcoach.batch.engines` because it imports ``distributed``
at the top (imported only when ``--engine dask`` is asked for)."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from formcoach.batch.worker import init_worker

#: Settings for a :class:`~distributed.LocalCluster` the batch starts (its workers receive the
#: driver's config): the statistical profiler wakes every 10 ms and takes the GIL from the
#: analysis thread, for a flame graph nobody looks at here.
LOCAL_CLUSTER_CONFIG = {"distributed.worker.profile.enabled": False}


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
