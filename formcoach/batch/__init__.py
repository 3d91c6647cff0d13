"""``formcoach batch``: many recordings through the one-file analysis of ``formcoach analyze``,
on a local process pool, Dask or Ray; resumable, keyed by content hash, one database writer.

Modules: :mod:`~formcoach.batch.inputs` (files, folders, manifests),
:mod:`~formcoach.batch.worker` (one file in a worker), :mod:`~formcoach.batch.engines` (where
workers run), :mod:`~formcoach.batch.runner` (the driver). Nothing heavy is imported here: a
worker process pins its threads before onnxruntime or numba loads.
"""
