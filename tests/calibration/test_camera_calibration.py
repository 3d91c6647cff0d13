"""Camera calibration: checkerboards rendered through a KNOWN distorted pinhole camera.

Each pixel of a view is traced back through the camera (``cv2.undistortPoints`` on the pixel
grid, 2x supersampled) onto the board plane, so the images carry exactly the camera's
intrinsics and distortion; calibration must recover them.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from formcoach import calibration as cal
from formcoach.cli import main
from formcoach.errors import ConfigError, InputError
from formcoach.types import Frame

REPO = Path(__file__).resolve().parents[2]
W, H = 640, 480
K_TRUE = np.array([[520.0, 0.0, 322.0], [0.0, 515.0, 236.0], [0.0, 0.0, 1.0]])
D_TRUE = np.array([-0.25, 0.08, 0.001, -0.0015, 0.0])
BOARD = (9, 6)
SQ_MM = 25.0
SS = 2  # supersampling


@pytest.fixture(autouse=True)
def _config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    monkeypatch.setenv("FORMCOACH_CONFIG_DIR", str(d))
    return d


@pytest.fixture(scope="module")
def ray_grid() -> np.ndarray:
    """``(H*SS, W*SS, 2)`` normalised ideal-camera coordinates of every (sub)pixel centre."""
    ys, xs = np.mgrid[0 : H * SS, 0 : W * SS].astype(np.float64)
    u = (xs + 0.5) / SS - 0.5
    v = (ys + 0.5) / SS - 0.5
    pts = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    n = cv2.undistortPoints(pts, K_TRUE, D_TRUE, P=np.eye(3), criteria=crit)
    return n.reshape(H * SS, W * SS, 2)


def render_view(grid: np.ndarray, rvec: np.ndarray, tvec: np.ndarray) -> np.ndarray:
    """BGR image of the board (1-square white margin, gray background) at pose rvec/tvec (mm)."""
    rot, _ = cv2.Rodrigues(np.asarray(rvec, np.float64))
    hom = np.column_stack([rot[:, 0], rot[:, 1], np.asarray(tvec, np.float64)])
    hi = np.linalg.inv(hom)  # normalised image point -> board plane (homogeneous)
    x, y = grid[..., 0], grid[..., 1]
    bz = hi[2, 0] * x + hi[2, 1] * y + hi[2, 2]
    bx = (hi[0, 0] * x + hi[0, 1] * y + hi[0, 2]) / bz / SQ_MM
    by = (hi[1, 0] * x + hi[1, 1] * y + hi[1, 2]) / bz / SQ_MM
    cols, rows = BOARD
    inside = (bx >= -1) & (bx < cols) & (by >= -1) & (by < rows)
    dark = (np.floor(bx).astype(np.int64) + np.floor(by).astype(np.int64)) % 2 == 0
    img = np.full(bx.shape, 235.0)
    img[inside & dark] = 20.0
    margin = (bx >= -2) & (bx < cols + 1) & (by >= -2) & (by < rows + 1)
    img[~margin] = 120.0
    img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
    gray = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def random_poses(n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Board poses spread over the image with tilts up to ~30 degrees."""
    rng = np.random.default_rng(seed)
    centre = np.array([(BOARD[0] - 1) / 2 * SQ_MM, (BOARD[1] - 1) / 2 * SQ_MM, 0.0])
    out = []
    for _ in range(n):
        rvec = rng.uniform(-0.5, 0.5, 3) * np.array([1.0, 1.0, 0.3])
        rot, _ = cv2.Rodrigues(rvec)
        pos = np.array([rng.uniform(-110, 110), rng.uniform(-75, 75), rng.uniform(360, 480)])
        out.append((rvec, pos - rot @ centre))
    return out


@pytest.fixture(scope="module")
def views(ray_grid: np.ndarray) -> list[np.ndarray]:
    return [render_view(ray_grid, r, t) for r, t in random_poses(14, seed=3)]


