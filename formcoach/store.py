"""SQLite session history: sessions, sets, reps and faults, saved rep by rep.

The database lives at ``platformdirs.user_data_dir("formcoach")/sessions.db`` unless ``--db`` or
the ``FORMCOACH_DB`` environment variable says otherwise. formcoach creates it itself with mode
0600 (it describes a person's body) in WAL mode and never changes a file it did not create (a
directory, another application's database or a non-SQLite file is refused before anything is
written). Its schema version is ``PRAGMA user_version``, upgraded on open by the SQL steps in
:data:`MIGRATIONS`. Every database failure is a :class:`~formcoach.errors.StoreError`.

A :class:`SetRecorder` opens a set row when a set starts and commits each rep as it completes
(one transaction per rep), so a crash loses at most the rep in progress; sets left
``in_progress`` by a process that no longer runs are marked ``interrupted`` on the next open.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import math
import os
import re
import socket
import sqlite3
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from formcoach import __version__
from formcoach.coach.result import SessionResult
from formcoach.errors import InputError, NotOurDatabase, StoreError
from formcoach.metrics import RepMetrics, SetMetrics
from formcoach.types import Fault

log = logging.getLogger(__name__)

ENV_DB = "FORMCOACH_DB"
STATUSES = ("in_progress", "complete", "interrupted")
#: Seconds to wait for another process's lock on the database before giving up.
BUSY_TIMEOUT_S = 10.0
#: Largest reps-in-reserve mark a set takes (beyond it the set was far from its end).
MAX_RIR = 30
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

#: Schema migrations: step ``i`` (0-based) upgrades ``user_version`` i -> i + 1. Append only.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # v1: base schema
        """CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            source_path TEXT,
            source_sha256 TEXT,
            backend TEXT,
            model_sha256 TEXT,
            formcoach_version TEXT NOT NULL,
            mode TEXT NOT NULL DEFAULT 'analyze'
        )""",
        """CREATE TABLE sets (
            id INTEGER PRIMARY KEY,
            session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            exercise TEXT NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            status TEXT NOT NULL DEFAULT 'in_progress'
                CHECK (status IN ('in_progress', 'complete', 'interrupted')),
            rep_count INTEGER NOT NULL DEFAULT 0,
            coverage_pct REAL,
            summary_json TEXT
        )""",
        """CREATE TABLE reps (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
            rep_index INTEGER NOT NULL,
            start_s REAL, end_s REAL, duration_s REAL,
            rom_deg REAL, peak_velocity_dps REAL, asymmetry_pct REAL, score REAL,
            metrics_json TEXT NOT NULL,
            UNIQUE (set_id, rep_index)
        )""",
        """CREATE TABLE faults (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES sets(id) ON DELETE CASCADE,
            rep_index INTEGER,
            rule_id TEXT NOT NULL, cue TEXT, severity INTEGER,
            t_ns INTEGER, frame_index INTEGER, value REAL, threshold REAL
        )""",
    ),
    (  # v2: who owns an in-progress set (crash recovery) and a faster history query
        "ALTER TABLE sets ADD COLUMN owner_pid INTEGER",
        "ALTER TABLE sets ADD COLUMN owner_host TEXT",
        "CREATE INDEX sets_by_exercise ON sets (exercise, started_at)",
        "CREATE INDEX reps_by_set ON reps (set_id, rep_index)",
        "CREATE INDEX faults_by_set ON faults (set_id)",
    ),
    (  # v3: a batch's key per imported file, so a resumed batch never imports a file twice
        "ALTER TABLE sessions ADD COLUMN batch_key TEXT",
        "CREATE UNIQUE INDEX sessions_by_batch_key ON sessions (batch_key) "
        "WHERE batch_key IS NOT NULL",
    ),
    (  # v4: how a set ended, as the user marked it (reps in reserve; 0 = to failure), for
        # the personal VL -> RIR profile (formcoach.rir). Its own table: nothing else changes.
        """CREATE TABLE set_ends (
            set_id INTEGER PRIMARY KEY REFERENCES sets(id) ON DELETE CASCADE,
            rir INTEGER NOT NULL CHECK (rir >= 0 AND rir <= 30),
            to_failure INTEGER NOT NULL DEFAULT 0 CHECK (to_failure IN (0, 1)),
            marked_at TEXT NOT NULL
        )""",
    ),
    (  # v5: the PT workspace: patients, prescriptions, and per set who, which prescription,
        # when it was recorded, pain and effort, and the analyze --json document
        """CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE prescriptions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            exercise TEXT NOT NULL,
            sets INTEGER NOT NULL DEFAULT 1 CHECK (sets >= 1),
            reps INTEGER CHECK (reps IS NULL OR reps >= 1),
            hold_s REAL CHECK (hold_s IS NULL OR hold_s > 0),
            per_week INTEGER NOT NULL CHECK (per_week BETWEEN 1 AND 21),
            rom_target_deg REAL,
            tempo_s REAL,
            start_date TEXT NOT NULL,
            end_date TEXT,
            notes TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX prescriptions_by_patient ON prescriptions (patient_id, exercise)",
        "ALTER TABLE sets ADD COLUMN patient_id INTEGER REFERENCES patients(id) ON DELETE SET NULL",
        "ALTER TABLE sets ADD COLUMN prescription_id INTEGER "
        "REFERENCES prescriptions(id) ON DELETE SET NULL",
        "ALTER TABLE sets ADD COLUMN recorded_at TEXT",
        "ALTER TABLE sets ADD COLUMN recorded_at_source TEXT",
        "ALTER TABLE sets ADD COLUMN pain INTEGER CHECK (pain IS NULL OR pain BETWEEN 0 AND 10)",
        "ALTER TABLE sets ADD COLUMN rpe REAL CHECK (rpe IS NULL OR rpe BETWEEN 0 AND 10)",
        "ALTER TABLE sets ADD COLUMN document_json TEXT",
        # Older sets were dated when analysed: say so rather than guess a recording time.
        "UPDATE sets SET recorded_at = started_at, recorded_at_source = 'analysed' "
        "WHERE recorded_at IS NULL",
        "CREATE INDEX sets_by_patient ON sets (patient_id, recorded_at)",
        "CREATE INDEX sessions_by_sha256 ON sessions (source_sha256) "
        "WHERE source_sha256 IS NOT NULL",
    ),
    (  # v6: a set's per-frame joint angles (the workspace's angle plot), and the workspace
        # prescription a home workout plan named, kept even where this database lacks it so
        # the set carries it back when imported into the workspace (export-sets/import-sets)
        """CREATE TABLE set_angles (
            set_id INTEGER PRIMARY KEY REFERENCES sets(id) ON DELETE CASCADE,
            angles_json TEXT NOT NULL
        )""",
        "ALTER TABLE sets ADD COLUMN plan_prescription_id INTEGER",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


#: Longest patient name or pseudonym, and longest notes, in characters.
MAX_NAME_CHARS = 100
MAX_NOTES_CHARS = 5000


@dataclasses.dataclass(frozen=True, slots=True)
class Patient:
    """A patient of the PT workspace: a name or pseudonym (unique, case-insensitive) and notes."""

    id: int
    name: str
    notes: str
    created_at: str


@dataclasses.dataclass(frozen=True, slots=True)
class Prescription:
    """A home-exercise prescription.

    Attributes:
        id, patient_id: row ids.
        exercise: rule-pack id.
        sets: sets per session; ``reps`` per set (rep exercises) or ``hold_s`` seconds (holds).
        per_week: sessions per week prescribed (1..21).
        rom_target_deg: range of motion to reach, deg (optional); ``tempo_s``: s per rep.
        start_date, end_date: ISO dates (``YYYY-MM-DD``), the end inclusive and optional.
    """

    id: int
    patient_id: int
    exercise: str
    sets: int
    reps: int | None
    hold_s: float | None
    per_week: int
    rom_target_deg: float | None
    tempo_s: float | None
    start_date: str
    end_date: str | None
    notes: str = ""

    def active_on(self, day: str) -> bool:
        """Whether ``day`` (ISO date) lies in ``start_date..end_date``."""
        return self.start_date <= day[:10] and (self.end_date is None or day[:10] <= self.end_date)

    def describe(self) -> str:
        """``3 x 10`` or ``2 x 30 s hold``, ``3/week``."""
        what = f"{self.reps}" if self.reps is not None else (
            f"{self.hold_s:g} s hold" if self.hold_s is not None else "max")
        return f"{self.sets} x {what}, {self.per_week}/week"


def check_name(name: str, what: str = "patient name") -> str:
    """``name`` stripped; one line, 1..MAX_NAME_CHARS printable characters.

    Raises:
        InputError: empty, too long, or with control characters.
    """
    n = " ".join(str(name).split())
    if not n:
        raise InputError(f"{what} is empty; give a name or a pseudonym")
    if len(n) > MAX_NAME_CHARS:
        raise InputError(f"{what} is {len(n)} characters long; the limit is {MAX_NAME_CHARS}")
    if any(not ch.isprintable() for ch in n):
        raise InputError(f"{what} has control characters; use letters, digits and spaces")
    return n


def check_date(day: str, what: str = "date") -> str:
    """An ISO date ``YYYY-MM-DD`` (raises InputError naming ``what`` otherwise)."""
    from datetime import date

    try:
        return date.fromisoformat(str(day).strip()).isoformat()
    except ValueError:
        raise InputError(f"{what} must be a date as YYYY-MM-DD, got {str(day)[:40]!r}") from None


def default_db_path() -> Path:
    """``$FORMCOACH_DB`` if set, else ``user_data_dir("formcoach")/sessions.db``."""
    env = os.environ.get(ENV_DB)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("formcoach")) / "sessions.db"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, dataclasses via their dicts."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return _clean(dataclasses.asdict(x))
    if isinstance(x, np.generic):  # numpy scalar
        return _clean(x.item())
    return x


