"""The workspace web app (Starlette): server-rendered pages over the session database.

Every request needs the per-launch token: ``?token=...`` once (it sets an HttpOnly,
SameSite=Strict cookie and redirects to the same page without it), then the cookie. Every
response carries a strict Content-Security-Policy (``default-src 'self'``: no CDN, no inline
script or style). A bad input answers its page with a one-line message and a 4xx status, never
a traceback.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import math
import os
import secrets
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from formcoach.errors import FormcoachError, InputError
from formcoach.serve import data
from formcoach.serve.media import (
    MAX_UPLOAD_BYTES,
    UploadTooLarge,
    browser_copy,
    check_upload_name,
    save_upload,
    video_dir,
)
from formcoach.store import Prescription, Store

log = logging.getLogger(__name__)

COOKIE = "formcoach_token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

#: ``analyze(video, exercise, patient name, db) -> set id``: what an import runs.
Analyzer = Callable[[Path, str, str | None, Path, Callable[[str], None]], int]


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("formcoach.serve").joinpath(name)))


def run_import(video: Path, exercise: str, patient: str | None, db: Path,
               progress: Callable[[str], None]) -> int:
    """Analyse ``video`` exactly as ``formcoach analyze VIDEO --exercise EX --patient NAME
    --db DB`` does (the same :func:`~formcoach.analysis.analyze_file` and output hook), also
    writing the annotated video the set page plays; returns the saved set id.

    Raises:
        FormcoachError: the analysis failed, or the set could not be saved.
    """
    from formcoach.analysis import AnalysisOptions, AnalysisStart, analyze_file, plan_analysis
    from formcoach.coach.session import SessionSinks
    from formcoach.errors import StoreError
    from formcoach.io_utils import sha256_file
    from formcoach.metrics import RepMetrics
    from formcoach.report.outputs import OutputHook, OutputPaths

    plan = plan_analysis(AnalysisOptions(exercise=exercise, progress=False))
    # The set page finds the annotated video by the content hash of its source.
    annotated = video_dir(db) / f"{sha256_file(video)}.annotated.webm"
    hook = OutputHook(OutputPaths(db=db, save=True, patient=patient, video=annotated))
    reps = 0

    def begin(start: AnalysisStart) -> SessionSinks:
        on_rep = hook.begin(start.exercise.id, video, start.backend, start.model_sha256)

        def counted(rm: RepMetrics) -> None:
            nonlocal reps
            reps += 1
            progress(f"analysing: {reps} rep{'s' if reps != 1 else ''} so far")
            if on_rep is not None:
                on_rep(rm)
        return SessionSinks(on_rep=counted)

    progress("analysing: finding the person")
    try:
        result = analyze_file(plan, video=video, begin=begin)
        progress("drawing the annotated video")
        hook.write(result, video_path=video, progress=False)
    except BaseException:
        hook.abort()
        raise
    set_id = hook.recorder.set_id if hook.recorder is not None else None
    hook.end_set()
    if hook.errors:
        raise hook.errors[0] if isinstance(hook.errors[0], FormcoachError) else \
            InputError(f"writing the annotated video failed: {hook.errors[0]}")
    if hook.store_warning or set_id is None:
        raise StoreError(f"the set was not saved: {hook.store_warning}")
    return int(set_id)


@dataclass
class Job:
    """One import running in a thread."""

    id: str
    video_name: str
    status: str = "running"  # running | done | failed
    message: str = "queued"
    set_id: int | None = None
    exercise: str = ""
    patient: str | None = None


@dataclass
class Workspace:
    """What the app serves: the database, the token, the import limit and jobs."""

    db: Path
    token: str
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    analyze: Analyzer = run_import
    today: Callable[[], date] = field(default=lambda: datetime.now(UTC).date())
    jobs: dict[str, Job] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(str(_package_dir("templates"))),
                               autoescape=select_autoescape(("html",)))
        self.env.filters["num"] = _num_filter
        self.env.filters["clock"] = _clock_filter
        self.env.filters["fault_name"] = data.fault_name

    def store(self) -> Store:
        return Store(self.db)

    def page(self, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        # The headers here too: a 500 page is answered outside the Guard middleware.
        return HTMLResponse(self.env.get_template(name).render(**ctx), status_code=status,
                            headers=SECURITY_HEADERS)


def _num_filter(x: Any, nd: int = 1) -> str:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(float(x)):
        return "-"
    return f"{float(x):.{nd}f}"


def _clock_filter(x: Any) -> str:
    """Seconds as ``m:ss.s``."""
    if not isinstance(x, int | float) or not math.isfinite(float(x)):
        return "-"
    m, s = divmod(float(x), 60.0)
    return f"{int(m)}:{s:04.1f}"


class Guard(BaseHTTPMiddleware):
    """The access token and the security headers, on every request."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        given = request.query_params.get("token")
        if given is not None and secrets.compare_digest(given, self.token):
            query = "&".join(f"{k}={v}" for k, v in request.query_params.multi_items()
                             if k != "token")
            resp: Response = RedirectResponse(request.url.path + (f"?{query}" if query else ""),
                                              status_code=303)
            resp.set_cookie(COOKIE, self.token, httponly=True, samesite="strict",
                            path="/")
        elif secrets.compare_digest(request.cookies.get(COOKIE, ""), self.token):
            resp = await call_next(request)
        else:
            resp = HTMLResponse(
                "<!doctype html><title>formcoach: not allowed</title><h1>Not allowed</h1>"
                "<p>Open the address <code>formcoach serve</code> printed (it carries this "
                "launch's access token).</p>", status_code=403)
        for k, v in SECURITY_HEADERS.items():
            resp.headers[k] = v
        return resp


