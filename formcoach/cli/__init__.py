"""The ``formcoach`` command line.

Each subcommand lives in its own module under :mod:`formcoach.cli` and exposes
``register(subparsers)``, which adds a parser whose ``func(args) -> int`` runs it. The entry point
turns every :class:`~formcoach.errors.FormcoachError` into one line on stderr and a non-zero exit;
only ``--debug`` shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

# Before anything imports cv2: keep FFmpeg's own messages ("moov atom not found") off the
# terminal; formcoach reports unreadable videos itself, in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

from formcoach import __version__
from formcoach.errors import FormcoachError
from formcoach.text import clean_text

log = logging.getLogger("formcoach")

#: Subcommand modules, in help order. Each defines ``register(subparsers)``.
COMMANDS: tuple[str, ...] = (
    "demo",
    "poses",
    "analyze",
    "batch",
    "eval",
    "calibrate",
    "synth",
    "rules",
    "live",
    "history",
    "mark",
    "plan",
    "transfer",
    "report",
    "serve",
    "bench",
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line plus a hint (exit 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = _Parser(
        prog="formcoach",
        description="On-device exercise form coach: poses, reps, spoken cues and PT reports.",
    )
    parser.add_argument("--version", action="version", version=f"formcoach {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"formcoach.cli.{name}").register(sub)
    return parser


def add_model_argument(parser: argparse.ArgumentParser, default: str = "auto",
                       purpose: str = "offline") -> None:
    """Add ``--model auto|lite|full|heavy`` (the BlazePose rung; see formcoach.pose.ladder)."""
    from formcoach.pose.ladder import MODEL_CHOICES, MODEL_ENV

    if default == "auto":
        how = ("live: full, or lite where full cannot keep 15 frames/s here, measured at "
               "start-up" if purpose == "live" else
               "full, or lite where full cannot keep 1x real time here")
        text = f"default: auto = {how}; {MODEL_ENV} pins it"
    else:
        text = f"default: {default}"
    parser.add_argument("--model", choices=MODEL_CHOICES, default=default,
                        help=f"pose model: lite (fastest), full (most accurate on real footage), heavy "
                             f"(smallest large angle errors; slowest) ({text})")


def check_eval_arguments(args: argparse.Namespace) -> None:
    """Before any clip is posed: raise a one-line :class:`InputError` on a ``--json`` that
    cannot be written (a folder, a missing folder) or a ``--min-accuracy`` that is negative or
    not a number (NaN never fails the gate). Above 1 stays allowed: it always fails, which CI
    tests of the exit status use."""
    import math

    from formcoach.io_utils import check_output_path

    if getattr(args, "json", None):
        check_output_path(args.json, "--json")
    x = getattr(args, "min_accuracy", None)
    if x is not None and not (math.isfinite(x) and x >= 0):
        from formcoach.errors import InputError

        raise InputError(f"--min-accuracy must be a fraction 0..1 (e.g. 0.9), got {x:g}")


def add_velocity_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--stop-at-vl PCT`` and ``--height-cm CM`` (velocity loss; see
    :mod:`formcoach.kinematics.velocity`)."""
    g = parser.add_argument_group("velocity")
    g.add_argument("--stop-at-vl", type=float, default=None, metavar="PCT",
                   help="say \"that's the set\" once the velocity loss against the set's best "
                        "rep stays past PCT percent for two reps (e.g. 20; default: off)")
    g.add_argument("--height-cm", type=float, default=None, metavar="CM",
                   help="your height, to give rep velocities in m/s as well as body heights/s")


def check_velocity_arguments(args: argparse.Namespace) -> None:
    """Raise :class:`~formcoach.errors.InputError` (one line) on a bad ``--stop-at-vl`` or
    ``--height-cm``."""
    import math

    from formcoach.errors import InputError

    vl = getattr(args, "stop_at_vl", None)
    if vl is not None and not (math.isfinite(vl) and 0 < vl < 100):
        raise InputError(f"--stop-at-vl must be a percentage between 0 and 100, got {vl:g}")
    h = getattr(args, "height_cm", None)
    if h is not None and not (math.isfinite(h) and 50 <= h <= 250):
        raise InputError(f"--height-cm must be between 50 and 250 cm, got {h:g}")


def add_set_end_arguments(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """Add ``--rir N`` / ``--to-failure`` (how a set ended, for the reps-in-reserve profile;
    see :mod:`formcoach.rir`)."""
    g = parser.add_argument_group("reps in reserve (how the set ended)")
    m = g.add_mutually_exclusive_group(required=required)
    m.add_argument("--rir", type=int, default=None, metavar="N",
                   help="you could have done N more reps: saved with the set; 3 or more marked "
                        "sets of an exercise fit your velocity-loss -> reps-in-reserve profile")
    m.add_argument("--to-failure", action="store_true",
                   help="the set was taken to failure (0 reps in reserve)")


def check_set_end_arguments(args: argparse.Namespace) -> None:
    """Raise :class:`~formcoach.errors.InputError` (one line) on a bad ``--rir``."""
    from formcoach.errors import InputError
    from formcoach.store import MAX_RIR

    rir = getattr(args, "rir", None)
    if rir is not None and not 0 <= rir <= MAX_RIR:
        raise InputError(f"--rir must be a whole number of reps 0..{MAX_RIR}, got {rir}")
    if (rir is not None or getattr(args, "to_failure", False)) and getattr(args, "no_save", False):
        raise InputError("--rir / --to-failure are saved with the set: drop --no-save")


def printable(text: object) -> str:
    """``text`` safe for any terminal: bytes of non-UTF-8 file names (surrogate escapes) shown
    as ``\\xNN``, like :func:`formcoach.io_utils.display_path`, and control characters
    escaped."""
    s = str(text)
    try:
        s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that is not an escaped byte
        s = s.encode("utf-8", "backslashreplace").decode("utf-8")
    return clean_text(s, keep_newlines=False)  # no terminal escape codes from names or packs


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.func is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FormcoachError as e:
        if args.debug:
            raise
        print(f"formcoach: error: {printable(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("formcoach: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`: quiet exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        if args.debug or os.environ.get("FORMCOACH_DEBUG"):
            raise
        print(
            f"formcoach: internal error: {type(e).__name__}: {printable(e)} "
            "(re-run with --debug for details, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
