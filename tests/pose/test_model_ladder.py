"""The BlazePose model ladder: choosing a rung, loading each one, and naming it in the results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, assert_one_line_error

from formcoach.errors import BackendUnavailable, InputError, ModelError
from formcoach.pose import MODELS, create_estimator, models
from formcoach.pose.ladder import (
    AUTO_MODELS,
    LIVE_MIN_FPS,
    LIVE_SHARE,
    MODEL_ENV,
    OFFLINE_SHARE,
    choose_model,
)
from formcoach.pose.models import DEFAULT_MODEL
from formcoach.sources import VideoFileSource
from formcoach.types import PoseTrack

SAMPLE = SAMPLES / "squat_side_clean.mp4"


class _Timer:
    """A fake ``timer(backend, model) -> ms`` with fixed costs; records what was timed."""

    def __init__(self, **ms: float) -> None:
        self.ms = ms
        self.calls: list[tuple[str, str]] = []

    def __call__(self, backend: str, model: str) -> float:
        self.calls.append((backend, model))
        return self.ms[model]


# -- the chooser ------------------------------------------------------------------------------

# Live may drop frames down to LIVE_MIN_FPS: its budget is LIVE_SHARE of that interval
# (66.7 ms); offline must keep every frame of a 30 fps video: OFFLINE_SHARE of 33.3 ms.
LIVE_BUDGET = LIVE_SHARE * 1000 / LIVE_MIN_FPS
OFFLINE_BUDGET_30 = OFFLINE_SHARE * 1000 / 30


def test_an_analysis_uses_this_machines_remembered_speeds_not_the_load_of_the_moment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """offline: measured once and remembered in the config folder, so a busy moment later
    cannot switch the rung (and so the numbers) of the same video; live measures every time;
    a corrupt file is measured over; a new runtime or model set is a new machine key."""
    from formcoach.pose import ladder

    monkeypatch.setenv("FORMCOACH_CONFIG_DIR", str(tmp_path / "cfg"))
    timer = _Timer(lite=5.0, full=OFFLINE_BUDGET_30 - 1, heavy=99.0)  # full fits offline
    monkeypatch.setattr(ladder, "measure_model_ms", timer)
    monkeypatch.setattr(ladder.os, "getloadavg", lambda: (99.0, 0.0, 0.0))  # busy: not kept
    busy = choose_model("onnx", 30.0, "offline", env={})  # nor trusted: the default rung
    assert (busy.model, busy.source) == (DEFAULT_MODEL, "busy")
    assert "busy" in busy.describe() and "onnxruntime" not in busy.describe()
    assert not ladder.speeds_path().exists()
    monkeypatch.setattr(ladder.os, "getloadavg", lambda: (0.1, 0.0, 0.0))  # quiet
    timer.calls.clear()
    first = choose_model("onnx", 30.0, "offline", env={})
    assert (first.model, first.source) == ("full", "measured")
    assert [m for _, m in timer.calls] == list(MODELS)  # every rung, for later choices
    saved = json.loads(ladder.speeds_path().read_text())
    assert [e["ms"]["full"] for e in saved.values()] == [round(OFFLINE_BUDGET_30 - 1, 3)]
    timer.ms["full"] = 99.0  # the machine is busy now
    again = choose_model("onnx", 30.0, "offline", env={})
    assert (again.model, again.source) == ("full", "remembered")
    assert len(timer.calls) == 3 and "this machine's speed" in again.describe()
    assert choose_model("onnx", 30.0, "live", env={}).model == "lite"  # live: measured now
    ladder.speeds_path().write_text("{not json")
    assert choose_model("onnx", 30.0, "offline", env={}).source == "measured"  # quiet again
    assert ladder.machine_speeds("onnx")[1] is False  # and remembered again
    monkeypatch.setattr(ladder, "_machine_key", lambda backend: "another runtime")
    assert ladder.machine_speeds("onnx") == ({"lite": 5.0, "full": 99.0, "heavy": 99.0}, True)
    assert ladder.machine_speeds("onnx", remeasure=True)[1] is True
    assert len(json.loads(ladder.speeds_path().read_text())) == 2  # both keys kept


def test_a_busy_timing_is_never_remembered_not_even_from_bench(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """'formcoach bench' re-times the rungs; on a busy machine that timing (Full 29 ms under
    load 3.8 on 2 cores, seen here) must not stick and make every later analysis run Lite. An
    entry that an older version remembered under load is measured over."""
    from formcoach.pose import ladder

    monkeypatch.setenv("FORMCOACH_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setattr(ladder.os, "cpu_count", lambda: 2)
    busy = _Timer(lite=10.0, full=OFFLINE_BUDGET_30 + 3, heavy=110.0)
    monkeypatch.setattr(ladder, "measure_model_ms", busy)
    monkeypatch.setattr(ladder.os, "getloadavg", lambda: (3.8, 0.0, 0.0))
    assert ladder.machine_speeds("onnx", remeasure=True)[1] is True
    assert not ladder.speeds_path().exists()
    key = ladder._machine_key("onnx")
    ladder.speeds_path().parent.mkdir(parents=True)
    ladder.speeds_path().write_text(json.dumps(
        {key: {"ms": dict(busy.ms), "load_1min": 3.78, "measured": "then"}}))
    monkeypatch.setattr(ladder.os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    monkeypatch.setattr(ladder, "measure_model_ms", _Timer(lite=5.0, full=9.0, heavy=35.0))
    choice = choose_model("onnx", 30.0, "offline", env={})
    assert (choice.model, choice.source) == ("full", "measured")
    assert json.loads(ladder.speeds_path().read_text())[key]["load_1min"] == 0.2


def test_speeds_that_cannot_be_saved_still_choose(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from formcoach.pose import ladder

    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setattr(ladder.os, "getloadavg", lambda: (0.1, 0.0, 0.0))
    monkeypatch.setenv("FORMCOACH_CONFIG_DIR", str(blocker / "cfg"))  # under a file: unwritable
    monkeypatch.setattr(ladder, "measure_model_ms", _Timer(lite=1.0, full=2.0, heavy=3.0))
    assert choose_model("onnx", 30.0, "offline", env={}).model == "full"


@pytest.mark.parametrize(
    ("costs", "purpose", "expected", "timed"),
    [
        # every rung fits: Full, the most accurate automatic rung, and only it is measured;
        # Heavy is never measured nor chosen unless asked for
        ({"lite": 1.0, "full": 2.0, "heavy": 3.0}, "offline", "full", ["full"]),
        ({"lite": 1.0, "full": 2.0, "heavy": 3.0}, "live", "full", ["full"]),
        # Full misses the offline budget (every frame of 30 fps video), Lite fits
        ({"lite": 1.0, "full": OFFLINE_BUDGET_30 + 1, "heavy": 99.0}, "offline", "lite",
         ["full", "lite"]),
        # the same costs live: Full keeps up by dropping frames, down to LIVE_MIN_FPS
        ({"lite": 1.0, "full": OFFLINE_BUDGET_30 + 1, "heavy": 99.0}, "live", "full", ["full"]),
        # Full cannot keep LIVE_MIN_FPS: Lite
        ({"lite": 1.0, "full": LIVE_BUDGET + 1, "heavy": 99.0}, "live", "lite", ["full", "lite"]),
        # nothing fits: Lite, the fastest there is
        ({"lite": 90.0, "full": 95.0, "heavy": 99.0}, "live", "lite", ["full", "lite"]),
    ],
)
def test_chooser_picks_the_most_accurate_automatic_rung_within_budget(costs, purpose, expected,
                                                                      timed) -> None:
    timer = _Timer(**costs)
    choice = choose_model("onnx", 30.0, purpose, timer=timer, env={})
    assert choice.model == expected
    assert choice.source == "measured"
    assert [m for _, m in timer.calls] == timed
    assert choice.budget_ms == pytest.approx((LIVE_BUDGET if purpose == "live" else OFFLINE_BUDGET_30),
                                             abs=1e-3)
    assert set(choice.measured_ms) == set(timed)
    assert expected in choice.describe()


def test_heavy_is_opt_in_and_full_comes_first() -> None:
    assert AUTO_MODELS[0] == "full" and "heavy" not in AUTO_MODELS
    assert AUTO_MODELS[-1] == "lite"  # the fallback: the fastest there is
    timer = _Timer(lite=1.0, full=2.0, heavy=3.0)
    assert choose_model("onnx", 30.0, "offline", requested="heavy", timer=timer, env={}).model == "heavy"
    assert choose_model("onnx", 30.0, "live", timer=timer, env={MODEL_ENV: "heavy"}).model == "heavy"


def test_a_slow_camera_gives_live_its_whole_interval() -> None:
    """Below LIVE_MIN_FPS nothing is dropped to get there: the budget is the camera's interval."""
    timer = _Timer(lite=1.0, full=45.0, heavy=99.0)
    assert choose_model("onnx", 30.0, "live", timer=timer, env={}).model == "lite"
    slow = choose_model("onnx", 10.0, "live", timer=timer, env={})
    assert (slow.model, slow.budget_ms) == ("full", pytest.approx(LIVE_SHARE * 100.0))


