"""``formcoach calibrate``: camera intrinsics, the printable board, and a user's baseline.

    formcoach calibrate board  [--board 9x6] [--square-mm 25] [--out calibration]
    formcoach calibrate camera (--camera 0 | --source VIDEO | --images DIR) --board 9x6 \\
                               --square-mm 25 [--name NAME] [--json OUT]
    formcoach calibrate user   --name NAME (--camera 0 | --source VIDEO | --poses track.npz) \\
                               [--exercise squat] [--camera-profile NAME] [--json OUT]
    formcoach calibrate show   (--camera-profile NAME | --user NAME)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from formcoach.errors import InputError
from formcoach.io_utils import display_path

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` command and its sub-commands."""
    p = subparsers.add_parser(
        "calibrate",
        help="calibrate the camera (checkerboard) or a user's neutral stance and range of motion",
        description="Camera calibration removes lens distortion from landmarks; user "
        "calibration records a neutral stance and the user's own range of motion.",
    )
    sub = p.add_subparsers(dest="calibrate_command", metavar="WHAT")
    p.set_defaults(func=lambda _a: _usage(p))

    b = sub.add_parser("board", help="write the printable checkerboard (PNG at 300 dpi, A4 PDF)")
    b.add_argument("--board", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    b.add_argument("--square-mm", type=float, default=25.0, help="square size in mm (default 25)")
    b.add_argument("--dpi", type=int, default=300, help="PNG/PDF resolution (default 300)")
    b.add_argument("--out", default="calibration", help="output folder (default ./calibration)")
    b.set_defaults(func=_run_board)

    c = sub.add_parser("camera", help="compute intrinsics and distortion from checkerboard views")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, metavar="INDEX", help="capture from this camera")
    src.add_argument("--source", metavar="VIDEO", help="sample frames spread over a video")
    src.add_argument("--images", metavar="DIR", help="use every image in a folder")
    c.add_argument("--board", default="9x6", help="inner corners COLSxROWS (default 9x6)")
    c.add_argument("--square-mm", type=float, default=25.0, help="printed square size, mm")
    c.add_argument("--name", help="profile name (default: derived from the source)")
    c.add_argument("--json", metavar="OUT", help="also write the profile JSON here ('-' = stdout)")
    c.add_argument("--max-views", type=int, default=40, help="most views used in the fit")
    c.add_argument("--seconds", type=float, default=30.0, help="camera capture length, s")
    c.add_argument("--no-save", action="store_true", help="do not save into the config folder")
    c.set_defaults(func=_run_camera)

    u = sub.add_parser("user", help="record a user's neutral stance and range-of-motion baseline")
    u.add_argument("--name", required=True, help="user profile name")
    usrc = u.add_mutually_exclusive_group(required=True)
    usrc.add_argument("--camera", type=int, metavar="INDEX", help="record from this camera")
    usrc.add_argument("--source", metavar="VIDEO", help="a video of the user")
    usrc.add_argument("--poses", metavar="NPZ", help="a pose track from 'formcoach poses'")
    u.add_argument("--exercise", help="exercise shown in the recording (e.g. squat)")
    u.add_argument("--backend", choices=("onnx", "mediapipe"), default="onnx",
                   help="pose backend for --camera/--source (default: onnx)")
    u.add_argument("--seconds", type=float, default=15.0, help="camera recording length, s")
    u.add_argument("--still-s", type=float, default=1.0, help="still window for neutral, s")
    u.add_argument("--camera-profile", metavar="NAME",
                   help="undistort landmarks with this camera profile before measuring angles")
    u.add_argument("--json", metavar="OUT", help="also write the profile JSON here ('-' = stdout)")
    u.add_argument("--no-save", action="store_true", help="do not save into the config folder")
    u.set_defaults(func=_run_user)

    s = sub.add_parser("show", help="print a saved camera or user profile as JSON")
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--camera-profile", metavar="NAME", help="camera profile (or 'default')")
    which.add_argument("--user", metavar="NAME", help="user profile")
    s.set_defaults(func=_run_show)


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _emit_json(data: dict[str, Any], out: str | None) -> None:
    if out is None:
        return
    text = json.dumps(data, indent=2) + "\n"
    if out == "-":
        sys.stdout.write(text)
    else:
        from formcoach.io_utils import atomic_write_text

        atomic_write_text(Path(out), text)


def _run_board(args: argparse.Namespace) -> int:
    from formcoach.calibration import parse_board, write_board_files

    board = parse_board(args.board)
    if args.dpi < 72 or args.dpi > 1200:
        raise InputError(f"--dpi {args.dpi} is out of range; use 72..1200 (300 is typical)")
    for path in write_board_files(args.out, board, args.square_mm, args.dpi):
        print(display_path(path))
    return 0


def _check_run_arguments(args: argparse.Namespace) -> None:
    """Before any capture or pose estimation: raise a one-line :class:`InputError` on a
    ``--seconds`` / ``--still-s`` that is not a positive finite number (NaN crashed the user
    fit, a negative still window was accepted) or a ``--json`` file that cannot be written."""
    import math

    from formcoach.io_utils import check_output_path

    for flag in ("seconds", "still_s"):
        v = getattr(args, flag, None)
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(f"--{flag.replace('_', '-')} must be a positive number of "
                             f"seconds, got {v:g}")
    if args.json is not None and args.json != "-":
        check_output_path(args.json, "--json")


