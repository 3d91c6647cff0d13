"""Golden `formcoach analyze --json` documents for three bundled samples with faults.

A fresh run of the CLI (default ONNX backend) must reproduce ``tests/goldens/<sample>.json``:
exactly for everything discrete (rep count, rep indices, sides, partial flags, fault rule ids,
their reps and severities, cue texts and order, frame counts, fps), and within a tolerance for
measured floats. These pin today's behaviour so a refactor that moves code cannot change it
unnoticed. Refresh deliberately with ``python3 -m pytest tests/test_goldens.py --update-goldens``
(the option lives in tests/conftest_goldens.py); a missing golden is a failure, never created
silently.

Tolerances (why): the pose model's float results differ slightly across CPUs (SIMD paths,
thread counts of the ONNX runtime), so a landmark can move a fraction of a pixel. That moves an
angle by well under a degree and can move a turning point (a rep's start or bottom, the frame
a fault is reported at) by one frame; everything downstream is exact arithmetic on those.

- times (``*_s``): 0.05 s, i.e. one frame at 30 fps plus rounding to ms;
  durations (end - start) 0.1 s, as both ends may move;
- frame numbers: 1 frame (the same one-frame shift);
- angles (``*_deg``, per-rep ``metrics``, a fault's ``value`` against a threshold in
  degrees): 1 deg;
- a fault's ``value`` against a normalised threshold (|threshold| < 5, body-length units):
  0.02.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, SAMPLES

GOLDENS = Path(__file__).resolve().parent / "goldens"

# sample -> exercise: one per view/fault family (the demo clip first).
CASES = {
    "pushup_45_sag_lockout": "pushup",
    "squat_45_shallow": "squat",
    "bicep_curl_side_partial_swing": "bicep_curl",
}

TIME_TOL_S = 0.05
DURATION_TOL_S = 2 * TIME_TOL_S
FRAME_TOL = 1
ANGLE_TOL_DEG = 1.0
RATIO_TOL = 0.02
# Fields that describe the machine or the run, not the analysis (none today; kept for the
# redesign's SessionResult, which may add them).
IGNORED = {"elapsed_s", "wall_s", "created_at", "created", "version", "formcoach_version",
           "host", "machine", "timings", "latency"}


def analyze(sample: str, exercise: str, out: Path) -> dict[str, Any]:
    """Run the CLI in a subprocess (this checkout's code) and load its JSON document."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))
    cmd = [sys.executable, "-m", "formcoach", "analyze", str(SAMPLES / f"{sample}.mp4"),
           "--exercise", exercise, "--json", str(out), "--no-save"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}"
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without machine fields; ``source`` reduced to the file name."""
    def strip(o: Any) -> Any:
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in IGNORED}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    out = strip(doc)
    if isinstance(out.get("source"), str):
        out["source"] = Path(out["source"]).name
    return out


def tolerance(path: tuple[str | int, ...], parent: dict[str, Any] | None) -> float | None:
    """Allowed absolute difference for the float at ``path`` (None: must be equal)."""
    key = path[-1]
    if not isinstance(key, str):
        return None
    if len(path) == 1:
        return TIME_TOL_S if key == "hold_s" else None  # fps, duration_s: from the container
    if "metrics" in path:
        return ANGLE_TOL_DEG
    if key == "duration_s":
        return DURATION_TOL_S
    if key.endswith("_s"):
        return TIME_TOL_S
    if key == "frame" or key.endswith("_frame"):
        return FRAME_TOL
    if key.endswith("_deg"):
        return ANGLE_TOL_DEG
    if key == "value" and parent is not None:
        thr = parent.get("threshold")
        if isinstance(thr, int | float) and abs(thr) < 5:
            return RATIO_TOL
        return ANGLE_TOL_DEG
    return None


def differences(want: Any, got: Any, path: tuple[str | int, ...] = (),
                parent: dict[str, Any] | None = None) -> list[str]:
    """Human-readable differences between the golden and a fresh document, in order."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path) or "."
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}: key {k!r} missing" for k in want if k not in got]
        out += [f"{where}: unexpected key {k!r}" for k in got if k not in want]
        for k in want:
            if k in got:
                out += differences(want[k], got[k], (*path, k), want)
        return out
    if isinstance(want, list) and isinstance(got, list):
        out = []
        if len(want) != len(got):
            out.append(f"{where}: {len(got)} items, golden has {len(want)}")
        for i, (a, b) in enumerate(zip(want, got, strict=False)):
            out += differences(a, b, (*path, i), None)
        return out
    numbers = (int, float)
    if (isinstance(want, numbers) and isinstance(got, numbers)
            and not isinstance(want, bool) and not isinstance(got, bool)):
        tol = tolerance(path, parent)
        if tol is None:
            ok = want == got or (isinstance(want, float) and isinstance(got, float)
                                 and math.isclose(want, got, rel_tol=1e-9, abs_tol=1e-9))
        else:
            ok = abs(float(want) - float(got)) <= tol + 1e-9
        if ok:
            return []
        extra = "" if tol is None else f" (tolerance {tol:g})"
        return [f"{where}: {got!r}, golden {want!r}{extra}"]
    if want != got:
        return [f"{where}: {got!r}, golden {want!r}"]
    return []


