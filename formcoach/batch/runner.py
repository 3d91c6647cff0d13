"""The batch driver: hash, skip what is done, hand the rest to an engine, and save each result.

Layout of ``OUT``:

* ``<sha256>.json``: a file's ``analyze --json`` document (the key is the sha256 of the video's
  bytes); its presence means done.
* ``failures.json``: ``{sha256: {"path", "reason", "attempts"}}`` of files that failed twice.
* ``summary.csv`` (and ``summary.parquet`` when pyarrow is there): one row per set.
* ``.batch/``: ``id`` (this output folder's batch id), ``hashes.json`` (hash cache by path,
  size and mtime), ``pending/<sha256>.pkl`` (a result received but not yet fully saved) and
  ``log.jsonl`` (one line per file saved or failed).

Saving one result, in this order: the pending record (atomic), the database set (one
transaction, keyed ``<batch id>:<sha256>``, so it is never saved twice; with what ``analyze``
saves: the ``analyze --json`` document, the per-frame joint angles, the recording time and the
manifest's patient), the JSON (atomic), then the pending record is removed. A batch killed at
any point resumes: pending records are finished first, and files with a JSON are skipped.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import pickle
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from formcoach.analysis import AnalysisOptions
from formcoach.batch.inputs import BatchItem
from formcoach.batch.worker import Outcome, Task, with_exercise
from formcoach.errors import InputError
from formcoach.io_utils import atomic_write_bytes, atomic_write_text, display_path, sha256_file

log = logging.getLogger(__name__)

__all__ = ["BatchConfig", "BatchReport", "run_batch", "summary_rows"]

#: Tries per file per run (the first and one retry).
MAX_ATTEMPTS = 2
STATE_DIR = ".batch"
SUMMARY_COLUMNS = (
    "sha256", "path", "patient", "exercise", "kind", "reps", "hold_s", "duration_s", "frames",
    "pose_frames", "view", "judged_reps", "clean_reps", "technique_score", "mean_score",
    "mean_rom_deg", "mean_duration_s", "faults", "fault_rules", "tempo_slope_s_per_rep",
    "rom_slope_deg_per_rep", "model",
)


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """How to run a batch.

    Attributes:
        out: the output folder (created if missing).
        options: analysis options (``exercise`` is replaced by each item's).
        engine, workers, address: where to run (see :mod:`formcoach.batch.engines`); workers
            0: one per core here, or the cluster's size with ``address``.
        threads: threads per worker (onnxruntime intra-op, numba, OpenMP); 0: ``cores //
            workers``.
        db: the session database (None: the default one); save: record sets there.
        progress: the progress line on stderr.
    """

    out: Path
    options: AnalysisOptions
    engine: str = "local"
    workers: int = 1
    address: str | None = None
    threads: int = 0
    db: Path | None = None
    save: bool = True
    progress: bool = True


@dataclass(slots=True)
class BatchReport:
    """What a run did (counts of files) and how fast."""

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    retried: int = 0
    video_s: float = 0.0
    wall_s: float = 0.0
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: list[Path] = field(default_factory=list)
    duplicates: int = 0

    @property
    def video_min_per_min(self) -> float:
        """Video-minutes analysed per wall-clock minute."""
        return self.video_s / self.wall_s if self.wall_s > 0 else 0.0


class _State:
    """``OUT/.batch``: batch id, hash cache, pending records, event log."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.dir = out / STATE_DIR
        self.pending = self.dir / "pending"
        try:
            self.pending.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise InputError(f"cannot create output folder {display_path(out)}: "
                             f"{e.strerror or e}") from e
        id_file = self.dir / "id"
        if not id_file.is_file():
            atomic_write_text(id_file, uuid.uuid4().hex + "\n")
        self.batch_id = id_file.read_text(encoding="utf-8").strip()
        self._hash_file = self.dir / "hashes.json"
        try:
            self.hashes: dict[str, list[Any]] = json.loads(self._hash_file.read_text("utf-8"))
        except (OSError, ValueError):
            self.hashes = {}

    def key_of(self, path: str) -> str:
        """sha256 of the file's bytes (cached by absolute path, size and mtime).

        Raises:
            InputError: unreadable.
        """
        try:
            st = os.stat(path)
            ident = [st.st_size, st.st_mtime_ns]
            name = os.path.abspath(path)
            hit = self.hashes.get(name)
            if hit is not None and hit[:2] == ident:
                return str(hit[2])
            key = sha256_file(path)
        except OSError as e:
            raise InputError(f"cannot read {display_path(path)}: {e.strerror or e}") from e
        self.hashes[name] = [*ident, key]
        return key

    def save_hashes(self) -> None:
        atomic_write_text(self._hash_file, json.dumps(self.hashes))

    def log(self, **event: Any) -> None:
        event["t"] = round(time.time(), 3)
        line = json.dumps(event) + "\n"
        with open(self.dir / "log.jsonl", "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


class _Saver:
    """The one writer of results: pending record, database, JSON (see the module docstring)."""

    def __init__(self, state: _State, config: BatchConfig) -> None:
        self.state = state
        self.out = config.out
        self.store = None
        if config.save:
            from formcoach.store import Store

            self.store = Store(config.db, skippable=True)

    def save(self, outcome: Outcome, pending: Path | None = None) -> None:
        key = outcome.key
        if pending is None:
            pending = self.state.pending / f"{key}.pkl"
            atomic_write_bytes(pending, pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
        if self.store is not None and outcome.metrics is not None:
            # a record pickled by an older version may lack the newer fields
            patient = getattr(outcome, "patient", "")
            patient_id = self.store.ensure_patient(patient).id if patient else None
            self.store.import_set(
                f"{self.state.batch_id}:{key}", outcome.exercise, outcome.metrics,
                source_path=display_path(Path(outcome.path).resolve()), source_sha256=key,
                backend=outcome.backend, model_sha256=outcome.model_sha256 or None,
                patient_id=patient_id, recorded_at=getattr(outcome, "recorded_at", "") or None,
                recorded_at_source=getattr(outcome, "recorded_at_source", "") or None,
                document=outcome.json_text, angles=getattr(outcome, "angles_text", "") or None,
            )
        atomic_write_text(self.out / f"{key}.json", outcome.json_text)
        pending.unlink(missing_ok=True)
        self.state.log(event="done", sha256=key, path=display_path(outcome.path),
                       video_s=round(outcome.video_s, 3), wall_s=round(outcome.wall_s, 3),
                       worker=outcome.worker)

    def finish_pending(self) -> int:
        """Save the results a killed run received but did not finish saving."""
        n = 0
        for p in sorted(self.state.pending.glob("*.pkl")):
            try:
                outcome = pickle.loads(p.read_bytes())
            except Exception as e:  # a record cut short cannot be: it was written atomically
                log.warning("dropping unreadable pending result %s: %s", p.name, e)
                p.unlink(missing_ok=True)
                continue
            self.save(outcome, pending=p)
            n += 1
        return n

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class _Progress:
    """One line on stderr: files done / failed / remaining and video-minutes per minute."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.total = total
        self.t0 = time.monotonic()
        self._last = 0.0

    def show(self, r: BatchReport, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self._last < (0.5 if self.tty else 10.0):
            return
        self._last = now
        left = r.total - r.skipped - r.done - r.failed
        wall = now - self.t0
        rate = r.video_s / wall if wall > 0 else 0.0
        line = (f"batch: {r.done + r.skipped}/{r.total} done ({r.skipped} earlier), "
                f"{r.failed} failed, {left} left, {rate:.2f} video-min/min")
        if self.tty:
            sys.stderr.write("\r" + line + "\x1b[K" + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _read_failures(out: Path) -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads((out / "failures.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _check_done(out: Path, key: str, item: BatchItem) -> bool:
    """Whether ``OUT/<key>.json`` is there; one made with another exercise is an error."""
    path = out / f"{key}.json"
    if not path.is_file():
        return False
    if item.exercise.strip().lower() == "auto":
        return True
    from formcoach.exercises import load_exercise

    try:
        got = json.loads(path.read_text(encoding="utf-8")).get("exercise")
    except (OSError, ValueError):
        return False  # unreadable: analyse again (the JSON is replaced atomically)
    want = load_exercise(item.exercise).id
    if got != want:
        raise InputError(f"{display_path(path)} holds {got} results for {display_path(item.path)}, "
                         f"not {want}; use a new --out folder for a new analysis")
    return True


def run_batch(items: Sequence[BatchItem], config: BatchConfig,
              engine_factory: Callable[[], Any] | None = None) -> BatchReport:
    """Analyse ``items`` (see the module docstring); returns what was done.

    Args:
        items: from :func:`formcoach.batch.inputs.expand_inputs`.
        config: where and how.
        engine_factory: builds the engine (default: :func:`~formcoach.batch.engines.make_engine`
            from ``config``); called only when there is something to analyse.

    Raises:
        InputError / StoreError: bad output folder or database (before any analysis).
        KeyboardInterrupt: after the workers are stopped (a rerun resumes).
    """
    out = config.out
    state = _State(out)
    report = BatchReport(total=len(items))
    saver = _Saver(state, config)
    try:
        finished = saver.finish_pending()
        if finished:
            log.info("saved %d result(s) a stopped run had left pending", finished)
        todo: list[tuple[str, BatchItem]] = []
        keys: list[tuple[str, BatchItem]] = []
        seen: dict[str, BatchItem] = {}
        for it in items:
            key = state.key_of(it.path)
            if key in seen:  # the same recording twice: analysed once
                report.duplicates += 1
                report.total -= 1
                log.info("%s has the same content as %s; analysed once", display_path(it.path),
                         display_path(seen[key].path))
                continue
            seen[key] = it
            keys.append((key, it))
            if _check_done(out, key, it):
                report.skipped += 1
            else:
                todo.append((key, it))
        state.save_hashes()
        failures = {k: v for k, v in _read_failures(out).items() if k in seen}
        t0 = time.monotonic()
        if todo:
            _run(todo, config, state, saver, report, failures, engine_factory, t0)
        report.wall_s = time.monotonic() - t0
        report.failures = failures
        atomic_write_text(out / "failures.json", json.dumps(failures, indent=2))
        report.summary = write_summary(out, keys)
    finally:
        saver.close()
    return report


def _run(todo: list[tuple[str, BatchItem]], config: BatchConfig, state: _State, saver: _Saver,
         report: BatchReport, failures: dict[str, dict[str, Any]],
         engine_factory: Callable[[], Any] | None, t0: float) -> None:
    from formcoach.batch.engines import make_engine

    opts = config.options
    engine = engine_factory() if engine_factory is not None else make_engine(
        config.engine, config.workers, opts.backend, opts.model, config.address, config.threads)
    log.info("batch on %s", engine.describe())
    progress = _Progress(config.progress, report.total)
    progress.t0 = t0
    queue = [Task(key, it.path, with_exercise(opts, it.exercise), patient=it.patient)
             for key, it in reversed(todo)]
    window = 2 * engine.workers
    cancel = True
    try:
        while queue or engine.in_flight():
            while queue and engine.in_flight() < window:
                engine.submit(queue.pop())
            for task, outcome in engine.next_done(timeout=0.5):
                if outcome.ok:
                    saver.save(outcome)
                    failures.pop(task.key, None)
                    report.done += 1
                    report.video_s += outcome.video_s
                elif task.attempt < MAX_ATTEMPTS:
                    report.retried += 1
                    log.info("retrying %s: %s", display_path(task.path), outcome.error)
                    queue.append(Task(task.key, task.path, task.options, task.attempt + 1,
                                      task.patient))
                else:
                    report.failed += 1
                    failures[task.key] = {"path": display_path(task.path), "reason": outcome.error,
                                          "attempts": task.attempt}
                    state.log(event="failed", sha256=task.key, path=display_path(task.path),
                              reason=outcome.error)
                    atomic_write_text(config.out / "failures.json", json.dumps(failures, indent=2))
            report.wall_s = time.monotonic() - t0
            progress.show(report)
        cancel = False
    finally:
        engine.close(cancel=cancel)
        progress.show(report, final=True)


def summary_rows(out: Path, keys: Sequence[tuple[str, BatchItem]]) -> list[dict[str, Any]]:
    """One row per set analysed (files with a JSON in ``out``), from the JSON documents."""
    rows = []
    for key, it in keys:
        try:
            doc = json.loads((out / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        reps = doc.get("rep_events") or []
        roms = [r["rom_deg"] for r in reps if r.get("rom_deg") is not None]
        durs = [r["duration_s"] for r in reps if r.get("duration_s") is not None]
        cov = doc.get("coverage") or {}
        faults = doc.get("faults") or []
        rows.append({
            "sha256": key, "path": display_path(it.path), "patient": it.patient,
            "exercise": doc.get("exercise"), "kind": doc.get("kind"), "reps": doc.get("reps"),
            "hold_s": doc.get("hold_s"), "duration_s": doc.get("duration_s"),
            "frames": doc.get("frames"), "pose_frames": doc.get("pose_frames"),
            "view": doc.get("view"), "judged_reps": cov.get("judged_reps"),
            "clean_reps": cov.get("clean_reps"), "technique_score": cov.get("technique_score"),
            "mean_score": doc.get("mean_score"),
            "mean_rom_deg": round(sum(roms) / len(roms), 2) if roms else None,
            "mean_duration_s": round(sum(durs) / len(durs), 3) if durs else None,
            "faults": len(faults),
            "fault_rules": " ".join(sorted({str(f.get("rule_id")) for f in faults})),
            "tempo_slope_s_per_rep": doc.get("tempo_slope_s_per_rep"),
            "rom_slope_deg_per_rep": doc.get("rom_slope_deg_per_rep"),
            "model": doc.get("model"),
        })
    return rows


def write_summary(out: Path, keys: Sequence[tuple[str, BatchItem]]) -> list[Path]:
    """``summary.csv`` always, ``summary.parquet`` when pyarrow is importable; the paths."""
    rows = summary_rows(out, keys)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: "" if v is None else v for k, v in r.items()})
    written = [out / "summary.csv"]
    atomic_write_text(written[0], buf.getvalue())
    try:
        import pyarrow as pa  # type: ignore[import-not-found, import-untyped, unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        log.info("pyarrow is not installed: no summary.parquet (summary.csv has the same table)")
        return written
    table = pa.Table.from_pylist(rows, schema=None) if rows else pa.table(
        {c: pa.array([], pa.string()) for c in SUMMARY_COLUMNS})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(out / "summary.parquet", sink.getvalue().to_pybytes())
    written.append(out / "summary.parquet")
    return written
