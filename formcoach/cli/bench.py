"""``formcoach bench``: the one-run performance suite (results as JSON)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from formcoach.errors import InputError
from formcoach.io_utils import check_output_path, display_path
from formcoach.pose.models import MODELS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "bench",
        help="measure speed and latency against formcoach's targets (JSON)",
        description=(
            "Measure pose ms/frame per backend and per model (lite/full/heavy, same frames), "
            "joint-angle error per model against the synthetic samples, the ONNX/MediaPipe "
            "ratio, the end-to-end realtime "
            "factor, per-frame overhead after the pose model (and of the velocity / stop-at-VL work), "
            "numba vs numpy kernels, cue latency, "
            "cold start and peak memory, all in one run. Uses a bundled sample, and ../shared "
            "clips when present."
        ),
    )
    p.add_argument("--json", type=Path, dest="json_out", help="write the full results here")
    p.add_argument("--quick", action="store_true", help="small inputs: a smoke test of the harness")
    p.add_argument("--backend", choices=("onnx", "mediapipe"), default="onnx",
                   help="backend for the end-to-end figures (default: onnx)")
    p.add_argument("--model", choices=MODELS, default="full",
                   help="pose model of the end-to-end figures (default: full); the per-model "
                        "figures always cover every model")
    p.add_argument("--samples", type=Path, default=None,
                   help="synthetic samples folder for the angle errors (default: samples/)")
    p.add_argument("--shared", type=Path, default=None,
                   help="folder of real clips (default: ../shared/data/videos next to the checkout, if any)")
    p.set_defaults(func=run)


def _default_shared() -> Path | None:
    here = Path(__file__).resolve().parents[2]
    cand = here.parent / "shared" / "data" / "videos"
    return cand if cand.is_dir() else None


def run(args: argparse.Namespace) -> int:
    from formcoach.bench.suite import format_summary, run_bench, write_json

    shared = args.shared if args.shared is not None else _default_shared()
    if shared is not None and not shared.is_dir():
        raise InputError(f"--shared folder not found: {shared}")
    if args.json_out is not None:
        check_output_path(args.json_out)
    if args.samples is not None:
        _check_samples(args.samples)
    result = run_bench(quick=args.quick, shared=shared, backend=args.backend, model=args.model,
                       samples=args.samples)
    print(format_summary(result))
    if args.json_out is not None:
        write_json(result, args.json_out)
        print(f"wrote {display_path(args.json_out)}")
    else:
        print(json.dumps({k: result.get(k) for k in ("onnx_vs_mediapipe", "realtime_factor",
                                                      "lite_ms_p50", "full_ms_p50", "heavy_ms_p50")}))
    return 0


def _check_samples(folder: Path) -> None:
    """Raise a one-line :class:`InputError` unless ``folder`` holds a rep manifest whose clips
    each have their video, a ``view`` and the ground truth ``NAME.json`` beside it (what
    ``formcoach synth`` writes); a bad folder otherwise only failed the angle-error sections
    with a Python message in a warning, and the bench still exited 0."""
    from formcoach.evaluation.reps import load_manifest

    if not (folder / "manifest.json").is_file():
        raise InputError(f"--samples folder has no manifest.json: {display_path(folder)}")
    for clip in load_manifest(folder / "manifest.json"):
        video = Path(clip["path"])
        name = display_path(video.name)
        if not video.is_file():
            raise InputError(f"--samples clip {name} is missing from {display_path(folder)}")
        if not video.with_suffix(".json").is_file():
            raise InputError(f"--samples clip {name} has no ground truth "
                             f"{display_path(video.with_suffix('.json').name)} beside it "
                             "(made by 'formcoach synth')")
        if not isinstance(clip.get("view"), str):
            raise InputError(f"--samples clip {name} has no 'view' in the manifest")
