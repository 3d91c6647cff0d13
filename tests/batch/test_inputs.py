"""Batch inputs: folders, CSV / JSON manifests, and a one-line error for every bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from formcoach.batch.inputs import expand_inputs
from formcoach.errors import InputError


def _video(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not decoded by these tests")
    return path


def test_folders_are_searched_recursively_in_order(tmp_path: Path) -> None:
    _video(tmp_path / "b" / "2.mp4")
    _video(tmp_path / "a.MOV")
    _video(tmp_path / "b" / ".hidden.mp4")
    (tmp_path / "notes.txt").write_text("x")
    items = expand_inputs([str(tmp_path)], "squat")
    assert [Path(i.path).relative_to(tmp_path).as_posix() for i in items] == ["a.MOV", "b/2.mp4"]
    assert {i.exercise for i in items} == {"squat"}


def test_csv_manifest_paths_are_relative_to_it_and_columns_override(tmp_path: Path) -> None:
    _video(tmp_path / "v" / "one.mp4")
    _video(tmp_path / "v" / "two.mp4")
    m = tmp_path / "m.csv"
    m.write_text("Path,exercise,patient,site\nv/one.mp4,pushup,P01,x\nv/two.mp4,,P02,y\n")
    items = expand_inputs([str(m)], "squat")
    assert [(Path(i.path).name, i.exercise, i.patient) for i in items] == [
        ("one.mp4", "pushup", "P01"), ("two.mp4", "squat", "P02")]


def test_json_manifest_of_objects_or_strings(tmp_path: Path) -> None:
    a = _video(tmp_path / "a.mp4")
    _video(tmp_path / "b.mp4")
    m = tmp_path / "m.json"
    m.write_text(json.dumps([{"path": str(a), "exercise": "lunge", "patient": 7}, "b.mp4"]))
    items = expand_inputs([str(m)], "squat")
    assert [(Path(i.path).name, i.exercise, i.patient) for i in items] == [
        ("a.mp4", "lunge", "7"), ("b.mp4", "squat", "")]


@pytest.mark.parametrize(("text", "suffix", "needle"), [
    ("file,exercise\nx.mp4,squat\n", ".csv", "no 'path' column"),
    ("path\nmissing.mp4\n", ".csv", "row 1: no such video file"),
    ("path,exercise\n,squat\n", ".csv", "row 1: empty path"),
    ("path\nok.mp4,extra\n", ".csv", "more values than columns"),
    ("[{\"path\": ", ".json", "not valid JSON"),
    ("{\"a\": 1}", ".json", "JSON list"),
    ("[3]", ".json", "entry 1"),
    ("path,exercise\n" + "a" * 200_000 + ",squat\n", ".csv", "not readable CSV (field larger"),
    # Both were internal errors (RecursionError, ValueError) from json.loads.
    ("[" * 100_000 + "]" * 100_000, ".json", "nested 100000 levels deep"),
    ("[{\"path\": \"ok.mp4\", \"n\": " + "1" * 5000 + "}]", ".json", "unreadable value"),
])
def test_bad_manifests_are_one_line_errors(tmp_path: Path, run_cli, text: str, suffix: str,
                                           needle: str) -> None:
    _video(tmp_path / "ok.mp4")
    m = tmp_path / f"m{suffix}"
    m.write_text(text)
    res = run_cli("batch", m, "-e", "squat", "--out", tmp_path / "out")
    assert_one_line_error(res, needle)
    assert not (tmp_path / "out").exists()  # nothing started


def test_missing_exercise_in_manifest_row(tmp_path: Path, run_cli) -> None:
    _video(tmp_path / "ok.mp4")
    m = tmp_path / "m.csv"
    m.write_text("path,exercise\nok.mp4,\n")
    assert_one_line_error(run_cli("batch", m, "--out", tmp_path / "o"), "row 1: no exercise")


def test_unknown_exercises_are_one_line_errors(tmp_path: Path, run_cli) -> None:
    v = _video(tmp_path / "ok.mp4")
    assert_one_line_error(run_cli("batch", v, "-e", "squatz", "--out", tmp_path / "o"), "squatz")
    m = tmp_path / "m.csv"
    m.write_text("path,exercise\nok.mp4,burpee_x\n")
    assert_one_line_error(run_cli("batch", m, "--out", tmp_path / "o"), "row 1", "burpee_x")


def test_missing_input_and_empty_folder(tmp_path: Path, run_cli) -> None:
    assert_one_line_error(run_cli("batch", tmp_path / "nope.mp4", "-e", "squat", "--out",
                                  tmp_path / "o"), "no such file or folder", "nope.mp4")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("batch", tmp_path / "empty", "-e", "squat", "--out",
                                  tmp_path / "o"), "has no video files")


@pytest.mark.parametrize(("flags", "needle"), [
    (["-j", "0"], "--workers 0: give 1 to"),
    (["-j", str(10**20)], "--workers 1000000"),  # was an internal OverflowError
    (["-j", "1000000000"], "--workers 1000000000"),  # forked until the system ran out
    (["--threads", "-1"], "--threads must be 0"),
    (["--threads", "100000"], "--threads must be 0 (automatic) to"),  # every worker hung
])
def test_worker_and_thread_counts_are_bounded(tmp_path: Path, run_cli, flags: list[str],
                                              needle: str) -> None:
    """Refused before any input is looked at (the video does not even exist)."""
    assert_one_line_error(run_cli("batch", tmp_path / "nope.mp4", "-e", "squat", "--out",
                                  tmp_path / "o", *flags), needle)


def test_eval_velocity_jobs_are_bounded(run_cli) -> None:
    assert_one_line_error(run_cli("eval", "velocity", "--jobs", str(10**20)), "--jobs must be 1")


def test_unreadable_folder(tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "locked").mkdir()
    real_walk = os.walk

    def walk(top, onerror=None, **kw):  # as root chmod 000 does not stop reading: fake it
        if onerror is not None:
            onerror(PermissionError(13, "Permission denied", str(top)))
        yield from real_walk(top, onerror=onerror, **kw)

    monkeypatch.setattr(os, "walk", walk)
    res = run_cli("batch", tmp_path / "locked", "-e", "squat", "--out", tmp_path / "o")
    assert_one_line_error(res, "cannot read folder", "Permission denied")


def test_bad_options(tmp_path: Path, run_cli) -> None:
    v = _video(tmp_path / "ok.mp4")
    (tmp_path / "file").write_text("x")
    assert_one_line_error(run_cli("batch", v, "-e", "squat", "--out", tmp_path / "file"),
                          "is a file")
    assert_one_line_error(run_cli("batch", v, "-e", "squat", "--out", tmp_path / "o",
                                  "--workers", "0"), "--workers")
    assert_one_line_error(run_cli("batch", v, "-e", "squat", "--out", tmp_path / "o",
                                  "--address", "tcp://x:1"), "--address needs")
    assert_one_line_error(run_cli("batch", v, "-e", "squat", "--out", tmp_path / "o",
                                  "--threads", "-1"), "--threads")


def test_expand_inputs_needs_an_exercise_for_plain_files(tmp_path: Path) -> None:
    v = _video(tmp_path / "ok.mp4")
    with pytest.raises(InputError, match="give --exercise"):
        expand_inputs([str(v)], None)