def test_nothing_to_measure_with_falls_back_to_full() -> None:
    def no_runtime(backend: str, model: str) -> float:
        raise BackendUnavailable("no onnxruntime")

    choice = choose_model("mediapipe", 30.0, "live", timer=no_runtime, env={})
    assert (choice.model, choice.source) == ("full", "default")
    assert "onnxruntime" in choice.describe()


def test_a_lower_frame_rate_allows_a_slower_rung_offline() -> None:
    timer = _Timer(lite=1.0, full=30.0, heavy=99.0)
    assert choose_model("onnx", 30.0, "offline", timer=timer, env={}).model == "lite"
    assert choose_model("onnx", 24.0, "offline", timer=timer, env={}).model == "full"
    # an unknown frame rate counts as 30 fps
    assert choose_model("onnx", 0.0, "offline", timer=timer, env={}).model == "lite"


@pytest.mark.parametrize("requested", MODELS)
def test_an_explicit_model_is_never_measured(requested: str) -> None:
    timer = _Timer()
    choice = choose_model("onnx", 30.0, "live", requested=requested, timer=timer,
                          env={MODEL_ENV: "lite"})
    assert (choice.model, choice.source, timer.calls) == (requested, "argument", [])


def test_the_environment_pins_the_rung_and_auto_measures() -> None:
    timer = _Timer(lite=1.0, full=2.0, heavy=3.0)
    pinned = choose_model("onnx", 30.0, "live", requested="auto", timer=timer, env={MODEL_ENV: "lite"})
    assert (pinned.model, pinned.source, timer.calls) == ("lite", "environment", [])
    auto = choose_model("onnx", 30.0, "live", requested="auto", timer=timer, env={MODEL_ENV: "auto"})
    assert (auto.model, auto.source) == ("full", "measured")