def _ws(request: Request) -> Workspace:
    ws: Workspace = request.app.state.ws
    return ws


def _int(raw: Any, what: str, lo: int | None = None, hi: int | None = None,
         optional: bool = False) -> int | None:
    s = str(raw if raw is not None else "").strip()
    if not s and optional:
        return None
    try:
        v = int(s)
    except ValueError:
        raise InputError(f"{what} must be a whole number, got {s[:40]!r}") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise InputError(f"{what} must be in {lo}..{hi}, got {v}")
    return v


def _float(raw: Any, what: str, optional: bool = True) -> float | None:
    s = str(raw if raw is not None else "").strip()
    if not s and optional:
        return None
    try:
        v = float(s)
    except ValueError:
        raise InputError(f"{what} must be a number, got {s[:40]!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{what} must be a finite number")
    return v


def _path_id(request: Request, key: str) -> int:
    try:
        return int(request.path_params[key])
    except (KeyError, ValueError):
        raise HTTPException(404, "no such page") from None


# ------------------------------------------------------------------------------ pages
async def patients_page(request: Request) -> Response:
    ws = _ws(request)
    today = ws.today()
    with ws.store() as st:
        rows = []
        for p in st.patients():
            sets = st.patient_sets(p.id)
            total, _ = data.patient_adherence(st, p.id, today, sets)
            last = sets[-1]["recorded_at"][:10] if sets else "-"
            rows.append({"p": p, "adherence": total, "sets": len(sets), "last": last,
                         "rx": len(st.prescriptions(p.id))})
        unassigned = len(st.patient_sets(None))
    return ws.page("patients.html", rows=rows, unassigned=unassigned, today=today)


async def add_patient(request: Request) -> Response:
    ws = _ws(request)
    form = await request.form()
    with ws.store() as st:
        p = st.add_patient(str(form.get("name", "")), str(form.get("notes", "")))
    return RedirectResponse(f"/patients/{p.id}", status_code=303)


def _patient_or_404(st: Store, pid: int) -> Any:
    p = st.patient(pid)
    if p is None:
        raise HTTPException(404, f"no patient with id {pid}")
    return p


