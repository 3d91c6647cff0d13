"""Calibration, a tool: a camera's lens (checkerboard) and a user's own range of motion.

* :mod:`~formcoach.calibration.profiles`: :class:`CameraProfile`, :class:`UserProfile`, the
  config folder, load and save.
* :mod:`~formcoach.calibration.board`: render and write the printable checkerboard, find it in
  images (:class:`ViewCollector`).
* :mod:`~formcoach.calibration.fit`: sample frames and fit a camera (:func:`calibrate_camera`).
* :mod:`~formcoach.calibration.user`: a user's neutral stance and ROM from a pose track
  (:func:`calibrate_user`), and what uses them (:func:`baseline_rom_deg`, :func:`rom_percent`,
  :func:`personalise`).

Calibration receives frames or a :class:`~formcoach.types.PoseTrack`; it never runs the
pipeline itself (``formcoach.pose.track.estimate_track`` makes tracks, and
``formcoach.pose.undistort.UndistortingEstimator`` applies a camera profile to an estimator).
"""

from formcoach.calibration.board import (
    ViewCollector,
    find_board,
    parse_board,
    render_board,
    write_board_files,
)
from formcoach.calibration.fit import (
    MIN_VIEWS,
    calibrate_camera,
    capture_camera_frames,
    images_from_dir,
    sample_video_frames,
)
from formcoach.calibration.profiles import (
    DEFAULT_HFOV_DEG,
    DEFAULT_PROFILE_NAME,
    CameraProfile,
    UserProfile,
    check_name,
    default_camera_profile,
    list_camera_profiles,
    load_camera_profile,
    load_user_profile,
    user_profile_path,
)
from formcoach.calibration.user import (
    baseline_rom_deg,
    calibrate_user,
    personalise,
    rom_percent,
)

__all__ = [
    "DEFAULT_HFOV_DEG",
    "DEFAULT_PROFILE_NAME",
    "MIN_VIEWS",
    "CameraProfile",
    "UserProfile",
    "ViewCollector",
    "baseline_rom_deg",
    "calibrate_camera",
    "calibrate_user",
    "capture_camera_frames",
    "check_name",
    "default_camera_profile",
    "find_board",
    "images_from_dir",
    "list_camera_profiles",
    "load_camera_profile",
    "load_user_profile",
    "parse_board",
    "personalise",
    "render_board",
    "rom_percent",
    "sample_video_frames",
    "user_profile_path",
    "write_board_files",
]
