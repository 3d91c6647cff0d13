"""``formcoach eval reps``: scoring on a synthetic manifest, and the real-clip accuracy floor."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from formcoach.cli import main
from formcoach.errors import InputError
from formcoach.evaluation.reps import evaluate_reps, load_manifest

TESTS = Path(__file__).resolve().parents[1]
SHARED = TESTS.parents[1] / "shared"
MANIFEST = SHARED / "data" / "videos" / "manifest.json"
FLOOR = json.loads((TESTS / "accuracy_floor.json").read_text())


@pytest.fixture(scope="module")
def synth_manifest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A manifest of three synthetic clips whose pose tracks are already in the cache."""
    from fakes import synth_track

    root = tmp_path_factory.mktemp("evalset")
    tracks = root / "tracks"
    tracks.mkdir()
    clips = []
    for k, (ex, view, n, accept) in enumerate([
        ("squat", "side", 3, [3, 3]),
        ("pushup", "side", 2, [2, 2]),
        ("bicep_curl", "front", 4, [5, 6]),  # labelled wrong on purpose: predicted 4 is OBO
    ]):
        tr = synth_track(ex, view, reps=n, seed=20 + k)
        tr.backend = "mediapipe"
        tr.save(tracks / f"clip{k}.npz")
        clips.append({"file": f"clip{k}.mp4", "exercise": ex, "reps": accept[0],
                      "accept": accept})
    manifest = root / "manifest.json"
    manifest.write_text(json.dumps({"clips": clips}))
    return manifest, tracks


def test_scores(synth_manifest) -> None:
    manifest, tracks = synth_manifest
    s = evaluate_reps(manifest, backend="mediapipe", tracks=tracks)
    assert [c["predicted"] for c in s["clips"]] == [3, 2, 4]
    assert [c["correct"] for c in s["clips"]] == [True, True, False]
    assert s["accuracy"] == pytest.approx(2 / 3)
    assert s["obo"] == 1.0
    assert s["mae"] == pytest.approx((0 + 0 + 1 / 5) / 3)
    only = evaluate_reps(manifest, backend="mediapipe", tracks=tracks, exercises=["pushup"])
    assert only["n"] == 1


