"""The report/CSV/video/history outputs of ``formcoach analyze`` (its output hook).

``formcoach/cli/analyze.py`` uses it in three calls::

    add_output_arguments(parser)                       # --report --csv --frames-csv --video --db
    hook = OutputHook(args)
    observers = [engine, *hook.observers(exercise, source=path, backend=name, engine=engine)]
    result = analyze_video(..., observers=observers)   # reps are saved to the DB as they finish
    hook.finish(result, engine=engine, video_path=path, cue_log=cues)   # or hook.abort()

``finish`` is ``write`` (every requested file; a failing one is kept in ``hook.errors`` and the
others are still written) followed by ``end_set`` (the stored set becomes ``complete`` only when
every file was written). A failing database never stops the files: ``hook.store_warning``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from formcoach.errors import FormcoachError, InputError, NotOurDatabase, StoreError
from formcoach.io_utils import check_output_path, display_path

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


#: What a failing session database raises (StoreError; raw sqlite3 errors as a fallback).
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error)


class _GuardedRecorder:
    """The session recorder as a coach observer that never stops the analysis: a database
    failure is handed to the hook (one warning, the set left unsaved) and recording stops."""

    def __init__(self, hook: OutputHook, recorder: Any) -> None:
        self.hook = hook
        self.recorder = recorder

    def on_frame(self, state: Any) -> None:
        if self.hook.recorder is not None:
            self.recorder.on_frame(state)

    def on_rep(self, rep: Any, state: Any = None) -> None:
        if self.hook.recorder is None:
            return
        try:
            self.recorder.on_rep(rep, state)
        except STORE_ERRORS as e:
            self.hook.store_failed(e)


class OutputHook:
    """Writes the PT outputs of one analysis and records it in the session store.

    A failing database (locked, full disk...) never stops the analysis or the files: it is
    remembered in :attr:`store_warning` and the set is left unsaved. The set is marked
    ``complete`` only after every requested file was written; if one fails it is marked
    ``interrupted``.

    Attributes:
        written: files written, in order.
        errors: output failures (each output is still attempted), in order.
        store_warning: why the session was not saved, or None.
    """

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
        self.errors: list[BaseException] = []
        self.store_warning: str | None = None
        self._sm: Any = None

    def outputs(self) -> list[tuple[str, Path | None]]:
        """``(option, path)`` of every file this hook may write (for overlap checks)."""
        return [("--report", self.report), ("--csv", self.csv),
                ("--frames-csv", self.frames_csv), ("--video", self.video),
                ("--db", self.db if self.save else None)]

    def store_failed(self, e: BaseException) -> None:
        """Give up on the session database for this run (first reason kept)."""
        log.debug("session database failed: %r", e)
        if self.store_warning is None:
            self.store_warning = str(e) or type(e).__name__
        self.recorder = None
        self._close()

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
        ``--no-save``). Opens the store now, so a bad ``--db`` fails before the analysis; a
        database that is there but failing (StoreError) only means the set is not saved."""
        if not self.save:
            return []
        from formcoach.io_utils import display_path, sha256_file
        from formcoach.store import SetRecorder, Store

        try:
            self.store = Store(self.db)
        except NotOurDatabase:
            raise  # a --db that can never work: refused before the analysis, like a bad path
        except STORE_ERRORS as e:  # locked or full right now: warn, write every other output
            self.store_failed(e)
            return []
        except InputError as e:
            raise InputError(f"{e} (or pass --no-save to skip the session history)") from e
        if model_sha256 is None:
            model_sha256 = _model_sha256(getattr(self.args, "poses", None) or source, backend)
        sha = None
        if source is not None and Path(source).is_file():
            try:
                sha = sha256_file(source)
            except OSError as e:
                log.warning("cannot hash %s: %s", display_path(source), e)
        src = display_path(Path(source).resolve()) if source is not None else None
        try:
            self.recorder = SetRecorder.begin(
                self.store, exercise, src, sha, backend, model_sha256, mode,
                fault_source=engine, fps=fps,
            )
        except STORE_ERRORS as e:
            self.store_failed(e)
            return []
        return [_GuardedRecorder(self, self.recorder)]

    def abort(self) -> None:
        """Mark the set ``interrupted`` (the analysis failed or was stopped)."""
        self._end("interrupted")

    def _end(self, status: str, sm: Any = None) -> None:
        if self.recorder is not None:
            try:
                self.recorder.finish(sm, status=status)
            except STORE_ERRORS as e:
                self.store_failed(e)
            finally:
                self.recorder = None
        self._close()

    def _close(self) -> None:
        if self.store is not None:
            store, self.store = self.store, None
            try:
                store.close()
            except STORE_ERRORS as e:
                log.debug("closing the session database: %r", e)

    def set_metrics(self, result: Any, engine: Any = None) -> Any:
        """The set metrics of ``result`` (computed once per run)."""
        return cached_set_metrics(self.args, result, engine)

    def attempt(self, what: str, write: Callable[[], Path | Iterable[Path] | None]) -> None:
        """Run one output's ``write``; a failure is kept in :attr:`errors`, not raised, so the
        other outputs are still written."""
        try:
            out = write()
        except FormcoachError as e:
            self.errors.append(e)
        except Exception as e:  # a bug in one output must not cost the others
            log.debug("writing %s failed", what, exc_info=True)
            self.errors.append(e)
        else:
            if isinstance(out, Path):
                self.written.append(out)
            elif out is not None:
                self.written.extend(out)

    def write(
        self,
        result: Any,
        engine: Any = None,
        video_path: str | os.PathLike[str] | None = None,
        cue_log: Iterable[Any] | None = None,
        progress: bool = True,
    ) -> Any:
        """Write every requested file (failures kept in :attr:`errors`); returns the metrics."""
        try:
            sm = self.set_metrics(result, engine)
        except BaseException:
            self.abort()
            raise
        faults = list(getattr(engine, "faults", []) or []) if engine is not None else None
        if cue_log is not None:  # offline: cues replayed by the scheduler, nobody heard them
            cue_log = [dict(c, simulated=True) if isinstance(c, dict) else c for c in cue_log]
        for what, fn in _file_writers(self.args, result, sm, faults, video_path, cue_log,
                                      progress):
            self.attempt(what, fn)
        self._sm = sm
        return sm

    def end_set(self) -> None:
        """Close the stored set: ``complete`` when every output was written, else
        ``interrupted``. Call after the last file."""
        if self.errors:
            self._end("interrupted")
        else:
            self._end("complete", self._sm)

    def finish(
        self,
        result: Any,
        engine: Any = None,
        video_path: str | os.PathLike[str] | None = None,
        cue_log: Iterable[Any] | None = None,
        progress: bool = True,
    ) -> Any:
        """Write the requested files, then close the stored set (:meth:`write` +
        :meth:`end_set`).

        Returns:
            the :class:`~formcoach.metrics.SetMetrics`.

        Raises:
            the first output failure, after every other output was attempted.
        """
        sm = self.write(result, engine, video_path, cue_log, progress)
        self.end_set()
        if self.errors:
            raise self.errors[0]
        return sm


