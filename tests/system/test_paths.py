"""File names the OS accepts but that are not UTF-8 work everywhere (issue 14 finding 2).

OpenCV segfaults (exit 139, no message) when handed a ``str`` path with surrogate escapes, and
printing or storing such a name raised UnicodeEncodeError. These run in subprocesses, so the old
crash fails a test instead of killing the test run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, SAMPLES
from fakes import sample_track

BAD = b"\xff\xfe"  # not UTF-8: os.fsdecode gives lone surrogates


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    env["PYTHONIOENCODING"] = "utf-8:strict"  # printing a surrogate would raise
    env.pop("FORMCOACH_DEBUG", None)
    return env


def _run(*args: str | os.PathLike[str], timeout: float = 240) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "formcoach", *map(os.fsencode, args)],
                          capture_output=True, env=_env(), timeout=timeout, cwd=REPO)


def _bad(folder: Path, stem: bytes, suffix: str) -> Path:
    """A path in ``folder`` whose file name holds non-UTF-8 bytes."""
    p = Path(os.fsdecode(os.fsencode(folder) + b"/" + stem + BAD + suffix.encode()))
    try:
        p.touch()
        p.unlink()
    except OSError as e:
        pytest.skip(f"this file system refuses non-UTF-8 names: {e}")
    return p


def test_display_path_never_raises() -> None:
    from formcoach.io_utils import display_path

    name = os.fsdecode(b"/tmp/a" + BAD + b".mp4")
    shown = display_path(name)
    assert shown == "/tmp/a\\xff\\xfe.mp4"
    shown.encode("utf-8")  # printable on any UTF-8 terminal
    assert display_path("/tmp/\u00e9.mp4") == "/tmp/\u00e9.mp4"  # UTF-8 names are unchanged


def test_cv2_input_path_links_and_cleans_up(tmp_path: Path) -> None:
    from formcoach.io_utils import cv2_input_path

    bad = _bad(tmp_path, b"clip", ".mp4")
    shutil.copy(SAMPLES / "squat_side_clean.mp4", bad)
    with cv2_input_path(bad) as name:
        name.encode("ascii")
        assert os.path.samefile(name, bad)
        assert (os.stat(os.path.dirname(name)).st_mode & 0o777) == 0o700
    assert not os.path.lexists(name) and not os.path.exists(os.path.dirname(name))
    good = tmp_path / "ok.mp4"
    with cv2_input_path(good) as name:
        assert name == str(good)


def test_sources_read_non_utf8_names(tmp_path: Path) -> None:
    """VideoFileSource, load_image and the report's frame reader, in a child process."""
    video = _bad(tmp_path, b"clip", ".mp4")
    shutil.copy(SAMPLES / "squat_side_clean.mp4", video)
    image = _bad(tmp_path, b"frame", ".png")
    code = (
        "import os, sys, cv2\n"
        "from formcoach.sources import VideoFileSource, load_image\n"
        "from formcoach.report.html import read_frame\n"
        "v, im = (os.fsdecode(a) for a in sys.argv[1:3])\n"
        "src = VideoFileSource(v)\n"
        "n = sum(1 for _ in src)\n"
        "img = read_frame(v, 10)\n"
        "ok, buf = cv2.imencode('.png', img)\n"
        "open(im, 'wb').write(buf.tobytes())\n"
        "print(n, src.size, load_image(im).shape)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, os.fsencode(video), os.fsencode(image)],
                       capture_output=True, env=_env(), timeout=120, cwd=REPO)
    assert r.returncode == 0, (r.returncode, r.stderr.decode(errors="replace"))
    assert r.stdout.decode().split()[0] == "284"
    assert "(384, 512, 3)" in r.stdout.decode()


def test_analyze_with_non_utf8_input_and_output_names(tmp_path: Path) -> None:
    """Input video, every output and an output folder with non-UTF-8 names: all written, the
    names printed (escaped), the set saved."""
    from formcoach.store import Store

    video = _bad(tmp_path, b"clip", ".mp4")
    shutil.copy(SAMPLES / "squat_side_clean.mp4", video)
    track = sample_track("squat_side_clean", tmp_path / "t.npz")
    outdir = _bad(tmp_path, b"out", "")
    outdir.mkdir()
    outs = {"--json": _bad(tmp_path, b"r", ".json"), "--report": _bad(tmp_path, b"r", ".html"),
            "--csv": _bad(tmp_path, b"r", ".csv"), "--frames-csv": _bad(tmp_path, b"f", ".csv"),
            "--video": outdir / os.fsdecode(b"a" + BAD + b".mp4")}
    db = tmp_path / "s.db"
    r = _run("analyze", video, "--exercise", "squat", "--poses", track, "--no-progress",
             "--db", db, *[x for kv in outs.items() for x in kv])
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, (r.returncode, err)
    assert "Traceback" not in err
    out = r.stdout.decode("utf-8")
    assert "clip\\xff\\xfe.mp4: Squat" in out
    for p in outs.values():
        assert p.is_file() and p.stat().st_size > 0, p
    assert out.count("wrote ") == len(outs)
    doc = json.loads(outs["--json"].read_text())
    assert doc["source"].endswith("clip\\xff\\xfe.mp4") and doc["reps"] == 3
    assert "data:image/jpeg;base64," in outs["--report"].read_text()  # thumbnails were read
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".formcoach-")]
    with Store(db) as st:
        sets = st.list_sets()
    assert [s["status"] for s in sets] == ["complete"]


