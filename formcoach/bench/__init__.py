"""Bench, a tool: how fast formcoach is.

* :mod:`~formcoach.bench.suite`: ``formcoach bench``, every speed figure measured in one run
  against its target (pose ms/frame per backend, realtime factor, per-frame overhead, kernels,
  cue latency, cold start, peak memory).
* :mod:`~formcoach.bench.latency`: cue latency, from the capture of the frame that reveals a
  fault to the start of its audio, through the live loop
  (``python -m formcoach.bench.latency``).
"""
