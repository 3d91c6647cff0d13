"""The report/CSV/video/history outputs of ``formcoach analyze`` (its output hook).

``formcoach/cli/analyze.py`` uses it in three calls::

    add_output_arguments(parser)                       # --report --csv --frames-csv --video --db
    hook = OutputHook(args)
    observers = [engine, *hook.observers(exercise, source=path, backend=name, engine=engine)]
    result = analyze_video(..., observers=observers)   # reps are saved to the DB as they finish
    hook.finish(result, engine=engine, video_path=path, cue_log=cues)   # or hook.abort()
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from formcoach.errors import InputError
from formcoach.io_utils import check_output_path

log = logging.getLogger(__name__)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--report --csv --frames-csv --video`` to an analyze-like parser."""
    g = parser.add_argument_group("PT outputs")
    g.add_argument("--report", metavar="OUT.html", type=Path,
                   help="write a self-contained HTML report (plots, per-rep table, thumbnails)")
    g.add_argument("--csv", metavar="OUT.csv", type=Path,
                   help="write per-rep metrics as CSV (columns: docs/csv_columns.md)")
    g.add_argument("--frames-csv", metavar="OUT.csv", type=Path,
                   help="write per-frame angles as CSV")
    g.add_argument("--video", metavar="OUT.mp4", type=Path, dest="annotated_video",
                   help="write the video with skeleton, angles, rep counter and cues drawn")


def add_store_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--db --no-save`` to an analyze-like parser."""
    g = parser.add_argument_group("session history")
    g.add_argument("--db", metavar="PATH", type=Path,
                   help="session history database (default: $FORMCOACH_DB or the user data dir)")
    g.add_argument("--no-save", action="store_true",
                   help="do not save this set to the session history")


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every PT output option (:func:`add_report_arguments` + :func:`add_store_arguments`)."""
    add_report_arguments(parser)
    add_store_arguments(parser)


def find_engine(observers: Iterable[Any]) -> Any:
    """The rules engine among coach observers (has ``faults`` and ``not_assessed()``), or None."""
    for o in observers:
        if hasattr(o, "rep_faults") and callable(getattr(o, "not_assessed", None)):
            return o
    return None


def find_cue_log(observers: Iterable[Any]) -> list[Any] | None:
    """A cue log kept by an observer (attribute ``cue_log`` or ``cues``), or None."""
    for o in observers:
        for attr in ("cue_log", "cues"):
            val = getattr(o, attr, None)
            if isinstance(val, list):
                return val
    return None


def never_assessed(engine: Any) -> list[str]:
    """Rule ids the engine could not judge in any rep of the set (all of its reps said
    ``not_assessed``); without reps, those whose latest status is ``not_assessed``."""
    latest = sorted(engine.not_assessed())
    per_rep = getattr(engine, "rep_status", None)
    if not per_rep:
        return latest
    rules = {k for st in per_rep.values() for k in st}
    never = [r for r in sorted(rules)
             if all(st.get(r, "not_assessed") == "not_assessed" for st in per_rep.values())]
    return sorted(set(never) | {r for r in latest if r not in rules})


def cached_set_metrics(args: argparse.Namespace, result: Any, engine: Any) -> Any:
    """:func:`formcoach.metrics.set_metrics` of ``result``, computed once per analyze run."""
    from formcoach.metrics import set_metrics

    cache = vars(args).setdefault("_formcoach_set_metrics", {})
    key = id(result)
    if key not in cache:
        faults = list(getattr(engine, "faults", []) or []) if engine is not None else None
        not_assessed = never_assessed(engine) if engine is not None else None
        cache[key] = set_metrics(result, faults=faults, not_assessed=not_assessed)
    return cache[key]


def _model_sha256(source: str | os.PathLike[str] | None, backend: str | None) -> str | None:
    """sha256 of the pose model behind an analysis: from a pose track's header, else from the
    bundled model manifest of ``backend``; None when unknown."""
    try:
        if source is not None and str(source).endswith(".npz"):
            import numpy as np

            with np.load(source, allow_pickle=False) as z:
                return str(z["model_sha256"]) or None
        from formcoach.pose import models

        if backend == "mediapipe":
            return models.model_sha256(models.TASK_FILE) or None
        if backend == "onnx":
            return models.model_sha256(models.ONNX_DETECTOR, models.ONNX_LANDMARKER) or None
    except Exception as e:  # provenance is best effort; never fail an analysis over it
        log.debug("model sha256 unknown: %s", e)
    return None


def _check_out(path: Path | None, what: str) -> None:
    if path is not None:
        check_output_path(path, what)


