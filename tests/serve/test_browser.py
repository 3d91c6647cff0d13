"""The workspace in a real browser (Playwright driving headless Chromium): add a patient,
prescribe, import a bundled sample, open its set, click a rep, a ROM bar and a point of the
joint-angle plot and see the video move there, export the PDF summary.

Skips cleanly without the ``playwright`` package or a Chromium (``/usr/bin/chromium``, or
``$FORMCOACH_CHROMIUM``; never downloaded). With ``$FORMCOACH_SCREENSHOTS=DIR`` it also saves
the three main pages as ``DIR/pt_patients.png``, ``pt_patient.png`` and ``pt_set.png``.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "squat_side_clean.mp4"


def _chromium() -> str | None:
    for cand in (os.environ.get("FORMCOACH_CHROMIUM"), "/usr/bin/chromium",
                 shutil.which("chromium"), shutil.which("chromium-browser")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


CHROMIUM = _chromium()


def prescribe_and_import(page: Any, sample: Path) -> None:
    """The flow both browser tests walk: add Patient A, prescribe a squat with a 90 deg ROM
    target, and import ``sample`` for them (the page is then on the import's progress)."""
    page.fill("#add-patient input[name=name]", "Patient A")
    page.click("#add-patient button")
    page.wait_for_url("**/patients/*")
    page.select_option("#prescribe select[name=exercise]", "squat")
    page.fill("#prescribe input[name=rom_target_deg]", "90")
    page.click("#prescribe button")
    page.wait_for_selector("#prescriptions")
    page.click("#import-for")
    page.set_input_files("#import input[name=video]", str(sample))
    page.select_option("#import select[name=exercise]", "squat")
    page.click("#import button")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (/usr/bin/chromium)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """The workspace on 127.0.0.1 and a free port, in a thread; yields its token URL."""
    import uvicorn

    from formcoach.cli.serve import bind_socket
    from formcoach.serve.app import create_app

    app = create_app(tmp_path / "s.db", "browser-test-token")
    sock = bind_socket("127.0.0.1", 0)
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    t.start()
    for _ in range(200):
        if srv.started:
            break
        threading.Event().wait(0.05)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        srv.should_exit = True
        t.join(timeout=10)
        sock.close()


def test_prescribe_import_and_click_a_rep_to_seek_the_video(server: str) -> None:
    shots = os.environ.get("FORMCOACH_SCREENSHOTS")
    csp_problems: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: csp_problems.append(m.text)
                    if "Content Security Policy" in m.text else None)
            page.goto(f"{server}/?token=browser-test-token")
            assert page.url == f"{server}/"  # the token was swapped for the cookie
            prescribe_and_import(page, SAMPLE)
            page.wait_for_url("**/sets/*", timeout=240_000)
            page.wait_for_function(
                "() => { const v = document.getElementById('video');"
                " return v && v.readyState >= 2 && v.duration > 0; }", timeout=60_000)
            assert page.evaluate("document.getElementById('video').error") is None
            rep = page.locator("#reps tr.seek").nth(2)
            t = float(rep.get_attribute("data-t") or "nan")
            assert t > 1.0
            rep.click()
            page.wait_for_function(
                f"() => Math.abs(document.getElementById('video').currentTime - {t}) < 0.05",
                timeout=10_000)
            bar = page.locator("svg rect.seek").first
            t0 = float(bar.get_attribute("data-t") or "nan")
            bar.click()
            page.wait_for_function(
                f"() => Math.abs(document.getElementById('video').currentTime - {t0}) < 0.05",
                timeout=10_000)
            # The joint-angle plot: a click seeks to the time under the pointer.
            plot = page.locator("svg#angles")
            box = plot.bounding_box()
            assert box is not None and box.get("width", 0) > 0
            t0p, t1p, x0p, x1p = (float(plot.get_attribute(k) or "nan")
                                  for k in ("data-t0", "data-t1", "data-x0", "data-x1"))
            vb_w = float((plot.get_attribute("viewBox") or "0 0 0 0").split()[2])
            assert t1p - t0p > 5.0 and plot.locator("path.angle").count() >= 2
            px = box["width"] * 0.62
            want = t0p + (px * vb_w / box["width"] - x0p) / (x1p - x0p) * (t1p - t0p)
            plot.click(position={"x": px, "y": box["height"] * 0.55})
            page.wait_for_function(
                f"() => Math.abs(document.getElementById('video').currentTime - {want}) < 0.05",
                timeout=10_000)
            # the cursor follows the video: it moves on the video's 'seeked'/'timeupdate'
            # event, which comes after currentTime changes (read at once, a loaded machine
            # saw the old position)
            x_want = px * vb_w / box["width"]
            page.wait_for_function(
                "() => Math.abs(parseFloat(document.getElementById('angle-cursor')"
                f".getAttribute('x1')) - {x_want}) < 1.5", timeout=10_000)
            if shots:
                rep.click()
                page.wait_for_timeout(500)
                page.screenshot(path=str(Path(shots) / "pt_set.png"), full_page=True)
                page.goto(f"{server}/patients/1")
                page.screenshot(path=str(Path(shots) / "pt_patient.png"), full_page=True)
                page.goto(f"{server}/")
                page.screenshot(path=str(Path(shots) / "pt_patients.png"), full_page=True)
            page.goto(f"{server}/")
            assert "Patient A" in page.inner_text("#patients")
            page.goto(f"{server}/patients/1")
            with page.expect_download() as dl:
                page.click("#pdf")
            pdf = Path(dl.value.path())
            assert pdf.read_bytes().startswith(b"%PDF-")
        finally:
            browser.close()
    assert not csp_problems, csp_problems