def test_calibrate_images_with_non_utf8_names(tmp_path: Path) -> None:
    """No board in the pictures: a one-line error (it used to be a segfault)."""
    import cv2

    folder = _bad(tmp_path, b"imgs", "")
    folder.mkdir()
    cap = cv2.VideoCapture(str(SAMPLES / "squat_side_clean.mp4"))
    ok, img = cap.read()
    cap.release()
    assert ok
    for i in range(2):
        cv2.imwrite(str(tmp_path / "x.png"), img)
        os.replace(tmp_path / "x.png", folder / os.fsdecode(b"v" + BAD + b"%d.png" % i))
    r = _run("calibrate", "camera", "--images", folder, "--no-save", timeout=120)
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2, (r.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "checkerboard" in lines[0], err


def _board_views(folder: Path, tmp: Path, n: int = 8) -> None:
    """Perspective views of the printable checkerboard, saved under non-UTF-8 names."""
    import cv2
    import numpy as np

    from formcoach.calibration import parse_board, write_board_files

    png = next(p for p in write_board_files(tmp, parse_board("9x6"), 25.0, 72)
               if str(p).endswith(".png"))
    board = cv2.imread(str(png))
    assert board is not None
    h0, w0 = board.shape[:2]
    rng = np.random.default_rng(1)
    w, h = 640, 480
    src = np.array([[0, 0], [w0, 0], [w0, h0], [0, h0]], dtype=np.float32)
    for i in range(n):
        s = rng.uniform(0.45, 0.6) * w / w0
        cx, cy = rng.uniform(0.35, 0.65) * w, rng.uniform(0.35, 0.65) * h
        hw, hh = w0 * s / 2, h0 * s / 2
        dst = np.array([[cx - hw, cy - hh], [cx + hw, cy - hh], [cx + hw, cy + hh],
                        [cx - hw, cy + hh]], dtype=np.float32)
        dst += rng.uniform(-0.12, 0.12, (4, 2)).astype(np.float32) * np.array(
            [hw, hh], dtype=np.float32)
        img = cv2.warpPerspective(board, cv2.getPerspectiveTransform(src, dst), (w, h),
                                  borderValue=(120, 120, 120))
        ok, buf = cv2.imencode(".png", img)
        assert ok
        (folder / os.fsdecode(b"v" + BAD + b"%d.png" % i)).write_bytes(buf.tobytes())


def test_calibrate_camera_from_non_utf8_image_names(tmp_path: Path) -> None:
    """A real calibration from board pictures in a non-UTF-8 folder: it works, and the
    profile's source is stored as printable text."""
    folder = _bad(tmp_path, b"shots", "")
    folder.mkdir()
    _board_views(folder, tmp_path / "board")
    out = tmp_path / "p.json"
    r = _run("calibrate", "camera", "--images", folder, "--no-save", "--json", out, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stderr.decode(errors="replace"))
    prof = json.loads(out.read_text(encoding="utf-8"))
    assert prof["images_used"] >= 5
    assert prof["meta"]["source"].endswith("shots\\xff\\xfe")


def test_errors_show_non_utf8_names_escaped(tmp_path: Path) -> None:
    """A missing input with a non-UTF-8 name: one error line, the bytes shown as \\xNN."""
    missing = _bad(tmp_path, b"nope", ".mp4")
    r = _run("analyze", missing, "--exercise", "squat", "--no-save", timeout=60)
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2 and err.count("\n") == 1, err
    assert "nope\\xff\\xfe.mp4" in err and "\\udc" not in err


def test_live_source_with_non_utf8_name_saves_the_set(tmp_path: Path) -> None:
    """``live --source`` opens the clip and stores its (escaped) name in the history."""
    from formcoach.store import Store

    video = _bad(tmp_path, b"clip", ".mp4")
    shutil.copy(SAMPLES / "squat_side_clean.mp4", video)
    db = tmp_path / "s.db"
    r = _run("live", "--exercise", "squat", "--source", video, "--no-window", "--mute",
             "--skip-setup", "--max-seconds", "2", "--db", db, timeout=120)
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, (r.returncode, err)
    assert "Traceback" not in err and "internal error" not in err
    with Store(db) as st:
        sets = st.list_sets()
    assert len(sets) == 1


def test_error_lines_carry_no_terminal_control_codes() -> None:
    from formcoach.cli import printable

    shown = printable("video not found: /tmp/a\x1b[2J" + os.fsdecode(BAD) + ".mp4\n")
    assert shown == "video not found: /tmp/a\\x1b[2J\\xff\\xfe.mp4\\x0a"


def test_outputs_and_databases_with_non_utf8_names_are_printed_escaped(tmp_path: Path) -> None:
    """export-sets / import-sets / history / plan / calibrate board name their files and
    databases: a non-UTF-8 name is printed as \\xNN (it used to be an internal error, and
    'plan --json --csv' then never wrote the CSV)."""
    db = _bad(tmp_path, b"s", ".db")
    track = sample_track("squat_side_clean", tmp_path / "t.npz")
    r = _run("analyze", "--poses", track, "-e", "squat", "--no-progress", "--db", db)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    export = _bad(tmp_path, b"e", ".json")
    board = _bad(tmp_path, b"board", "")
    board.mkdir()
    csv = _bad(tmp_path, b"p", ".csv")
    runs = {
        "export": (("export-sets", "--out", export, "--db", db), "s\\xff\\xfe.db"),
        "import": (("import-sets", export, "--db", _bad(tmp_path, b"w", ".db")), "w\\xff\\xfe.db"),
        "history": (("history", "--db", _bad(tmp_path, b"none", ".db")), "none\\xff\\xfe.db"),
        "plan": (("plan", "-e", "squat", "--db", db, "--json", _bad(tmp_path, b"p", ".json"),
                  "--csv", csv), "p\\xff\\xfe.csv"),
        "report": (("report", "--history", "--exercise", "squat", "--db", db,
                    _bad(tmp_path, b"h", ".html")), "h\\xff\\xfe.html"),
        "board": (("calibrate", "board", "--out", board), "board\\xff\\xfe"),
    }
    for what, (args, shown) in runs.items():
        r = _run(*args, timeout=120)
        err = r.stderr.decode("utf-8")
        assert r.returncode == 0, (what, r.returncode, err)
        assert "error" not in err, (what, err)
        assert shown in r.stdout.decode("utf-8"), (what, r.stdout)
    assert csv.is_file()


def test_synth_into_a_non_utf8_folder(tmp_path: Path) -> None:
    """The renderer hands OpenCV an ASCII name (it used to segfault) and writes the same
    bytes as into any other folder."""
    out = _bad(tmp_path, b"synth", "")
    out.mkdir()
    r = _run("synth", "--only", "squat_side_clean", "--out", out, timeout=240)
    assert r.returncode == 0, (r.returncode, r.stderr.decode(errors="replace"))
    assert "synth\\xff\\xfe/squat_side_clean.mp4" in r.stdout.decode("utf-8")
    video = out / "squat_side_clean.mp4"
    assert video.read_bytes() == (SAMPLES / "squat_side_clean.mp4").read_bytes()
    assert (video.stat().st_mode & 0o777) == 0o644
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "squat_side_clean.json", "squat_side_clean.mp4", "squat_side_clean.npz"]


def test_non_utf8_exercise_filter_is_a_one_line_error(tmp_path: Path) -> None:
    """history/report --exercise with non-UTF-8 bytes: SQLite cannot take them (it was an
    internal UnicodeEncodeError)."""
    db = tmp_path / "s.db"
    track = sample_track("squat_side_clean", tmp_path / "t.npz")
    assert _run("analyze", "--poses", track, "-e", "squat", "--no-progress", "--db", db
                ).returncode == 0
    name = os.fsdecode(b"squat" + BAD)
    for args in (("history", "--exercise", name), ("report", "--history", "--exercise", name,
                                                   tmp_path / "h.html")):
        r = _run(*args, "--db", db, timeout=60)
        err = r.stderr.decode("utf-8")
        assert r.returncode == 2 and err.count("\n") == 1, (args, err)
        assert "--exercise 'squat\\xff\\xfe' is not UTF-8" in err
    assert not (tmp_path / "h.html").exists()
