"""HTML report, CSV exports, annotated video and the analyze output hook."""

from __future__ import annotations

import csv
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_result import make_result, measure, write_video

from formcoach.coach.result import CueEvent
from formcoach.errors import InputError
from formcoach.report import (
    build_html,
    rep_columns,
    write_annotated_video,
    write_csv,
    write_frames_csv,
    write_html_report,
)
from formcoach.report.document import fault_worst
from formcoach.report.tables import (
    ASYM_COLUMN_PATTERN,
    FRAME_COLUMNS,
    JOINT_COLUMN_PATTERNS,
    REP_COLUMNS,
)
from formcoach.rules.explain import rules_by_id

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                         else None)


@pytest.fixture(scope="module")
def result():
    return make_result(n_reps=4)


@pytest.fixture(scope="module")
def sm(result):
    return result.metrics


@pytest.fixture(scope="module")
def video(result, tmp_path_factory):
    return write_video(result, tmp_path_factory.mktemp("vid") / "clip.mp4")


@pytest.fixture(scope="module")
def cues(result):
    """The session with the cue it would have spoken for its one fault."""
    f = result.faults[0]
    return replace(result, cues=[CueEvent("depth", "go deeper", 2, f.t_ns, f.t_ns + 10_000_000)])


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)|@import|url\(\s*["']?https?:""", re.I)


def test_html_report_is_self_contained_and_complete(result, sm, video, cues, tmp_path):
    out = write_html_report(cues, tmp_path / "r.html", video_path=video)
    html = out.read_text()
    assert _mode(out) == 0o600
    assert not EXTERNAL.search(html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "Content-Security-Policy" in html
    assert html.count("<svg") >= 2  # angle plot + per-rep trend
    # best and worst rep, and the frame of each fault
    assert html.count("data:image/jpeg;base64,") == 2 + len(cues.faults)
    assert "worst: rep 4" in html and "best: rep 1" in html
    assert "go deeper" in html and "knee_valgus" in html  # cue log, not-assessed rule
    assert "MDC95" in html and "100.0%" in html  # MDC note, coverage
    assert html.count("<tr><td>") >= 4  # per-rep rows
    assert "depth @9.10s f273" in html


def test_html_without_video_skips_thumbnails(result, sm):
    html = build_html(result, video_path=None)
    assert "data:image/jpeg" not in html and "need the source video" in html
    html = build_html(result, video_path="/nonexistent/clip.mp4")
    assert "data:image/jpeg" not in html


def test_html_explains_each_fault_with_a_thumbnail(result, video, cues):
    assert cues.faults
    with_video = build_html(cues, video_path=video)
    poses_only = build_html(cues, video_path=None)
    for html in (with_video, poses_only):
        section = html.split("<h2>Faults explained</h2>", 1)[1].split("<h2>", 1)[0]
        rules = rules_by_id(cues.exercise)
        for f in cues.faults:
            worst = fault_worst(cues, f, rules.get(f.rule_id))
            assert f"frame {worst[0] if worst else f.frame_index}" in section
        assert "limit &gt;" in section or "limit &lt;" in section
        assert " deg " in section  # the squat rules measure angles
    # no video: each fault's pose is drawn instead (PNG), still inline
    n = len(cues.faults)
    assert poses_only.count("data:image/png;base64,") == n
    assert with_video.count("data:image/png;base64,") == 0


def test_html_with_no_reps(result):
    r = replace(result, reps=[], faults=[])
    r.metrics = measure(r)
    html = build_html(r)
    assert "No repetitions were detected" in html


def _chromium(html: Path, tmp: Path) -> tuple[str, np.ndarray | None]:
    import cv2

    assert CHROMIUM is not None
    shot = tmp / f"{html.stem}.png"
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp / 'profile'}", "--window-size=1200,1600", f"--screenshot={shot}",
        "--enable-logging=stderr", "--v=0", html.resolve().as_uri(),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    img = cv2.imread(str(shot)) if shot.exists() else None
    return p.stderr, img


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_html_loads_in_headless_chromium_without_console_errors(result, sm, video, cues, tmp_path):
    # Control: the log really shows console errors, so their absence below means something.
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>console.error('boom')</script>x</body></html>")
    log, _ = _chromium(bad, tmp_path)
    assert ":CONSOLE" in log and "boom" in log

    out = write_html_report(cues, tmp_path / "report.html", video_path=video)
    log, img = _chromium(out, tmp_path)
    console = [ln for ln in log.splitlines() if ":CONSOLE" in ln or "Refused to" in ln]
    assert console == []
    assert img is not None
    assert float(img.std()) > 20.0  # not a blank page
    # the page has plots: many distinct colours, not only text
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200


def _doc_columns() -> tuple[list[str], list[str], list[str]]:
    """(fixed per-rep columns, per-rep patterns, per-frame columns) from docs/csv_columns.md."""
    text = (REPO / "docs" / "csv_columns.md").read_text()
    rep_part, frame_part = text.split("## Per-frame CSV", 1)
    rep_part = rep_part.split("## Per-rep CSV", 1)[1]

    def names(part: str) -> list[str]:
        return re.findall(r"^\| `([^`]+)` \|", part, flags=re.M)

    rep = names(rep_part)
    return [c for c in rep if "{" not in c], [c for c in rep if "{" in c], names(frame_part)


def test_csv_columns_match_the_documentation(sm, result, tmp_path):
    fixed, patterns, frame_cols = _doc_columns()
    assert list(REP_COLUMNS) == fixed
    assert patterns == [*JOINT_COLUMN_PATTERNS, ASYM_COLUMN_PATTERN]
    out = write_csv(sm, tmp_path / "reps.csv")
    assert _mode(out) == 0o600
    with out.open() as f:
        rows = list(csv.reader(f))
    header = rows[0]
    assert header == rep_columns(sm.joints)
    assert header[: len(fixed)] == fixed
    joint_cols = [p.format(joint=j) for j in sm.joints for p in JOINT_COLUMN_PATTERNS]
    assert header[len(fixed) : len(fixed) + len(joint_cols)] == joint_cols
    assert header[len(fixed) + len(joint_cols) :] == ["asym_hip_pct", "asym_knee_pct"]
    # per-frame
    fout = write_frames_csv(result, tmp_path / "frames.csv")
    with fout.open() as f:
        fh = next(csv.reader(f))
    doc_fixed = [c for c in frame_cols if "{" not in c]
    assert fh[: len(FRAME_COLUMNS)] == list(FRAME_COLUMNS) == doc_fixed[:-1]
    assert fh[-1] == doc_fixed[-1] == "faults"
    assert fh[len(FRAME_COLUMNS) : -1] == sorted(result.features)


def test_csv_values(sm, result, tmp_path):
    out = write_csv(sm, tmp_path / "reps.csv")
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["rep"] for r in rows] == ["1", "2", "3", "4"]
    assert float(rows[0]["left_knee_rom_deg"]) == pytest.approx(100.0, abs=0.5)
    assert rows[3]["faults"] == "depth@9.100s#273" and rows[3]["n_faults"] == "1"
    for r in rows:
        parts = sum(float(r[k]) for k in ("score_rom", "score_tempo", "score_faults",
                                           "score_symmetry"))
        assert float(r["score"]) == pytest.approx(parts, abs=0.1)
        d = float(r["eccentric_s"]) + float(r["pause_s"]) + float(r["concentric_s"])
        assert d == pytest.approx(float(r["duration_s"]), abs=2e-3)
    fout = write_frames_csv(result, tmp_path / "frames.csv")
    with fout.open() as f:
        frows = list(csv.DictReader(f))
    assert len(frows) == len(result.signal)
    assert frows[273]["faults"] == "depth" and frows[273]["rep"] == "4"
    assert frows[0]["rep"] == "" and frows[0]["pose"] == "1"