def test_cli_table_and_json(synth_manifest, tmp_path: Path, capsys) -> None:
    manifest, tracks = synth_manifest
    out = tmp_path / "eval.json"
    rc = main(["eval", "reps", "--manifest", str(manifest), "--tracks", str(tracks),
               "--backend", "mediapipe", "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "clip0.mp4" in text and "accuracy 0.667" in text
    doc = json.loads(out.read_text())
    assert {"clips", "accuracy", "obo", "mae"} <= doc.keys()
    assert {"file", "exercise", "truth", "accept", "predicted", "correct"} <= doc["clips"][0].keys()
    assert main(["eval", "reps", "--manifest", str(manifest), "--tracks", str(tracks),
                 "--backend", "mediapipe", "--min-accuracy", "0.9"]) == 1


def test_tracks_cache_folder_is_created(synth_manifest, tmp_path: Path) -> None:
    manifest, _ = synth_manifest
    fresh = tmp_path / "new" / "cache"
    s = evaluate_reps(manifest, backend="mediapipe", tracks=fresh, exercises=["plank"])
    assert s["n"] == 0 and fresh.is_dir()  # no clip selected, but the cache now exists
    with pytest.raises(InputError, match="cache folder"):
        evaluate_reps(manifest, backend="mediapipe", tracks=manifest)  # a file, not a folder


def test_bad_manifests(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_manifest(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(InputError, match="not valid JSON"):
        load_manifest(bad)
    bad.write_text(json.dumps({"clips": [{"file": "a.mp4"}]}))
    with pytest.raises(InputError, match="needs"):
        load_manifest(bad)


@pytest.mark.parametrize(("args", "needles"), [
    (["reps", "--min-accuracy", "nan"], ["--min-accuracy", "0..1", "nan"]),  # was: never failed
    (["reps", "--min-accuracy", "inf"], ["--min-accuracy", "inf"]),
    (["recognise", "--min-accuracy", "-1"], ["--min-accuracy"]),
    (["reps", "--json", "{dir}"], ["--json", "it is a folder"]),  # was: after every clip
    (["faults", "--json", "{dir}"], ["--json", "it is a folder"]),
    (["recognise", "--json", "{dir}/no/x.json"], ["--json", "does not exist"]),
])
def test_bad_eval_arguments_fail_before_any_clip(tmp_path: Path, run_cli, args: list[str],
                                                 needles: list[str]) -> None:
    """The manifest's clip is missing: an error naming the option, not the clip, proves the
    check ran first (before minutes of pose estimation)."""
    from conftest import assert_one_line_error

    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"clips": [{"file": "gone.mp4", "exercise": "squat",
                                               "reps": 3, "fault": "correct"}]}))
    argv = [a.replace("{dir}", str(tmp_path)) for a in args]
    assert_one_line_error(run_cli("eval", argv[0], "--manifest", manifest, *argv[1:]), *needles)


def test_bad_eval_velocity_and_form_outputs(tmp_path: Path, run_cli) -> None:
    from conftest import assert_one_line_error

    assert_one_line_error(run_cli("eval", "velocity", "--json", tmp_path), "--json", "folder")
    assert_one_line_error(run_cli("eval", "form", "--data", tmp_path, "--json", tmp_path),
                          "--json", "folder")
    assert_one_line_error(run_cli("eval", "form", "--data", tmp_path, "--exercise-dir",
                                  tmp_path / "none"), "--exercise-dir")


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.skipif(not MANIFEST.is_file(), reason="needs ../shared/data/videos")
def test_real_clip_accuracy_floor(tmp_path: Path) -> None:
    """Rep counting on third-party footage must not drop below tests/accuracy_floor.json.

    With ``FORMCOACH_TRACK_CACHE=DIR`` every clip is evaluated (pose tracks cached in DIR, so
    only the first run pays for the pose model). Without it, running the model over all 38
    clips (~20k frames, ~10-20 min on 2 cores) does not fit the test budget, so only the clips
    of at most ``short_clips.max_duration_s`` are run through the model.
    """
    cache = os.environ.get("FORMCOACH_TRACK_CACHE")
    backend = FLOOR["backend"]
    if cache:
        Path(cache).mkdir(parents=True, exist_ok=True)
        s = evaluate_reps(MANIFEST, backend=backend, tracks=cache)
        floor_acc, floor_obo = FLOOR["reps_accuracy"], FLOOR["reps_obo"]
    else:
        short = FLOOR["short_clips"]
        clips = [c for c in json.loads(MANIFEST.read_text())["clips"]
                 if c["duration_s"] <= short["max_duration_s"]]
        for c in clips:
            c["file"] = str((MANIFEST.parent / c["file"]).resolve())
        sub = tmp_path / "manifest.json"
        sub.write_text(json.dumps({"clips": clips}))
        s = evaluate_reps(sub, backend=backend, tracks=None)
        floor_acc, floor_obo = short["reps_accuracy"], short["reps_obo"]
    wrong = [(c["file"], c["predicted"], c["accept"]) for c in s["clips"] if not c["correct"]]
    assert s["accuracy"] >= floor_acc, f"accuracy {s['accuracy']:.3f} < floor; wrong: {wrong}"
    assert s["obo"] >= floor_obo, f"OBO {s['obo']:.3f} < floor; wrong: {wrong}"


SAMPLES = TESTS.parent / "samples"


def test_samples_manifest_is_current(tmp_path: Path) -> None:
    """samples/manifest.json is what ``formcoach synth`` writes for the committed samples."""
    from formcoach.synth import write_manifest

    for f in SAMPLES.glob("*.json"):
        if f.name != "manifest.json":
            (tmp_path / f.name).write_bytes(f.read_bytes())
            (tmp_path / f.with_suffix(".mp4").name).symlink_to(f.with_suffix(".mp4"))
    fresh = json.loads(write_manifest(tmp_path).read_text())
    assert fresh == json.loads((SAMPLES / "manifest.json").read_text())
    assert len(fresh["clips"]) == len(list(SAMPLES.glob("*.mp4"))) - 1  # all but the plank hold


@pytest.mark.slow
def test_synthetic_samples_are_counted_exactly() -> None:
    """Every committed rep sample, through the default backend, gets its exact rep count."""
    s = evaluate_reps(SAMPLES / "manifest.json", backend="onnx", tracks=None)
    wrong = [(c["file"], c["predicted"], c["truth"]) for c in s["clips"] if not c["correct"]]
    assert s["n"] == len(load_manifest(SAMPLES / "manifest.json")) and s["accuracy"] == 1.0, wrong
