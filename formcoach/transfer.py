"""Sets recorded at home, carried into the clinician's workspace: ``export-sets`` / ``import-sets``.

A patient trains at home with ``formcoach live --workout plan.toml`` (the plan names the patient
and the workspace's prescription) or ``formcoach analyze VIDEO --patient NAME``, into the home
machine's own session database. :func:`export_sets` writes those sets to one self-contained JSON
file (no video: the numbers, the ``analyze --json`` document, the per-frame angles, pain, RPE and
how the set ended); :func:`import_sets` reads it into the workspace's database in one transaction
(a bad file imports nothing).

The file::

    {"format": "formcoach-sets", "version": 1, "formcoach_version": ..., "exported_at": ...,
     "patients": [{"name", "notes"}], "prescriptions": [{"id", "patient", "exercise", ...}],
     "sets": [{"exercise", "status", "started_at", "recorded_at", "patient", "prescription",
               "plan_prescription_id", "pain", "rpe", "session": {...}, "reps": [...],
               "faults": [...], "document", "angles", "summary", "set_end"}]}

On import a set's patient is matched by name (ignoring case; a patient the workspace does not
know is added, and said so), its prescription by the id the workout plan carried (when it is
that patient's prescription of that exercise), else by exercise and dates, else as
``--patient`` does: the patient's one prescription of the exercise active on the recording day.
The same set is never imported twice: a set of a video is keyed by the video's sha256 (a newer
analysis replaces the older one, whichever side it came from; an older one is skipped), a set
without a video (a live set) by a hash of its content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from formcoach import __version__
from formcoach.errors import InputError
from formcoach.store import Store, check_name
from formcoach.text import MAX_JSON_DEPTH, json_depth

log = logging.getLogger(__name__)

__all__ = ["FORMAT", "MAX_FILE_BYTES", "ImportSummary", "export_document", "export_sets",
           "import_document", "import_sets", "read_export"]

FORMAT = "formcoach-sets"
VERSION = 1
#: Largest export file read (bytes).
MAX_FILE_BYTES = 512 << 20
_REP_COLUMNS = ("start_s", "end_s", "duration_s", "rom_deg", "peak_velocity_dps",
                "asymmetry_pct", "score")
_FAULT_COLUMNS = ("rep_index", "rule_id", "cue", "severity", "t_ns", "frame_index", "value",
                  "threshold")
_SESSION_COLUMNS = ("source_path", "source_sha256", "backend", "model_sha256",
                    "formcoach_version", "mode")
_RX_COLUMNS = ("exercise", "sets", "reps", "hold_s", "per_week", "rom_target_deg", "tempo_s",
               "start_date", "end_date", "notes")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _loads(raw: str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


# ------------------------------------------------------------------------------- export
def export_document(store: Store, patient: str | None = None,
                    since: str | None = None) -> dict[str, Any]:
    """Every finished set of ``store`` (of ``patient``; recorded on or after ``since``, an ISO
    date) as the export document (see the module docstring). Sets still in progress are left
    out.

    Raises:
        InputError: no patient called ``patient`` in the database.
    """
    c = store.conn
    where: list[str] = ["s.status != 'in_progress'"]
    args: list[Any] = []
    if patient is not None:
        p = store.patient_by_name(check_name(patient, "--patient"))
        if p is None:
            raise InputError(f"no patient called {patient!r} in {store.path}")
        where.append("s.patient_id = ?")
        args.append(p.id)
    if since:
        where.append("COALESCE(s.recorded_at, s.started_at) >= ?")
        args.append(since)
    with store.reading("exporting sets"):
        rows = c.execute(
            "SELECT s.*, p.name AS patient_name, a.angles_json, e.rir, e.to_failure, "
            "e.marked_at, " + ", ".join(f"se.{k} AS se_{k}" for k in _SESSION_COLUMNS) +
            " FROM sets s JOIN sessions se ON se.id = s.session_id "
            "LEFT JOIN patients p ON p.id = s.patient_id "
            "LEFT JOIN set_angles a ON a.set_id = s.id LEFT JOIN set_ends e ON e.set_id = s.id "
            f"WHERE {' AND '.join(where)} ORDER BY COALESCE(s.recorded_at, s.started_at), s.id",
            args).fetchall()
        sets: list[dict[str, Any]] = []
        patient_names: dict[str, str] = {}
        rx_ids: set[int] = set()
        for r in rows:
            sid = int(r["id"])
            if r["patient_name"] is not None:
                patient_names.setdefault(str(r["patient_name"]).casefold(), r["patient_name"])
            if r["prescription_id"] is not None:
                rx_ids.add(int(r["prescription_id"]))
            reps = [{"rep_index": int(x["rep_index"]), **{k: x[k] for k in _REP_COLUMNS},
                     "metrics": _loads(x["metrics_json"]) or {}}
                    for x in c.execute("SELECT * FROM reps WHERE set_id = ? ORDER BY rep_index",
                                       (sid,))]
            faults = [{k: f[k] for k in _FAULT_COLUMNS}
                      for f in c.execute("SELECT * FROM faults WHERE set_id = ? ORDER BY t_ns, id",
                                         (sid,))]
            sets.append({
                "id": sid, "exercise": r["exercise"], "status": r["status"],
                "started_at": r["started_at"], "ended_at": r["ended_at"],
                "coverage_pct": r["coverage_pct"], "recorded_at": r["recorded_at"],
                "recorded_at_source": r["recorded_at_source"], "patient": r["patient_name"],
                "prescription": r["prescription_id"],
                "plan_prescription_id": r["plan_prescription_id"],
                "pain": r["pain"], "rpe": r["rpe"],
                "session": {k: r[f"se_{k}"] for k in _SESSION_COLUMNS},
                "summary": _loads(r["summary_json"]), "document": _loads(r["document_json"]),
                "angles": _loads(r["angles_json"]),
                "set_end": None if r["rir"] is None else {
                    "rir": int(r["rir"]), "to_failure": bool(r["to_failure"]),
                    "marked_at": r["marked_at"]},
                "reps": reps, "faults": faults})
        patients = []
        for key in sorted(patient_names):
            p = store.patient_by_name(patient_names[key])
            if p is not None:
                patients.append({"name": p.name, "notes": p.notes})
        rxs = []
        for rid in sorted(rx_ids):
            rx = store.prescription(rid)
            owner = store.patient(rx.patient_id) if rx is not None else None
            if rx is not None and owner is not None:
                rxs.append({"id": rx.id, "patient": owner.name,
                            **{k: getattr(rx, k) for k in _RX_COLUMNS}})
    return {"format": FORMAT, "version": VERSION, "formcoach_version": __version__,
            "exported_at": _now(), "host": socket.gethostname(), "patients": patients,
            "prescriptions": rxs, "sets": sets}


def export_sets(db: str | os.PathLike[str], out: str | os.PathLike[str],
                patient: str | None = None, since: str | None = None) -> int:
    """Write the sets of the database ``db`` to ``out`` (JSON, mode 0600, written atomically);
    returns how many.

    Raises:
        InputError: no database at ``db`` (exporting never creates one), a bad ``out``, or an
            unknown ``patient``.
        StoreError: the database cannot be read.
    """
    from formcoach.io_utils import atomic_write_text, check_output_path

    path = Path(db).expanduser()
    if not path.exists():
        raise InputError(f"no sets saved yet (no database at {path})")
    check_output_path(out, "export")
    with Store(path) as store:
        doc = export_document(store, patient, since)
    atomic_write_text(out, json.dumps(doc, allow_nan=False, separators=(",", ":")))
    return len(doc["sets"])


# ------------------------------------------------------------------------------- reading
def read_export(data: bytes, name: str = "the file") -> dict[str, Any]:
    """Parse and check an export (every field a later import writes): the checked document.

    Raises:
        InputError: one line naming ``name`` and what is wrong (not JSON, not an export, a
            newer version, a bad field of set N).
    """
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{name} is larger than {MAX_FILE_BYTES >> 20} MB, the limit for a sets "
                         "export")
    try:
        text = data.decode("utf-8")
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:  # json.loads would recurse past Python's limit
            raise InputError(f"{name} is not a formcoach sets export (JSON nested {depth} "
                             f"levels deep; an export is at most {MAX_JSON_DEPTH})")
        doc = json.loads(text)
    except UnicodeDecodeError:
        raise InputError(f"{name} is not a formcoach sets export (not UTF-8 text); make it "
                         "with 'formcoach export-sets'") from None
    except ValueError as e:
        raise InputError(f"{name} is not a formcoach sets export (not JSON, or cut short: "
                         f"{' '.join(str(e).split())[:80]}); make it again with "
                         "'formcoach export-sets'") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{name} is not a formcoach sets export (no \"format\": \"{FORMAT}\"); "
                         "make it with 'formcoach export-sets'")
    v = doc.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise InputError(f"{name}: bad export version {v!r}")
    if v > VERSION:
        raise InputError(f"{name} is a version {v} export, newer than this formcoach reads "
                         f"({VERSION}); upgrade formcoach")
    for key in ("patients", "prescriptions", "sets"):
        if not isinstance(doc.get(key), list):
            raise InputError(f"{name}: \"{key}\" must be a list")
    for i, p in enumerate(doc["patients"]):
        if not isinstance(p, dict) or not isinstance(p.get("name"), str):
            raise InputError(f"{name}: patient {i + 1} has no name")
        check_name(p["name"], f"{name}: patient {i + 1}'s name")
        if not isinstance(p.get("notes", ""), str):
            raise InputError(f"{name}: patient {i + 1}'s notes must be text")
    for i, rx in enumerate(doc["prescriptions"]):
        if not (isinstance(rx, dict) and _is_int(rx.get("id")) and isinstance(rx.get("patient"), str)
                and isinstance(rx.get("exercise"), str) and isinstance(rx.get("start_date"), str)):
            raise InputError(f"{name}: prescription {i + 1} needs an id, patient, exercise and "
                             "start_date")
    for i, s in enumerate(doc["sets"]):
        _check_set(s, f"{name}: set {i + 1}")
    return doc


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return x is None or (isinstance(x, int | float) and not isinstance(x, bool)
                         and math.isfinite(float(x)))


def _check_finite(v: Any, where: str) -> None:
    """Raise a one-line InputError when ``v`` holds NaN or Infinity (JSON readers accept the
    tokens and 1e999; the database stores strict JSON, so the import used to fail with an
    internal ValueError)."""
    try:
        json.dumps(v, allow_nan=False)
    except ValueError:
        raise InputError(f"{where} holds a number that is not finite (NaN or Infinity); "
                         "'formcoach export-sets' never writes one") from None


def _check_set(s: Any, where: str) -> None:
    """Raise a one-line InputError naming the first bad field of exported set ``s``."""
    if not isinstance(s, dict):
        raise InputError(f"{where} is not an object")
    if not isinstance(s.get("exercise"), str) or not s["exercise"].strip():
        raise InputError(f"{where} has no exercise")
    if s.get("status") not in ("complete", "interrupted"):
        raise InputError(f"{where}: status must be complete or interrupted, got "
                         f"{str(s.get('status'))[:20]!r}")
    for k in ("started_at", "recorded_at"):
        v = s.get(k)
        if not isinstance(v, str):
            raise InputError(f"{where}: {k} must be an ISO time")
        try:
            datetime.fromisoformat(v)
        except ValueError:
            raise InputError(f"{where}: {k} must be an ISO time, got {v[:40]!r}") from None
    for k in ("ended_at", "recorded_at_source"):
        if s.get(k) is not None and not isinstance(s[k], str):
            raise InputError(f"{where}: {k} must be text")
    if s.get("patient") is not None:
        if not isinstance(s["patient"], str):
            raise InputError(f"{where}: patient must be a name")
        check_name(s["patient"], f"{where}'s patient")
    for k in ("prescription", "plan_prescription_id"):
        if s.get(k) is not None and not _is_int(s[k]):
            raise InputError(f"{where}: {k} must be a whole number")
    pain, rpe = s.get("pain"), s.get("rpe")
    if pain is not None and not (_is_int(pain) and 0 <= pain <= 10):
        raise InputError(f"{where}: pain must be a whole number 0..10, got {pain!r}")
    if rpe is not None and not (_is_num(rpe) and 0 <= float(rpe) <= 10):
        raise InputError(f"{where}: RPE must be 0..10, got {rpe!r}")
    if not _is_num(s.get("coverage_pct")):
        raise InputError(f"{where}: coverage_pct must be a number")
    se = s.get("session")
    if not isinstance(se, dict) or any(se.get(k) is not None and not isinstance(se[k], str)
                                       for k in _SESSION_COLUMNS):
        raise InputError(f"{where}: session must be an object of text fields")
    sha = se.get("source_sha256")
    if sha is not None and not (len(sha) == 64 and all(ch in "0123456789abcdef" for ch in sha)):
        raise InputError(f"{where}: source_sha256 must be 64 hex digits")
    for k in ("summary", "document", "angles"):
        if s.get(k) is not None and not isinstance(s[k], dict):
            raise InputError(f"{where}: {k} must be an object or null")
        _check_finite(s.get(k), f"{where}: {k}")
    end = s.get("set_end")
    if end is not None and not (isinstance(end, dict) and _is_int(end.get("rir"))
                                and 0 <= end["rir"] <= 30):
        raise InputError(f"{where}: set_end needs rir 0..30")
    reps, faults = s.get("reps"), s.get("faults")
    if not isinstance(reps, list) or not isinstance(faults, list):
        raise InputError(f"{where}: reps and faults must be lists")
    seen: set[int] = set()
    for j, r in enumerate(reps):
        if not (isinstance(r, dict) and _is_int(r.get("rep_index")) and r["rep_index"] >= 0
                and isinstance(r.get("metrics"), dict)
                and all(_is_num(r.get(k)) for k in _REP_COLUMNS)):
            raise InputError(f"{where}, rep {j + 1}: needs rep_index, metrics and numbers")
        _check_finite(r["metrics"], f"{where}, rep {j + 1}: metrics")
        if r["rep_index"] in seen:
            raise InputError(f"{where}: rep_index {r['rep_index']} appears twice")
        seen.add(r["rep_index"])
    for j, f in enumerate(faults):
        if not (isinstance(f, dict) and isinstance(f.get("rule_id"), str)
                and all(f.get(k) is None or _is_int(f[k])
                        for k in ("rep_index", "severity", "t_ns", "frame_index"))
                and _is_num(f.get("value")) and _is_num(f.get("threshold"))
                and (f.get("cue") is None or isinstance(f["cue"], str))):
            raise InputError(f"{where}, fault {j + 1}: needs a rule_id and numbers")


# ------------------------------------------------------------------------------- import
@dataclass
class ImportSummary:
    """What an import did.

    Attributes:
        added: sets new to the workspace; ``replaced``: sets that replaced an older analysis of
            the same video; ``skipped``: sets the workspace already had (or had a newer
            analysis of).
        new_patients: patients added (names the workspace did not know).
        set_ids: workspace ids of the sets added or replacing.
        lines: what happened, one line each (new patients, prescriptions not found).
    """

    added: int = 0
    replaced: int = 0
    skipped: int = 0
    new_patients: list[str] = field(default_factory=list)
    set_ids: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def headline(self) -> str:
        """``imported 3 sets (1 replacing an older analysis), 2 already there``."""
        n = self.added + self.replaced
        text = f"imported {n} set{'s' if n != 1 else ''}"
        if self.replaced:
            text += f" ({self.replaced} replacing an older analysis of the same video)"
        if self.skipped:
            text += f", {self.skipped} already in the workspace"
        return text


def content_key(s: dict[str, Any]) -> str:
    """The import key of an exported set without a video: sha256 of what it measured."""
    body = json.dumps([s["exercise"], s["recorded_at"], s["started_at"],
                       [[r["rep_index"], r["metrics"]] for r in s["reps"]]],
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _prescription_for(store: Store, patient_id: int, s: dict[str, Any],
                      home_rx: dict[int, dict[str, Any]]) -> tuple[int | None, str]:
    """The workspace prescription of an exported set and how it was found."""
    c = store.conn
    ex = s["exercise"]
    plan = s.get("plan_prescription_id")
    if plan is not None:
        r = c.execute("SELECT id FROM prescriptions WHERE id = ? AND patient_id = ? AND "
                      "exercise = ?", (plan, patient_id, ex)).fetchone()
        if r is not None:
            return int(r[0]), "plan"
    hx = home_rx.get(s["prescription"]) if s.get("prescription") is not None else None
    if hx is not None and hx.get("exercise") == ex:
        rows = c.execute("SELECT id FROM prescriptions WHERE patient_id = ? AND exercise = ? AND "
                         "start_date = ? AND end_date IS ?",
                         (patient_id, ex, hx.get("start_date"), hx.get("end_date"))).fetchall()
        if len(rows) == 1:
            return int(rows[0][0]), "dates"
    rid = store.match_prescription(patient_id, ex, s["recorded_at"][:10])
    return rid, "day" if rid is not None else "none"


def import_document(store: Store, doc: dict[str, Any], name: str = "the file") -> ImportSummary:
    """Import a checked export (:func:`read_export`) into ``store`` in one transaction.

    Raises:
        StoreError: the database failed (nothing was imported).
    """
    out = ImportSummary()
    notes = {p["name"].casefold(): p.get("notes", "") for p in doc["patients"]}
    home_rx = {int(rx["id"]): rx for rx in doc["prescriptions"]}
    with store.writing(f"importing {name}"):
        patient_ids: dict[str, int] = {}
        for s in doc["sets"]:
            pid = None
            if s.get("patient"):
                key = " ".join(s["patient"].split()).casefold()
                if key not in patient_ids:
                    p = store.patient_by_name(s["patient"])
                    if p is None:
                        p = store.add_patient(s["patient"], str(notes.get(key, ""))[:5000])
                        out.new_patients.append(p.name)
                        out.lines.append(f"new patient {p.name!r} added to the workspace "
                                         "(no patient of that name was there)")
                    patient_ids[key] = p.id
                pid = patient_ids[key]
            _import_one(store, s, pid, home_rx, out)
    return out


def _import_one(store: Store, s: dict[str, Any], pid: int | None,
                home_rx: dict[int, dict[str, Any]], out: ImportSummary) -> None:
    c = store.conn
    se = s["session"]
    sha = se.get("source_sha256")
    key = None if sha else f"import:{content_key(s)}"
    when = f"{s['exercise']} set recorded {s['recorded_at'][:16].replace('T', ' ')}"
    if sha:
        existing = c.execute(
            "SELECT s.id, s.started_at, s.status FROM sets s JOIN sessions se ON "
            "se.id = s.session_id WHERE se.source_sha256 = ? AND s.status != 'in_progress' "
            "ORDER BY s.status = 'complete' DESC, s.started_at DESC, s.id DESC",
            (sha,)).fetchall()
    else:
        existing = c.execute(
            "SELECT s.id, s.started_at, s.status FROM sets s JOIN sessions se ON "
            "se.id = s.session_id WHERE se.batch_key = ?", (key,)).fetchall()
    newest = max((str(r["started_at"]) for r in existing if r["status"] == "complete"),
                 default=None)
    if existing and (key is not None or s["status"] != "complete"
                     or (newest is not None and s["started_at"] <= newest)):
        # Already there (or a newer analysis is): keep what only the home set knew.
        sid = int(existing[0]["id"])
        c.execute("UPDATE sets SET pain = COALESCE(pain, ?), rpe = COALESCE(rpe, ?), "
                  "patient_id = COALESCE(patient_id, ?) WHERE id = ?",
                  (s.get("pain"), s.get("rpe"), pid, sid))
        out.skipped += 1
        return
    rid, how = (None, "none") if pid is None else _prescription_for(store, pid, s, home_rx)
    if pid is not None and how == "none" and (s.get("plan_prescription_id") is not None
                                              or s.get("prescription") is not None):
        out.lines.append(f"{when}: its prescription is not in the workspace; the set is the "
                         "patient's without one (choose it on the set page)")
    cur = c.execute(
        "INSERT INTO sessions (started_at, source_path, source_sha256, backend, model_sha256, "
        "formcoach_version, mode, batch_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (s["started_at"], se.get("source_path"), sha, se.get("backend"), se.get("model_sha256"),
         se.get("formcoach_version") or "unknown", se.get("mode") or "analyze", key))
    session_id = int(cur.lastrowid or 0)
    cur = c.execute(
        "INSERT INTO sets (session_id, exercise, started_at, ended_at, status, coverage_pct, "
        "summary_json, patient_id, prescription_id, recorded_at, recorded_at_source, pain, rpe, "
        "document_json, plan_prescription_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (session_id, s["exercise"], s["started_at"], s.get("ended_at"), s["status"],
         s.get("coverage_pct"), _dumps(s.get("summary")), pid, rid, s["recorded_at"],
         s.get("recorded_at_source") or "given", s.get("pain"), s.get("rpe"),
         _dumps(s.get("document")), s.get("plan_prescription_id")))
    sid = int(cur.lastrowid or 0)
    c.executemany(
        "INSERT INTO reps (set_id, rep_index, " + ", ".join(_REP_COLUMNS) + ", metrics_json) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(sid, r["rep_index"], *(r.get(k) for k in _REP_COLUMNS), _dumps(r["metrics"]))
         for r in s["reps"]])
    c.executemany(
        "INSERT INTO faults (set_id, " + ", ".join(_FAULT_COLUMNS) + ") "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(sid, *(f.get(k) for k in _FAULT_COLUMNS)) for f in s["faults"]])
    c.execute("UPDATE sets SET rep_count = ? WHERE id = ?", (len(s["reps"]), sid))
    if s.get("angles") is not None:
        c.execute("INSERT INTO set_angles (set_id, angles_json) VALUES (?, ?)",
                  (sid, _dumps(s["angles"])))
    end = s.get("set_end")
    if end is not None:
        c.execute("INSERT INTO set_ends (set_id, rir, to_failure, marked_at) VALUES (?, ?, ?, ?)",
                  (sid, end["rir"], int(bool(end.get("to_failure"))),
                   str(end.get("marked_at") or _now())))
    if existing:
        store.supersede_in_transaction(sid)
        out.replaced += 1
    else:
        out.added += 1
    out.set_ids.append(sid)


def _dumps(x: Any) -> str | None:
    return None if x is None else json.dumps(x, allow_nan=False, separators=(",", ":"))


def import_sets(db: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]]
                ) -> ImportSummary:
    """Import export files into the database ``db`` (created when absent): every file is
    read and checked whole first, then each is imported in one transaction.

    Raises:
        InputError: a file is missing, unreadable or not a valid export (nothing is
            imported).
        StoreError: the database cannot be written.
    """
    total = ImportSummary()
    docs = []
    for f in files:
        path = Path(f)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise InputError(f"{path} is {size >> 20} MB; the limit for a sets export is "
                                 f"{MAX_FILE_BYTES >> 20} MB")
            with path.open("rb") as fh:  # capped: a device or pipe reports size 0
                data = fh.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            raise InputError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise InputError(f"{path} is a folder; give the file 'formcoach export-sets' "
                             "wrote") from None
        except OSError as e:
            raise InputError(f"cannot read {path}: {e.strerror or e}") from None
        docs.append((path, read_export(data, str(path))))
    with Store(db) as store:
        for path, doc in docs:
            one = import_document(store, doc, str(path))
            total.added += one.added
            total.replaced += one.replaced
            total.skipped += one.skipped
            total.new_patients += one.new_patients
            total.set_ids += one.set_ids
            total.lines += one.lines
    return total