async def patient_page(request: Request) -> Response:
    ws = _ws(request)
    pid = _path_id(request, "pid")
    today = ws.today()
    from formcoach.exercises import list_exercises

    with ws.store() as st:
        p = _patient_or_404(st, pid)
        sets = st.patient_sets(pid)
        total, per = data.patient_adherence(st, pid, today, sets)
        rxs = st.prescriptions(pid)
        trends = []
        for s in sets:
            s["held_text"] = data.held_text(s)
        holds_only = {s["exercise"] for s in sets if s["held_text"] is not None}
        for ex in sorted({s["exercise"] for s in sets} | {rx.exercise for rx in rxs}):
            if ex in holds_only or any(rx.exercise == ex and rx.hold_s is not None for rx in rxs):
                continue  # a hold has no range of motion to trend: its sets show the time held
            pts, mdc, why = data.rom_trend(st, sets, ex)
            target = next((rx.rom_target_deg for rx in rxs if rx.exercise == ex
                           and rx.rom_target_deg is not None and rx.active_on(today.isoformat())),
                          None)
            trends.append({"exercise": ex, "svg": data.rom_svg(pts, target, mdc, "/sets/{}"),
                           "mdc": mdc, "why": why, "target": target, "n": len(pts)})
        cols, faults = data.fault_table(st, sets)
    return ws.page("patient.html", p=p, sets=list(reversed(sets)), total=total, per=per,
                   rxs=rxs, trends=trends, fault_cols=cols, faults=faults,
                   weeks=data.calendar_weeks(sets, today), today=today,
                   exercises=list_exercises())


async def patient_notes(request: Request) -> Response:
    ws = _ws(request)
    pid = _path_id(request, "pid")
    form = await request.form()
    with ws.store() as st:
        _patient_or_404(st, pid)
        st.update_patient(pid, str(form.get("notes", "")))
    return RedirectResponse(f"/patients/{pid}", status_code=303)


async def add_prescription(request: Request) -> Response:
    ws = _ws(request)
    pid = _path_id(request, "pid")
    form = await request.form()
    from formcoach.exercises import load_exercise

    ex = load_exercise(str(form.get("exercise", "")).strip() or "?")
    amount_raw = str(form.get("amount", "")).strip()
    hold = ex.kind == "hold"
    with ws.store() as st:
        _patient_or_404(st, pid)
        st.add_prescription(
            pid, ex.id, sets=_int(form.get("sets"), "sets", 1, 50) or 1,
            per_week=_int(form.get("per_week"), "sessions per week", 1, 21) or 1,
            reps=None if hold else _int(amount_raw, "reps", 1, 1000, optional=True),
            hold_s=_float(amount_raw, "hold seconds") if hold else None,
            rom_target_deg=_float(form.get("rom_target_deg"), "ROM target"),
            tempo_s=_float(form.get("tempo_s"), "tempo"),
            start_date=str(form.get("start_date", "")).strip() or ws.today().isoformat(),
            end_date=str(form.get("end_date", "")).strip() or None,
            notes=str(form.get("notes", "")))
    return RedirectResponse(f"/patients/{pid}", status_code=303)


def plan_toml(rx: Prescription, patient: str, rest_s: float = 60.0) -> str:
    """The prescription as a workout plan for ``formcoach live --workout FILE``
    (format: :mod:`formcoach.coach.workout`), carrying the patient and the prescription id."""
    def s(x: str) -> str:
        return json.dumps(x)  # a TOML basic string (the name has no control characters)

    what = f"{rx.reps} reps" if rx.reps is not None else (
        f"{rx.hold_s:g} s" if rx.hold_s is not None else "")
    lines = [f"# formcoach workout plan: prescription {rx.id} ({rx.describe()})",
             "# run it with: formcoach live --workout THIS_FILE",
             f"name = {s(f'{patient}: {rx.exercise} {rx.sets} x {what}'.strip())}",
             f"patient = {s(patient)}", f"rest_s = {float(rest_s)!r}", "", "[[exercise]]",
             f"id = {s(rx.exercise)}", f"sets = {rx.sets}"]
    if rx.reps is not None:
        lines.append(f"reps = {rx.reps}")
    if rx.hold_s is not None:
        lines.append(f"hold_s = {float(rx.hold_s)!r}")
    if rx.rom_target_deg is not None:
        lines.append(f"rom_target_deg = {float(rx.rom_target_deg)!r}")
    if rx.tempo_s is not None:
        lines.append(f"tempo_s = {float(rx.tempo_s)!r}")
    lines.append(f"prescription = {rx.id}")
    return "\n".join(lines) + "\n"


