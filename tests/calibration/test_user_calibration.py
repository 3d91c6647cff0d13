"""User calibration on synthetic side-view squats with known joint angles."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from formcoach import calibration as cal
from formcoach.calibration.user import joint_angles
from formcoach.cli import main
from formcoach.errors import ConfigError, InputError
from formcoach.exercises import CountConfig, load_exercise
from formcoach.skeleton import LM
from formcoach.types import Frame, PoseResult, PoseTrack

FPS = 30.0
NEUTRAL_KNEE = 175.0
BOTTOM_KNEE = 90.0


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("FORMCOACH_CONFIG_DIR", str(d))
    return d


def _rot(v: np.ndarray, deg: float) -> np.ndarray:
    a = math.radians(deg)
    c, s = math.cos(a), math.sin(a)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def side_pose(knee_deg: float, rng: np.random.Generator, noise_px: float = 0.3) -> np.ndarray:
    """One side-view ``(33, 4)`` pose (px, y down) whose knee interior angle is ``knee_deg``.

    Shin and thigh tilt symmetrically about vertical; the torso keeps the hip angle equal to the
    knee angle; arms hang straight down (elbows do not move).
    """
    tilt = (180.0 - knee_deg) / 2.0
    up = np.array([0.0, -1.0])
    ankle = np.array([320.0, 620.0])
    knee = ankle + 120.0 * _rot(up, tilt)  # shin leans forward (+x)
    hip = knee + 130.0 * _rot(up, -tilt)  # thigh goes back
    # hip angle (shoulder-hip-knee) = knee_deg: torso leans forward by 180 - knee - ... solve:
    thigh_dir = (knee - hip) / np.linalg.norm(knee - hip)
    torso_dir = _rot(thigh_dir, -knee_deg)
    if torso_dir[1] > 0:
        torso_dir = _rot(thigh_dir, knee_deg)
    shoulder = hip + 160.0 * torso_dir
    elbow = shoulder + np.array([0.0, 80.0])
    wrist = elbow + np.array([0.0, 70.0])
    toe = ankle + np.array([45.0, 5.0])
    heel = ankle + np.array([-12.0, 8.0])
    pose = np.full((33, 4), np.nan)
    head = shoulder + 40.0 * torso_dir
    pose[: LM.LEFT_SHOULDER, :2] = head
    for side, dx in (("LEFT", 0.0), ("RIGHT", 4.0)):
        for name, pt in (("SHOULDER", shoulder), ("ELBOW", elbow), ("WRIST", wrist),
                         ("PINKY", wrist), ("INDEX", wrist), ("THUMB", wrist), ("HIP", hip),
                         ("KNEE", knee), ("ANKLE", ankle), ("HEEL", heel), ("FOOT_INDEX", toe)):
            pose[LM[f"{side}_{name}"], :2] = pt + np.array([dx, 0.0])
    pose[:, :2] += rng.normal(0.0, noise_px, (33, 2))
    pose[:, 2] = 0.0
    pose[:, 3] = 0.95
    return pose


def squat_track(still_s: float = 2.0, reps: int = 3, rep_s: float = 2.5, seed: int = 0,
                bottom: float = BOTTOM_KNEE) -> PoseTrack:
    """Stand still for ``still_s`` then squat ``reps`` times (cosine knee angle profile)."""
    rng = np.random.default_rng(seed)
    n_still = round(still_s * FPS)
    n_rep = round(rep_s * FPS)
    knee = [NEUTRAL_KNEE] * n_still
    for _ in range(reps):
        ph = np.arange(n_rep) / n_rep
        knee += list(NEUTRAL_KNEE - (NEUTRAL_KNEE - bottom) * (1 - np.cos(2 * np.pi * ph)) / 2)
    return _track(np.stack([side_pose(k, rng) for k in knee]))


def _track(poses: np.ndarray) -> PoseTrack:
    """``(T, 33, 4)`` poses as a track at :data:`FPS`."""
    t = len(poses)
    t_ns = np.round(np.arange(t) * 1e9 / FPS).astype(np.int64)
    return PoseTrack(poses, np.full((t, 33, 3), np.nan), t_ns, FPS, (640, 720), "synthetic")


def test_generator_angles_are_what_they_claim() -> None:
    rng = np.random.default_rng(0)
    for k in (175.0, 130.0, 90.0):
        a = joint_angles(side_pose(k, rng, noise_px=0.0)[None])
        assert a["left_knee"][0] == pytest.approx(k, abs=1e-6)
        assert a["left_hip"][0] == pytest.approx(k, abs=1e-6)


def test_neutral_and_rom_from_synthetic_squats() -> None:
    track = squat_track()
    prof = cal.calibrate_user(track, "alex", exercise="squat")
    assert prof.neutral["left_knee"] == pytest.approx(NEUTRAL_KNEE, abs=1.0)
    assert prof.neutral["right_knee"] == pytest.approx(NEUTRAL_KNEE, abs=1.0)
    lo, hi = prof.rom_baseline["left_knee"]
    assert lo == pytest.approx(BOTTOM_KNEE, abs=3.0)
    assert hi == pytest.approx(NEUTRAL_KNEE, abs=3.0)
    assert "left_hip" in prof.rom_baseline
    # Arms hang still: no elbow baseline (it did not move 15 degrees).
    assert "left_elbow" not in prof.rom_baseline
    assert prof.rom_by_exercise["squat"] == prof.rom_baseline
    assert prof.meta["still_window_s"][0] == pytest.approx(0.0)
    # ROM as % of baseline: side-less names use both sides.
    full = hi - lo
    assert cal.rom_percent(prof, "left_knee", full / 2) == pytest.approx(50.0)
    assert cal.rom_percent(prof, "knee", full) == pytest.approx(100.0, abs=2.0)
    assert math.isnan(cal.rom_percent(prof, "left_elbow", 30.0))
    assert math.isnan(cal.rom_percent(prof, "knee", float("nan")))


def test_missing_frames_are_tolerated() -> None:
    track = squat_track(seed=1)
    poses = track.poses.copy()
    poses[::7] = np.nan  # dropped detections
    poses[:, LM.LEFT_ANKLE, 3] = 0.1  # left ankle never visible enough
    prof = cal.calibrate_user(dataclasses.replace(track, poses=poses), "drop")
    assert "left_knee" not in prof.neutral and "left_knee" not in prof.rom_baseline
    assert prof.neutral["right_knee"] == pytest.approx(NEUTRAL_KNEE, abs=1.0)


def test_no_still_window_is_a_clear_error() -> None:
    track = squat_track(still_s=0.0, reps=4, rep_s=1.2)
    with pytest.raises(InputError, match=r"no still moment of 1 s.*stand still"):
        cal.calibrate_user(track, "busy")
    empty = np.full((60, 33, 4), np.nan)
    with pytest.raises(InputError, match="no person found"):
        cal.calibrate_user(_track(empty), "nobody")


def test_personalise_count_config() -> None:
    prof = cal.calibrate_user(squat_track(), "alex")
    base = CountConfig(signal="knee", min_rom=30.0)
    # Full ROM (~85 deg): half of it exceeds the pack's 30, so the default stays.
    assert cal.personalise(base, prof).min_rom == pytest.approx(30.0)
    limited = cal.calibrate_user(squat_track(bottom=135.0), "rehab")
    rng_deg = limited.baseline_range("knee")
    assert rng_deg == pytest.approx(40.0, abs=3.0)
    pers = cal.personalise(base, limited)
    assert isinstance(pers, CountConfig) and pers is not base
    assert pers.min_rom == pytest.approx(rng_deg / 2)
    assert pers.signal == "knee" and base.min_rom == 30.0
    # A sided signal uses that side; the squat pack's fused knee angle is the knee.
    left = cal.personalise(CountConfig(signal="left_knee", min_rom=35.0), limited)
    assert left.min_rom == pytest.approx(limited.baseline_range("left_knee") / 2)
    fused = cal.personalise(CountConfig(signal="knee_fused", min_rom=30.0), limited)
    assert fused.min_rom == pytest.approx(rng_deg / 2)
    # A joint without a baseline (arms hang still) leaves the config unchanged.
    other = CountConfig(signal="elbow", min_rom=30.0)
    assert cal.personalise(other, limited) is other


def test_baseline_rom_deg_per_exercise() -> None:
    """The ROM reference for an exercise is the user's range of the joint its pack counts."""
    prof = cal.calibrate_user(squat_track(bottom=135.0), "rehab", exercise="squat")
    squat = load_exercise("squat")  # counts knee_fused, side auto: the mean of both knees
    assert cal.baseline_rom_deg(prof, squat) == pytest.approx(prof.baseline_range("knee"))
    assert cal.baseline_rom_deg(prof, squat) == pytest.approx(40.0, abs=3.0)
    right = dataclasses.replace(squat, count=dataclasses.replace(squat.count, side="right"))
    assert cal.baseline_rom_deg(prof, right) == pytest.approx(prof.baseline_range("right_knee"))
    # An exercise's own recording wins over the general baseline (the latest recording).
    prof.rom_by_exercise["lunge"] = {"left_knee": (100.0, 170.0), "right_knee": (100.0, 170.0)}
    assert cal.baseline_rom_deg(prof, load_exercise("lunge")) == pytest.approx(70.0)
    assert cal.baseline_rom_deg(prof, load_exercise("bicep_curl")) is None  # elbows never moved
    assert cal.baseline_rom_deg(prof, load_exercise("plank")) is None  # not a joint angle
    assert cal.baseline_rom_deg(cal.UserProfile(name="new"), squat) is None