class OutputHook:
    """Writes the PT outputs of one analysis and records it in the session store."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.report: Path | None = getattr(args, "report", None)
        self.csv: Path | None = getattr(args, "csv", None)
        self.frames_csv: Path | None = getattr(args, "frames_csv", None)
        self.video: Path | None = getattr(args, "annotated_video", None)
        self.save = not getattr(args, "no_save", False)
        self.db: Path | None = getattr(args, "db", None)
        for p, what in ((self.report, "report"), (self.csv, "CSV"),
                        (self.frames_csv, "frames CSV"), (self.video, "video")):
            _check_out(p, what)
        self.store: Any = None
        self.recorder: Any = None
        self.written: list[Path] = []

    def observers(
        self,
        exercise: Any,
        source: str | os.PathLike[str] | None = None,
        backend: str | None = None,
        model_sha256: str | None = None,
        engine: Any = None,
        fps: float = 30.0,
        mode: str = "analyze",
    ) -> list[Any]:
        """Coach observers to add after the rules engine: the session recorder (unless
        ``--no-save``). Opens the store now, so a bad ``--db`` fails before the analysis."""
        if not self.save:
            return []
        from formcoach.io_utils import sha256_file
        from formcoach.store import SetRecorder, Store

        try:
            self.store = Store(self.db)
        except InputError as e:
            raise InputError(f"{e} (or pass --no-save to skip the session history)") from e
        if model_sha256 is None:
            model_sha256 = _model_sha256(getattr(self.args, "poses", None) or source, backend)
        sha = None
        if source is not None and Path(source).is_file():
            try:
                sha = sha256_file(source)
            except OSError as e:
                log.warning("cannot hash %s: %s", source, e)
        src = str(Path(source).resolve()) if source is not None else None
        self.recorder = SetRecorder.begin(
            self.store, exercise, src, sha, backend, model_sha256, mode,
            fault_source=engine, fps=fps,
        )
        return [self.recorder]

    def abort(self) -> None:
        """Mark the set ``interrupted`` (the analysis failed or was stopped)."""
        if self.recorder is not None:
            try:
                self.recorder.finish(status="interrupted")
            finally:
                self._close()

    def _close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def finish(
        self,
        result: Any,
        engine: Any = None,
        video_path: str | os.PathLike[str] | None = None,
        cue_log: Iterable[Any] | None = None,
        progress: bool = True,
    ) -> Any:
        """Compute set metrics, complete the stored set, write the requested files.

        Returns:
            the :class:`~formcoach.metrics.SetMetrics`.
        """
        try:
            sm = cached_set_metrics(self.args, result, engine)
            if self.recorder is not None:
                self.recorder.finish(sm)
        except BaseException:
            self.abort()
            raise
        self._close()
        faults = list(getattr(engine, "faults", []) or []) if engine is not None else None
        if cue_log is not None:  # offline: cues replayed by the scheduler, nobody heard them
            cue_log = [dict(c, simulated=True) if isinstance(c, dict) else c for c in cue_log]
        self.written.extend(write_files(self.args, result, sm, faults, video_path, cue_log,
                                        progress))
        return sm


def write_files(
    args: argparse.Namespace,
    result: Any,
    sm: Any,
    faults: list[Any] | None,
    video_path: str | os.PathLike[str] | None,
    cue_log: Iterable[Any] | None,
    progress: bool = True,
) -> list[Path]:
    """Write the files asked for by ``--report --csv --frames-csv --video``; returns their paths."""
    written: list[Path] = []
    cues = list(cue_log) if cue_log is not None else None
    report = getattr(args, "report", None)
    csv_out = getattr(args, "csv", None)
    frames_csv = getattr(args, "frames_csv", None)
    video_out = getattr(args, "annotated_video", None)
    if video_out is not None and video_path is None:
        raise InputError(
            f"--video {video_out} needs a video input (this analysis used a pose track); "
            "give the VIDEO too"
        )
    if report is not None:
        from formcoach.report.html import write_html_report

        written.append(write_html_report(result, sm, report, video_path, cues, faults))
    if csv_out is not None:
        from formcoach.report.tables import write_csv

        written.append(write_csv(sm, csv_out))
    if frames_csv is not None:
        from formcoach.report.tables import write_frames_csv

        written.append(write_frames_csv(result, frames_csv, sm, faults or []))
    if video_out is not None and video_path is not None:
        from formcoach.report.video import write_annotated_video

        written.append(write_annotated_video(
            video_path, result, video_out, cue_log=cues, faults=faults, joints=sm.joints,
            progress=progress,
        ))
    return written