def test_recovers_known_intrinsics_and_distortion(views: list[np.ndarray]) -> None:
    prof = cal.calibrate_camera([(str(i), v) for i, v in enumerate(views)], BOARD, SQ_MM)
    assert prof.image_size == (W, H)
    assert prof.fx == pytest.approx(K_TRUE[0, 0], rel=0.02)
    assert prof.fy == pytest.approx(K_TRUE[1, 1], rel=0.02)
    assert prof.cx == pytest.approx(K_TRUE[0, 2], abs=0.02 * W)
    assert prof.cy == pytest.approx(K_TRUE[1, 2], abs=0.02 * H)
    assert prof.dist[0] == pytest.approx(D_TRUE[0], abs=0.03)
    assert prof.rms < 0.5
    assert prof.images_used >= cal.MIN_VIEWS
    # The fitted model undistorts like the true one, wherever the board was seen.
    pts = np.array([[100.0, 80.0], [540.0, 90.0], [320.0, 240.0], [530.0, 400.0], [110.0, 390.0]])
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    truth = cv2.undistortPoints(pts.reshape(-1, 1, 2), K_TRUE, D_TRUE, P=K_TRUE, criteria=crit)
    got = prof.undistort_points(pts)
    # Compare displacements (the fitted K differs slightly from K_TRUE).
    assert np.abs((got - pts) - (truth.reshape(-1, 2) - pts)).max() < 1.0


def test_too_few_views_is_a_clear_error(views: list[np.ndarray]) -> None:
    blank = np.full((H, W, 3), 128, np.uint8)
    imgs = [("a", views[0]), ("b", views[1]), ("c", views[2]), ("blank", blank)]
    with pytest.raises(InputError, match=r"only 3 usable checkerboard views found, need at least 5"):
        cal.calibrate_camera(imgs, BOARD, SQ_MM)


def test_blurry_and_duplicate_views_are_rejected(views: list[np.ndarray]) -> None:
    col = cal.ViewCollector(BOARD)
    assert col.add(views[0], "sharp") == "ok"
    assert col.add(views[0].copy(), "again") == "duplicate"
    kernel = np.full((1, 11), 1.0 / 11)  # 11 px horizontal motion blur
    assert col.add(cv2.filter2D(views[1], -1, kernel), "moving") == "blurry"
    assert col.add(np.full((H, W, 3), 200, np.uint8), "wall") == "no board"
    assert (len(col.views), col.duplicates, col.blurry, col.no_board) == (1, 1, 1, 1)
    with pytest.raises(InputError, match="calibrate one resolution at a time"):
        col.add(np.zeros((100, 100, 3), np.uint8), "small")


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 10.0) -> None:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (W, H))
    assert w.isOpened()
    for f in frames:
        w.write(f)
    w.release()