def _file_writers(
    args: argparse.Namespace,
    result: Any,
    sm: Any,
    faults: list[Any] | None,
    video_path: str | os.PathLike[str] | None,
    cue_log: Iterable[Any] | None,
    progress: bool = True,
) -> list[tuple[str, Callable[[], Path]]]:
    """``(name, write)`` for each file asked for by ``--report --csv --frames-csv --video``."""
    cues = list(cue_log) if cue_log is not None else None
    report = getattr(args, "report", None)
    csv_out = getattr(args, "csv", None)
    frames_csv = getattr(args, "frames_csv", None)
    video_out = getattr(args, "annotated_video", None)
    out: list[tuple[str, Callable[[], Path]]] = []
    if report is not None:
        def _report() -> Path:
            from formcoach.report.html import write_html_report

            return write_html_report(result, sm, report, video_path, cues, faults)
        out.append(("report", _report))
    if csv_out is not None:
        def _csv() -> Path:
            from formcoach.report.tables import write_csv

            return write_csv(sm, csv_out)
        out.append(("CSV", _csv))
    if frames_csv is not None:
        def _frames() -> Path:
            from formcoach.report.tables import write_frames_csv

            return write_frames_csv(result, frames_csv, sm, faults or [])
        out.append(("frames CSV", _frames))
    if video_out is not None:
        def _video() -> Path:
            if video_path is None:
                raise InputError(
                    f"--video {display_path(video_out)} needs a video input (this analysis "
                    "used a pose track); give the VIDEO too"
                )
            from formcoach.report.video import write_annotated_video

            return write_annotated_video(
                video_path, result, video_out, cue_log=cues, faults=faults, joints=sm.joints,
                progress=progress,
            )
        out.append(("video", _video))
    return out