@pytest.mark.parametrize(
    ("requested", "env", "needle"),
    [
        ("medium", {}, "medium"),
        (None, {MODEL_ENV: "huge"}, "huge"),
    ],
)
def test_bad_model_names_are_input_errors(requested, env, needle) -> None:
    with pytest.raises(InputError, match=needle):
        choose_model("onnx", 30.0, "offline", requested=requested, timer=_Timer(), env=env)


def test_create_estimator_rejects_an_unknown_model() -> None:
    with pytest.raises(InputError, match=r"'medium'.*lite, full, heavy"):
        create_estimator("onnx", model="medium")  # type: ignore[arg-type]


# -- the CLI ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["poses", str(SAMPLE), "--out", "t.npz"],
        ["analyze", str(SAMPLE), "-e", "squat", "--no-save"],
        ["live", "-e", "squat", "--source", str(SAMPLE), "--no-window"],
        ["demo"],
        ["bench"],
        ["eval", "reps", "--manifest", "m.json"],
    ],
)
def test_bad_model_on_the_command_line_is_one_line(argv: list[str], run_cli) -> None:
    assert_one_line_error(run_cli(*argv, "--model", "medium"), "--model", "medium")


def test_help_lists_the_models(run_cli) -> None:
    for cmd in ("poses", "analyze", "live", "demo", "bench"):
        res = run_cli(cmd, "--help")
        assert res.code == 0
        for m in MODELS:
            assert m in res.out, (cmd, m)


