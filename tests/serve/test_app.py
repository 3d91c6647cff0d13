"""The workspace app through Starlette's test client: the token, the security headers, every
page, bad input as a message in the page (4xx, never a traceback), imports, exports, and the
set page's numbers against the CLI's ``analyze --json`` for the same set."""

from __future__ import annotations

import importlib.util
import json
import re
import stat
import time
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")
pytest.importorskip("multipart")
pytest.importorskip("httpx")

import warnings

from fake_result import make_result

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2 (same API)
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

from formcoach import store as S
from formcoach.coach.workout import parse_plan
from formcoach.report.outputs import angles_text, json_text
from formcoach.serve import data
from formcoach.serve.app import COOKIE, CSP, create_app

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "squat_side_clean.mp4"
TOKEN = "test-token-123"
TODAY = date(2026, 3, 11)  # a Wednesday


def _message(html: str) -> str:
    m = re.search(r'id="error">([^<]*)<', html)
    assert m, html[:400]
    return m.group(1)


def _client(db: Path, **kw: object) -> TestClient:
    app = create_app(db, TOKEN, today=lambda: TODAY, **kw)  # type: ignore[arg-type]
    c = TestClient(app, follow_redirects=True)
    assert c.get(f"/?token={TOKEN}").status_code == 200
    return c


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with patient 'Ann' (squat 3 x 10, 3/week from 2026-03-02, target 100 deg)
    and one analysed set of hers recorded on 2026-03-09."""
    path = tmp_path / "s.db"
    r = make_result(n_reps=3)
    with S.Store(path) as st:
        p = st.add_patient("Ann")
        st.add_prescription(p.id, "squat", sets=3, reps=10, per_week=3, rom_target_deg=100,
                            start_date="2026-03-02")
        rec = S.SetRecorder.begin(st, "squat", str(SAMPLE), "sha-a", patient_id=p.id,
                                  recorded_at="2026-03-09T08:00:00+00:00",
                                  recorded_at_source="file mtime")
        rec.finish(r.metrics, document=json_text(r), angles=angles_text(r))
    return path


def test_every_request_needs_the_token_and_the_cookie_is_strict(db: Path) -> None:
    app = create_app(db, TOKEN)
    c = TestClient(app, follow_redirects=False)
    for path in ("/", "/patients/1", "/sets/1", "/sets/1/video", "/static/app.js",
                 "/patients/1/sets.csv", "/nothing"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "Ann" not in r.text and r.headers["content-security-policy"] == CSP
    assert c.get("/?token=wrong").status_code == 403
    c.cookies.set(COOKIE, "wrong")
    assert c.get("/").status_code == 403
    c.cookies.clear()
    r = c.get(f"/patients/1?token={TOKEN}")
    assert r.status_code == 303 and r.headers["location"] == "/patients/1"  # token off the URL
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    r = c.get("/patients/1")
    assert r.status_code == 200 and "Ann" in r.text


def test_security_headers_on_every_kind_of_response(db: Path) -> None:
    c = _client(db)
    for path, status in (("/", 200), ("/patients/1", 200), ("/sets/1", 200),
                         ("/static/app.css", 200), ("/patients/77", 404),
                         ("/sets/x", 404), ("/compare?a=1&b=zz", 400)):
        r = c.get(path)
        assert r.status_code == status, (path, r.status_code)
        h = r.headers
        assert h["content-security-policy"] == CSP and "default-src 'self'" in CSP
        assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"
    page = c.get("/sets/1").text
    # Nothing from another origin, nothing inline the policy would block.
    assert "http://" not in page and "https://" not in page
    assert "<script>" not in page and " style=" not in page and "onclick" not in page


@pytest.mark.parametrize(
    ("method", "path", "form", "status", "needle"),
    [
        ("post", "/patients", {"name": "  "}, 400, "patient name is empty"),
        ("post", "/patients", {"name": "ann"}, 400, "already exists"),
        ("post", "/patients", {"name": "x" * 150}, 400, "the limit is 100"),
        ("post", "/patients/1/prescriptions", {"exercise": "squat", "sets": "three"}, 400,
         "sets must be a whole number"),
        ("post", "/patients/1/prescriptions", {"exercise": "squat", "sets": "3", "per_week": "40",
                                               "amount": "10"}, 400, "sessions per week"),
        ("post", "/patients/1/prescriptions", {"exercise": "squash", "sets": "3",
                                               "per_week": "3"}, 400, "squash"),
        ("post", "/patients/1/prescriptions", {"exercise": "squat", "sets": "3", "per_week": "3",
                                               "start_date": "2026-03-10",
                                               "end_date": "2026-03-01"}, 400, "before the start"),
        ("post", "/sets/1/details", {"pain": "12"}, 400, "pain must be in 0..10"),
        ("post", "/sets/1/details", {"rpe": "nan"}, 400, "RPE must be a finite number"),
        ("post", "/sets/1/details", {"patient_id": "9"}, 404, "no patient with id 9"),
        ("post", "/sets/9/details", {"pain": "1"}, 404, "no set with id 9"),
        ("get", "/patients/1/everything.csv", None, 404, "sets.csv and reps.csv"),
        ("get", "/prescriptions/5/plan.toml", None, 404, "no prescription with id 5"),
        ("get", "/jobs/nope", None, 404, "no such import"),
    ],
)
def test_bad_input_is_a_message_in_the_page(db: Path, method: str, path: str,
                                            form: dict[str, str] | None, status: int,
                                            needle: str) -> None:
    c = _client(db)
    r = c.post(path, data=form) if method == "post" else c.get(path)
    assert r.status_code == status, r.text[:300]
    assert "Traceback" not in r.text and "File \"" not in r.text
    assert needle in _message(r.text).replace("&#39;", "'")


def test_patient_pages_show_adherence_calendar_trend_and_faults(db: Path) -> None:
    c = _client(db)
    home = c.get("/").text
    # This week (Mon 9 .. Wed 11 March): 1 of 3 sessions; overall: 2 started weeks x 3.
    assert "1/3" in home and "1/6 (17%)" in home
    page = c.get("/patients/1").text
    assert 'id="calendar"' in page and 'href="/sets/1"' in page
    assert "<svg" in page and "MDC95" in page and "target 100 deg" in page
    assert 'id="faults-by-type"' in page or "No faults in any set" in page
    r = c.post("/sets/1/details", data={"pain": "3", "rpe": "6.5"})
    assert r.status_code == 200
    page = c.get("/patients/1").text
    assert "<td>3</td><td>6.5</td>" in page.replace("\n", "")


def test_adherence_counts_days_not_sets_within_the_prescription() -> None:
    rx = S.Prescription(1, 1, "squat", 3, 10, None, 2, None, None, "2026-03-02", "2026-03-15")
    a = data.adherence(rx, ["2026-03-03", "2026-03-03", "2026-03-10", "2026-03-20"],
                       date(2026, 3, 11))
    assert (a.done_week, a.due_week, a.done_total, a.due_total) == (1, 2, 2, 4)
    after = data.adherence(rx, ["2026-03-03"], date(2026, 4, 1))  # ended: nothing due now
    assert (after.due_week, after.due_total) == (0, 4)
    before = data.adherence(rx, [], date(2026, 3, 1))
    assert (before.due_total, before.done_total) == (0, 0)


def test_csv_exports_and_the_plan_file_live_accepts(db: Path) -> None:
    c = _client(db)
    sets = c.get("/patients/1/sets.csv")
    assert sets.status_code == 200 and sets.headers["content-type"].startswith("text/csv")
    rows = sets.text.strip().splitlines()
    assert rows[0].startswith("set_id,recorded_at,recorded_at_source") and len(rows) == 2
    reps = c.get("/patients/1/reps.csv").text.strip().splitlines()
    assert len(reps) == 1 + 3
    toml = c.get("/prescriptions/1/plan.toml").text
    plan = parse_plan(toml, "plan.toml")
    assert plan.patient == "Ann" and plan.items[0].prescription_id == 1
    it = plan.items[0]
    assert (it.exercise, it.sets, it.reps, it.rom_target_deg) == ("squat", 3, 10, 100.0)


def test_import_writes_the_upload_atomically_and_runs_the_analysis(db: Path) -> None:
    calls: list[tuple[Path, str, str | None]] = []

    def fake(video: Path, exercise: str, patient: str | None, dbp: Path, progress) -> int:
        calls.append((video, exercise, patient))
        progress("analysing: 1 rep so far")
        return 1

    c = _client(db, analyze=fake, max_upload_bytes=4096)
    r = c.post("/import", data={"exercise": "squat", "patient_id": "1"},
               files={"video": ("clip.mp4", b"\x00" * 1000, "video/mp4")})
    for _ in range(100):  # the analysis runs in a thread; the job page follows it
        if r.url.path.startswith("/sets/"):
            break
        time.sleep(0.05)
        r = c.get(r.url.path)
    assert r.url.path == "/sets/1" and r.status_code == 200
    video, exercise, patient = calls[0]
    assert (exercise, patient) == ("squat", "Ann")
    assert video.parent == db.parent / "videos" and video.suffix == ".mp4"
    assert stat.S_IMODE(video.stat().st_mode) == 0o600
    assert not list(video.parent.glob(".upload-*"))
    # Too large, not a video, no file: a message, nothing left behind.
    big = c.post("/import", data={"exercise": "squat"},
                 files={"video": ("big.mp4", b"\x00" * 9000, "video/mp4")})
    assert big.status_code == 413 and "upload limit" in _message(big.text)
    txt = c.post("/import", data={"exercise": "squat"},
                 files={"video": ("notes.txt", b"hello", "text/plain")})
    assert txt.status_code == 400 and "not a video file" in _message(txt.text)
    none = c.post("/import", data={"exercise": "squat"},
                  files={"video": ("", b"", "application/octet-stream")})
    assert none.status_code == 400 and "choose a video" in _message(none.text)
    assert sorted(p.name for p in video.parent.iterdir()) == [video.name]


def test_a_failed_import_says_why_on_its_page(db: Path) -> None:
    from formcoach.errors import InputError

    def failing(video: Path, exercise: str, patient: str | None, dbp: Path, progress) -> int:
        raise InputError("cannot open video: nobody in the frame")

    c = _client(db, analyze=failing)
    r = c.post("/import", data={"exercise": "squat"},
               files={"video": ("clip.mp4", b"\x01" * 100, "video/mp4")})
    for _ in range(100):
        if 'data-status="failed"' in r.text:
            break
        time.sleep(0.05)
        r = c.get(r.url.path)
    assert r.status_code == 422 and "nobody in the frame" in r.text


def test_set_page_numbers_are_the_cli_json_of_the_same_set(tmp_path: Path, run_cli) -> None:
    """``formcoach analyze --json --db --patient`` on a bundled sample, then the same video
    imported through the app (the same analysis, one set: the newer kept): the page's rep and
    fault values are the JSON's, exactly."""
    db = tmp_path / "s.db"
    out = tmp_path / "cli.json"
    frames_csv = tmp_path / "frames.csv"
    res = run_cli("analyze", SAMPLE, "--exercise", "squat", "--json", out, "--db", db,
                  "--patient", "Bo", "--frames-csv", frames_csv, "--no-progress")
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    c = _client(db)
    page = c.get("/sets/1").text
    rows = re.findall(r'<tr class="seek"[^>]*data-index="(\d+)" data-rom="([^"]*)" '
                      r'data-duration="([^"]*)" data-start="([^"]*)" data-end="([^"]*)"', page)
    assert len(rows) == len(doc["rep_events"]) > 0
    for (idx, rom, dur, start, end), rep in zip(rows, doc["rep_events"], strict=True):
        assert int(idx) == rep["index"]
        assert (float(rom), float(dur), float(start), float(end)) == (
            rep["rom_deg"], rep["duration_s"], rep["start_s"], rep["end_s"])
    faults = re.findall(r'data-rule="([^"]*)" data-value="([^"]*)" data-threshold="([^"]*)"',
                        page)
    assert [(r, float(v), float(t)) for r, v, t in faults] == [
        (f["rule_id"], f["value"], f["threshold"]) for f in doc["faults"]]
    assert c.get("/sets/1/document.json").json() == doc
    assert "Bo" in page and "file mtime" in page
    # The joint-angle plot: the analysis saved its per-frame angles with the set.
    with S.Store(db) as st:
        angles = st.set_angles(1)
    assert angles is not None and len(angles["t_s"]) == doc["frames"]
    m = re.search(r'<svg class="plot angles" id="angles"[^>]*data-t0="([^"]*)" '
                  r'data-t1="([^"]*)"', page)
    assert m and float(m.group(1)) == 0.0 and float(m.group(2)) == max(angles["t_s"])
    assert page.count('class="angle"') == len(angles["series"])
    _shown_equal_the_cli(page, doc, angles, frames_csv)

    # The same video through the import page: one set (the newer), still the same numbers.
    from formcoach.serve.app import run_import

    with S.Store(db) as st:
        pid = st.patient_by_name("Bo").id  # type: ignore[union-attr]
    c2 = _client(db, analyze=run_import)
    r = c2.post("/import", data={"exercise": "squat", "patient_id": str(pid)},
                files={"video": ("again.mp4", SAMPLE.read_bytes(), "video/mp4")})
    for _ in range(600):
        if r.url.path.startswith("/sets/") or 'data-status="failed"' in r.text:
            break
        time.sleep(0.1)
        r = c2.get(r.url.path)
    assert r.url.path.startswith("/sets/"), r.text[-500:]
    new_id = int(r.url.path.rsplit("/", 1)[1])
    with S.Store(db) as st:
        assert [s["id"] for s in st.list_sets()] == [new_id]
    again = c2.get(f"/sets/{new_id}/document.json").json()
    assert again["rep_events"] == doc["rep_events"] and again["faults"] == doc["faults"]
    video = c2.get(f"/sets/{new_id}/video", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and video.headers["content-type"] == "video/webm"
    assert video.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML: a WebM the browser plays


def test_pdf_summary_for_the_medical_record(db: Path) -> None:
    pytest.importorskip("fpdf")
    c = _client(db)
    r = c.get("/patients/1/summary.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and b"formcoach summary: Ann" in r.content
    assert c.get("/patients/5/summary.pdf").status_code == 404


def test_sets_recorded_at_home_import_on_the_import_page(db: Path, tmp_path: Path) -> None:
    from formcoach import transfer as T

    home = tmp_path / "home.db"
    r = make_result(n_reps=2)
    with S.Store(home) as st:
        p = st.ensure_patient("ANN")
        rec = S.SetRecorder.begin(st, "squat", "camera:0", None, "mp", None, "live",
                                  patient_id=p.id, recorded_at="2026-03-10T07:00:00+00:00",
                                  plan_prescription_id=1)
        rec.finish(r.metrics, document=json_text(r))
        st.set_details(rec.set_id, pain=1, rpe=6)
        q = st.ensure_patient("Home Only")
        S.SetRecorder.begin(st, "lunge", "camera:0", None, patient_id=q.id).finish(r.metrics)
    out = tmp_path / "sets.json"
    assert T.export_sets(home, out) == 2
    c = _client(db)
    imp = c.get("/import").text
    assert imp.count('action="/import/sets"') == 1  # one form, in the page's body
    assert "<title>Import - formcoach</title>" in imp
    page = c.post("/import/sets", files={"sets": ("sets.json", out.read_bytes(),
                                                   "application/json")})
    assert page.status_code == 200 and "imported 2 sets" in page.text
    assert "new patient &#39;Home Only&#39; added" in page.text
    with S.Store(db) as st:
        ann = st.patient_by_name("ann")
        assert ann is not None
        home_set = next(s for s in st.patient_sets(ann.id) if s["mode"] == "live")
        assert home_set["prescription_id"] == 1 and home_set["pain"] == 1
    # The patient page counts it: 2 sessions this week (Mon 9th and Tue 10th).
    assert "2/3" in c.get(f"/patients/{ann.id}").text
    again = c.post("/import/sets", files={"sets": ("sets.json", out.read_bytes(), "x")})
    assert "imported 0 sets, 2 already in the workspace" in again.text
    bad = c.post("/import/sets", files={"sets": ("sets.json", out.read_bytes()[:500], "x")})
    assert bad.status_code == 400 and "cut short" in _message(bad.text)
    none = c.post("/import/sets", files={"sets": ("", b"", "x")})
    assert none.status_code == 400 and "choose the file" in _message(none.text)
    with S.Store(db) as st:
        assert len(st.list_sets()) == 3


def test_a_set_without_saved_angles_says_so() -> None:
    assert 'id="no-angles"' in data.angle_svg(None)
    assert 'id="no-angles"' in data.angle_svg({"t_s": [0.0], "series": []})
    svg = data.angle_svg({"t_s": [0.0, 1.0, 2.0], "series": [
        {"name": "knee", "label": "knee <b>", "deg": [90.0, None, 80.0]}]},
        reps=[{"start_s": 0.5, "end_s": 1.5}], faults=[{"rule_id": "x", "worst_t_s": 1.0}])
    assert 'data-t0="0.000" data-t1="2.000"' in svg and "knee &lt;b&gt;" in svg
    assert svg.count("M") >= 2  # a gap where the angle was not measured
    assert 'class="seek fault-mark" data-t="1.000"' in svg and " style=" not in svg


def test_plots_and_tables_say_their_units_and_name_faults_in_words(db: Path) -> None:
    """What a PT reads: axis titles with units, round ticks, a fault's name in words (its rule
    id kept as the title), the target labelled on the bars."""
    assert data.fault_name("knee_valgus") == "Knee valgus" and data.fault_name(None) == "Fault"
    assert data.nice_ticks(75.0, 195.0) == [75.0, 100.0, 125.0, 150.0, 175.0]
    assert data.nice_ticks(0.0, 8.9, 7) == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert data.nice_ticks(5.0, 5.0) == [5.0]
    svg = data.angle_svg({"t_s": [0.0, 1.0, 2.0], "series": [
        {"name": "knee", "label": "knee", "deg": [170.0, 90.0, 170.0]}]},
        faults=[{"rule_id": "knee_valgus", "worst_t_s": 1.0}])
    assert "angle (deg)" in svg and "Knee valgus at 1.00 s" in svg and ">1 s<" in svg
    bars = data.rep_bars_svg([{"index": 0, "rom_deg": 80.0, "start_s": 1.0}], target=90.0)
    assert "ROM (deg)" in bars and ">target 90 deg<" in bars and ">rep<" in bars
    page = _client(db).get("/patients/1").text
    assert "Mean ROM (deg)" in page and "100 deg</td>" in page  # the prescription's target


def _cells(row_html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", row_html,
                                                                   re.S)]


def _shown_equal_the_cli(page: str, doc: dict, angles: dict, frames_csv: Path) -> None:
    """What a PT reads on the set page is what ``analyze`` printed: the rep table's visible
    times, tempo (down/up s), ROM and score; each fault's time (where a click seeks), value
    and limit; and the angle plot's lines, which are the CLI's per-frame angles
    (``--frames-csv``) drawn at the plot's scale."""
    import csv

    from formcoach.serve.app import _clock_filter, _num_filter

    reps_html = page.split('<table class="grid" id="reps">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="seek".*?</tr>', reps_html, re.S)
    for row, rep in zip(rows, doc["rep_events"], strict=True):
        assert _cells(row)[1:] == [
            _clock_filter(rep["start_s"]), _clock_filter(rep["bottom_s"]),
            _clock_filter(rep["end_s"]), _num_filter(rep["duration_s"], 2),
            _num_filter(rep["eccentric_s"], 2), _num_filter(rep["concentric_s"], 2),
            _num_filter(rep["rom_deg"], 1), rep.get("side") or "", _num_filter(rep["score"], 0)]
    shown = re.findall(r'<tr class="seek" tabindex="0" data-t="([^"]*)" data-rule', page)
    assert [float(t) for t in shown] == [
        f["worst_t_s"] if f["worst_t_s"] is not None else f["t_s"] for f in doc["faults"]]
    faults_html = page.split('id="faults"', 1)[1].split("</table>", 1)[0] if doc["faults"] else ""
    for row, f in zip(re.findall(r'<tr class="seek".*?</tr>', faults_html, re.S), doc["faults"],
                      strict=True):
        assert _cells(row)[3].startswith(f"{_num_filter(f['value'])} vs "
                                         f"{_num_filter(f['threshold'])}")
    # The saved angles are the CLI's per-frame values (0.1 deg, times to the ms) ...
    with frames_csv.open() as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(angles["t_s"])
    for i, row in enumerate(table):
        assert abs(float(row["t_s"]) - angles["t_s"][i]) < 6e-4
        for k, ser in enumerate(angles["series"]):
            want = row["signal_deg" if k == 0 else ser["name"]]  # the first is the rep signal
            got = ser["deg"][i]
            assert (got is None) == (want == ""), (ser["name"], i)
            if got is not None:
                assert abs(float(want) - got) <= 0.056, (ser["name"], i)
    # ... and each line of the plot is drawn through them.
    svg = re.search(r'<svg class="plot angles".*?</svg>', page, re.S)
    assert svg
    attrs = {k: float(v) for k, v in re.findall(r'data-(t0|t1|x0|x1|lo|hi|y0|y1)="([^"]*)"',
                                               svg.group(0)[:600])}
    paths = re.findall(r'<path class="angle" d="([^"]*)"', svg.group(0))
    assert len(paths) == len(angles["series"])
    deg_per_px = (attrs["hi"] - attrs["lo"]) / (attrs["y1"] - attrs["y0"])
    s_per_px = (attrs["t1"] - attrs["t0"]) / (attrs["x1"] - attrs["x0"])
    for d, ser in zip(paths, angles["series"], strict=True):
        pts = [(float(a), float(b)) for a, b in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", d)]
        known = [(t, v) for t, v in zip(angles["t_s"], ser["deg"], strict=True)
                 if t is not None and v is not None]
        assert len(pts) == len(known)  # every frame drawn (under the plot's vertex cap)
        for (px, py), (t, v) in zip(pts, known, strict=True):
            assert abs(attrs["t0"] + (px - attrs["x0"]) * s_per_px - t) <= 0.06 * s_per_px
            assert abs(attrs["hi"] - (py - attrs["y0"]) * deg_per_px - v) <= 0.06 * deg_per_px


def test_a_plank_set_shows_its_holds_not_reps_or_rom(tmp_path: Path, run_cli) -> None:
    """A hold is a time in position, not reps: the set page has a Holds table with the JSON's
    numbers, no rep table or ROM-per-rep bars; the patient page shows the time held, with no
    ROM trend for the plank; the PDF summary still renders."""
    db = tmp_path / "s.db"
    out = tmp_path / "plank.json"
    res = run_cli("analyze", REPO / "samples" / "plank_side_hip_sag.mp4", "--exercise", "plank",
                  "--json", out, "--db", db, "--patient", "Bo", "--no-progress")
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["kind"] == "hold" and doc["holds"]
    c = _client(db)
    page = c.get("/sets/1").text
    assert 'id="holds"' in page and 'id="reps"' not in page and "ROM per rep" not in page
    rows = re.findall(r'<tr class="seek"[^>]*data-index="(\d+)" data-start="([^"]*)" '
                      r'data-end="([^"]*)">\s*<td>\d+</td><td>[^<]*</td><td>[^<]*</td>\s*'
                      r'<td>([^<]*)</td><td>([^<]*)</td>', page)
    assert [(int(i), float(a), float(b), float(h), float(g)) for i, a, b, h, g in rows] == [
        (k, h["start_s"], h["end_s"], round(h["held_s"], 1), round(h["good_form_s"], 1))
        for k, h in enumerate(doc["holds"])]
    n = len(doc["holds"])
    assert f"{n} hold{'' if n == 1 else 's'} ({doc['held_s']:.1f} s held" in page
    assert "<th>hold</th><th>fault</th>" in page.replace("<th>time</th>", "")
    patient = c.get("/patients/1").text
    assert f"{doc['held_s']:.1f} s held" in patient and "<h3>plank</h3>" not in patient
    compare = c.get("/compare?a=1&b=1").text
    assert compare.count('class="grid holds"') == 2 and "ROM deg" not in compare
    if importlib.util.find_spec("fpdf") is not None:
        assert c.get("/patients/1/summary.pdf").content.startswith(b"%PDF-")