async def prescription_plan(request: Request) -> Response:
    ws = _ws(request)
    rid = _path_id(request, "rid")
    with ws.store() as st:
        rx = st.prescription(rid)
        if rx is None:
            raise HTTPException(404, f"no prescription with id {rid}")
        p = _patient_or_404(st, rx.patient_id)
    return PlainTextResponse(plan_toml(rx, p.name), media_type="application/toml",
                             headers={"Content-Disposition":
                                      f'attachment; filename="plan_{rx.id}_{rx.exercise}.toml"'})


SET_CSV_COLUMNS = ("set_id", "recorded_at", "recorded_at_source", "exercise", "prescription_id",
                   "status", "reps", "mean_rom_deg", "mean_score", "faults", "pain", "rpe",
                   "source_path", "source_sha256")
REP_CSV_COLUMNS = ("set_id", "recorded_at", "exercise", "rep", "start_s", "end_s", "duration_s",
                   "rom_deg", "peak_velocity_dps", "asymmetry_pct", "score")


async def patient_csv(request: Request) -> Response:
    ws = _ws(request)
    pid = _path_id(request, "pid")
    what = request.path_params.get("what", "sets")
    if what not in ("sets", "reps"):
        raise HTTPException(404, "the CSV exports are sets.csv and reps.csv")
    buf = io.StringIO()
    w = csv.writer(buf)
    with ws.store() as st:
        p = _patient_or_404(st, pid)
        sets = st.patient_sets(pid)
        if what == "reps":
            w.writerow(REP_CSV_COLUMNS)
            for s in sets:
                for r in st.reps(int(s["id"])):
                    w.writerow([s["id"], s["recorded_at"], s["exercise"], r["rep_index"] + 1,
                                r["start_s"], r["end_s"], r["duration_s"], r["rom_deg"],
                                r["peak_velocity_dps"], r["asymmetry_pct"], r["score"]])
        else:
            w.writerow(SET_CSV_COLUMNS)
            for s in sets:
                w.writerow([s["id"], s["recorded_at"], s["recorded_at_source"], s["exercise"],
                            s["prescription_id"], s["status"], s["rep_count"], s["mean_rom_deg"],
                            s["mean_score"], s["fault_count"], s["pain"], s["rpe"],
                            s["source_path"], s["source_sha256"]])
    name = "".join(ch if ch.isalnum() else "_" for ch in p.name)
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}_{what}.csv"'})


async def patient_pdf_page(request: Request) -> Response:
    ws = _ws(request)
    pid = _path_id(request, "pid")
    from formcoach.serve.pdf import patient_pdf

    with ws.store() as st:
        p = _patient_or_404(st, pid)
        body = patient_pdf(st, pid, ws.today())  # a few ms; the store is this thread's
    name = "".join(ch if ch.isalnum() else "_" for ch in p.name)
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}_summary.pdf"'})


def _set_or_404(st: Store, sid: int) -> dict[str, Any]:
    row = st.get_set(sid)
    if row is None:
        raise HTTPException(404, f"no set with id {sid} (a newer analysis of the same video "
                                 "replaces the older set)")
    return row


