"""Crafted input (issue 14): packs, pose tracks, manifests and profiles are refused with a
one-line reason, from size/type/header checks made before the expensive work.

Every crafted file is built at test time in ``tmp_path`` (nothing large is committed).
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from formcoach import types as fc_types
from formcoach.calibration import load_camera_profile, load_user_profile
from formcoach.errors import FormcoachError
from formcoach.evaluation.importers import load_openpose_npy
from formcoach.evaluation.reps import load_manifest
from formcoach.exercises import load_exercise
from formcoach.rules.engine import parse_rules
from formcoach.types import PoseTrack

ROOT = Path(__file__).resolve().parents[2]
RULE = ('[[rules]]\nid = "r"\ncue = "c"\nfeature = "knee"\nop = "<"\nrationale = "x"\n'
        'threshold = {thr}\n')


# --------------------------------------------------------------------------- builders
def _pack(body: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / "pack.toml"
        p.write_text('id = "x"\n' + body, encoding="utf-8")
        return p
    return build


def _pack_bytes(data: bytes) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / "pack.toml"
        p.write_bytes(data)
        return p
    return build


def _members(t: int = 5) -> dict[str, Any]:
    """The members of a valid ``t``-frame track, as :meth:`PoseTrack.save` writes them."""
    return {
        "poses": np.zeros((t, 33, 4)), "world": np.zeros((t, 33, 3)),
        "t_ns": np.arange(t, dtype=np.int64) * 33_333_333, "fps": np.float64(30.0),
        "image_size": np.array([640, 480], dtype=np.int64), "backend": np.str_("onnx"),
        "model_sha256": np.str_(""), "meta": np.str_("{}"), "format_version": np.int64(1),
    }


def _track(compressed: bool = True, drop: str = "", **over: Any) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / "track.npz"
        m = {k: v for k, v in {**_members(), **over}.items() if k != drop}
        (np.savez_compressed if compressed else np.savez)(p, **m)
        return p
    return build


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _track_raw(members: dict[str, bytes]) -> Callable[[Path], Path]:
    """A zip whose members are the given raw bytes (for forged .npy headers)."""
    def build(d: Path) -> Path:
        p = d / "track.npz"
        base = {f"{k}.npy": _npy_bytes(np.asarray(v)) for k, v in _members().items()}
        with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in {**base, **members}.items():
                zf.writestr(name, data)
        return p
    return build


def _forged_header(shape: tuple[int, ...], descr: str = "<f8", data: bytes = b"\0" * 64) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def _corrupt(build: Callable[[Path], Path], how: str) -> Callable[[Path], Path]:
    def corrupt(d: Path) -> Path:
        p = build(d)
        data = bytearray(p.read_bytes())
        if how == "truncate":
            data = data[: len(data) // 2]
        else:  # flip a byte inside poses.npy's data (after its local header and .npy header)
            with zipfile.ZipFile(p) as zf:
                info = zf.getinfo("poses.npy")
            name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                            info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            data[start + info.compress_size // 2] ^= 0xFF
        p.write_bytes(bytes(data))
        return p
    return corrupt


def _many_members(d: Path) -> Path:
    p = _track()(d)
    with zipfile.ZipFile(p, "a") as zf:
        for i in range(40):
            zf.writestr(f"extra{i}.npy", _npy_bytes(np.zeros(1)))
    return p


def _json_file(doc: Any, name: str = "f.json") -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
        return p
    return build


def _bytes_file(data: bytes, name: str) -> Callable[[Path], Path]:
    def build(d: Path) -> Path:
        p = d / name
        p.write_bytes(data)
        return p
    return build


def _clip(**over: Any) -> dict[str, Any]:
    return {"clips": [{"file": "a.mp4", "exercise": "squat", "reps": 5, **over}]}


CAM = {"name": "c", "image_size": [640, 480], "fx": 500.0, "fy": 500.0, "cx": 320.0,
       "cy": 240.0}
DEEP_JSON = "[" * 5000 + "]" * 5000
LONG_KEY = ".".join(["a"] * 50_000) + " = 1\n"  # ~100 KB: tomllib needs about a minute


def _load_pack(p: Path) -> None:
    ex = load_exercise(p)
    parse_rules(ex.rules_raw, str(p))


def _load_camera(p: Path) -> None:
    load_camera_profile(p)


def _load_user(p: Path) -> None:
    load_user_profile(p)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "pack": _load_pack, "track": PoseTrack.load, "manifest": load_manifest,
    "camera": _load_camera, "user": _load_user, "npy": load_openpose_npy,
}

CASES: list[tuple[str, str, Callable[[Path], Path], str]] = [
    # rule packs
    ("pack", "count_400_digit_int", _pack("[count]\nmin_rom = 1" + "0" * 400 + "\n"),
     "out of range"),
    ("pack", "toml_5000_digit_int", _pack("[count]\nmin_rom = 1" + "0" * 5000 + "\n"),
     "unreadable TOML value"),
    ("pack", "smooth_s_inf", _pack("[count]\nsmooth_s = inf\n"), "must be finite"),
    ("pack", "smooth_s_nan", _pack("[count]\nsmooth_s = nan\n"), "got nan"),
    ("pack", "max_rep_s_inf", _pack("[count]\nmax_rep_s = inf\n"), "must be finite"),
    ("pack", "max_rep_s_nan", _pack("[count]\nmax_rep_s = nan\n"), "got nan"),
    ("pack", "smooth_s_huge", _pack("[count]\nsmooth_s = 1e5\n"), "must be <= 10 s"),
    ("pack", "hold_min_nan", _pack("[count]\nhold_min = nan\n"), "got nan"),
    ("pack", "threshold_400_digits", _pack(RULE.format(thr="1" + "0" * 400)),
     "threshold must be a finite number"),
    ("pack", "threshold_inf", _pack(RULE.format(thr="inf")), "threshold must be a finite"),
    ("pack", "deep_arrays", _pack("aliases = " + "[" * 3000 + "]" * 3000 + "\n"),
     "nested 3000 levels"),
    ("pack", "deep_inline_tables", _pack("count = " + "{a=" * 2000 + "1" + "}" * 2000 + "\n"),
     "nested 2000 levels"),
    ("pack", "long_dotted_key", _pack(LONG_KEY), "dotted key or table name with 50000 parts"),
    ("pack", "long_table_name", _pack("[" + ".".join(["t"] * 20) + "]\n"),
     "with 20 parts"),
    ("pack", "oversized", _pack("# " + "x" * 300_000 + "\n"), "larger than 256 KiB"),
    ("pack", "binary", _pack_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 20), "not UTF-8"),
    ("pack", "escape_in_key", _pack('"\\u001b[2J" = 1\n'), "unknown key"),
    # pose tracks
    ("track", "bad_crc", _corrupt(_track(compressed=False), "flip"), "CRC"),
    ("track", "corrupt_deflate",
     _corrupt(_track(poses=np.random.default_rng(1).normal(size=(5, 33, 4))), "flip"),
     "not a formcoach pose track"),
    ("track", "truncated_zip", _corrupt(_track(), "truncate"), "not a formcoach pose track"),
    ("track", "not_a_zip", _bytes_file(b"hello, I am text\n" * 10, "track.npz"),
     "not a zip file"),
    ("track", "fps_array", _track(fps=np.array([30.0, 30.0])), "'fps' has shape"),
    ("track", "fps_inf", _track(fps=np.float64(np.inf)), "fps must be in"),
    ("track", "fps_text", _track(fps=np.str_("30")), "'fps' has dtype"),
    ("track", "claims_1e9_frames",
     _track_raw({"poses.npy": _forged_header((10**9, 33, 4))}), "declares"),
    ("track", "poses_wrong_shape", _track(poses=np.zeros((5, 17, 2))), "'poses' has shape"),
    ("track", "poses_complex", _track(poses=np.zeros((5, 33, 4), complex)), "'poses' has dtype"),
    ("track", "world_frames_differ", _track(world=np.zeros((7, 33, 3))), "'world' has shape"),
    ("track", "image_size_3", _track(image_size=np.array([1, 2, 3])), "'image_size' has shape"),
    ("track", "back_bulge_frames_differ", _track(back_bulge=np.zeros(7)),
     "'back_bulge' has shape"),
    ("track", "back_bulge_text", _track(back_bulge=np.array(["a"] * 5)), "'back_bulge' has dtype"),
    ("track", "image_size_negative", _track(image_size=np.array([-5, 480])),
     "image_size out of range"),
    ("track", "meta_list", _track(meta=np.str_("[1, 2]")), "'meta' is not a JSON object"),
    ("track", "meta_deep", _track(meta=np.str_(DEEP_JSON)), "'meta' nested deeper"),
    ("track", "meta_bad_json", _track(meta=np.str_("{nope")), "JSONDecodeError"),
    ("track", "too_many_members", _many_members, "49 members"),
    ("track", "missing_member", _track(drop="world"), "missing field 'world'"),
    # manifests
    ("manifest", "reps_word", _json_file(_clip(reps="five")), "'reps' must be a whole number"),
    ("manifest", "reps_digit_string", _json_file(_clip(reps="5")), "'reps' must be"),
    ("manifest", "reps_bool", _json_file(_clip(reps=True)), "'reps' must be"),
    ("manifest", "reps_inf", _json_file(json.dumps(_clip()).replace('"reps": 5', '"reps": 1e400')),
     "'reps' must be"),
    ("manifest", "reps_negative", _json_file(_clip(reps=-1)), "'reps' must be"),
    ("manifest", "reps_5000_digits",
     _json_file(json.dumps(_clip()).replace('"reps": 5', '"reps": 1' + "0" * 5000)),
     "unreadable value"),
    ("manifest", "accept_3_list", _json_file(_clip(accept=[1, 2, 3])), "'accept' must be"),
    ("manifest", "accept_string", _json_file(_clip(accept="4-6")), "'accept' must be"),
    ("manifest", "accept_nested", _json_file(_clip(accept=[["a"], [2]])), "'accept' must be"),
    ("manifest", "accept_reversed", _json_file(_clip(accept=[6, 4])), "'accept' must be"),
    ("manifest", "file_number", _json_file(_clip(file=5)), "'file' must be a non-empty string"),
    ("manifest", "file_null", _json_file(_clip(file=None)), "'file' must be"),
    ("manifest", "exercise_list", _json_file(_clip(exercise=["squat"])), "'exercise' must be"),
    ("manifest", "top_level_number", _json_file(5), "no 'clips' list"),
    ("manifest", "top_level_string", _json_file('"squat"'), "no 'clips' list"),
    ("manifest", "clips_dict", _json_file({"clips": {"a": 1}}), "no 'clips' list"),
    ("manifest", "clip_not_dict", _json_file([1, 2]), "needs 'file'"),
    ("manifest", "deep_nesting", _json_file(DEEP_JSON), "nested 5000 levels"),
    ("manifest", "binary", _bytes_file(b"\xff\xd8\xff\xe0" * 50, "m.json"), "not UTF-8"),
    ("manifest", "oversized", _bytes_file(b" " * (9 << 20) + b"[]", "m.json"),
     "larger than 8192 KiB"),
    # camera and user profiles
    ("camera", "binary", _bytes_file(b"\x00\xff\xfe\x89PNG" * 100, "cam.json"), "not UTF-8"),
    ("camera", "deep_nesting", _json_file(DEEP_JSON, "cam.json"), "nested 5000 levels"),
    ("camera", "top_level_list", _json_file([CAM], "cam.json"), "must be a JSON object"),
    ("camera", "image_size_1e400",
     _json_file(json.dumps(CAM).replace("[640, 480]", "[1e400, 480]"), "cam.json"),
     "malformed camera profile"),
    ("camera", "image_size_huge_int",
     _json_file({**CAM, "image_size": [10**30, 480]}, "cam.json"), "image_size must be"),
    ("camera", "fx_text", _json_file({**CAM, "fx": "wide"}, "cam.json"),
     "malformed camera profile"),
    ("camera", "oversized", _bytes_file(b" " * (300 << 10) + b"{}", "cam.json"),
     "larger than 256 KiB"),
    ("user", "neutral_1e400", _json_file('{"neutral": {"left_knee": 1e400}}', "u.json"),
     "malformed user profile"),
    ("user", "neutral_nan", _json_file('{"neutral": {"left_knee": NaN}}', "u.json"),
     "angle out of range"),
    ("user", "rom_huge_int",
     _json_file({"rom_baseline": {"left_knee": [0, 10**400]}}, "u.json"), "malformed user"),
    ("user", "binary", _bytes_file(b"\xff" * 100, "u.json"), "not UTF-8"),
    # OpenPose .npy
    ("npy", "claims_1e9_frames", _bytes_file(_forged_header((10**9, 18, 3)), "seq.npy"),
     "frames claimed"),
    ("npy", "truncated", _bytes_file(_npy_bytes(np.ones((50, 18, 3)))[:500], "seq.npy"),
     "header describes"),
]


@pytest.mark.parametrize(("kind", "name", "build", "expect"), CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_crafted_input_gets_one_line_reason(tmp_path: Path, kind: str, name: str,
                                            build: Callable[[Path], Path], expect: str) -> None:
    path = build(tmp_path)
    with pytest.raises(FormcoachError) as exc:
        LOADERS[kind](path)
    msg = str(exc.value)
    assert "\n" not in msg and "\x1b" not in msg, msg
    assert len(msg) < 600, msg[:300]
    assert expect in msg, msg


def test_valid_files_still_load(tmp_path: Path) -> None:
    """The checks refuse only crafted files: formcoach's own outputs load."""
    track = PoseTrack(np.random.default_rng(0).normal(size=(40, 33, 4)), np.zeros((40, 33, 3)),
                      np.arange(40, dtype=np.int64) * 33_366_700, 29.97, (1280, 720), "onnx",
                      "abc", {"source": "x.mp4", "n": [1, {"a": 2}]})
    track.save(tmp_path / "t.npz")
    back = PoseTrack.load(tmp_path / "t.npz")
    assert np.array_equal(back.poses, track.poses) and back.meta == track.meta
    assert back.fps == 29.97
    for m in (ROOT / "samples" / "manifest.json", Path("/work/shared/data/videos/manifest.json")):
        if m.is_file():
            assert load_manifest(m)
    (tmp_path / "cam.json").write_text(json.dumps(CAM))
    assert load_camera_profile(tmp_path / "cam.json").fx == 500.0
    (tmp_path / "pack.toml").write_text('id = "x"\n' + ".".join(["a"] * 16) + " = 1\n")
    with pytest.raises(FormcoachError, match="unknown key 'a'"):  # 16 parts pass the pre-check
        load_exercise(tmp_path / "pack.toml")


