"""``formcoach demo``: poses, reps, cues and a report on a bundled sample."""

from __future__ import annotations

import argparse
from pathlib import Path

from formcoach.cli import add_model_argument
from formcoach.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo",
        help="run the whole pipeline on a bundled synthetic sample (no camera needed)",
        description=(
            "Analyse a bundled synthetic exercise video end to end: poses, rep counting, form "
            "faults, the cues live coaching would speak (as WAV files), an HTML report, CSV and "
            "JSON, and the set saved to a session database inside the output folder."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("formcoach-demo"),
                   help="output folder (default: ./formcoach-demo)")
    p.add_argument("--sample", default=None,
                   help="sample name from samples/specs.toml (default: pushup_45_sag_lockout)")
    p.add_argument("--backend", choices=("onnx", "mediapipe"), default="onnx",
                   help="pose backend (default: onnx)")
    add_model_argument(p)
    p.add_argument("--no-audio", action="store_true", help="do not synthesise the cues to WAV")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.demo import DEFAULT_SAMPLE, run_demo

    if args.out.exists() and not args.out.is_dir():
        raise InputError(f"--out must be a folder, got a file: {args.out}")
    return run_demo(args.out, args.sample or DEFAULT_SAMPLE, args.backend, audio=not args.no_audio,
                    model=args.model)