def test_nan_cells_are_empty(result, tmp_path):
    r = make_result(n_reps=2, missing=slice(20, 40))
    out = write_frames_csv(r, tmp_path / "f.csv")
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert rows[25]["pose"] == "0" and rows[25]["left_knee"] == "" and rows[25]["signal_deg"] == ""


def test_annotated_video(result, video, cues, tmp_path):
    import cv2

    out = write_annotated_video(video, cues, tmp_path / "annotated.mp4", progress=False)
    assert _mode(out) == 0o600
    assert not list(tmp_path.glob(".annotated*"))  # no temp file left behind
    a, b = cv2.VideoCapture(str(video)), cv2.VideoCapture(str(out))
    assert int(b.get(cv2.CAP_PROP_FRAME_COUNT)) == int(a.get(cv2.CAP_PROP_FRAME_COUNT))
    assert b.get(cv2.CAP_PROP_FPS) == pytest.approx(result.fps, abs=0.01)
    diffs = []
    for _ in range(60):
        ok1, f1 = a.read()
        ok2, f2 = b.read()
        assert ok1 and ok2
        diffs.append(float(np.abs(f1.astype(int) - f2.astype(int)).mean()))
    assert min(diffs) > 0.5  # every frame has drawings on it


def test_annotated_video_bad_input(result, video, tmp_path):
    with pytest.raises(InputError, match=r"missing\.mp4"):
        write_annotated_video(tmp_path / "missing.mp4", result, tmp_path / "o.mp4", progress=False)
    with pytest.raises(InputError, match="does not exist"):
        write_annotated_video(video, result, tmp_path / "no" / "o.mp4", progress=False)