def test_profile_round_trip(_config_dir: Path) -> None:
    prof = cal.calibrate_user(squat_track(), "alex", exercise="squat")
    path = prof.save()
    assert path == _config_dir / "users" / "alex.json"
    back = cal.load_user_profile("alex")
    assert back.neutral == pytest.approx(prof.neutral, abs=1e-3)
    assert back.rom_baseline.keys() == prof.rom_baseline.keys()
    assert cal.rom_percent(back, "left_knee", 40.0) == pytest.approx(
        cal.rom_percent(prof, "left_knee", 40.0), rel=1e-4)
    assert cal.load_user_profile(path).name == "alex"
    with pytest.raises(InputError, match=r"no user profile named 'bo'.*calibrate user --name bo"):
        cal.load_user_profile("bo")
    bad = path.parent / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "neutral": {"left_toe": 3}}))
    with pytest.raises(ConfigError, match="unknown joint 'left_toe'"):
        cal.load_user_profile("bad")


def test_cli_user_from_poses(
    tmp_path: Path, _config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npz = tmp_path / "squat.npz"
    squat_track().save(npz)
    rc = main(["calibrate", "user", "--name", "alex", "--poses", str(npz), "--exercise", "squats"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "user profile 'alex'" in out and "left_knee" in out
    data = json.loads((_config_dir / "users" / "alex.json").read_text())
    assert data["neutral"]["left_knee"] == pytest.approx(NEUTRAL_KNEE, abs=1.0)
    assert set(data["rom_by_exercise"]) == {"squat"}
    # A second recording for another exercise keeps the squat baseline.
    npz2 = tmp_path / "lunge.npz"
    squat_track(bottom=120.0, seed=4).save(npz2)
    rc = main(["calibrate", "user", "--name", "alex", "--poses", str(npz2), "--exercise", "lunge",
               "--json", "-"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and set(data["rom_by_exercise"]) == {"squat", "lunge"}
    prof = cal.load_user_profile("alex")
    assert prof.baseline_range("left_knee", "squat") > prof.baseline_range("left_knee", "lunge")
    rc = main(["calibrate", "show", "--user", "alex"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["name"] == "alex"
    rc = main(["calibrate", "user", "--name", "flat", "--poses", str(npz), "--camera-profile",
               "default"])
    assert rc == 0
    assert cal.load_user_profile("flat").meta["camera_profile"] == "default"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "a b", "--poses", "x.npz"], "bad user profile name"),
        (["--name", "ok", "--poses", "/no/such.npz"], "pose track not found"),
        (["--name", "ok", "--source", "/no/such.mp4"], "video not found"),
        (["--name", "ok", "--poses", "x.npz", "--exercise", "zumba"], "zumba"),
        # Checked before the track is read: NaN was an internal error, -1 was accepted.
        (["--name", "ok", "--poses", "x.npz", "--still-s", "nan"], "--still-s must be a positive"),
        (["--name", "ok", "--poses", "x.npz", "--still-s", "-1"], "--still-s must be a positive"),
        (["--name", "ok", "--camera", "0", "--seconds", "inf"], "--seconds must be a positive"),
        (["--name", "ok", "--poses", "x.npz", "--json", "/no/such/dir/u.json"],
         "cannot write --json"),
    ],
)
def test_cli_user_bad_inputs(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["calibrate", "user", *args])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and message in err


def test_cli_user_no_still_window(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    npz = tmp_path / "busy.npz"
    squat_track(still_s=0.0, reps=4, rep_s=1.2).save(npz)
    rc = main(["calibrate", "user", "--name", "busy", "--poses", str(npz)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "stand still" in err


@pytest.mark.slow
def test_cli_user_from_rendered_video_matches_truth(
    tmp_path: Path, _config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real pose model on a rendered clip: neutral and ROM close to the renderer's truth."""
    from formcoach.synth import SynthSpec, render_sample, truth_poses

    spec = SynthSpec(name="user_cal", exercise="squat", view="side", setup="none", reps=2,
                     pause_top_s=1.5)
    video, _ = render_sample(spec, tmp_path)
    rc = main(["calibrate", "user", "--name", "synth", "--source", str(video), "--exercise",
               "squat", "--backend", "onnx"])
    assert rc == 0, capsys.readouterr().err
    got = cal.load_user_profile("synth")
    poses, fps, _meta = truth_poses(spec)
    assert fps == FPS
    truth = cal.calibrate_user(_track(poses), "truth")
    side = next(s for s in ("left", "right") if f"{s}_knee" in got.neutral)
    assert got.neutral[f"{side}_knee"] == pytest.approx(truth.neutral[f"{side}_knee"], abs=8.0)
    assert got.baseline_range(f"{side}_knee") == pytest.approx(
        truth.baseline_range(f"{side}_knee"), abs=10.0)


def test_cli_user_from_camera(
    monkeypatch: pytest.MonkeyPatch, _config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The camera path with a fake camera and a fake estimator replaying a synthetic track."""
    import formcoach.pose
    import formcoach.sources
    track = squat_track()

    class Cam:
        fps, size = FPS, (640, 720)

        def __init__(self, index: int) -> None:
            pass

        def __iter__(self) -> Iterator[Frame]:
            for i in range(len(track) + 100):  # more frames than --seconds allows
                yield Frame(np.zeros((4, 4, 3), np.uint8), i, round(i * 1e9 / FPS))

        def close(self) -> None:
            pass

    class Est:
        name, model, model_sha256, running_mode = "replay", "truth", "", "video"

        def process(self, image: np.ndarray, t_ns: int) -> PoseResult:
            i = round(t_ns * FPS / 1e9)
            return PoseResult(track.poses[i], np.full((33, 3), np.nan), t_ns, (640, 720), 0.9)

        def reset(self) -> None:
            pass

        def close(self) -> None:
            pass

    monkeypatch.setattr(formcoach.sources, "CameraSource", Cam)
    monkeypatch.setattr(formcoach.pose, "create_estimator", lambda backend, model, silhouette=False: Est())
    seconds = (len(track) - 1) / FPS
    rc = main(["calibrate", "user", "--name", "cam", "--camera", "0", "--seconds", str(seconds)])
    assert rc == 0, capsys.readouterr().err
    prof = cal.load_user_profile("cam")
    assert prof.neutral["left_knee"] == pytest.approx(NEUTRAL_KNEE, abs=1.0)
    assert prof.rom_baseline["left_knee"][0] == pytest.approx(BOTTOM_KNEE, abs=3.0)
    assert prof.meta["source"] == "camera 0"
