"""The files and the session record of one analysis: JSON, report, CSV, per-frame CSV,
annotated video and the session database, all rendered from one
:class:`~formcoach.coach.result.SessionResult` (no output recomputes a metric).

``formcoach/cli/analyze.py`` uses it in three calls::

    hook = OutputHook(OutputPaths(report=..., csv=..., db=..., save=True))  # checks the paths
    sinks = SessionSinks(on_rep=hook.begin(source=..., backend=..., exercise_id=...))
    result = analyze_video(..., sinks=sinks)          # reps are saved to the DB as they finish
    hook.write(result, video_path=path); hook.end_set()   # or hook.abort()

A failing file never stops the others (:attr:`OutputHook.errors`); a failing database never stops
the files (:attr:`OutputHook.store_warning`); the stored set is marked ``complete`` only when
every file was written.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from formcoach.coach.result import SessionResult
from formcoach.errors import FormcoachError, InputError, NotOurDatabase, StoreError
from formcoach.io_utils import atomic_write_text, check_output_path, display_path
from formcoach.metrics import RepMetrics
from formcoach.report.document import session_document
from formcoach.store import SetRecorder, Store

log = logging.getLogger(__name__)

__all__ = ["OutputHook", "OutputPaths", "angles_text", "json_text", "write_json"]


@dataclass(frozen=True, slots=True)
class OutputPaths:
    """Which files to write (None: not asked for) and where the session is recorded.

    Attributes:
        json, report, csv, frames_csv, video: output files.
        db: the session database (None: ``$FORMCOACH_DB`` or the user data dir).
        save: record the set in the session database.
        poses: the pose track analysed, when not a video (for the model's provenance).
        patient: the set's patient (name or pseudonym; added to the store when new).
    """

    json: Path | None = None
    report: Path | None = None
    csv: Path | None = None
    frames_csv: Path | None = None
    video: Path | None = None
    db: Path | None = None
    save: bool = True
    poses: Path | None = None
    patient: str | None = None

    def options(self) -> list[tuple[str, Path | None]]:
        """``(option, path)`` of every file that may be written (for overlap checks)."""
        return [("--json", self.json), ("--report", self.report), ("--csv", self.csv),
                ("--frames-csv", self.frames_csv), ("--video", self.video),
                ("--db", self.db if self.save else None)]


#: What a failing session database raises (StoreError; raw sqlite3 errors as a fallback).
STORE_ERRORS: tuple[type[BaseException], ...] = (StoreError, sqlite3.Error)


class OutputHook:
    """Writes the outputs of one analysis and records it in the session store.

    Attributes:
        written: files written, in order.
        errors: output failures (each output is still attempted), in order.
        store_warning: why the session was not saved, or None.
        set_id: the stored set's id once it was started (None: not saved).
    """

    def __init__(self, paths: OutputPaths) -> None:
        self.paths = paths
        for path, what in ((paths.json, "JSON"), (paths.report, "report"), (paths.csv, "CSV"),
                           (paths.frames_csv, "frames CSV"), (paths.video, "video")):
            if path is not None:
                check_output_path(path, what)
        self.store: Store | None = None
        self.recorder: SetRecorder | None = None
        self.written: list[Path] = []
        self.errors: list[BaseException] = []
        self.store_warning: str | None = None
        self.set_id: int | None = None
        self._result: SessionResult | None = None

    def store_failed(self, e: BaseException) -> None:
        """Give up on the session database for this run (first reason kept)."""
        log.debug("session database failed: %r", e)
        if self.store_warning is None:
            self.store_warning = str(e) or type(e).__name__
        self.recorder = None
        self._close()

    def begin(
        self,
        exercise_id: str,
        source: str | os.PathLike[str] | None,
        backend: str,
        model_sha256: str | None = None,
        mode: str = "analyze",
    ) -> Callable[[RepMetrics], None] | None:
        """Open the store and start the set (unless not saving); returns the per-rep sink for
        the session. A bad ``--db`` fails here, before the analysis; a database that is there
        but failing (locked, full) only means the set is not saved."""
        if not self.paths.save:
            return None
        from formcoach.io_utils import sha256_file

        try:
            self.store = Store(self.paths.db, skippable=True)
        except NotOurDatabase:
            raise  # a --db that can never work: refused before the analysis, like a bad path
        except STORE_ERRORS as e:  # locked or full right now: warn, write every other output
            self.store_failed(e)
            return None
        except InputError as e:
            raise InputError(f"{e} (or pass --no-save to skip the session history)") from e
        sha = None
        if source is not None and Path(source).is_file():
            try:
                sha = sha256_file(source)
            except OSError as e:
                log.warning("cannot hash %s: %s", display_path(source), e)
        src = display_path(Path(source).resolve()) if source is not None else None
        when: tuple[str | None, str | None] = (None, None)
        if source is not None and self.paths.poses is None and Path(source).is_file():
            from formcoach.io_utils import recorded_at

            try:
                when = recorded_at(source)
            except OSError as e:
                log.warning("cannot date %s: %s", display_path(source), e)
        try:
            patient_id = None
            if self.paths.patient:
                patient_id = self.store.ensure_patient(self.paths.patient).id
            self.recorder = SetRecorder.begin(self.store, exercise_id, src, sha, backend,
                                              model_sha256 or None, mode, patient_id=patient_id,
                                              recorded_at=when[0], recorded_at_source=when[1])
            self.set_id = self.recorder.set_id
        except STORE_ERRORS as e:
            self.store_failed(e)
            return None
        return self._on_rep

    def _on_rep(self, rm: RepMetrics) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.on_rep(rm)
        except STORE_ERRORS as e:
            self.store_failed(e)

    def abort(self) -> None:
        """Mark the set ``interrupted`` (the analysis failed or was stopped)."""
        self._end("interrupted")

    def _end(self, status: str, result: SessionResult | None = None) -> None:
        if self.recorder is not None:
            try:
                self.recorder.finish(result.metrics if result is not None else None, status,
                                     json_text(result) if result is not None else None,
                                     angles_text(result) if result is not None else None)
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

    def write(self, result: SessionResult, video_path: str | os.PathLike[str] | None = None,
              progress: bool = True) -> None:
        """Write every requested file (failures kept in :attr:`errors`)."""
        self._result = result
        for what, fn in _file_writers(self.paths, result, video_path, progress):
            self.attempt(what, fn)

    def end_set(self) -> None:
        """Close the stored set: ``complete`` when every output was written, else
        ``interrupted``. Call after the last file."""
        if self.errors:
            self._end("interrupted")
        else:
            self._end("complete", self._result)


def json_text(result: SessionResult) -> str:
    """The text of the ``analyze --json`` document (``batch`` writes the same)."""
    return json.dumps(session_document(result), indent=2)


def angles_text(result: SessionResult) -> str:
    """The JSON text of the set's per-frame joint angles, as the session database keeps it
    (:func:`~formcoach.report.document.angle_series_document`)."""
    from formcoach.report.document import angle_series_document

    return json.dumps(angle_series_document(result), separators=(",", ":"), allow_nan=False)


def write_json(result: SessionResult, out: Path) -> Path:
    """The ``analyze --json`` document."""
    atomic_write_text(out, json_text(result))
    return out


def _file_writers(
    paths: OutputPaths,
    result: SessionResult,
    video_path: str | os.PathLike[str] | None,
    progress: bool = True,
) -> list[tuple[str, Callable[[], Path]]]:
    """``(name, write)`` for each file asked for."""
    out: list[tuple[str, Callable[[], Path]]] = []
    if paths.report is not None:
        report = paths.report

        def _report() -> Path:
            from formcoach.report.html import write_html_report

            return write_html_report(result, report, video_path)
        out.append(("report", _report))
    if paths.csv is not None:
        csv_out = paths.csv

        def _csv() -> Path:
            from formcoach.report.tables import write_csv

            return write_csv(result.metrics, csv_out)
        out.append(("CSV", _csv))
    if paths.frames_csv is not None:
        frames_csv = paths.frames_csv

        def _frames() -> Path:
            from formcoach.report.tables import write_frames_csv

            return write_frames_csv(result, frames_csv)
        out.append(("frames CSV", _frames))
    if paths.video is not None:
        video_out = paths.video

        def _video() -> Path:
            if video_path is None:
                raise InputError(
                    f"--video {display_path(video_out)} needs a video input (this analysis "
                    "used a pose track); give the VIDEO too"
                )
            from formcoach.report.video import write_annotated_video

            return write_annotated_video(video_path, result, video_out, progress=progress)
        out.append(("video", _video))
    if paths.json is not None:
        json_out = paths.json
        out.append(("JSON", lambda: write_json(result, json_out)))
    return out