def _sqlite_code(e: sqlite3.Error) -> int | None:
    """The SQLite result code of an error (None for errors raised by Python's own checks)."""
    code = getattr(e, "sqlite_errorcode", None)  # only set on errors that came from SQLite
    return code if isinstance(code, int) else None


def _sqlite_name(e: sqlite3.Error) -> str:
    """``SQLITE_BUSY``-style name of an error, else its class name."""
    name = getattr(e, "sqlite_errorname", None)
    return name if isinstance(name, str) and name else type(e).__name__


def _num(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


_FC_TABLES: dict[str, frozenset[str]] = {  # a table and columns every formcoach schema has
    "sessions": frozenset({"started_at", "formcoach_version"}),
    "sets": frozenset({"session_id", "exercise", "status", "rep_count"}),
    "reps": frozenset({"set_id", "rep_index", "metrics_json"}),
    "faults": frozenset({"set_id", "rule_id"}),
}


def _errno_reason(e: OSError) -> str:
    if e.errno == errno.ENOSPC:
        return f"disk full ({e.strerror})"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({e.strerror})"
    if e.errno == errno.EROFS:
        return f"read-only file system ({e.strerror})"
    return e.strerror or str(e)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Store:
    """An open session database. Use as a context manager or call :meth:`close`.

    Opening never changes a file formcoach did not create: a new database file is created with
    ``O_CREAT | O_EXCL`` and mode 0600, an existing one is only read until it is known to hold
    formcoach's schema (or to be empty), and nothing is ever ``chmod``-ed. Schema creation and
    migration run in one ``BEGIN IMMEDIATE`` transaction that re-reads the version, so processes
    opening a new database at once all succeed.

    Args:
        path: the database file (default :func:`default_db_path`).
        timeout: seconds to wait for another process's lock (default :data:`BUSY_TIMEOUT_S`).

    Raises:
        StoreError: on open and from every method: the path is a directory, not SQLite, another
            application's database or from a newer formcoach; it is locked, read-only, on a full
            disk, or (by ``PRAGMA integrity_check``) corrupt. Messages name the path and cause.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, timeout: float | None = None,
        *, skippable: bool = False,
    ) -> None:
        #: The command has ``--no-save`` (analyze, live, batch): its errors may suggest it.
        self.skippable = skippable
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.timeout = BUSY_TIMEOUT_S if timeout is None else float(timeout)
        self._existing_mode: int | None = None
        self._prepare_file()
        try:
            self.conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as e:
            raise self._error(e, "opening") from e
        try:
            with self._errors("opening"):
                self.conn.row_factory = sqlite3.Row
                self._open_schema()
                self.conn.execute("PRAGMA foreign_keys = ON")
                self.conn.execute("PRAGMA synchronous = NORMAL")
                self.recover_interrupted()
        except BaseException:
            self.close()
            raise
        mode = self._existing_mode
        if mode is not None and mode & 0o077:  # not ours to chmod: say so instead
            log.warning("session database %s is readable or writable by other users (mode %03o);"
                        " 'chmod 600 %s' keeps it private", self.path, mode, self.path)

    # -- opening ---------------------------------------------------------------------------------

    def _prepare_file(self) -> None:
        """Create the file (0600, exclusively) if absent; refuse anything but a regular file."""
        p = self.path
        try:
            p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # never chmods an existing dir
        except OSError as e:
            raise self._hinted(StoreError(
                f"cannot create the folder of session database {p}: {_errno_reason(e)}; pass "
                "--db with another path, or --no-save"
            )) from e
        try:
            fd = os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY | _O_NOFOLLOW, 0o600)
        except FileExistsError:
            pass  # an existing file (or one another formcoach has just created): checked below
        except IsADirectoryError:
            raise self._is_dir() from None
        except OSError as e:
            raise self._hinted(StoreError(f"cannot create session database {p}: "
                                          f"{_errno_reason(e)}; pass --db with another path, "
                                          "or --no-save")) from e
        else:
            try:
                os.fchmod(fd, 0o600)  # our own new file, by descriptor: whatever the umask
            finally:
                os.close(fd)
            return
        try:
            st = p.stat()  # follows a symlink; mode bits are only read, never changed
        except FileNotFoundError:
            if not p.is_symlink():  # removed between the two calls: just try again
                raise StoreError(f"session database {p} vanished while being opened; try again"
                                 ) from None
            raise NotOurDatabase(
                f"session database {p} is a symlink to a missing file ({os.readlink(p)}); "
                "remove the link or pass --db with another path") from None
        except OSError as e:
            raise StoreError(f"cannot open session database {p}: {_errno_reason(e)}") from e
        if stat.S_ISDIR(st.st_mode):
            raise self._is_dir()
        if not stat.S_ISREG(st.st_mode):
            raise NotOurDatabase(f"session database {p} is not a regular file; pass --db with a "
                             "file path")
        self._existing_mode = stat.S_IMODE(st.st_mode)

    def _is_dir(self) -> StoreError:
        return NotOurDatabase(
            f"session database {self.path} is a directory; pass --db with a file path such as "
            f"{self.path / 'sessions.db'}"
        )

    def _inspect(self) -> tuple[int, str, str]:
        """(user_version, kind, what): kind ``empty``, ``formcoach`` or ``foreign``; reads only."""
        c = self.conn
        v = int(c.execute("PRAGMA user_version").fetchone()[0])
        app = int(c.execute("PRAGMA application_id").fetchone()[0])
        objs = c.execute("SELECT type, name FROM sqlite_master").fetchall()
        if not objs and v == 0 and app == 0:
            return v, "empty", ""
        tables = [str(r[1]) for r in objs if r[0] == "table" and not str(r[1]).startswith("sqlite_")]
        ours = v >= 1 and app == 0 and all(
            t in tables and cols <= {str(r[1]) for r in c.execute(f"PRAGMA table_info({t})")}
            for t, cols in _FC_TABLES.items()
        )
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "") or "none"
        what = f"tables: {shown}; user_version {v}, application_id {app}"
        return v, "formcoach" if ours else "foreign", what

    def _check_kind(self, v: int, kind: str, what: str) -> None:
        if kind == "foreign":
            raise NotOurDatabase(
                f"{self.path} is not a formcoach session database (an SQLite file with {what}); "
                "formcoach leaves it untouched: pass --db with another path"
            )
        if v > SCHEMA_VERSION:
            raise NotOurDatabase(
                f"session database {self.path} has schema v{v}, newer than this formcoach "
                f"(v{SCHEMA_VERSION}); upgrade formcoach or pass --db with another file"
            )

    def _open_schema(self) -> None:
        """Check the file is ours (reading only), then switch to WAL and create/upgrade the
        schema in one write transaction that re-checks the version (another process may have
        done it meanwhile)."""
        c = self.conn
        c.execute("BEGIN")  # one consistent snapshot for the checks
        try:
            v, kind, what = self._inspect()
        finally:
            if c.in_transaction:
                c.execute("COMMIT")
        self._check_kind(v, kind, what)
        self._ensure_wal()
        if v == SCHEMA_VERSION:
            return
        with self._tx():
            v, kind, what = self._inspect()
            self._check_kind(v, kind, what)
            for step in range(v, SCHEMA_VERSION):
                for sql in MIGRATIONS[step]:
                    c.execute(sql)
                c.execute(f"PRAGMA user_version = {step + 1}")
            if v < SCHEMA_VERSION:
                log.info("migrated %s from schema v%d to v%d", self.path, v, SCHEMA_VERSION)

    def _ensure_wal(self) -> None:
        """Switch to WAL mode, retrying while other connections read: SQLite answers that
        switch SQLITE_BUSY at once, without its busy handler (seen on concurrent first-opens)."""
        deadline = time.monotonic() + self.timeout
        delay = 0.002
        while True:
            try:
                if str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    self.conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                code = _sqlite_code(e)
                busy = isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() >= deadline:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 0.05)

    # -- errors ----------------------------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn any sqlite3 error inside the block into a :class:`StoreError`."""
        try:
            yield
        except sqlite3.Error as e:
            raise self._error(e, doing) from e

    @contextmanager
    def _tx(self) -> Iterator[None]:
        """One ``BEGIN IMMEDIATE`` write transaction; rolled back (quietly) on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:  # SQLite may already have rolled back (disk full)
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error as e2:
                    log.debug("rollback on %s failed: %s", self.path, e2)
            raise

    @contextmanager
    def reading(self, doing: str) -> Iterator[None]:
        """A read snapshot for code that queries :attr:`conn` itself; database errors in the
        block become a :class:`StoreError` saying what it was ``doing``."""
        with self._errors(doing):
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")

    @contextmanager
    def writing(self, doing: str) -> Iterator[None]:
        """One write transaction for code that writes through :attr:`conn` (and the store's
        methods): committed when the block ends, rolled back on any error (a database error
        becomes a :class:`StoreError`)."""
        with self._errors(doing), self._tx():
            yield

    def _hinted(self, err: StoreError) -> StoreError:
        """``err`` without its "or pass --no-save" advice where the command has no such flag."""
        if not self.skippable and err.args:
            text = re.sub(r",? or (pass )?--no-save", "", str(err.args[0]))
            err.args = (text, *err.args[1:])
        return err

    def _error(self, e: sqlite3.Error, doing: str) -> StoreError:
        return self._hinted(self._sqlite_error(e, doing))

    def _sqlite_error(self, e: sqlite3.Error, doing: str) -> StoreError:
        """The user-facing :class:`StoreError` for an sqlite3 error (path and cause, one line)."""
        p = self.path
        code = _sqlite_code(e)
        base = code & 0xFF if isinstance(code, int) else None
        name = _sqlite_name(e)
        why = " ".join(str(e).split())
        if base in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            return StoreError(
                f"session database {p} is locked by another process (waited {self.timeout:g} s); "
                "close the other formcoach, or pass --no-save"
            )
        if base == sqlite3.SQLITE_FULL:
            return StoreError(f"cannot write session database {p}: disk full ({why}); free some "
                              "space, or pass --no-save")
        if base == sqlite3.SQLITE_READONLY:
            return StoreError(f"cannot write session database {p}: read-only ({why}); check its "
                              "and its folder's permissions, or pass --no-save")
        if base == sqlite3.SQLITE_NOTADB:
            return NotOurDatabase(f"{p} is not a formcoach session database (not an SQLite "
                                  f"file: {why}); pass --db with another path")
        if base == sqlite3.SQLITE_CANTOPEN:
            return StoreError(f"cannot open session database {p} ({why}); check the path and its "
                              "folder's permissions, or pass --no-save")
        if base == sqlite3.SQLITE_IOERR:
            return StoreError(f"cannot read or write session database {p}: I/O error ({name}: "
                              f"{why}); check the disk, or pass --no-save")
        maybe_damaged = base == sqlite3.SQLITE_CORRUPT or (
            base is None and type(e) is sqlite3.DatabaseError)
        damage = self._integrity_problem() if maybe_damaged else None
        if damage:
            return StoreError(
                f"session database {p} is corrupt (integrity_check: {damage}); move it aside "
                f"(e.g. 'mv {p} {p}.bad') and formcoach will start a new one, or pass --no-save"
            )
        return StoreError(f"session database {p}: {name} while {doing} ({why})")

    def _integrity_problem(self) -> str | None:
        """The first problem ``PRAGMA integrity_check`` reports, or None (ok / cannot tell)."""
        try:
            con = sqlite3.connect(self.path, timeout=self.timeout)
            try:
                rows = con.execute("PRAGMA integrity_check(5)").fetchall()
            finally:
                con.close()
        except sqlite3.DatabaseError as e:
            code = _sqlite_code(e)
            if isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_CORRUPT:
                return " ".join(str(e).split())
            return None
        except sqlite3.Error:
            return None
        msgs = [str(r[0]) for r in rows]
        return None if msgs == ["ok"] else " ".join("; ".join(msgs).split())[:300]

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (an open transaction is rolled back); never raises."""
        conn = self.__dict__.get("conn")
        if conn is None:
            return
        try:
            conn.close()
        except sqlite3.Error as e:
            log.warning("closing session database %s: %s", self.path, e)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        with self._errors("reading the schema version"):
            return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def recover_interrupted(self) -> int:
        """Mark ``in_progress`` sets of dead processes on this host ``interrupted``; count them."""
        host = socket.gethostname()
        with self._errors("recovering interrupted sets"):
            rows = self.conn.execute(
                "SELECT id, owner_pid, owner_host FROM sets WHERE status = 'in_progress'"
            ).fetchall()
            dead = [
                r["id"] for r in rows
                if r["owner_pid"] is None
                or (r["owner_host"] == host and r["owner_pid"] != os.getpid()
                    and not _pid_alive(int(r["owner_pid"])))
            ]
            for set_id in dead:
                self.conn.execute(
                    "UPDATE sets SET status = 'interrupted', ended_at = ? WHERE id = ?",
                    (_now(), set_id),
                )
        return len(dead)

    # -- writing -------------------------------------------------------------------------------

    def start_session(
        self,
        source_path: str | os.PathLike[str] | None = None,
        source_sha256: str | None = None,
        backend: str | None = None,
        model_sha256: str | None = None,
        mode: str = "analyze",
    ) -> int:
        """Insert a session row; returns its id."""
        with self._errors("starting a session"):
            cur = self.conn.execute(
                "INSERT INTO sessions (started_at, source_path, source_sha256, backend, "
                "model_sha256, formcoach_version, mode) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (_now(), str(source_path) if source_path else None, source_sha256, backend,
                 model_sha256, __version__, mode),
            )
        return int(cur.lastrowid or 0)

    def start_set(self, session_id: int, exercise: str, *, patient_id: int | None = None,
                  prescription_id: int | None = None, recorded_at: str | None = None,
                  recorded_at_source: str | None = None,
                  plan_prescription_id: int | None = None) -> int:
        """Insert an ``in_progress`` set row owned by this process; returns its id.

        ``recorded_at`` (ISO 8601, UTC) is when the set was performed (default: now, source
        ``clock``); ``recorded_at_source`` says where it came from (``video metadata``,
        ``file mtime``, ``clock``). A patient without ``prescription_id`` is linked to their
        prescription of this exercise active on that date, when there is exactly one.
        ``plan_prescription_id`` is the workspace prescription a workout plan named (kept as
        given, even where this database has no such prescription: see :mod:`formcoach.transfer`).
        """
        now = _now()
        rec = recorded_at or now
        src = recorded_at_source or ("clock" if recorded_at is None else "given")
        with self._errors("starting a set"):
            if patient_id is not None and prescription_id is None:
                prescription_id = self.match_prescription(patient_id, exercise, rec[:10])
            cur = self.conn.execute(
                "INSERT INTO sets (session_id, exercise, started_at, status, owner_pid, "
                "owner_host, patient_id, prescription_id, recorded_at, recorded_at_source, "
                "plan_prescription_id) VALUES (?, ?, ?, 'in_progress', ?, ?, ?, ?, ?, ?, ?)",
                (session_id, exercise, now, os.getpid(), socket.gethostname(), patient_id,
                 prescription_id, rec, src, plan_prescription_id),
            )
        return int(cur.lastrowid or 0)

    def add_rep(self, set_id: int, metrics: RepMetrics, faults: Iterable[Fault] = ()) -> None:
        """Save one rep (and its faults) in one transaction; replaces a rep with the same index.

        ``metrics`` is a :class:`~formcoach.metrics.RepMetrics`, a
        :class:`~formcoach.types.RepEvent`, or a dict with at least ``index``.
        """
        d = _clean(metrics)
        if not isinstance(d, dict) or "index" not in d:
            raise ValueError(f"rep metrics need an 'index', got {type(metrics).__name__}")
        d.pop("faults", None)
        idx = int(d["index"])
        with self._errors(f"saving rep {idx}"), self._tx():
            self._insert_rep(set_id, d, list(faults))

    def _insert_rep(self, set_id: int, d: dict[str, Any], flist: list[Fault]) -> None:
        """The writes of :meth:`add_rep` (inside the caller's transaction); ``d`` is the
        cleaned metrics dict."""
        idx = int(d["index"])
        start_s = _num(d.get("start_s", _ns_s(d.get("start_ns"))))
        end_s = _num(d.get("end_s", _ns_s(d.get("end_ns"))))
        dur = _num(d.get("duration_s"))
        if dur is None and start_s is not None and end_s is not None:
            dur = end_s - start_s
        asym = d.get("asymmetry_pct")
        if isinstance(asym, dict):
            vals = [v for v in asym.values() if v is not None]
            asym = max(vals) if vals else None
        self.conn.execute(
            "INSERT OR REPLACE INTO reps (set_id, rep_index, start_s, end_s, duration_s, rom_deg,"
            " peak_velocity_dps, asymmetry_pct, score, metrics_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (set_id, idx, start_s, end_s, dur, _num(d.get("rom_deg")),
             _num(d.get("peak_velocity_dps")), _num(asym), _num(d.get("score")),
             json.dumps(d, allow_nan=False)),
        )
        self.conn.execute("DELETE FROM faults WHERE set_id = ? AND rep_index = ?", (set_id, idx))
        self._insert_faults(set_id, flist, idx)
        self.conn.execute(
            "UPDATE sets SET rep_count = (SELECT COUNT(*) FROM reps WHERE set_id = ?) WHERE id = ?",
            (set_id, set_id),
        )

    def _insert_faults(self, set_id: int, faults: Sequence[Fault], rep_index: int | None) -> None:
        self.conn.executemany(
            "INSERT INTO faults (set_id, rep_index, rule_id, cue, severity, t_ns, frame_index, "
            "value, threshold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (set_id, f.rep_index if f.rep_index is not None else rep_index, f.rule_id, f.cue,
                 int(f.severity), int(f.t_ns), int(f.frame_index), _num(f.value), _num(f.threshold))
                for f in faults
            ],
        )

    def finish_set(self, set_id: int, status: str = "complete",
                   set_metrics: SetMetrics | None = None, document: str | None = None,
                   angles: str | None = None) -> None:
        """Close a set: status, end time, and (optionally) the full set metrics.

        With ``set_metrics`` (:class:`~formcoach.metrics.SetMetrics`) every rep row is replaced by
        its final metrics (scores need the whole set) in the same transaction. ``document`` is
        the ``analyze --json`` text of the set (the workspace shows its numbers); ``angles``
        the JSON text of its per-frame joint angles
        (:func:`~formcoach.report.document.angle_series_document`). A complete set supersedes
        every earlier set of the same video (:meth:`supersede`).
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        summary = None
        coverage = None
        if set_metrics is not None:
            s = _clean(set_metrics)
            s.pop("reps", None)
            summary = json.dumps(s, allow_nan=False)
            coverage = _num(set_metrics.coverage_pct)
            for rm in set_metrics.reps:
                self.add_rep(set_id, rm, rm.faults)
        with self._errors("finishing the set"), self._tx():
            self.conn.execute(
                "UPDATE sets SET status = ?, ended_at = ?, coverage_pct = COALESCE(?, coverage_pct), "
                "summary_json = COALESCE(?, summary_json), "
                "document_json = COALESCE(?, document_json), owner_pid = NULL WHERE id = ?",
                (status, _now(), coverage, summary, document, set_id),
            )
            if angles is not None:
                self.conn.execute("INSERT OR REPLACE INTO set_angles (set_id, angles_json) "
                                  "VALUES (?, ?)", (set_id, angles))
            if status == "complete":
                self._supersede(set_id)

    def supersede(self, set_id: int) -> list[int]:
        """Make ``set_id`` the one set of its video: earlier sets whose session has the same
        ``source_sha256`` (the same file content, analysed again) are deleted, and the patient,
        prescription, pain and RPE they had are kept on ``set_id`` where it has none.

        Returns:
            the ids of the deleted sets.
        """
        with self._errors("replacing an earlier analysis"), self._tx():
            return self._supersede(set_id)

    def supersede_in_transaction(self, set_id: int) -> list[int]:
        """:meth:`supersede` inside the caller's :meth:`writing` transaction."""
        return self._supersede(set_id)

    def _supersede(self, set_id: int) -> list[int]:
        c = self.conn
        row = c.execute(
            "SELECT se.source_sha256 AS sha FROM sets s JOIN sessions se ON se.id = s.session_id "
            "WHERE s.id = ?", (set_id,)).fetchone()
        if row is None or not row["sha"]:
            return []
        olds = c.execute(
            "SELECT s.id, s.session_id, s.patient_id, s.prescription_id, s.pain, s.rpe "
            "FROM sets s JOIN sessions se ON se.id = s.session_id "
            "WHERE se.source_sha256 = ? AND s.id != ? AND s.status != 'in_progress' "
            "ORDER BY s.id DESC", (row["sha"], set_id)).fetchall()
        if not olds:
            return []
        for col in ("patient_id", "prescription_id", "pain", "rpe"):
            keep = next((o[col] for o in olds if o[col] is not None), None)
            if keep is not None:
                c.execute(f"UPDATE sets SET {col} = COALESCE({col}, ?) WHERE id = ?",
                          (keep, set_id))
        ids = [int(o["id"]) for o in olds]
        c.execute(f"DELETE FROM sets WHERE id IN ({', '.join('?' * len(ids))})", ids)
        sessions = sorted({int(o["session_id"]) for o in olds})
        c.execute(f"DELETE FROM sessions WHERE id IN ({', '.join('?' * len(sessions))}) AND NOT "
                  "EXISTS (SELECT 1 FROM sets WHERE sets.session_id = sessions.id)", sessions)
        log.info("set %d replaces earlier analyses of the same video: %s", set_id, ids)
        return ids

    def set_coverage(self, set_id: int, coverage_pct: float) -> None:
        """Record the share of frames with a pose for a set."""
        with self._errors("saving the set's coverage"):
            self.conn.execute(
                "UPDATE sets SET coverage_pct = ? WHERE id = ?", (coverage_pct, set_id)
            )

    def batch_set(self, batch_key: str) -> int | None:
        """The set id a batch imported under ``batch_key``, or None."""
        with self._errors("reading a batch key"):
            row = self.conn.execute(
                "SELECT s.id FROM sets s JOIN sessions se ON se.id = s.session_id "
                "WHERE se.batch_key = ?", (batch_key,)).fetchone()
        return None if row is None else int(row[0])

    def import_set(
        self,
        batch_key: str,
        exercise: str,
        set_metrics: SetMetrics,
        source_path: str | os.PathLike[str] | None = None,
        source_sha256: str | None = None,
        backend: str | None = None,
        model_sha256: str | None = None,
        mode: str = "batch",
        *,
        patient_id: int | None = None,
        recorded_at: str | None = None,
        recorded_at_source: str | None = None,
        document: str | None = None,
        angles: str | None = None,
    ) -> tuple[int, bool]:
        """Save one finished set (session, set, reps, faults) in one transaction, keyed by
        ``batch_key``: a key already imported is left as it is (a resumed batch never saves a
        file twice). A new set supersedes earlier sets of the same ``source_sha256``
        (:meth:`supersede`); ``patient_id`` .. ``angles`` are as in :meth:`start_set` and
        :meth:`finish_set`.

        Returns:
            ``(set id, True when it was saved now)``.
        """
        s = _clean(set_metrics)
        s.pop("reps", None)
        summary = json.dumps(s, allow_nan=False)
        reps = []
        for rm in set_metrics.reps:
            d = _clean(rm)
            d.pop("faults", None)
            reps.append((d, list(rm.faults)))
        with self._errors("importing a set"), self._tx():
            row = self.conn.execute(
                "SELECT s.id FROM sets s JOIN sessions se ON se.id = s.session_id "
                "WHERE se.batch_key = ?", (batch_key,)).fetchone()
            if row is not None:
                return int(row[0]), False
            now = _now()
            cur = self.conn.execute(
                "INSERT INTO sessions (started_at, source_path, source_sha256, backend, "
                "model_sha256, formcoach_version, mode, batch_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (now, str(source_path) if source_path else None, source_sha256, backend,
                 model_sha256, __version__, mode, batch_key),
            )
            rec = recorded_at or now
            rx = None if patient_id is None else self.match_prescription(patient_id, exercise,
                                                                         rec[:10])
            cur = self.conn.execute(
                "INSERT INTO sets (session_id, exercise, started_at, ended_at, status, "
                "coverage_pct, summary_json, patient_id, prescription_id, recorded_at, "
                "recorded_at_source, document_json) "
                "VALUES (?, ?, ?, ?, 'complete', ?, ?, ?, ?, ?, ?, ?)",
                (int(cur.lastrowid or 0), exercise, now, now, _num(set_metrics.coverage_pct),
                 summary, patient_id, rx, rec,
                 recorded_at_source or ("clock" if recorded_at is None else "given"), document),
            )
            set_id = int(cur.lastrowid or 0)
            for d, faults in reps:
                self._insert_rep(set_id, d, faults)
            if angles is not None:
                self.conn.execute("INSERT INTO set_angles (set_id, angles_json) VALUES (?, ?)",
                                  (set_id, angles))
            self._supersede(set_id)
        return set_id, True

    def mark_set_end(self, set_id: int, rir: int, to_failure: bool = False) -> None:
        """Record how set ``set_id`` ended: ``rir`` reps in reserve (0 with ``to_failure``);
        a later mark replaces an earlier one.

        Raises:
            InputError: no such set, or ``rir`` outside 0..30 (or not 0 ``to_failure``).
        """
        if isinstance(rir, bool) or not isinstance(rir, int) or not 0 <= rir <= MAX_RIR:
            raise InputError(f"reps in reserve must be a whole number 0..{MAX_RIR}, got {rir!r}")
        if to_failure and rir != 0:
            raise InputError(f"a set taken to failure has 0 reps in reserve, not {rir}")
        with self._errors("marking the set's end"), self._tx():
            if self.conn.execute("SELECT 1 FROM sets WHERE id = ?", (set_id,)).fetchone() is None:
                raise InputError(f"no set {set_id} in {self.path} (see 'formcoach history')")
            self.conn.execute(
                "INSERT INTO set_ends (set_id, rir, to_failure, marked_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (set_id) DO UPDATE SET rir = excluded.rir, "
                "to_failure = excluded.to_failure, marked_at = excluded.marked_at",
                (set_id, rir, int(bool(to_failure)), _now()),
            )

    # -- the PT workspace ----------------------------------------------------------------------

    def add_patient(self, name: str, notes: str = "") -> Patient:
        """Add a patient (name or pseudonym, unique ignoring case).

        Raises:
            InputError: a bad name, notes too long, or the name is taken.
        """
        n = check_name(name)
        if len(notes) > MAX_NOTES_CHARS:
            raise InputError(f"notes are {len(notes)} characters; the limit is {MAX_NOTES_CHARS}")
        if self.patient_by_name(n) is not None:
            raise InputError(f"a patient named {n!r} already exists")
        with self._errors("adding a patient"):
            cur = self.conn.execute(
                "INSERT INTO patients (name, notes, created_at) VALUES (?, ?, ?)",
                (n, notes.strip(), _now()))
        p = self.patient(int(cur.lastrowid or 0))
        assert p is not None
        return p

    def ensure_patient(self, name: str) -> Patient:
        """The patient called ``name``, added when there is none (``--patient NAME``)."""
        found = self.patient_by_name(check_name(name))
        if found is not None:
            return found
        log.info("new patient %r in %s", name, self.path)
        return self.add_patient(name)

    def update_patient(self, patient_id: int, notes: str) -> None:
        """Replace a patient's notes."""
        if len(notes) > MAX_NOTES_CHARS:
            raise InputError(f"notes are {len(notes)} characters; the limit is {MAX_NOTES_CHARS}")
        with self._errors("saving the notes"):
            self.conn.execute("UPDATE patients SET notes = ? WHERE id = ?",
                              (notes.strip(), patient_id))

    @staticmethod
    def _patient(r: sqlite3.Row) -> Patient:
        return Patient(int(r["id"]), str(r["name"]), str(r["notes"]), str(r["created_at"]))

    def patient(self, patient_id: int) -> Patient | None:
        """The patient with this id, or None."""
        with self._errors("reading a patient"):
            r = self.conn.execute("SELECT * FROM patients WHERE id = ?", (patient_id,)).fetchone()
        return None if r is None else self._patient(r)

    def patient_by_name(self, name: str) -> Patient | None:
        """The patient called ``name`` (ignoring case and extra spaces), or None."""
        with self._errors("reading a patient"):
            r = self.conn.execute("SELECT * FROM patients WHERE name = ?",
                                  (" ".join(name.split()),)).fetchone()
        return None if r is None else self._patient(r)

    def patients(self) -> list[Patient]:
        """Every patient, by name."""
        with self._errors("listing patients"):
            rows = self.conn.execute("SELECT * FROM patients ORDER BY name").fetchall()
        return [self._patient(r) for r in rows]

    def add_prescription(self, patient_id: int, exercise: str, *, sets: int, per_week: int,
                         start_date: str, reps: int | None = None, hold_s: float | None = None,
                         rom_target_deg: float | None = None, tempo_s: float | None = None,
                         end_date: str | None = None, notes: str = "") -> Prescription:
        """Prescribe ``exercise`` (a rule-pack id) to a patient; values are checked.

        Raises:
            InputError: an unknown patient, out-of-range numbers, bad or reversed dates.
        """
        if self.patient(patient_id) is None:
            raise InputError(f"no patient with id {patient_id}")
        checks: list[tuple[str, float | None, float, float]] = [
            ("sets", sets, 1, 50), ("sessions per week", per_week, 1, 21),
            ("reps", reps, 1, 1000), ("hold seconds", hold_s, 0.1, 3600),
            ("ROM target", rom_target_deg, 1, 360), ("tempo", tempo_s, 0.1, 60)]
        for what, v, lo, hi in checks:
            if v is not None and not (math.isfinite(float(v)) and lo <= float(v) <= hi):
                raise InputError(f"{what} must be in {lo:g}..{hi:g}, got {v}")
        if reps is not None and hold_s is not None:
            raise InputError("give reps or hold seconds, not both")
        start = check_date(start_date, "start date")
        end = None if not end_date else check_date(end_date, "end date")
        if end is not None and end < start:
            raise InputError(f"end date {end} is before the start date {start}")
        with self._errors("adding a prescription"):
            cur = self.conn.execute(
                "INSERT INTO prescriptions (patient_id, exercise, sets, reps, hold_s, per_week, "
                "rom_target_deg, tempo_s, start_date, end_date, notes, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (patient_id, exercise, int(sets), None if reps is None else int(reps), hold_s,
                 int(per_week), rom_target_deg, tempo_s, start, end, notes.strip()[:MAX_NOTES_CHARS],
                 _now()))
        rx = self.prescription(int(cur.lastrowid or 0))
        assert rx is not None
        return rx

    @staticmethod
    def _prescription(r: sqlite3.Row) -> Prescription:
        return Prescription(
            id=int(r["id"]), patient_id=int(r["patient_id"]), exercise=str(r["exercise"]),
            sets=int(r["sets"]), reps=r["reps"], hold_s=r["hold_s"], per_week=int(r["per_week"]),
            rom_target_deg=r["rom_target_deg"], tempo_s=r["tempo_s"],
            start_date=str(r["start_date"]), end_date=r["end_date"], notes=str(r["notes"]))

    def prescription(self, prescription_id: int) -> Prescription | None:
        """The prescription with this id, or None."""
        with self._errors("reading a prescription"):
            r = self.conn.execute("SELECT * FROM prescriptions WHERE id = ?",
                                  (prescription_id,)).fetchone()
        return None if r is None else self._prescription(r)

    def prescriptions(self, patient_id: int) -> list[Prescription]:
        """A patient's prescriptions, newest start first."""
        with self._errors("listing prescriptions"):
            rows = self.conn.execute(
                "SELECT * FROM prescriptions WHERE patient_id = ? ORDER BY start_date DESC, id DESC",
                (patient_id,)).fetchall()
        return [self._prescription(r) for r in rows]

    def match_prescription(self, patient_id: int, exercise: str, day: str) -> int | None:
        """The one prescription of ``exercise`` active on ``day`` for the patient, else None
        (none, or several: the set is then linked to the patient only)."""
        with self._errors("finding the prescription of a set"):
            rows = self.conn.execute(
                "SELECT id FROM prescriptions WHERE patient_id = ? AND exercise = ? AND "
                "start_date <= ? AND (end_date IS NULL OR end_date >= ?)",
                (patient_id, exercise, day[:10], day[:10])).fetchall()
        return int(rows[0][0]) if len(rows) == 1 else None

    def set_details(self, set_id: int, *, pain: int | None = None, rpe: float | None = None,
                    patient_id: int | None = None, prescription_id: int | None = None) -> None:
        """Record a set's pain (0-10) and effort (RPE 0-10), or move it to a patient or
        prescription (None leaves a field as it is).

        Raises:
            InputError: a value out of range, or no such set.
        """
        for what, v in (("pain", pain), ("RPE", rpe)):
            if v is not None and not (math.isfinite(float(v)) and 0 <= float(v) <= 10):
                raise InputError(f"{what} must be in 0..10, got {v}")
        if pain is not None and float(pain) != int(pain):
            raise InputError(f"pain must be a whole number 0..10, got {pain}")
        with self._errors("saving the set's details"):
            cur = self.conn.execute(
                "UPDATE sets SET pain = COALESCE(?, pain), rpe = COALESCE(?, rpe), "
                "patient_id = COALESCE(?, patient_id), "
                "prescription_id = COALESCE(?, prescription_id) WHERE id = ?",
                (None if pain is None else int(pain), rpe, patient_id, prescription_id, set_id))
        if cur.rowcount == 0:
            raise InputError(f"no set with id {set_id}")

    _SET_COLUMNS = (
        "s.id, s.exercise, s.started_at, s.ended_at, s.status, s.rep_count, s.coverage_pct, "
        "s.summary_json, s.patient_id, s.prescription_id, s.recorded_at, s.recorded_at_source, "
        "s.pain, s.rpe, se.source_path, se.source_sha256, se.backend, se.model_sha256, "
        "se.formcoach_version, se.mode, "
        "(SELECT AVG(rom_deg) FROM reps r WHERE r.set_id = s.id) AS mean_rom_deg, "
        "(SELECT AVG(score) FROM reps r WHERE r.set_id = s.id) AS mean_score, "
        "(SELECT COUNT(*) FROM faults f WHERE f.set_id = s.id) AS fault_count")

    def get_set(self, set_id: int) -> dict[str, Any] | None:
        """One set joined with its session (as :meth:`patient_sets`), plus ``document``: the
        decoded ``analyze --json`` document when it was saved, else None."""
        with self._errors("reading a set"):
            r = self.conn.execute(
                f"SELECT {self._SET_COLUMNS}, s.document_json FROM sets s "
                "JOIN sessions se ON se.id = s.session_id WHERE s.id = ?", (set_id,)).fetchone()
        if r is None:
            return None
        d = dict(r)
        raw = d.pop("document_json")
        d["document"] = json.loads(raw) if raw else None
        return d

    def set_angles(self, set_id: int) -> dict[str, Any] | None:
        """The set's per-frame joint angles (``{"t_s", "signal", "series"}``, see
        :func:`~formcoach.report.document.angle_series_document`), or None when not saved."""
        with self._errors("reading a set's angles"):
            r = self.conn.execute("SELECT angles_json FROM set_angles WHERE set_id = ?",
                                  (set_id,)).fetchone()
        if r is None:
            return None
        try:
            d = json.loads(r[0])
        except ValueError:
            log.warning("set %d: unreadable angle series in %s", set_id, self.path)
            return None
        return d if isinstance(d, dict) else None

    def patient_sets(self, patient_id: int | None) -> list[dict[str, Any]]:
        """A patient's sets (None: sets of no patient), oldest recording first: the set and
        session columns plus ``mean_rom_deg``, ``mean_score`` and ``fault_count``."""
        where = "s.patient_id IS NULL" if patient_id is None else "s.patient_id = ?"
        args = () if patient_id is None else (patient_id,)
        with self._errors("listing a patient's sets"):
            rows = self.conn.execute(
                f"SELECT {self._SET_COLUMNS} FROM sets s JOIN sessions se ON se.id = s.session_id"
                f" WHERE {where} ORDER BY COALESCE(s.recorded_at, s.started_at), s.id",
                args).fetchall()
        return [dict(r) for r in rows]

    # -- reading -------------------------------------------------------------------------------

    def set_ends(self, exercise: str | None = None) -> dict[int, dict[str, Any]]:
        """``{set id: {"rir", "to_failure", "marked_at"}}`` of the marked sets (of ``exercise``)."""
        q = ("SELECT e.set_id, e.rir, e.to_failure, e.marked_at FROM set_ends e "
             "JOIN sets s ON s.id = e.set_id")
        args: list[Any] = []
        if exercise:
            q += " WHERE s.exercise = ?"
            args.append(exercise)
        with self._errors("reading set ends"):
            return {int(r["set_id"]): {"rir": int(r["rir"]), "to_failure": bool(r["to_failure"]),
                                       "marked_at": r["marked_at"]}
                    for r in self.conn.execute(q, args).fetchall()}

    def list_sets(self, exercise: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Sets (newest last) joined with their session: dicts of the columns plus ``mean_rom_deg``
        and ``mean_score`` over the set's reps. ``since`` is an ISO date (``YYYY-MM-DD``)."""
        q = (
            "SELECT s.id, s.exercise, s.started_at, s.ended_at, s.status, s.rep_count, "
            "s.coverage_pct, s.summary_json, se.source_path, se.source_sha256, se.backend, "
            "se.model_sha256, se.formcoach_version, se.mode, "
            "(SELECT AVG(rom_deg) FROM reps r WHERE r.set_id = s.id) AS mean_rom_deg, "
            "(SELECT AVG(score) FROM reps r WHERE r.set_id = s.id) AS mean_score "
            "FROM sets s JOIN sessions se ON se.id = s.session_id WHERE 1 = 1"
        )
        args: list[Any] = []
        if exercise:
            q += " AND s.exercise = ?"
            args.append(exercise)
        if since:
            q += " AND s.started_at >= ?"
            args.append(since)
        q += " ORDER BY s.started_at, s.id"
        with self._errors("listing sets"):
            return [dict(r) for r in self.conn.execute(q, args).fetchall()]

    def reps(self, set_id: int) -> list[dict[str, Any]]:
        """Rep rows of a set in order, with ``metrics`` = the decoded metrics JSON."""
        out = []
        with self._errors("reading reps"):
            rows = self.conn.execute(
                "SELECT * FROM reps WHERE set_id = ? ORDER BY rep_index", (set_id,)
            ).fetchall()
        for r in rows:
            d = dict(r)
            d["metrics"] = json.loads(d.pop("metrics_json"))
            out.append(d)
        return out

    def faults(self, set_id: int) -> list[dict[str, Any]]:
        """Fault rows of a set, by time."""
        with self._errors("reading faults"):
            return [
                dict(r)
                for r in self.conn.execute(
                    "SELECT * FROM faults WHERE set_id = ? ORDER BY t_ns, id", (set_id,)
                ).fetchall()
            ]


def _ns_s(x: Any) -> float | None:
    return None if x is None else float(x) / 1e9


class SetRecorder:
    """Saves one set rep by rep over a :class:`Store`: the session hands it each rep's final
    :class:`~formcoach.metrics.RepMetrics` (:meth:`on_rep`), committed with its faults in one
    transaction, so a crash loses at most the rep in progress. :meth:`finish` marks the set
    complete and replaces the rep rows with the whole-set metrics (scores need every rep; the
    measured values are the same numbers).

    A :class:`StoreError` (locked database, full disk, ...) is raised once and kept in
    :attr:`error`; after it the recorder stops writing: later calls do nothing.
    """

    def __init__(self, store: Store, exercise_id: str, session_id: int, set_id: int) -> None:
        self.store = store
        self.exercise_id = exercise_id
        self.session_id = session_id
        self.set_id = set_id
        self.error: StoreError | None = None

    @classmethod
    def begin(
        cls,
        store: Store,
        exercise_id: str,
        source_path: str | os.PathLike[str] | None = None,
        source_sha256: str | None = None,
        backend: str | None = None,
        model_sha256: str | None = None,
        mode: str = "analyze",
        *,
        patient_id: int | None = None,
        prescription_id: int | None = None,
        recorded_at: str | None = None,
        recorded_at_source: str | None = None,
        plan_prescription_id: int | None = None,
    ) -> SetRecorder:
        """Open a session and an ``in_progress`` set (``patient_id`` .. as in
        :meth:`Store.start_set`); returns the recorder."""
        sid = store.start_session(source_path, source_sha256, backend, model_sha256, mode)
        return cls(store, exercise_id, sid, store.start_set(
            sid, exercise_id, patient_id=patient_id, prescription_id=prescription_id,
            recorded_at=recorded_at, recorded_at_source=recorded_at_source,
            plan_prescription_id=plan_prescription_id))

    @contextmanager
    def _saving(self, what: str) -> Iterator[bool]:
        """Yields False (skip the write) after an earlier StoreError; remembers a new one."""
        if self.error is not None:
            log.debug("not %s: the session database failed earlier (%s)", what, self.error)
            yield False
            return
        try:
            yield True
        except StoreError as e:
            self.error = e
            raise

    def on_rep(self, rm: RepMetrics) -> None:
        """Commit one finished rep with its faults."""
        with self._saving(f"saving rep {rm.index}") as ok:
            if ok:
                self.store.add_rep(self.set_id, rm, rm.faults)

    def finish(self, set_metrics: SetMetrics | None = None, status: str = "complete",
               document: str | None = None, angles: str | None = None) -> None:
        """Mark the set complete (or ``interrupted``), saving the final metrics (and the
        ``analyze --json`` text ``document``, the per-frame ``angles`` JSON) when given."""
        with self._saving("finishing the set") as ok:
            if ok:
                self.store.finish_set(self.set_id, status, set_metrics, document, angles)


def save_session(result: SessionResult, db: str | os.PathLike[str] | None = None,
                 mode: str = "live") -> int:
    """Save a finished session in one go (e.g. a live set); returns the set id. Status is
    ``interrupted`` when the session ended in an error, else ``complete``."""
    with Store(db) as store:
        rec = SetRecorder.begin(store, result.exercise.id, result.source, None, result.backend,
                                result.model_sha256 or None, mode)
        rec.finish(result.metrics, status="interrupted" if result.error else "complete")
        return rec.set_id


# ------------------------------------------------------------------ set records (live sets)
#: Folder beside the database where a live set's poses and cue log are kept.
RECORD_DIR = "sets"


def record_paths(db_path: str | os.PathLike[str], set_id: int) -> tuple[Path, Path]:
    """``(poses .npz, cue log .json)`` of a set's record beside the database."""
    folder = Path(db_path).expanduser().parent / RECORD_DIR
    return folder / f"{int(set_id)}.npz", folder / f"{int(set_id)}.cues.json"


def _private(path: Path) -> None:
    """Owner-only permissions on a file formcoach just wrote (the poses are the user's body)."""
    try:
        os.chmod(path, 0o600)
    except OSError as e:  # e.g. a filesystem without modes: keep the data, say so
        log.warning("could not make %s private: %s", path, e)


def save_set_record(db_path: str | os.PathLike[str], set_id: int, track: Any,
                    cues: Sequence[Any]) -> tuple[Path, Path]:
    """Keep a live set's pose track and the cues it spoke, so ``formcoach report --set ID``
    can rebuild its report (the analysis is a deterministic replay of the same poses).

    Args:
        db_path: the session database the set is in.
        set_id: the set's id there.
        track: the set's :class:`~formcoach.types.PoseTrack` (every frame).
        cues: the :class:`~formcoach.coach.result.CueEvent` list live coaching handed out.

    Raises:
        StoreError: the files cannot be written (the message names the path).
    """
    poses, log_path = record_paths(db_path, set_id)
    try:
        poses.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        track.save(poses)
        _private(poses)
        doc = [dataclasses.asdict(c) for c in cues]
        tmp = log_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc), encoding="utf-8")
        _private(tmp)
        tmp.replace(log_path)
    except OSError as e:
        raise StoreError(f"cannot save the record of set {set_id} in {poses.parent}: "
                         f"{e.strerror or e}") from e
    return poses, log_path


def load_set_record(db_path: str | os.PathLike[str], set_id: int) -> tuple[Any, list[Any]]:
    """The pose track and cue log saved by :func:`save_set_record`.

    Raises:
        StoreError: no record for this set (only live sets keep one), or it is unreadable.
    """
    from formcoach.coach.result import CueEvent
    from formcoach.errors import InputError
    from formcoach.types import PoseTrack

    poses, log_path = record_paths(db_path, set_id)
    if not poses.is_file():
        raise StoreError(f"set {set_id} has no saved poses in {poses.parent} (only live sets "
                         "keep them; for a video use 'formcoach analyze VIDEO --report')")
    try:
        track = PoseTrack.load(poses)
        raw = json.loads(log_path.read_text(encoding="utf-8")) if log_path.is_file() else []
        names = {f.name for f in dataclasses.fields(CueEvent)}
        cues = [CueEvent(**{k: v for k, v in c.items() if k in names}) for c in raw]
    except (InputError, OSError, ValueError, TypeError) as e:
        raise StoreError(f"the record of set {set_id} is unreadable: {e}") from e
    return track, cues
