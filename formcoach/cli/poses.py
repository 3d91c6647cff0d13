"""``formcoach poses``: estimate and save the pose track of a video."""

from __future__ import annotations

import argparse
from pathlib import Path

from formcoach.cli import add_model_argument
from formcoach.errors import InputError
from formcoach.io_utils import check_distinct_outputs, check_output_path, display_path
from formcoach.pose import BACKENDS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "poses",
        help="estimate 33-landmark poses for every frame of a video and save them (.npz)",
        description=(
            "Run the pose model over every frame of VIDEO and write a pose track: poses (T,33,4) "
            "as x, y in pixels, z, visibility (NaN where nobody is found), world landmarks in "
            "metres, timestamps in ns, fps, image size, backend and model sha256. Fully offline."
        ),
    )
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("--backend", choices=BACKENDS, default="onnx", help="pose backend (default: onnx)")
    add_model_argument(p)
    p.add_argument("--out", type=Path, required=True, help="output track file (.npz)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--silhouette", action="store_true",
                   help="also measure the back's outline from the person mask where the hip is "
                        "bent (the deadlift's rounded_back rule reads it; slower on those frames)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.pose.ladder import resolve_model
    from formcoach.pose.track import estimate_track
    from formcoach.sources import VideoFileSource

    if args.out.suffix != ".npz":
        raise InputError(f"--out must end in .npz, got {display_path(args.out)}")
    if args.max_frames is not None and args.max_frames <= 0:
        raise InputError(f"--max-frames must be positive, got {args.max_frames}")
    check_output_path(args.out, "--out")  # before the (long) estimation
    check_distinct_outputs([("VIDEO", args.video)], [("--out", args.out)])
    probe = VideoFileSource(args.video)  # a bad video fails here, before any measurement
    fps = probe.fps
    probe.close()
    choice = resolve_model(args.backend, fps, "offline", args.model)
    track = estimate_track(
        args.video, args.backend, max_frames=args.max_frames, progress=not args.no_progress,
        model=choice.model, silhouette=args.silhouette,
    )
    track.save(args.out)
    print(
        f"{display_path(args.out)}: {len(track)} frames, {track.fps:.3f} fps, {track.image_size[0]}x"
        f"{track.image_size[1]}, person in {100 * track.detection_rate:.1f}% ({track.backend}, "
        f"model {choice.describe()})"
    )
    return 0