def test_output_hook_writes_everything_and_saves_the_set(result, video, tmp_path):
    """The analyze hook: paths -> per-rep DB sink -> outputs, over the real session."""
    from formcoach.coach.offline import analyze_track
    from formcoach.coach.session import SessionSinks
    from formcoach.exercises import load_exercise
    from formcoach.report.outputs import OutputHook, OutputPaths
    from formcoach.store import Store
    from formcoach.types import PoseTrack

    paths = OutputPaths(report=tmp_path / "r.html", csv=tmp_path / "r.csv",
                        frames_csv=tmp_path / "f.csv", video=tmp_path / "a.mp4",
                        db=tmp_path / "s.db")
    ex = load_exercise("squat")
    hook = OutputHook(paths)
    on_rep = hook.begin(ex.id, video, "fake")
    track = PoseTrack(result.poses, np.full((len(result.poses), 33, 3), np.nan), result.t_ns,
                      result.fps, (320, 240), "fake")
    res = analyze_track(track, ex, sinks=SessionSinks(on_rep=on_rep))
    hook.write(res, video_path=video, progress=False)
    hook.end_set()
    assert not hook.errors and len(res.reps) >= 3
    for name in ("r.html", "r.csv", "f.csv", "a.mp4", "s.db"):
        assert _mode(tmp_path / name) == 0o600, name
    with Store(tmp_path / "s.db") as st:
        rows = st.list_sets()
        assert len(rows) == 1 and rows[0]["status"] == "complete"
        assert rows[0]["rep_count"] == res.metrics.rep_count
        assert rows[0]["source_sha256"] and rows[0]["source_path"].endswith("clip.mp4")


def test_output_hook_refuses_video_output_without_video(tmp_path, result):
    from formcoach.report.outputs import OutputHook, OutputPaths

    with pytest.raises(InputError, match="does not exist"):
        OutputHook(OutputPaths(report=tmp_path / "nope" / "r.html"))
    hook = OutputHook(OutputPaths(video=tmp_path / "a.mp4", save=False))
    assert hook.begin("squat", None, "fake") is None  # not saving: no per-rep sink
    hook.write(result, video_path=None)
    assert len(hook.errors) == 1 and "needs a video" in str(hook.errors[0])


