"""Importers: exercise-correction CSV rows and OpenPose COCO-18 .npy sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formcoach.errors import InputError
from formcoach.evaluation.importers import (
    OPENPOSE18_TO_BLAZEPOSE,
    load_landmark_csv,
    load_openpose_npy,
    openpose18_to_blazepose,
)
from formcoach.skeleton import LM

HEADER = "label,nose_x,nose_y,nose_z,nose_v,left_knee_x,left_knee_y,left_knee_z,left_knee_v\n"


def _write(tmp_path: Path, text: str, name: str = "rows.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_rows_become_pixel_poses(tmp_path: Path) -> None:
    p = _write(tmp_path, HEADER + "C,0.5,0.25,-0.1,0.9,0.25,0.5,0.0,1.0\nL,,,,,0.1,0.2,0.3,0.4\n")
    poses, labels = load_landmark_csv(p, frame_size=(1000, 500))
    assert labels == ["C", "L"]
    assert poses.shape == (2, 33, 4) and poses.dtype == np.float64
    np.testing.assert_allclose(poses[0, LM.NOSE], [500.0, 125.0, -100.0, 0.9])
    np.testing.assert_allclose(poses[0, LM.LEFT_KNEE], [250.0, 250.0, 0.0, 1.0])
    assert np.isnan(poses[1, LM.NOSE]).all()  # empty cells: missing landmark
    assert np.isnan(poses[:, LM.RIGHT_KNEE]).all()  # not in the file: NaN


def test_csv_default_frame_is_16_9(tmp_path: Path) -> None:
    poses, _ = load_landmark_csv(_write(tmp_path, HEADER + "C,1,1,0,1,0,0,0,1\n"))
    np.testing.assert_allclose(poses[0, LM.NOSE, :2], [1280.0, 720.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty CSV"),
        ("nose_x,nose_y\n0.1,0.2\n", "no 'label' column"),
        ("label,nose_q\nC,1\n", "unknown column 'nose_q'"),
        ("label,elbow_x\nC,1\n", "unknown column 'elbow_x'"),
        ("label,nose_v\nC,1\n", "no landmark x/y columns"),
        ("label,nose_x,nose_x\nC,1,2\n", "duplicate column"),
        (HEADER + "C,0.1,0.2\n", "row 2 has 3 fields"),
        (HEADER + "C,0.1,abc,0,1,0,0,0,1\n", "row 2, column 'nose_y': not a number"),
        (HEADER + ",0.1,0.2,0,1,0,0,0,1\n", "row 2 has an empty label"),
    ],
)
def test_malformed_csv_is_one_line_input_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as ei:
        load_landmark_csv(_write(tmp_path, text))
    assert "\n" not in str(ei.value)


def test_csv_not_utf8_or_missing(tmp_path: Path) -> None:
    p = tmp_path / "bin.csv"
    p.write_bytes(b"label,nose_x\n\xff\xfe\x00C,1\n")
    with pytest.raises(InputError, match="not a readable UTF-8 CSV"):
        load_landmark_csv(p)
    with pytest.raises(InputError, match="CSV not found"):
        load_landmark_csv(tmp_path / "nope.csv")


def test_openpose_mapping() -> None:
    kp = np.zeros((2, 18, 3))
    kp[:, :, 0] = np.arange(18) * 10.0
    kp[:, :, 1] = 100.0 + np.arange(18)
    kp[:, :, 2] = 0.8
    kp[1, 4, 2] = 0.0  # right wrist not found in frame 1
    out = openpose18_to_blazepose(kp)
    assert out.shape == (2, 33, 4)
    for src, dst in OPENPOSE18_TO_BLAZEPOSE.items():
        np.testing.assert_allclose(out[0, dst, [0, 1, 3]], [src * 10.0, 100.0 + src, 0.8])
    assert np.isnan(out[1, LM.RIGHT_WRIST]).all()
    assert np.isnan(out[:, :, 2]).all()  # no depth
    unmapped = set(range(33)) - set(OPENPOSE18_TO_BLAZEPOSE.values())
    assert np.isnan(out[:, sorted(unmapped)]).all()
    assert out[0, LM.LEFT_SHOULDER, 0] == 50.0 and out[0, LM.RIGHT_SHOULDER, 0] == 20.0


def test_openpose_npy_roundtrip_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "a.npy"
    np.save(p, np.ones((3, 18, 3)))
    assert load_openpose_npy(p).shape == (3, 33, 4)
    cases = {
        "shape.npy": (np.ones((3, 17, 3)), "shaped \\(frames, 18, 3\\)"),
        "empty.npy": (np.ones((0, 18, 3)), "no frames"),
        "text.npy": (np.array(["a", "b"]), "numeric array"),
    }
    for name, (arr, msg) in cases.items():
        np.save(tmp_path / name, arr)
        with pytest.raises(InputError, match=msg):
            load_openpose_npy(tmp_path / name)
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"not a NumPy \.npy"):
        load_openpose_npy(obj)
    with pytest.raises(InputError, match="not found"):
        load_openpose_npy(tmp_path / "missing.npy")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_fuzz_npy_bytes_only_raise_input_error(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.npy"
    p.write_bytes(b"\x93NUMPY" + data if data[:1] == b"\x01" else data)
    try:
        out = load_openpose_npy(p)
    except InputError as e:
        assert "\n" not in str(e)
    else:
        assert out.shape[1:] == (33, 4)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(list("label,nose_xyzv0.15\n\r\"C-e")), max_size=200))
def test_fuzz_csv_text_only_raises_input_error(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fuzz.csv"
    p.write_text(text)
    try:
        poses, labels = load_landmark_csv(p)
    except InputError as e:
        assert "\n" not in str(e)
    else:
        assert poses.shape == (len(labels), 33, 4)
