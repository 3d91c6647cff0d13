"""``formcoach synth``: render synthetic exercise videos with exact ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from formcoach.errors import InputError
from formcoach.io_utils import display_path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "synth",
        help="render synthetic exercise videos with exact ground truth",
        description=(
            "Render every [[sample]] of a spec TOML file to NAME.mp4 plus NAME.json (ground truth: "
            "reps, faults, per-frame joint angles and 2D/3D joints). Deterministic: the same spec "
            "and versions give the same bytes. 'formcoach synth --spec samples/specs.toml' "
            "rebuilds the committed samples. Also writes OUT/manifest.json (the rep samples with their "
            "counts) for 'formcoach eval reps --manifest'."
        ),
    )
    p.add_argument("--spec", type=Path, default=Path("samples/specs.toml"),
                   help="spec file (default: samples/specs.toml)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: the spec file's folder)")
    p.add_argument("--only", action="append", metavar="NAME", default=None,
                   help="render only this sample (repeatable)")
    p.add_argument("--list", action="store_true", help="list the samples and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from formcoach.synth import load_specs, render_sample, write_manifest

    specs = load_specs(args.spec)
    if args.only:
        names = {s.name for s in specs}
        missing = [n for n in args.only if n not in names]
        if missing:
            raise InputError(f"--only {missing[0]!r} is not in {args.spec}; choose from: "
                             f"{', '.join(sorted(names))}")
        specs = [s for s in specs if s.name in args.only]
    if args.list:
        for s in specs:
            faults = ",".join(sorted({f.type for f in s.faults})) or "-"
            reps = "hold" if s.is_hold else str(s.reps)
            print(f"{s.name:28s} {s.exercise:15s} {s.view:6s} reps={reps:5s} faults={faults}")
        return 0
    out = args.out if args.out is not None else args.spec.parent
    if not out.is_dir():
        raise InputError(f"output folder does not exist: {out} (create it or pass --out)")
    for s in specs:
        video, truth = render_sample(s, out)
        print(f"{display_path(video)}  {display_path(truth)}")
    print(display_path(write_manifest(out)))
    return 0