def test_analyze_cli_writes_pt_outputs_and_saves_the_set(result, video, tmp_path, run_cli):
    """`formcoach analyze VIDEO --poses TRACK` with every PT output, then history and report."""
    from formcoach.types import PoseTrack

    track = tmp_path / "track.npz"
    PoseTrack(result.poses, np.full((len(result.poses), 33, 3), np.nan), result.t_ns,
              result.fps, (320, 240), "fake").save(track)
    db = tmp_path / "s.db"
    outs = {k: tmp_path / v for k, v in (("--report", "r.html"), ("--csv", "r.csv"),
                                          ("--frames-csv", "f.csv"), ("--video", "a.mp4"))}
    args = ["analyze", video, "--poses", track, "--exercise", "squat", "--db", db,
            "--no-progress"]
    for k, v in outs.items():
        args += [k, v]
    res = run_cli(*args)
    assert res.code == 0, res.err
    for p in outs.values():
        assert _mode(p) == 0o600 and f"wrote {p}" in res.out
    html = outs["--report"].read_text()
    assert "go deeper" in html and "would have spoken" in html  # replayed cue log
    with outs["--csv"].open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == res.out.count(" left") + res.out.count(" right") >= 3
    res = run_cli("history", "--db", db)
    assert res.code == 0 and "complete" in res.out and "clip.mp4" in res.out
    # --video needs a video: one line before the analysis, so no set is started
    res = run_cli("analyze", "--poses", track, "--exercise", "squat", "--db", db,
                  "--video", tmp_path / "b.mp4", "--no-progress")
    assert res.code == 2 and "needs a video" in res.err and res.err.count("\n") == 1
    assert "reps:" not in res.out
    hist = run_cli("history", "--db", db).out
    assert hist.count("complete") == 1 and "in_progress" not in hist


def test_never_assessed_uses_every_rep():
    from types import SimpleNamespace

    from formcoach.coach.pipeline import never_assessed

    eng: Any = SimpleNamespace(
        not_assessed=lambda: ["depth", "valgus", "hold"],
        rep_status={0: {"depth": "ok", "valgus": "not_assessed"},
                    1: {"depth": "not_assessed", "valgus": "not_assessed"}},
    )
    assert never_assessed(eng) == ["hold", "valgus"]
    eng.rep_status = {}
    assert never_assessed(eng) == ["depth", "hold", "valgus"]


def test_a_plank_report_is_about_holds_not_reps(tmp_path: Path) -> None:
    from fakes import sample_track

    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise
    from formcoach.types import PoseTrack

    res = analyze_track(PoseTrack.load(sample_track("plank_side_hip_sag", tmp_path / "p.npz")),
                        load_exercise("plank"))
    assert res.metrics.holds and res.faults
    html = build_html(res)
    assert "<h2>Holds</h2>" in html and "<th>in position (s)</th>" in html
    for rep_only in ("<h2>Repetitions</h2>", "Best and worst rep", "fatigue trend", "MDC95"):
        assert rep_only not in html, rep_only
    lines = res.summary_lines()
    assert lines[0].startswith("set: plank, 1 hold in ")
    assert any(ln.strip().split(" s ", 1)[-1].startswith("hold 1: hips_low") for ln in lines)


def _legend(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_the_angle_plot_names_a_holds_signal_for_what_it_is(tmp_path: Path) -> None:
    """A plank's counting line is the trunk angle it is timed on, not a "rep signal"."""
    from fakes import sample_track

    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise
    from formcoach.report.plots import angle_plot_figure
    from formcoach.types import PoseTrack

    plank = analyze_track(PoseTrack.load(sample_track("plank_side_hip_sag", tmp_path / "p.npz")),
                          load_exercise("plank"))
    labels = _legend(angle_plot_figure(plank))
    assert "torso lean (hold signal)" in labels and "rep signal" not in labels
    assert "rep signal" in _legend(angle_plot_figure(make_result()))