def test_cli_from_video_saves_profile(
    views: list[np.ndarray], tmp_path: Path, _config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Each view held for 3 frames: the repeats are duplicates, not extra information.
    video = tmp_path / "board.avi"
    _write_video(video, [v for v in views for _ in range(3)])
    out = tmp_path / "cam.json"
    rc = main(["calibrate", "camera", "--source", str(video), "--board", "9x6",
               "--square-mm", "25", "--name", "laptop", "--json", str(out)])
    assert rc == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    for key in ("fx", "fy", "cx", "cy", "dist", "rms", "images_used", "image_size"):
        assert key in data
    assert data["image_size"] == [W, H]
    assert data["fx"] == pytest.approx(K_TRUE[0, 0], rel=0.02)
    assert data["meta"]["views_rejected"]["duplicate"] >= len(views)
    saved = _config_dir / "cameras" / "laptop.json"
    assert saved.is_file()
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert "camera profile 'laptop'" in capsys.readouterr().out
    prof = cal.load_camera_profile("laptop")
    assert prof.fx == pytest.approx(data["fx"])


def test_cli_from_image_folder_and_too_few(
    views: list[np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "shots"
    d.mkdir()
    for i, v in enumerate(views[:3]):
        cv2.imwrite(str(d / f"{i:02d}.png"), v)
    rc = main(["calibrate", "camera", "--images", str(d), "--board", "9x6", "--square-mm", "25"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "only 3 usable" in err and "need at least 5" in err
    for i, v in enumerate(views[3:8]):
        cv2.imwrite(str(d / f"{i + 3:02d}.png"), v)
    rc = main(["calibrate", "camera", "--images", str(d), "--name", "shots", "--json", "-"])
    assert rc == 0
    data = json.loads(capsys.readouterr().out)
    assert data["images_used"] == 8
    assert data["fx"] == pytest.approx(K_TRUE[0, 0], rel=0.02)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--images", "/no/such/dir"], "image folder not found"),
        (["--source", "/no/such/video.mp4"], "video not found"),
        (["--images", ".", "--board", "9by6"], "bad board size"),
        (["--images", ".", "--square-mm", "-3"], "must be positive"),
        (["--images", ".", "--square-mm", "inf"], "--square-mm inf must be positive"),
        # Checked before any image is read (or a camera opened).
        (["--camera", "0", "--seconds", "nan"], "--seconds must be a positive number"),
        (["--camera", "0", "--seconds", "-1"], "--seconds must be a positive number"),
        (["--images", "/no/such/dir", "--json", "/no/such/dir/p.json"], "cannot write --json"),
        (["--images", ".", "--name", "default"], None),
    ],
)
def test_cli_camera_bad_inputs(
    args: list[str], message: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["calibrate", "camera", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1
    if message:
        assert message in err


# ---------------------------------------------------------------------------------------------
# Undistortion


def _profile() -> cal.CameraProfile:
    return cal.CameraProfile(
        name="t", image_size=(W, H), fx=K_TRUE[0, 0], fy=K_TRUE[1, 1], cx=K_TRUE[0, 2],
        cy=K_TRUE[1, 2], dist=tuple(D_TRUE), rms=0.1, images_used=10,
    )


def test_undistort_points_inverts_project_points() -> None:
    rng = np.random.default_rng(0)
    obj = np.column_stack([rng.uniform(-0.5, 0.5, 200), rng.uniform(-0.35, 0.35, 200),
                           rng.uniform(1.0, 3.0, 200)])
    zero = np.zeros(3)
    distorted, _ = cv2.projectPoints(obj, zero, zero, K_TRUE, D_TRUE)
    ideal, _ = cv2.projectPoints(obj, zero, zero, K_TRUE, np.zeros(5))
    got = _profile().undistort_points(distorted.reshape(-1, 2))
    assert np.abs(got - ideal.reshape(-1, 2)).max() < 1e-3


def test_undistort_keeps_nan_z_and_visibility() -> None:
    rng = np.random.default_rng(1)
    poses = np.empty((5, 33, 4))
    poses[..., 0] = rng.uniform(0, W, (5, 33))
    poses[..., 1] = rng.uniform(0, H, (5, 33))
    poses[..., 2] = rng.normal(0, 50, (5, 33))
    poses[..., 3] = rng.uniform(0, 1, (5, 33))
    poses[1] = np.nan  # nobody in frame 1
    poses[2, 7, :2] = np.nan  # one joint missing
    prof = _profile()
    out = prof.undistort_poses(poses)
    assert out.shape == poses.shape and out is not poses
    assert np.isnan(out[1]).all()
    assert np.isnan(out[2, 7, :2]).all()
    np.testing.assert_array_equal(out[..., 2:], poses[..., 2:])
    ok = np.isfinite(poses[..., 0])
    assert np.isfinite(out[..., :2][ok]).all()
    assert np.abs(out[..., :2][ok] - poses[..., :2][ok]).max() > 1.0  # it did something
    single = prof.undistort_poses(poses[0])
    np.testing.assert_allclose(single, out[0])
    # No distortion: exact identity.
    flat = cal.default_camera_profile((W, H))
    np.testing.assert_array_equal(flat.undistort_poses(poses), poses)
    with pytest.raises(InputError):
        prof.undistort_points(np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------------
# Profiles


def test_profile_round_trip_and_rescale(tmp_path: Path, _config_dir: Path) -> None:
    prof = _profile()
    path = prof.save()
    assert path == _config_dir / "cameras" / "t.json"
    back = cal.load_camera_profile("t")
    assert back == prof
    assert cal.load_camera_profile(str(path)) == prof
    assert cal.list_camera_profiles() == ["t"]
    big = cal.load_camera_profile("t", image_size=(2 * W, 2 * H))
    assert big.fx == pytest.approx(2 * prof.fx) and big.fy == pytest.approx(2 * prof.fy)
    assert big.cx == pytest.approx((prof.cx + 0.5) * 2 - 0.5)
    assert big.dist == prof.dist
    # A point undistorts to the same place in both resolutions (up to the scale).
    p = np.array([[600.0, 40.0]])
    np.testing.assert_allclose(big.undistort_points(p * 2 + 0.5) / 2 - 0.25,
                               prof.undistort_points(p), atol=1e-6)


def test_profile_errors(tmp_path: Path, _config_dir: Path) -> None:
    with pytest.raises(InputError, match=r"no camera profile named 'nope'.*calibrate camera"):
        cal.load_camera_profile("nope")
    with pytest.raises(InputError, match="not found"):
        cal.load_camera_profile(tmp_path / "missing.json")
    with pytest.raises(InputError, match="bad camera profile name"):
        cal.load_camera_profile("my cam!")
    bad = tmp_path / "bad.json"
    bad.write_text('{"fx": 1}')
    with pytest.raises(ConfigError, match="lacks key"):
        cal.load_camera_profile(bad)
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        cal.load_camera_profile(bad)
    with pytest.raises(ConfigError, match="focal"):
        cal.CameraProfile("x", (W, H), fx=-1.0, fy=1.0, cx=0.0, cy=0.0)


def test_default_profile_matches_committed_file() -> None:
    prof = cal.load_camera_profile("default", image_size=(1920, 1080))
    assert prof.hfov_deg == pytest.approx(cal.DEFAULT_HFOV_DEG)
    assert prof.cx == pytest.approx(959.5) and not prof.has_distortion
    committed = json.loads((REPO / "calibration" / "default_camera.json").read_text())
    assert committed == json.loads(json.dumps(cal.default_camera_profile().to_dict()))
    assert cal.CameraProfile.from_dict(committed).fx == pytest.approx(
        (1280 / 2) / math.tan(math.radians(35))
    )


# ---------------------------------------------------------------------------------------------
# Board


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9x6", (9, 6)), ("7X5", (7, 5)), (" 8 x 6 ", (8, 6)), ("9", InputError),
     ("1x6", InputError), ("axb", InputError), ("", InputError)],
)
def test_parse_board(text: str, expected: tuple[int, int] | type[Exception]) -> None:
    if isinstance(expected, tuple):
        assert cal.parse_board(text) == expected
    else:
        with pytest.raises(expected):
            cal.parse_board(text)


def test_printable_board_is_a4_and_detectable(tmp_path: Path) -> None:
    page = cal.render_board(BOARD, SQ_MM, dpi=300)
    assert page.shape == (2480, 3508)  # A4 landscape at 300 dpi
    small = cal.render_board(BOARD, SQ_MM, dpi=60)
    view = cal.find_board(small, BOARD)
    assert view is not None and view.corners.shape == (54, 2)
    # Corner spacing = square size in px at that dpi.
    spacing = np.linalg.norm(np.diff(view.corners.reshape(6, 9, 2), axis=1), axis=2)
    assert np.median(spacing) == pytest.approx(SQ_MM / 25.4 * 60, rel=0.02)
    paths = cal.write_board_files(tmp_path / "b", BOARD, SQ_MM, dpi=100)
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    assert paths[1].read_bytes().startswith(b"%PDF")
    with pytest.raises(InputError, match="does not fit on A4"):
        cal.render_board(BOARD, 40.0)


def test_cli_board(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["calibrate", "board", "--board", "7x5", "--square-mm", "30", "--out",
               str(tmp_path), "--dpi", "100"])
    assert rc == 0
    names = sorted(os.listdir(tmp_path))
    assert names == ["checkerboard_7x5_30mm.pdf", "checkerboard_7x5_30mm.png"]


def test_committed_board_files_are_small() -> None:
    files = [REPO / "calibration" / f"checkerboard_9x6_25mm.{e}" for e in ("png", "pdf")]
    assert all(f.is_file() for f in files)
    assert sum(f.stat().st_size for f in files) < 500_000


class FakeCamera:
    """Stands in for formcoach.sources.CameraSource: the given images at 10 frames/s."""

    def __init__(self, images: list[np.ndarray]) -> None:
        self.images = images
        self.fps = 10.0
        self.size = (int(images[0].shape[1]), int(images[0].shape[0]))
        self.closed = False

    def __call__(self, index: int) -> FakeCamera:
        return self

    def __iter__(self) -> Iterator[Frame]:
        for i, img in enumerate(self.images):
            yield Frame(image=img, index=i, t_ns=i * 100_000_000)

    def close(self) -> None:
        self.closed = True


def test_cli_from_camera(
    views: list[np.ndarray], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import formcoach.sources

    # Each view held for 0.5 s (5 frames); one capture every 0.5 s picks each view once.
    cam = FakeCamera([v for v in views for _ in range(5)])
    monkeypatch.setattr(formcoach.sources, "CameraSource", cam)
    rc = main(["calibrate", "camera", "--camera", "0", "--seconds", "60", "--json", "-"])
    assert rc == 0, capsys.readouterr().err
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "camera0"
    assert data["images_used"] == len(views)
    assert data["fx"] == pytest.approx(K_TRUE[0, 0], rel=0.02)
    assert cam.closed