def _videos(ws: Workspace, row: dict[str, Any]) -> dict[str, Path]:
    """The set's playable videos: ``annotated`` (drawn at import) and ``original``."""
    out: dict[str, Path] = {}
    src = Path(row["source_path"]) if row.get("source_path") else None
    sha = row.get("source_sha256")
    if sha:
        ann = video_dir(ws.db) / f"{sha}.annotated.webm"
        if ann.is_file():
            out["annotated"] = ann
    if src is not None and src.is_file() and row.get("mode") != "live":
        out["original"] = src
    return out


async def set_page(request: Request) -> Response:
    ws = _ws(request)
    sid = _path_id(request, "sid")
    with ws.store() as st:
        row = _set_or_404(st, sid)
        reps, faults = data.set_rows(st, row)
        patient = st.patient(row["patient_id"]) if row["patient_id"] else None
        rx = st.prescription(row["prescription_id"]) if row["prescription_id"] else None
        patients = st.patients()
        rxs = st.prescriptions(patient.id) if patient else []
        angles = st.set_angles(sid)
    videos = _videos(ws, row)
    kind = request.query_params.get("video") or ("annotated" if "annotated" in videos
                                                  else "original")
    if kind not in ("annotated", "original"):
        raise InputError(f"video must be 'annotated' or 'original', got {kind[:20]!r}")
    target = rx.rom_target_deg if rx is not None else None
    holds = data.set_holds(row, faults)
    return ws.page("set.html", s=row, reps=reps, faults=faults, patient=patient, rx=rx,
                   patients=patients, rxs=rxs, videos=videos, kind=kind, holds=holds,
                   held=data.held_text(row),
                   bars=data.rep_bars_svg(reps, target) if holds is None else "",
                   doc=row.get("document"), angles=data.angle_svg(angles, reps, faults))


async def set_json(request: Request) -> Response:
    ws = _ws(request)
    sid = _path_id(request, "sid")
    with ws.store() as st:
        row = _set_or_404(st, sid)
    if row.get("document") is None:
        raise HTTPException(404, f"set {sid} has no saved analysis document (saved by an "
                                 "older formcoach)")
    return JSONResponse(row["document"])


async def set_details(request: Request) -> Response:
    ws = _ws(request)
    sid = _path_id(request, "sid")
    form = await request.form()
    with ws.store() as st:
        _set_or_404(st, sid)
        pid = _int(form.get("patient_id"), "patient", optional=True)
        if pid is not None:
            _patient_or_404(st, pid)
        rid = _int(form.get("prescription_id"), "prescription", optional=True)
        if rid is not None and st.prescription(rid) is None:
            raise InputError(f"no prescription with id {rid}")
        st.set_details(sid, pain=_int(form.get("pain"), "pain", 0, 10, optional=True),
                       rpe=_float(form.get("rpe"), "RPE"), patient_id=pid, prescription_id=rid)
    return RedirectResponse(f"/sets/{sid}", status_code=303)


async def set_video(request: Request) -> Response:
    ws = _ws(request)
    sid = _path_id(request, "sid")
    with ws.store() as st:
        row = _set_or_404(st, sid)
    videos = _videos(ws, row)
    kind = request.query_params.get("kind", "annotated")
    if kind == "annotated" and "annotated" not in videos:
        kind = "original"
    path = videos.get(kind)
    if path is None:
        raise HTTPException(404, f"set {sid} has no video here (live sets keep only their "
                                 "poses; a moved file cannot be found)")
    if kind == "original" and path.suffix.lower() != ".webm":
        copy = video_dir(ws.db) / f"{row['source_sha256'] or f'set{sid}'}.browser.webm"
        path = await asyncio.to_thread(browser_copy, path, copy)
    return FileResponse(path, media_type="video/webm")


async def import_page(request: Request) -> Response:
    ws = _ws(request)
    from formcoach.exercises import list_exercises

    with ws.store() as st:
        patients = st.patients()
    return ws.page("import.html", patients=patients, exercises=list_exercises(),
                   limit_mb=ws.max_upload_bytes // (1 << 20),
                   chosen=request.query_params.get("patient", ""))