def test_bad_environment_pin_is_one_line(tmp_path: Path, run_cli, monkeypatch) -> None:
    monkeypatch.setenv(MODEL_ENV, "huge")
    res = run_cli("poses", SAMPLE, "--out", tmp_path / "t.npz", "--no-progress", "--max-frames", "2")
    assert_one_line_error(res, MODEL_ENV, "huge")


# -- each rung loads and runs -----------------------------------------------------------------


@pytest.fixture(scope="module")
def frame():
    src = VideoFileSource(SAMPLE, max_frames=1)
    try:
        return next(iter(src))
    finally:
        src.close()


@pytest.mark.parametrize("backend", ["onnx", "mediapipe"])
@pytest.mark.parametrize("model", MODELS)
def test_every_rung_finds_the_person(backend: str, model: str, frame) -> None:
    try:
        est = create_estimator(backend, model=model, running_mode="image")  # type: ignore[arg-type]
    except BackendUnavailable as e:
        pytest.skip(str(e))
    try:
        res = est.process(frame.image, frame.t_ns)
    finally:
        est.close()
    assert est.model == model
    assert est.model_sha256 == models.model_sha256(*models.backend_files(backend, model))  # type: ignore[arg-type]
    assert res.landmarks.shape == (33, 4)
    assert res.detected
    # the person stands in the frame: every landmark inside it (a loose sanity bound)
    w = res.image_size[0]
    assert np.all((res.landmarks[:, 0] > -0.1 * w) & (res.landmarks[:, 0] < 1.1 * w))


def test_rungs_have_distinct_digests() -> None:
    for backend in ("onnx", "mediapipe"):
        shas = {models.model_sha256(*models.backend_files(backend, m)) for m in MODELS}
        assert len(shas) == len(MODELS)
        for m in MODELS:
            sha = models.model_sha256(*models.backend_files(backend, m))
            assert models.model_of_sha256(backend, sha) == m
    assert models.model_of_sha256("onnx", "0" * 64) is None


# -- a missing rung ----------------------------------------------------------------------------


