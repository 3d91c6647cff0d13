"""Fuzzing (issue 9): parsers and the segmenter never crash or hang on hostile input.

Every failure must be a FormcoachError subclass with a one-line message; the segmenter must
accept any float (NaN, inf, huge) and keep streaming == batch.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formcoach.errors import FormcoachError
from formcoach.evaluation.importers import load_landmark_csv, load_openpose_npy
from formcoach.exercises import load_exercise
from formcoach.reps import RepSegmenter
from formcoach.rules.engine import parse_rules

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

toml_scalars = st.one_of(
    st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.booleans(), st.lists(st.text(max_size=8), max_size=3),
)
rule_keys = st.sampled_from(
    ["id", "cue", "severity", "views", "scope", "phase", "feature", "reduce", "op", "threshold",
     "hold_s", "rationale", "bogus", ""]
)


def _one_line(e: BaseException) -> None:
    assert isinstance(e, FormcoachError), repr(e)
    assert "\n" not in str(e).strip()


@FUZZ
@given(st.lists(st.dictionaries(rule_keys, toml_scalars, max_size=12), max_size=4))
def test_parse_rules_never_crashes(raw: list[dict]) -> None:
    try:
        parse_rules(raw, "fuzz.toml")
    except Exception as e:
        _one_line(e)


@FUZZ
@given(st.text(max_size=400))
def test_rule_pack_text_never_crashes(tmp_path: Path, text: str) -> None:
    p = tmp_path / "pack.toml"
    p.write_text(text, encoding="utf-8")
    try:
        load_exercise(p)
    except Exception as e:
        _one_line(e)


@FUZZ
@given(st.binary(max_size=600))
def test_rule_pack_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "pack.toml"
    p.write_bytes(data)
    try:
        load_exercise(p)
    except Exception as e:
        _one_line(e)


def _mutated_pack(base: str, rng: np.random.Generator) -> str:
    lines = base.splitlines()
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, len(lines)))
        op = int(rng.integers(0, 4))
        if op == 0:
            lines[i] = lines[i][: int(rng.integers(0, len(lines[i]) + 1))]
        elif op == 1:
            lines.insert(i, "unknown_key = 3")
        elif op == 2:
            lines[i] = lines[i].replace("=", "= [", 1)
        else:
            del lines[i]
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(40))
def test_mutated_bundled_packs_fail_cleanly(tmp_path: Path, seed: int) -> None:
    from formcoach.exercises import exercise_ids

    rng = np.random.default_rng(seed)
    ids = exercise_ids()
    ex_id = ids[seed % len(ids)]
    base = load_exercise(ex_id)
    assert base.path is not None
    src = base.path.read_text()
    p = tmp_path / f"{ex_id}.toml"
    p.write_text(_mutated_pack(src, rng))
    try:
        load_exercise(p)
    except Exception as e:
        _one_line(e)
        assert str(p) in str(e) or p.name in str(e)


@FUZZ
@given(st.binary(max_size=2000))
def test_csv_importer_never_crashes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "rows.csv"
    p.write_bytes(data)
    try:
        load_landmark_csv(p)
    except Exception as e:
        _one_line(e)


@FUZZ
@given(st.text(alphabet="label,nose_x,0.5,NaN,inf,-1e308,\n ", max_size=600))
def test_csv_importer_structured_garbage(tmp_path: Path, text: str) -> None:
    p = tmp_path / "rows.csv"
    p.write_text("label,nose_x,nose_y,nose_z,nose_v\n" + text)
    try:
        poses, labels = load_landmark_csv(p)
        assert poses.shape[1:] == (33, 4) and len(labels) == len(poses)
    except Exception as e:
        _one_line(e)


@FUZZ
@given(st.one_of(
    st.binary(max_size=800),
    st.tuples(st.integers(0, 5), st.integers(0, 20), st.integers(0, 4)),
))
def test_openpose_importer_never_crashes(tmp_path: Path, spec) -> None:
    p = tmp_path / "seq.npy"
    if isinstance(spec, bytes):
        p.write_bytes(spec)
    else:
        np.save(p, np.random.default_rng(0).normal(size=spec) * 1e3)
    try:
        poses = load_openpose_npy(p)
        assert poses.ndim == 3 and poses.shape[1:] == (33, 4)
    except Exception as e:
        _one_line(e)


finite_or_not = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(-200, 200),
)


@FUZZ
@given(st.lists(finite_or_not, max_size=400), st.sampled_from(["squat", "bicep_curl", "plank", "pullup"]))
def test_segmenter_accepts_any_floats_and_streaming_equals_batch(values: list[float], ex: str) -> None:
    exercise = load_exercise(ex)
    fps = 30.0
    t = (np.arange(len(values)) * (1e9 / fps)).astype(np.int64)
    seg = RepSegmenter(exercise.count, fps, kind=exercise.kind)
    streamed = []
    for v, ti in zip(values, t, strict=True):
        streamed += seg.update(v, int(ti))
    streamed += seg.finish()
    batch = RepSegmenter(exercise.count, fps, kind=exercise.kind).segment(np.asarray(values, float), t)
    assert streamed == batch
    for r in batch:
        assert 0 <= r.start_frame <= r.bottom_frame <= r.end_frame < max(1, len(values))
        assert not math.isnan(r.start_ns)


def _valid_track_bytes(tmp: Path) -> bytes:
    from formcoach.types import PoseTrack

    rng = np.random.default_rng(0)
    PoseTrack(rng.normal(size=(6, 33, 4)), rng.normal(size=(6, 33, 3)),
              np.arange(6, dtype=np.int64) * 33_333_333, 30.0, (640, 480), "onnx", "",
              {"source": "x.mp4"}).save(tmp / "base.npz")
    return (tmp / "base.npz").read_bytes()


@FUZZ
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6), st.floats(0, 1))
def test_pose_track_mutations_never_crash(tmp_path: Path, flips, keep: float) -> None:
    from formcoach.types import PoseTrack

    data = bytearray(_valid_track_bytes(tmp_path))
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    p = tmp_path / "t.npz"
    p.write_bytes(bytes(data[: max(1, int(keep * len(data)))] if keep < 0.9 else data))
    try:
        PoseTrack.load(p)
    except Exception as e:
        _one_line(e)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(
                                ["clips", "file", "exercise", "reps", "accept", "x"]), inner,
                                max_size=5)),
    max_leaves=20,
)


@FUZZ
@given(json_values)
def test_manifest_and_profiles_never_crash(tmp_path: Path, doc) -> None:
    import json

    from formcoach.calibration import load_camera_profile, load_user_profile
    from formcoach.evaluation.reps import load_manifest

    p = tmp_path / "doc.json"
    p.write_text(json.dumps(doc))
    for load in (load_manifest, load_camera_profile, load_user_profile):
        try:
            load(p)
        except Exception as e:
            _one_line(e)