async def import_post(request: Request) -> Response:
    ws = _ws(request)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "the upload needs a Content-Length")
    if int(length) > ws.max_upload_bytes + (1 << 16):
        raise HTTPException(413, f"the video is larger than the "
                                 f"{ws.max_upload_bytes // (1 << 20)} MB upload limit")
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("video")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InputError("choose a video file to import")
    suffix = check_upload_name(upload.filename)
    from formcoach.exercises import load_exercise

    exercise = load_exercise(str(form.get("exercise", "")).strip() or "?").id
    patient = None
    with ws.store() as st:
        pid = _int(form.get("patient_id"), "patient", optional=True)
        if pid is not None:
            patient = _patient_or_404(st, pid).name

    async def chunks() -> Any:
        while block := await upload.read(1 << 20):
            yield block

    try:
        path, _sha = await save_upload(chunks(), video_dir(ws.db), suffix, ws.max_upload_bytes)
    except UploadTooLarge as e:
        raise HTTPException(413, str(e)) from None
    # The browser's File.lastModified (ms), sent by app.js: the copy keeps the original's file
    # time, which dates the set when the video has no creation time of its own.
    last_ms = _float(form.get("last_modified"), "last_modified")
    if last_ms is not None and 946_684_800_000 < last_ms < 4_102_444_800_000:
        os.utime(path, (last_ms / 1000.0, last_ms / 1000.0))
    job = Job(uuid.uuid4().hex, upload.filename, exercise=exercise, patient=patient)
    with ws.lock:
        ws.jobs[job.id] = job

    def progress(text: str) -> None:
        job.message = text

    def work() -> None:
        try:
            job.set_id = ws.analyze(path, exercise, patient, ws.db, progress)
            job.status, job.message = "done", "done"
        except FormcoachError as e:
            job.status, job.message = "failed", str(e)
        except Exception as e:  # the page says it failed; the log has the details
            log.exception("import of %s failed", upload.filename)
            job.status, job.message = "failed", f"internal error: {type(e).__name__}: {e}"

    threading.Thread(target=work, name=f"import-{job.id[:8]}", daemon=True).start()
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


async def import_sets_post(request: Request) -> Response:
    """Sets recorded at home (a ``formcoach export-sets`` file): checked whole, then imported
    in one transaction (:mod:`formcoach.transfer`); a bad file imports nothing."""
    from formcoach.transfer import MAX_FILE_BYTES, import_document, read_export

    ws = _ws(request)
    limit = min(ws.max_upload_bytes, MAX_FILE_BYTES)
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "the upload needs a Content-Length")
    if int(length) > limit + (1 << 16):
        raise HTTPException(413, f"the file is larger than the {limit // (1 << 20)} MB "
                                 "upload limit")
    form = await request.form(max_files=1, max_fields=4)
    upload = form.get("sets")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InputError("choose the file 'formcoach export-sets' wrote")
    chunks, size = [], 0
    while block := await upload.read(1 << 20):
        size += len(block)
        if size > limit:
            raise HTTPException(413, f"the file is larger than the {limit // (1 << 20)} MB "
                                     "upload limit")
        chunks.append(block)
    name = " ".join(str(upload.filename).split())[:80]
    doc = await asyncio.to_thread(read_export, b"".join(chunks), name)

    def work() -> Any:
        with ws.store() as st:
            return import_document(st, doc, name)
    summary = await asyncio.to_thread(work)
    return ws.page("imported.html", file=name, summary=summary)


async def job_page(request: Request) -> Response:
    ws = _ws(request)
    job = ws.jobs.get(str(request.path_params.get("jid", "")))
    if job is None:
        raise HTTPException(404, "no such import (imports are kept only while the app runs)")
    if job.status == "done" and request.query_params.get("stay") is None:
        return RedirectResponse(f"/sets/{job.set_id}", status_code=303)
    return ws.page("job.html", job=job, status=422 if job.status == "failed" else 200)