@pytest.fixture
def models_without(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of the models folder (links), minus the files named by the test."""

    def make(*missing: str) -> Path:
        src = models.models_dir()
        folder = tmp_path / "models"
        folder.mkdir()
        for f in src.iterdir():
            if f.is_file() and f.name not in missing:
                (folder / f.name).symlink_to(f)
        monkeypatch.setenv("FORMCOACH_MODELS_DIR", str(folder))
        return folder

    return make


@pytest.mark.parametrize(("backend", "missing"), [
    ("onnx", models.ONNX_LANDMARKERS["heavy"]),
    ("onnx", models.ONNX_LANDMARKERS["lite"]),
    ("mediapipe", models.TASK_FILES["heavy"]),
])
def test_a_missing_rung_is_a_model_error(backend: str, missing: str, models_without, tmp_path: Path,
                                         run_cli) -> None:
    models_without(missing)
    rung = "heavy" if "heavy" in missing else "lite"
    with pytest.raises(ModelError, match=missing):
        create_estimator(backend, model=rung)  # type: ignore[arg-type]
    res = run_cli("poses", SAMPLE, "--backend", backend, "--model", rung, "--out", tmp_path / "t.npz",
                  "--no-progress", "--max-frames", "2")
    assert_one_line_error(res, missing, "build_models.py")
    # the other rungs still work
    create_estimator(backend, model="full").close()


def test_auto_with_a_missing_rung_is_one_line(models_without, tmp_path: Path, run_cli,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up measurement times every rung it needs; a missing file is the usual error."""
    from formcoach.pose import ladder

    models_without(models.ONNX_LANDMARKERS["heavy"])
    monkeypatch.delenv(MODEL_ENV)
    ladder._onnx_landmark_ms.cache_clear()
    try:
        res = run_cli("poses", SAMPLE, "--out", tmp_path / "t.npz", "--no-progress", "--max-frames", "2")
    finally:
        ladder._onnx_landmark_ms.cache_clear()
    assert_one_line_error(res, models.ONNX_LANDMARKERS["heavy"])


# -- the results name the model ----------------------------------------------------------------


def test_track_json_and_report_record_the_model(tmp_path: Path, run_cli) -> None:
    track_path = tmp_path / "t.npz"
    res = run_cli("poses", SAMPLE, "--model", "lite", "--out", track_path, "--no-progress",
                  "--max-frames", "40")
    assert res.code == 0, res.err
    track = PoseTrack.load(track_path)
    assert track.model == "lite"
    assert track.model_sha256 == models.model_sha256(*models.backend_files("onnx", "lite"))
    out = tmp_path / "a.json"
    report = tmp_path / "r.html"
    res = run_cli("analyze", "--poses", track_path, "-e", "squat", "--json", out, "--report", report,
                  "--no-save")
    assert res.code == 0, res.err
    assert "model lite" in res.out
    doc = json.loads(out.read_text())
    assert (doc["backend"], doc["model"]) == ("onnx", "lite")
    assert "<td>pose model</td><td>lite</td>" in report.read_text()
    # --model on a track made with another model is refused, not silently ignored
    assert_one_line_error(run_cli("analyze", "--poses", track_path, "-e", "squat", "--model", "heavy",
                                  "--no-save"), "lite", "--model")


def test_analyze_video_records_the_chosen_model(tmp_path: Path, run_cli) -> None:
    out = tmp_path / "a.json"
    res = run_cli("analyze", SAMPLE, "-e", "squat", "--model", "heavy", "--json", out, "--no-save",
                  "--no-progress")
    assert res.code == 0, res.err
    doc = json.loads(out.read_text())
    assert doc["model"] == "heavy"
    assert doc["model_sha256"] == models.model_sha256(*models.backend_files("onnx", "heavy"))


def test_a_track_saved_before_the_ladder_loads_without_a_model(tmp_path: Path) -> None:
    """Old tracks have no ``model`` member: it loads as unknown and analysis names the rung
    from the track's model digest."""
    from formcoach.coach.offline import analyze_track
    from formcoach.exercises import load_exercise

    t = PoseTrack(np.full((3, 33, 4), np.nan), np.full((3, 33, 3), np.nan),
                  np.arange(3, dtype=np.int64) * 33_333_333, 30.0, (64, 48), "onnx",
                  models.model_sha256(*models.backend_files("onnx", "full")))
    path = tmp_path / "old.npz"
    t.save(path)
    # rewrite it without the member, as formcoach wrote tracks before
    import zipfile

    old = tmp_path / "older.npz"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(old, "w") as zout:
        for item in zin.infolist():
            if item.filename != "model.npy":
                zout.writestr(item, zin.read(item.filename))
    loaded = PoseTrack.load(old)
    assert loaded.model == ""
    assert analyze_track(loaded, load_exercise("squat")).model == "full"
    shutil.copy(path, tmp_path / "again.npz")
    assert PoseTrack.load(tmp_path / "again.npz").model == ""  # saved with model "" as given
