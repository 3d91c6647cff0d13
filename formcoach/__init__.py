"""formcoach: an on-device computer-vision exercise form coach.

Stages (each swappable and testable alone): :mod:`formcoach.sources` (frames) ->
:mod:`formcoach.pose` (landmarks) -> :mod:`formcoach.kinematics` (angles) ->
:mod:`formcoach.reps` (repetitions) -> :mod:`formcoach.rules` (faults, cues) ->
:mod:`formcoach.cues.speech` (spoken cues).
"""

# This must stay the first code of the package, before any import that could load onnxruntime.
# onnxruntime 1.29+ on Linux/macOS starts a telemetry thread at import: about 9 s later it looks
# up mobile.events.data.microsoft.com (DNS to the resolv.conf server, again every 6-8 s) and
# writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{deviceid,onnxruntime.db}.
# ort.disable_telemetry_events() does not stop that; the variable below, read when the native
# module loads, does (checked under strace for 1.29.0, 1.30.0, 1.31.1 and 1.32.0). formcoach
# never sends anything anywhere, so it is set unconditionally. tests/system/test_privacy.py pins it.
import os
import sys

#: onnxruntime was imported before formcoach set the variable (and the caller had not set it):
#: its telemetry may be on. onnx_backend warns about it once.
_ORT_IMPORTED_FIRST = "onnxruntime" in sys.modules and os.environ.get("ORT_DISABLE_TELEMETRY") != "1"
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
