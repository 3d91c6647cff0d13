"""Evaluation, a tool: how accurate formcoach is on labelled data.

* :mod:`~formcoach.evaluation.reps`: rep counts against a manifest of labelled clips
  (``formcoach eval reps``).
* :mod:`~formcoach.evaluation.form`: the fault rules against labelled poses
  (``formcoach eval form``).
* :mod:`~formcoach.evaluation.pose`: a pose backend against a rendered sample's ground truth.
* :mod:`~formcoach.evaluation.importers`: other tools' labelled pose files (landmark CSV,
  OpenPose ``.npy``) as formcoach ``(N, 33, 4)`` arrays.

Each runs the library's own pipeline pieces (``estimate_track``, ``analyze_track``, the rules
judges) and returns plain JSON-able results; the CLI only parses arguments and prints.
"""