def test_long_dotted_key_is_refused_before_tomllib(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The ~minute-long tomllib stall is avoided structurally: the parser is never called."""
    import formcoach.exercises as exercises

    def no_parse(_text: str) -> None:
        raise AssertionError("tomllib.loads was called on a crafted pack")

    monkeypatch.setattr(exercises.tomllib, "loads", no_parse)
    p = _pack(LONG_KEY)(tmp_path)
    with pytest.raises(FormcoachError, match="dotted key"):
        load_exercise(p)


def test_pack_strings_have_no_control_codes(tmp_path: Path) -> None:
    p = tmp_path / "pack.toml"
    p.write_text('id = "evil"\nname = "Evil\\u001b[2J\\u009b31m"\naliases = ["e\\u0007"]\n'
                 'description = "line one\\nline two\\u001b]0;title\\u0007"\n'
                 + RULE.format(thr="90").replace('cue = "c"', 'cue = "Knees\\u001b[2J out\\rX"'),
                 encoding="utf-8")
    ex = load_exercise(p)
    (rule,) = parse_rules(ex.rules_raw, str(p))
    for text in (ex.name, *ex.aliases, ex.description, rule.cue, rule.rationale):
        assert not any((ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text)
    assert ex.name == "Evil\\x1b[2J\\x9b31m"
    assert rule.cue == "Knees\\x1b[2J out\\x0dX"
    assert ex.description.startswith("line one\nline two")  # newlines kept in free text


# --------------------------------------------------------------------------- resources
def _bomb(d: Path, frames: int) -> Path:
    """A small .npz whose poses really decompress to ``frames`` x 33 x 4 float64 zeros."""
    p = d / "bomb.npz"
    base = {f"{k}.npy": _npy_bytes(np.asarray(v)) for k, v in _members(1).items()}
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("poses.npy", "w", force_zip64=True) as f:
            f.write(_forged_header((frames, 33, 4), data=b""))
            left, chunk = frames * 33 * 4 * 8, bytes(8 << 20)
            while left > 0:
                f.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
        for name, data in base.items():
            if name != "poses.npy":
                zf.writestr(name, data)
    return p


def test_small_npz_claiming_a_huge_track_is_refused_without_allocating(tmp_path: Path) -> None:
    frames = fc_types.MAX_TRACK_FRAMES + 1  # 456 MB of poses from a ~2 MB file
    bomb = _bomb(tmp_path, frames)
    assert bomb.stat().st_size < 4 << 20
    code = (
        "import resource, sys\n"
        "from formcoach.types import PoseTrack\n"
        "from formcoach.errors import InputError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    PoseTrack.load(sys.argv[1])\n"
        "except InputError as e:\n"
        "    print(e)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print((after - before) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(bomb)], capture_output=True,
                         text=True, timeout=120, env=_env(), check=True).stdout.splitlines()
    assert f"claims {frames} frames" in out[0], out
    assert int(out[-1]) < 64, f"loading grew the peak memory by {out[-1]} MB"


# --------------------------------------------------------------------------- CLI
def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT),
            "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(ROOT / ".numba_cache"))}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "formcoach", *args], capture_output=True,
                          text=True, timeout=300, env=_env(), cwd=cwd)


def _assert_user_error(r: subprocess.CompletedProcess[str], expect: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("formcoach: error:"), r.stderr[-2000:]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    assert "\x1b" not in r.stderr and expect in lines[0], lines[0]


def test_cli_crafted_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    PoseTrack(np.full((30, 33, 4), np.nan), np.full((30, 33, 3), np.nan),
              np.arange(30, dtype=np.int64) * 33_333_333, 30.0, (640, 480), "onnx").save(good)
    pack = _pack("[count]\nsmooth_s = inf\n")(tmp_path)
    _assert_user_error(_cli("analyze", "--exercise", str(pack), "--poses", str(good),
                            "--no-save", cwd=tmp_path), "must be finite")
    crc = _corrupt(_track(compressed=False), "flip")(tmp_path)
    _assert_user_error(_cli("analyze", "--exercise", "squat", "--poses", str(crc), "--no-save",
                            cwd=tmp_path), "CRC")
    cam = _bytes_file(b"\x00\xff\xfe\x89PNG" * 100, "cam.json")(tmp_path)
    _assert_user_error(_cli("analyze", "--exercise", "squat", "--poses", str(good),
                            "--camera-profile", str(cam), "--no-save", cwd=tmp_path),
                       "not UTF-8")
    man = _json_file(_clip(reps="five"), "m.json")(tmp_path)
    _assert_user_error(_cli("eval", "reps", "--manifest", str(man), cwd=tmp_path),
                       "'reps' must be")
