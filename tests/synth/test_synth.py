"""Synthetic athlete: determinism, ground-truth consistency, fault injection, spec errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from formcoach.errors import ConfigError, InputError
from formcoach.skeleton import LM
from formcoach.synth import (
    EXERCISES,
    FAULTS,
    SynthSpec,
    compute_truth,
    load_specs,
    load_truth,
    render_sample,
    spec_from_dict,
    truth_poses,
)
from formcoach.synth.core import render_frames

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
SPECS = SAMPLES / "specs.toml"


def _short(exercise: str, **kw: object) -> SynthSpec:
    base: dict[str, object] = dict(name=f"t_{exercise}", exercise=exercise, view="side", seed=5,
                                   reps=2, width=160, height=120, setup_s=0.4, tail_s=0.2,
                                   hold_s=1.5)
    base.update(kw)
    return SynthSpec(**base)  # type: ignore[arg-type]


def _frames_hash(spec: SynthSpec) -> str:
    h = hashlib.sha256()
    for img in render_frames(compute_truth(spec)):
        h.update(img.tobytes())
    return h.hexdigest()


def test_same_seed_same_frames_other_seed_differs() -> None:
    spec = _short("squat", reps=1)
    assert _frames_hash(spec) == _frames_hash(spec)
    assert _frames_hash(spec) != _frames_hash(replace(spec, seed=6))


@pytest.mark.parametrize("exercise", EXERCISES)
@pytest.mark.parametrize("view", ["front", "45", "side"])
def test_truth_is_consistent(exercise: str, view: str) -> None:
    spec = _short(exercise, view=view, reps=3)
    poses, fps, truth = truth_poses(spec)
    t = poses.shape[0]
    assert isinstance(fps, float) and fps == 30.0
    assert poses.shape == (t, 33, 4) and poses.dtype == np.float64
    assert truth["n_frames"] == t
    assert np.all(poses[..., 3] == 1.0)
    w, h = truth["image_size"]
    assert np.all((poses[..., 0] >= 0) & (poses[..., 0] < w))
    assert np.all((poses[..., 1] >= 0) & (poses[..., 1] < h))
    if exercise == "plank":
        assert truth["rep_count"] == 0 and truth["kind"] == "hold"
    else:
        assert truth["rep_count"] == 3 == len(truth["reps"])
        last_end = -1.0
        for r in truth["reps"]:
            assert last_end < r["start_s"] < r["bottom_s"] < r["end_s"] <= t / fps
            assert r["start_frame"] <= r["bottom_frame"] <= r["end_frame"] < t
            last_end = r["end_s"]
        assert truth["setup_end_s"] == pytest.approx(truth["reps"][0]["start_s"])
    for table in ("angles_3d_deg", "angles_2d_deg"):
        for name, vals in truth["frames"][table].items():
            a = np.asarray(vals)
            assert a.shape == (t,), name
            assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a <= 180)), name
    # Bones keep their length in 3D (rigid model).
    tr = compute_truth(spec)
    thigh = np.linalg.norm(tr.joints_3d[:, LM.LEFT_HIP] - tr.joints_3d[:, LM.LEFT_KNEE], axis=1)
    assert np.ptp(thigh) < 1e-6
    # Feet stay on or above the floor.
    assert tr.joints_3d[..., 1].min() > -0.02


def test_landmark_noise_only_in_returned_poses() -> None:
    clean, _, truth = truth_poses(_short("bicep_curl"))
    noisy, _, truth_n = truth_poses(_short("bicep_curl", landmark_noise_px=2.0))
    d = noisy[..., :2] - clean[..., :2]
    assert 1.5 < float(np.std(d)) < 2.5
    assert truth["frames"]["angles_2d_deg"] == truth_n["frames"]["angles_2d_deg"]


def test_walk_in_setup_moves_then_settles() -> None:
    spec = _short("squat", reps=1, setup="walk_in", setup_s=2.5)
    tr = compute_truth(spec)
    hips = 0.5 * (tr.joints_3d[:, LM.LEFT_HIP] + tr.joints_3d[:, LM.RIGHT_HIP])
    start = round(tr.motion.reps[0].start_s * spec.fps)
    assert hips[start, 0] - hips[0, 0] > 0.6  # walked in sideways
    assert np.ptp(hips[start:, 0]) < 0.05  # then squats in place
    ankles = tr.joints_3d[:start, [LM.LEFT_ANKLE, LM.RIGHT_ANKLE], 1]
    assert ankles.max() > ankles.min() + 0.04  # feet lift while walking


def _angle(spec: SynthSpec, name: str) -> tuple[np.ndarray, dict]:
    _, _, truth = truth_poses(spec)
    return np.asarray(truth["frames"]["angles_3d_deg"][name]), truth


def _in_reps(a: np.ndarray, truth: dict, reps: list[int]) -> np.ndarray:
    idx = [np.arange(truth["reps"][i]["start_frame"], truth["reps"][i]["end_frame"] + 1)
           for i in reps]
    return a[np.concatenate(idx)]


@pytest.mark.parametrize(
    ("exercise", "fault", "angle", "reduce", "min_change"),
    [
        ("squat", "shallow_squat", "left_knee", "min", 30.0),
        ("lunge", "shallow_lunge", "left_knee", "min", 25.0),
        ("bicep_curl", "partial_curl", "left_elbow", "min", 30.0),
        ("shoulder_press", "incomplete_lockout", "left_elbow", "max", -20.0),
        ("pushup", "incomplete_lockout", "left_elbow", "max", -20.0),
        ("jumping_jack", "partial_jack", "left_shoulder", "max", -40.0),
        ("situp", "partial_situp", "left_hip", "min", 20.0),
        ("pushup", "hip_sag", "left_hip", "min", -12.0),
        ("pushup", "hip_pike", "left_hip", "min", -20.0),
    ],
)
def test_fault_changes_angle(exercise: str, fault: str, angle: str, reduce: str,
                             min_change: float) -> None:
    clean_a, clean_t = _angle(_short(exercise, reps=3), angle)
    bad = _short(exercise, reps=3, faults=(spec_from_dict(
        {"name": "x", "exercise": exercise, "reps": 3,
         "faults": [{"type": fault, "reps": [1]}]}).faults))
    bad_a, bad_t = _angle(bad, angle)
    f = getattr(np, reduce)
    delta = float(f(_in_reps(bad_a, bad_t, [1])) - f(_in_reps(clean_a, clean_t, [1])))
    if min_change > 0:
        assert delta > min_change, delta
    else:
        assert delta < min_change, delta
    # Reps without the fault are unchanged (up to per-rep jitter, which is seeded identically).
    assert f(_in_reps(bad_a, bad_t, [0])) == pytest.approx(f(_in_reps(clean_a, clean_t, [0])))
    assert [x["type"] for x in bad_t["faults"]] == [fault]
    assert bad_t["faults"][0]["rep_index"] == 1


def test_hip_sag_lowers_hips_and_pike_raises_them() -> None:
    def hip_offset(fault: str | None) -> float:
        faults = [] if fault is None else [{"type": fault, "reps": "all"}]
        spec = spec_from_dict({"name": "x", "exercise": "pushup", "reps": 1, "faults": faults})
        tr = compute_truth(spec)
        j = tr.joints_3d[round(tr.motion.reps[0].bottom_s * spec.fps)]
        sh, hip, an = j[LM.LEFT_SHOULDER], j[LM.LEFT_HIP], j[LM.LEFT_ANKLE]
        u = (hip[2] - an[2]) / (sh[2] - an[2])
        return float(hip[1] - (an[1] + u * (sh[1] - an[1])))

    assert abs(hip_offset(None)) < 0.02
    assert hip_offset("hip_sag") < -0.06
    assert hip_offset("hip_pike") > 0.08


def test_knee_valgus_moves_knees_in_front_view() -> None:
    def knee_ratio(faults: list[dict[str, object]]) -> float:
        spec = spec_from_dict({"name": "x", "exercise": "squat", "view": "front", "reps": 1,
                               "faults": faults})
        poses, _fps, truth = truth_poses(spec)
        p = poses[truth["reps"][0]["bottom_frame"]]
        knees = abs(p[LM.LEFT_KNEE, 0] - p[LM.RIGHT_KNEE, 0])
        ankles = abs(p[LM.LEFT_ANKLE, 0] - p[LM.RIGHT_ANKLE, 0])
        return float(knees / ankles)

    assert knee_ratio([]) > 1.0
    assert knee_ratio([{"type": "knee_valgus"}]) < 0.8


def test_torso_swing_leans_back() -> None:
    def lean(faults: list[dict[str, object]]) -> float:
        spec = spec_from_dict({"name": "x", "exercise": "bicep_curl", "reps": 1,
                               "faults": faults})
        tr = compute_truth(spec)
        j = tr.joints_3d
        sh = 0.5 * (j[:, LM.LEFT_SHOULDER] + j[:, LM.RIGHT_SHOULDER])
        hp = 0.5 * (j[:, LM.LEFT_HIP] + j[:, LM.RIGHT_HIP])
        return float(np.min(sh[:, 2] - hp[:, 2]))  # most backward shoulder position, m

    assert lean([]) > -0.03
    assert lean([{"type": "torso_swing"}]) < -0.1


def test_plank_fault_span_is_timed() -> None:
    spec = spec_from_dict({"name": "p", "exercise": "plank", "hold_s": 4.0,
                           "faults": [{"type": "hip_sag", "start_s": 2.0, "end_s": 3.5}]})
    hip, truth = _angle(spec, "left_hip")
    (f,) = truth["faults"]
    assert (f["start_s"], f["end_s"], f["rep_index"]) == (2.0, 3.5, None)
    fps = truth["fps"]
    inside = hip[round(2.5 * fps): round(3.0 * fps)]
    outside = hip[: round(1.8 * fps)]
    assert inside.max() < outside.min() - 10


BAD_SPECS = [
    ({"exercise": "squat"}, "missing required key 'name'"),
    ({"name": "a", "exercise": "burpee"}, "unknown exercise 'burpee'"),
    ({"name": "a", "exercise": "squat", "colour": 1}, "unknown key"),
    ({"name": "a", "exercise": "squat", "view": "top"}, "view must be one of"),
    ({"name": "a", "exercise": "squat", "reps": "3"}, "reps has the wrong type"),
    ({"name": "a", "exercise": "squat", "fps": 0}, "fps must be"),
    ({"name": "a b", "exercise": "squat"}, "name must be"),
    ({"name": "a", "exercise": "squat", "faults": [{"type": "hip_sag"}]}, "does not apply"),
    ({"name": "a", "exercise": "squat", "faults": [{"type": "nope"}]}, "unknown fault type"),
    ({"name": "a", "exercise": "squat", "reps": 2, "faults": [{"type": "knee_valgus",
                                                                "reps": [2]}]}, "names rep 2"),
    ({"name": "a", "exercise": "plank", "faults": [{"type": "hip_sag"}]}, "needs start_s"),
    ({"name": "a", "exercise": "plank", "faults": [{"type": "hip_sag", "start_s": 3,
                                                     "end_s": 1}]}, "start_s < end_s"),
    ({"name": "a", "exercise": "squat", "faults": [{"type": "knee_valgus", "x": 1}]},
     "unknown fault key"),
    ({"name": "a", "exercise": "pushup", "setup": "walk_in"}, "needs a standing exercise"),
    ({"name": "a", "exercise": "squat", "setup": "settle"}, "is for pushup"),
    ({"name": "a", "exercise": "squat", "seed": -1}, "seed must be"),  # numpy: ValueError
]


@pytest.mark.parametrize(("d", "msg"), BAD_SPECS)
def test_bad_spec_is_one_line_config_error(d: dict[str, object], msg: str) -> None:
    with pytest.raises(ConfigError) as e:
        spec_from_dict(d)
    assert msg in str(e.value)
    assert "\n" not in str(e.value)


def test_load_specs_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_specs(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sample]\nname=1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_specs(bad)
    for text in ("x = " + "[" * 50_000 + "]" * 50_000 + "\n",  # RecursionError
                 "[defaults]\nfps = " + "1" * 5000 + "\n"):  # ValueError: 5000 digits
        bad.write_text(text)
        with pytest.raises(ConfigError, match="invalid TOML: unreadable value"):
            load_specs(bad)
    dup = tmp_path / "dup.toml"
    dup.write_text('[[sample]]\nname="a"\nexercise="squat"\n[[sample]]\nname="a"\n'
                   'exercise="lunge"\n')
    with pytest.raises(ConfigError, match="duplicate sample name"):
        load_specs(dup)
    top = tmp_path / "top.toml"
    top.write_text('samples = 1\n')
    with pytest.raises(ConfigError, match="unknown top-level"):
        load_specs(top)


def test_every_fault_is_applicable_somewhere() -> None:
    for fault, exercises in FAULTS.items():
        assert set(exercises) <= set(EXERCISES), fault


def test_render_sample_writes_decodable_video_and_truth(tmp_path: Path) -> None:
    from formcoach.sources import VideoFileSource

    spec = _short("jumping_jack", reps=1)
    video, truth_path = render_sample(spec, tmp_path)
    src = VideoFileSource(video)
    frames = list(src)
    truth = load_truth(truth_path)
    assert len(frames) == truth["n_frames"]
    assert src.fps == pytest.approx(truth["fps"])
    assert frames[0].size == tuple(truth["image_size"])
    assert truth["frames"]["joints_2d_px"].shape == (truth["n_frames"], 33, 2)
    assert truth["frames"]["joints_3d_m"].shape == (truth["n_frames"], 33, 3)
    # Byte-for-byte reproducible.
    first = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    render_sample(spec, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == first
    with pytest.raises(InputError, match="does not exist"):
        render_sample(spec, tmp_path / "nope")


def test_cli_synth(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    spec = tmp_path / "s.toml"
    spec.write_text('[defaults]\nwidth = 160\nheight = 120\nsetup_s = 0.3\ntail_s = 0.2\n'
                    '[[sample]]\nname = "a"\nexercise = "situp"\nreps = 1\n'
                    '[[sample]]\nname = "b"\nexercise = "squat"\nreps = 1\n')
    r = run_cli("synth", "--spec", spec, "--only", "a")
    assert r.code == 0, r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.mp4", "a.npz",
                                                          "manifest.json", "s.toml"]
    clips = json.loads((tmp_path / "manifest.json").read_text())["clips"]
    assert [(c["file"], c["exercise"], c["reps"], c["accept"]) for c in clips] == [
        ("a.mp4", "situp", 1, [1, 1])]
    r = run_cli("synth", "--spec", spec, "--only", "zzz")
    assert r.code == 2 and "zzz" in r.err and r.err.count("\n") == 1
    r = run_cli("synth", "--spec", tmp_path / "none.toml")
    assert r.code == 2 and "not found" in r.err
    r = run_cli("synth", "--spec", spec, "--list")
    assert r.code == 0 and "situp" in r.out


# ---- the committed samples ------------------------------------------------------------------


def _committed() -> list[SynthSpec]:
    return load_specs(SPECS)


def test_committed_set_covers_every_exercise_view_and_fault_kind() -> None:
    specs = _committed()
    assert 10 <= len(specs) <= 20  # 16 coaching samples and 3 partial framings
    assert {s.exercise for s in specs} == set(EXERCISES)
    assert {"front", "side", "45"} <= {s.view for s in specs}
    for ex in EXERCISES:
        assert any(s.faults for s in specs if s.exercise == ex), ex
    assert any(s.name == "squat_side_clean" and not s.faults for s in specs)
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file())
    assert total <= 15 * 1024 * 1024


@pytest.mark.parametrize("spec", _committed(), ids=lambda s: s.name)
def test_committed_sample_matches_its_spec(spec: SynthSpec) -> None:
    truth_path = SAMPLES / f"{spec.name}.json"
    assert (SAMPLES / f"{spec.name}.mp4").is_file(), "run: formcoach synth --spec samples/specs.toml"
    saved = json.loads(truth_path.read_text())
    _, _, fresh = truth_poses(spec)
    for key in ("n_frames", "rep_count", "fps", "image_size", "faults", "exercise", "view"):
        assert saved[key] == fresh[key], key
    assert 4.0 <= saved["duration_s"] <= 10.5
    a_saved = np.asarray(saved["frames"]["angles_3d_deg"]["left_knee"])
    a_fresh = np.asarray(fresh["frames"]["angles_3d_deg"]["left_knee"])
    assert np.max(np.abs(a_saved - a_fresh)) <= 0.051


def test_committed_sample_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    import cv2

    from formcoach import __version__

    spec = min(_committed(), key=lambda s: json.loads(
        (SAMPLES / f"{s.name}.json").read_text())["n_frames"])
    gen = json.loads((SAMPLES / f"{spec.name}.json").read_text())["generator"]
    if (gen["opencv"], gen["numpy"], gen["formcoach"]) != (cv2.__version__, np.__version__,
                                                           __version__):
        pytest.skip(f"samples were built with {gen}; byte equality needs the same versions")
    render_sample(spec, tmp_path)
    for ext in ("mp4", "json", "npz"):
        assert (tmp_path / f"{spec.name}.{ext}").read_bytes() == \
            (SAMPLES / f"{spec.name}.{ext}").read_bytes(), ext