async def job_status(request: Request) -> Response:
    ws = _ws(request)
    job = ws.jobs.get(str(request.path_params.get("jid", "")))
    if job is None:
        raise HTTPException(404, "no such import")
    return JSONResponse({"status": job.status, "message": job.message, "set_id": job.set_id})


async def compare_page(request: Request) -> Response:
    ws = _ws(request)
    ids = [_int(request.query_params.get(k), f"set {k}", 1) for k in ("a", "b")]
    with ws.store() as st:
        rows = [_set_or_404(st, int(i or 0)) for i in ids]
        if rows[0]["exercise"] != rows[1]["exercise"]:
            raise InputError(f"set {ids[0]} is {rows[0]['exercise']} and set {ids[1]} is "
                             f"{rows[1]['exercise']}: compare two sets of the same exercise")
        sides = []
        for row in rows:
            reps, faults = data.set_rows(st, row)
            holds = data.set_holds(row, faults)
            sides.append({"s": row, "reps": reps, "faults": faults, "holds": holds,
                          "videos": _videos(ws, row),
                          "bars": data.rep_bars_svg(reps) if holds is None else ""})
    return ws.page("compare.html", sides=sides)


# ------------------------------------------------------------------------------ errors
def _error_page(request: Request, status: int, message: str) -> Response:
    ws = _ws(request)
    return ws.page("error.html", status=status, code=status, message=message)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _error_page(request, exc.status_code, str(exc.detail))


async def on_input_error(request: Request, exc: Exception) -> Response:
    return _error_page(request, 400, " ".join(str(exc).split()))


async def on_any_error(request: Request, exc: Exception) -> Response:
    log.error("internal error on %s: %r", request.url.path, exc, exc_info=exc)
    return _error_page(request, 500, f"internal error ({type(exc).__name__}); the server's log "
                                     "has the details")


def create_app(db: Path, token: str | None = None, *, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               analyze: Analyzer | None = None,
               today: Callable[[], date] | None = None) -> Starlette:
    """The workspace app over the session database ``db``.

    Args:
        db: the session database (created when absent).
        token: the access token (default: a new random one, ``app.state.ws.token``).
        max_upload_bytes: the import's size limit.
        analyze: what an import runs (default :func:`run_import`, the CLI's analysis).
        today: the date adherence is counted to (default: today, UTC).
    """
    Store(db).close()  # a bad --db fails here, before the server starts
    ws = Workspace(Path(db), token or secrets.token_urlsafe(24), max_upload_bytes)
    if analyze is not None:
        ws.analyze = analyze
    if today is not None:
        ws.today = today
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        HTTPException: on_http_error, FormcoachError: on_input_error, Exception: on_any_error}
    app = Starlette(
        routes=[
            Route("/", patients_page),
            Route("/patients", add_patient, methods=["POST"]),
            Route("/patients/{pid}", patient_page),
            Route("/patients/{pid}/notes", patient_notes, methods=["POST"]),
            Route("/patients/{pid}/prescriptions", add_prescription, methods=["POST"]),
            Route("/patients/{pid}/{what:str}.csv", patient_csv),
            Route("/patients/{pid}/summary.pdf", patient_pdf_page),
            Route("/prescriptions/{rid}/plan.toml", prescription_plan),
            Route("/sets/{sid}", set_page),
            Route("/sets/{sid}/document.json", set_json),
            Route("/sets/{sid}/details", set_details, methods=["POST"]),
            Route("/sets/{sid}/video", set_video),
            Route("/compare", compare_page),
            Route("/import", import_page),
            Route("/import", import_post, methods=["POST"]),
            Route("/import/sets", import_sets_post, methods=["POST"]),
            Route("/jobs/{jid}", job_page),
            Route("/jobs/{jid}/status", job_status),
            Mount("/static", StaticFiles(directory=str(_package_dir("static"))), name="static"),
        ],
        middleware=[Middleware(Guard, token=ws.token)],
        exception_handlers=handlers,
    )
    app.state.ws = ws
    return app
