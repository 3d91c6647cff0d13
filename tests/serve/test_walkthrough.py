"""The note's walk-through in a real browser, from the command line: ``formcoach serve
--no-browser`` in a subprocess, its printed URL and token, then add a patient, prescribe,
import a bundled sample with a fault, wait for the analysis, open the set and click the fault:
the video is at the fault's worst frame.

Skips cleanly without Playwright or a Chromium (see ``test_browser.py``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api")

from test_browser import CHROMIUM, prescribe_and_import  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "squat_45_shallow.mp4"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium (/usr/bin/chromium)")


def _serve(db: Path) -> tuple[subprocess.Popen[str], str]:
    """``formcoach serve --no-browser --db DB`` and the URL it printed."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "formcoach", "serve", "--no-browser", "--db",
                             str(db)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    found: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m and not found:
                found.append(m.group(1))
    threading.Thread(target=read, daemon=True).start()
    for _ in range(600):
        if found or proc.poll() is not None:
            break
        threading.Event().wait(0.1)
    if not found:
        proc.kill()
        pytest.fail("formcoach serve printed no URL")
    return proc, found[0]


def test_from_serve_to_a_reviewed_set(tmp_path: Path) -> None:
    proc, url = _serve(tmp_path / "clinic.db")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(url)
                prescribe_and_import(page, SAMPLE)
                page.wait_for_url("**/jobs/*")
                assert "for Patient A" in page.inner_text("main")
                page.wait_for_url("**/sets/*", timeout=240_000)
                page.wait_for_function(
                    "() => { const v = document.getElementById('video');"
                    " return v && v.readyState >= 2 && v.duration > 0; }", timeout=60_000)
                faults = page.locator("#faults tr.seek")
                assert faults.count() >= 1  # the sample is a shallow squat
                fault = faults.last
                t = float(fault.get_attribute("data-t") or "nan")
                assert 0.5 < t < 9.0
                fault.click()
                page.wait_for_function(
                    f"() => Math.abs(document.getElementById('video').currentTime - {t}) < 0.05",
                    timeout=10_000)
                name = fault.locator("b").inner_text()  # in words, not the rule id
                assert name[:1].isupper() and "_" not in name
                assert " vs " in fault.inner_text()  # value vs limit
                page.goto(url.split("/?")[0] + "/")
                assert "Patient A" in page.inner_text("#patients")
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