def _run_camera(args: argparse.Namespace) -> int:
    import math

    from formcoach import calibration as cal

    board = cal.parse_board(args.board)
    images: Iterable[tuple[str, np.ndarray]]
    if not (math.isfinite(args.square_mm) and args.square_mm > 0):
        raise InputError(f"--square-mm {args.square_mm} must be positive (measure a printed square)")
    _check_run_arguments(args)
    if args.max_views < cal.MIN_VIEWS:
        raise InputError(f"--max-views {args.max_views} must be at least {cal.MIN_VIEWS}")
    if args.camera is not None:
        images = cal.capture_camera_frames(args.camera, args.seconds)
        name, source = args.name or f"camera{args.camera}", f"camera {args.camera}"
        print(
            f"move the board around the whole picture, tilting it, for {args.seconds:g} s",
            file=sys.stderr,
        )
    elif args.source is not None:
        images = cal.sample_video_frames(args.source, count=3 * args.max_views)
        name, source = args.name or Path(args.source).stem, display_path(args.source)
    else:
        images = cal.images_from_dir(args.images)
        name, source = args.name or Path(args.images).resolve().name, display_path(args.images)
    name = _safe_name(name, "camera")
    if name == cal.DEFAULT_PROFILE_NAME:
        raise InputError("'default' is the built-in guessed profile; choose another --name")
    prof = cal.calibrate_camera(
        images, board, args.square_mm, name=name, max_views=args.max_views,
        meta={"source": source},
    )
    saved = None if args.no_save else prof.save()
    _emit_json(prof.to_dict(), args.json)
    w, h = prof.image_size
    print(
        f"camera profile {prof.name!r}: fx={prof.fx:.1f} fy={prof.fy:.1f} cx={prof.cx:.1f} "
        f"cy={prof.cy:.1f} px, k1={prof.dist[0]:+.3f}, hfov={prof.hfov_deg:.1f} deg, "
        f"rms={prof.rms:.2f} px from {prof.images_used} views at {w}x{h}"
        + (f"; saved to {display_path(saved)}" if saved else ""),
        file=sys.stderr if args.json == "-" else sys.stdout,
    )
    if prof.rms > 1.0:
        print(
            f"warning: reprojection error {prof.rms:.2f} px is high; use sharper, flatter board "
            "views (glue the print to a board)",
            file=sys.stderr,
        )
    return 0


def _safe_name(name: str, fallback: str) -> str:
    import re

    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:64]
    return clean or fallback


def _run_user(args: argparse.Namespace) -> int:
    from formcoach import calibration as cal
    from formcoach.pose.track import estimate_track
    from formcoach.types import PoseTrack

    cal.check_name(args.name, "user profile")
    _check_run_arguments(args)
    exercise = None
    if args.exercise:
        from formcoach.exercises import load_exercise

        exercise = load_exercise(args.exercise).id  # canonical id; unknown names fail here
    if args.poses is not None:
        track = PoseTrack.load(args.poses)
        source = display_path(args.poses)
    elif args.source is not None:
        track = estimate_track(args.source, args.backend)
        source = display_path(args.source)
    else:
        from formcoach.sources import CameraSource

        camera = CameraSource(args.camera)
        print(
            f"stand still, arms relaxed, for 2 s; then do a few slow reps ({args.seconds:g} s)",
            file=sys.stderr,
        )
        try:
            track = estimate_track(camera, args.backend, duration_s=args.seconds)
        finally:
            camera.close()
        source = f"camera {args.camera}"
    meta: dict[str, Any] = {"source": source}
    if args.camera_profile:
        cam = cal.load_camera_profile(args.camera_profile, track.image_size)
        track = dataclasses.replace(track, poses=cam.undistort_poses(track.poses))
        meta["camera_profile"] = cam.name
    existing = None
    if cal.user_profile_path(args.name).is_file():
        existing = cal.load_user_profile(args.name)
    prof = cal.calibrate_user(
        track, args.name, exercise=exercise, existing=existing, still_s=args.still_s, meta=meta,
    )
    saved = None if args.no_save else prof.save()
    _emit_json(prof.to_dict(), args.json)
    out = sys.stderr if args.json == "-" else sys.stdout
    neutral = ", ".join(f"{k} {v:.0f}" for k, v in prof.neutral.items())
    print(f"user profile {prof.name!r}: neutral (deg): {neutral}", file=out)
    rom = cal_rom_line(prof.baseline(exercise))
    print(f"range of motion (deg): {rom or 'none recorded (no joint moved 15 deg or more)'}", file=out)
    if saved:
        print(f"saved to {display_path(saved)}", file=out)
    return 0


def cal_rom_line(rom: dict[str, tuple[float, float]]) -> str:
    """``"left_knee 62-178, ..."`` for a ROM baseline."""
    return ", ".join(f"{k} {lo:.0f}-{hi:.0f}" for k, (lo, hi) in rom.items())


def _run_show(args: argparse.Namespace) -> int:
    from formcoach import calibration as cal

    if args.camera_profile is not None:
        data = cal.load_camera_profile(args.camera_profile).to_dict()
    else:
        data = cal.load_user_profile(args.user).to_dict()
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    return 0