def check_golden(golden: Path, fresh: dict[str, Any], update: bool) -> None:
    """Compare ``fresh`` with ``golden`` (or rewrite it when ``update``); AssertionError with
    the first differences otherwise. A missing golden fails: it is never created silently."""
    if update:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(json.dumps(fresh, indent=1, sort_keys=True) + "\n")
        return
    assert golden.is_file(), (
        f"golden {golden.name} is missing; create it deliberately with "
        "`python3 -m pytest tests/test_goldens.py --update-goldens` and review it"
    )
    want = normalise(json.loads(golden.read_text()))
    diffs = differences(want, fresh)
    assert not diffs, (
        f"`formcoach analyze` differs from {golden.name} ({len(diffs)} differences; first "
        "ones below). If the change is intended, refresh with --update-goldens and review the "
        "diff.\n  " + "\n  ".join(diffs[:20])
    )


@pytest.mark.slow
@pytest.mark.parametrize("sample", list(CASES))
def test_analyze_matches_golden(sample: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    fresh = normalise(analyze(sample, CASES[sample], tmp_path / "out.json"))
    check_golden(GOLDENS / f"{sample}.json", fresh, bool(request.config.getoption("--update-goldens")))


# ------------------------------------------------------------------ the comparator itself
def _doc() -> dict[str, Any]:
    return {
        "reps": 2, "fps": 30.0, "source": "/x/a.mp4",
        "rep_events": [{"index": 0, "start_s": 1.0, "bottom_frame": 40, "rom_deg": 70.0,
                        "side": "left", "partial": False, "metrics": {"elbow": 60.0}}],
        "faults": [{"rule_id": "hip_sag", "rep": 1, "severity": 3, "t_s": 4.0, "frame": 120,
                    "value": -0.16, "threshold": -0.08}],
        "cues": [{"text": "hips up", "t_s": 4.5}],
    }


def test_comparator_accepts_small_float_noise() -> None:
    got = _doc()
    got["source"] = "samples/a.mp4"
    got["rep_events"][0].update(start_s=1.04, bottom_frame=41, rom_deg=70.9)
    got["rep_events"][0]["metrics"]["elbow"] = 59.1
    got["faults"][0].update(value=-0.175, t_s=3.96, frame=119)
    assert differences(normalise(_doc()), normalise(got)) == []


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda d: d.update(reps=3), ".reps"),
        (lambda d: d["rep_events"][0].update(index=1), ".rep_events[0].index"),
        (lambda d: d["rep_events"][0].update(partial=True), ".partial"),
        (lambda d: d["rep_events"][0].update(start_s=1.06), ".start_s"),
        (lambda d: d["rep_events"][0].update(bottom_frame=42), ".bottom_frame"),
        (lambda d: d["rep_events"][0].update(rom_deg=71.5), ".rom_deg"),
        (lambda d: d["faults"][0].update(rule_id="depth"), ".rule_id"),
        (lambda d: d["faults"][0].update(rep=2), ".faults[0].rep"),
        (lambda d: d["faults"][0].update(value=-0.2), ".value"),
        (lambda d: d["cues"][0].update(text="hips down"), ".text"),
        (lambda d: d["cues"].append({"text": "x", "t_s": 5.0}), ".cues: 2 items"),
        (lambda d: d.pop("fps"), "key 'fps' missing"),
        (lambda d: d.update(fps=29.97), ".fps"),
    ],
)
def test_comparator_reports_real_changes(edit: Any, needle: str) -> None:
    got = _doc()
    edit(got)
    diffs = differences(normalise(_doc()), normalise(got))
    assert diffs and any(needle in d for d in diffs), diffs


def test_missing_golden_fails_instead_of_being_created(tmp_path: Path) -> None:
    golden = tmp_path / "nope.json"
    with pytest.raises(AssertionError, match=r"missing.*--update-goldens"):
        check_golden(golden, normalise(_doc()), update=False)
    assert not golden.exists()
    check_golden(golden, normalise(_doc()), update=True)
    check_golden(golden, normalise(_doc()), update=False)  # round trip
    changed = normalise(_doc())
    changed["reps"] = 5
    with pytest.raises(AssertionError, match=r"\.reps: 5, golden 2"):
        check_golden(golden, changed, update=False)
