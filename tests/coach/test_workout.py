"""Workouts (formcoach.coach.workout): plan files with file:line errors, the spoken schedule,
and a plan of two exercises x two sets run end to end on paced samples."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import SAMPLES, assert_one_line_error
from fakes import ReplayEstimator, sample_track

from formcoach.clock import FakeClock, MonotonicClock
from formcoach.coach.live import run_live
from formcoach.coach.offline import analyze_track
from formcoach.coach.result import SessionResult
from formcoach.coach.workout import (
    PlannedSet,
    WorkoutRunner,
    announce_set,
    bundled_plans,
    load_plan,
    parse_plan,
    plan_from_args,
    rest_calls,
    set_summary_text,
)
from formcoach.cues.speech import TextSpeaker
from formcoach.errors import ConfigError
from formcoach.exercises import load_exercise
from formcoach.metrics import RepMetrics
from formcoach.sources import PacedVideoSource
from formcoach.types import PoseTrack

PLAN = """\
name = "Test"
rest_s = 30

[[exercise]]
id = "squats"
sets = 2
reps = 5

[[exercise]]
id = "plank"
sets = 1
hold_s = 20
rest_s = 10
"""


def test_a_plan_file_is_read() -> None:
    plan = parse_plan(PLAN, "p.toml")
    assert plan.name == "Test"
    assert [(s.item.exercise, s.number, s.of, s.target) for s in plan.sets()] == [
        ("squat", 1, 2, 5), ("squat", 2, 2, 5), ("plank", 1, 1, None)]
    assert plan.items[0].rest_s == 30 and plan.items[1].rest_s == 10
    assert plan.items[1].hold_s == 20
    assert announce_set(plan.sets()[1]) == "set 2 of 2, squats, 5 reps"
    assert announce_set(plan.sets()[2]) == "set 1 of 1, planks, hold 20 seconds"


@pytest.mark.parametrize(("edit", "line", "needle"), [
    (("reps = 5", "reps = -5"), 7, "'reps' must be a whole number"),
    (("reps = 5", "reps = 2.5"), 7, "'reps' must be a whole number"),
    (("sets = 2", "setz = 2"), 6, "unknown key 'setz'"),
    (('id = "squats"', 'id = "yoga"'), 5, "yoga"),
    (("hold_s = 20", "reps = 20"), 12, "plank is a hold"),
    (("rest_s = 30", "rest_s = 1e9"), 2, "'rest_s' must be a number"),
    (("[[exercise]]\nid = \"plank\"", "[[exercise]]\nid = \"plank\"\nfoo = ["), 12,
     "TOML syntax error"),
])
def test_plan_errors_name_file_and_line(edit: tuple[str, str], line: int, needle: str) -> None:
    text = PLAN.replace(*edit, 1)
    with pytest.raises(ConfigError) as e:
        parse_plan(text, "p.toml")
    msg = str(e.value)
    assert msg.startswith(f"p.toml:{line}:"), msg
    assert needle in msg and "\n" not in msg


def test_plans_without_exercises_and_missing_files() -> None:
    with pytest.raises(ConfigError, match="at least one"):
        parse_plan('name = "x"\n', "p.toml")
    with pytest.raises(ConfigError, match=r"not found.*bundled plans"):
        load_plan("no-such-plan")


def test_bundled_plans_load() -> None:
    plans = bundled_plans()
    assert len(plans) >= 2
    for name in plans:
        plan = load_plan(name)
        assert plan.sets() and all(s.item.reps or s.item.hold_s for s in plan.sets())


def test_plan_from_the_command_line() -> None:
    plan = plan_from_args("squat", sets=3, reps=10, rest_s=60)
    assert [(s.number, s.target) for s in plan.sets()] == [(1, 10), (2, 10), (3, 10)]
    with pytest.raises(ConfigError) as e:
        plan_from_args("squat", sets=0, reps=10)
    assert str(e.value).startswith("--sets must be")
    with pytest.raises(ConfigError, match="give --hold"):
        plan_from_args("plank", reps=3)


def test_rest_is_counted_down() -> None:
    assert rest_calls(60) == [(0.0, "rest 60 seconds"), (50.0, "10"), (57.0, "3"),
                              (58.0, "2"), (59.0, "1")]
    assert rest_calls(2) == [(0.0, "rest 2 seconds"), (1.0, "1")]
    assert rest_calls(0) == []


def _fake_set(reps_available: int, clock: FakeClock) -> Callable[..., SessionResult]:
    """A set that produces one rep per second until its target, stopped, or out of reps."""
    from fake_result import make_result

    def run_set(ps: PlannedSet, stop: threading.Event,
                on_rep: Callable[[RepMetrics], None]) -> SessionResult:
        res = make_result(reps_available)
        done = 0
        for rm in res.metrics.reps:
            if stop.is_set() or (ps.target is not None and done >= ps.target):
                break
            clock.advance(1.0)
            on_rep(rm)
            done += 1
        res.reps = res.reps[:done]
        res.metrics.reps = res.metrics.reps[:done]
        return res

    return run_set


def test_the_runner_stops_each_set_at_its_target_and_rests(tmp_path: Path) -> None:
    clock = FakeClock()
    speaker = TextSpeaker(clock=clock)
    plan = parse_plan(PLAN.replace('id = "plank"\nsets = 1\nhold_s = 20', 'id = "pushup"\n'
                                   'sets = 1\nreps = 2'), "p.toml")
    out = WorkoutRunner(plan, _fake_set(8, clock), speaker, clock,
                        sleep=clock.advance).run()
    assert [len(s.result.reps) for s in out.sets] == [5, 5, 2]
    assert [s.ended_by for s in out.sets] == ["target"] * 3
    assert [round(s.rest_s) for s in out.sets] == [30, 30, 0]
    said = [t for _, t in out.announcements]
    assert said[0] == "set 1 of 2, squats, 5 reps"
    assert "rest 30 seconds" in said and said.count("1") == 2
    assert said[-2] == "set 1 of 1, push-ups, 2 reps"
    assert [c.cue.text for c in speaker.history] == said  # all of it was spoken


def test_next_skips_the_rest_and_stop_ends_the_workout() -> None:
    clock = FakeClock()
    nxt, stop = threading.Event(), threading.Event()
    calls = []
    slept = [0.0]

    def sleep(s: float) -> None:
        clock.advance(s)
        slept[0] += s
        if slept[0] > 5.0:
            nxt.set()  # the user presses n five seconds into the first rest

    def run_set(ps: PlannedSet, st: threading.Event, on_rep: Callable[..., None]
                ) -> SessionResult:
        calls.append(ps.index)
        if ps.index == 1:
            stop.set()
        return _fake_set(5, clock)(ps, st, on_rep)

    plan = parse_plan(PLAN, "p.toml")
    out = WorkoutRunner(plan, run_set, TextSpeaker(clock=clock), clock, sleep=sleep,
                        next_set=nxt, stop=stop).run()
    assert calls == [0, 1] and out.stopped
    assert 5.0 <= out.sets[0].rest_s < 6.0  # skipped, not the full 30 s


def test_summary_says_reps_clean_and_the_main_fault(tmp_path: Path) -> None:
    track = PoseTrack.load(sample_track("squat_front_valgus", tmp_path / "t.npz"))
    res = analyze_track(track, load_exercise("squat"))
    text = set_summary_text(res)
    assert text.startswith(f"{len(res.reps)} reps")
    assert "knee valgus on" in text
    item = parse_plan('[[exercise]]\nid = "squat"\nreps = 3\nrom_target_deg = 150\n'
                      'tempo_s = 9\n', "p.toml").items[0]
    planned = set_summary_text(res, item)
    assert "target 150" in planned and "a rep, target 9" in planned  # short of both
    easy = parse_plan('[[exercise]]\nid = "squat"\nreps = 3\nrom_target_deg = 10\n',
                      "p.toml").items[0]
    assert "target" not in set_summary_text(res, easy)  # reached: nothing to add


@pytest.mark.slow
def test_two_exercises_two_sets_end_to_end_on_paced_samples(tmp_path: Path) -> None:
    """A plan file of squats 2 x 2 and push-ups 2 x 3, each set played from its sample as a
    live camera: each set ends at its target, rests in between, everything announced."""
    cases = {"squat": "squat_side_clean", "pushup": "pushup_side_clean"}
    plan = parse_plan('name = "e2e"\nrest_s = 1\n[[exercise]]\nid = "squat"\nsets = 2\n'
                      'reps = 2\n[[exercise]]\nid = "pushup"\nsets = 2\nreps = 3\n', "e2e.toml")
    clock = MonotonicClock()
    speaker = TextSpeaker(clock=clock)
    tracks = {ex: PoseTrack.load(sample_track(s, tmp_path / f"{s}.npz"))
              for ex, s in cases.items()}

    def run_set(ps: PlannedSet, stop: threading.Event, on_rep: Callable[..., None]
                ) -> SessionResult:
        ex, tr = ps.item.exercise, tracks[ps.item.exercise]
        src = PacedVideoSource(SAMPLES / f"{cases[ex]}.mp4", clock=clock)
        return run_live(src, load_exercise(ex), ReplayEstimator(tr.poses, tr.fps, tr.image_size),
                        speaker, skip_setup=True, clock=clock, stop=stop, on_rep=on_rep,
                        target_reps=ps.target)

    out = WorkoutRunner(plan, run_set, speaker, clock).run()
    assert [len(s.result.reps) for s in out.sets] == [2, 2, 3, 3]
    assert [s.ended_by for s in out.sets] == ["target"] * 4
    assert all(0.9 <= s.rest_s <= 1.5 for s in out.sets[:3]) and out.sets[3].rest_s == 0
    said = [t for _, t in out.announcements]
    assert [t for t in said if t.startswith("set ")] == [
        "set 1 of 2, squats, 2 reps", "set 2 of 2, squats, 2 reps",
        "set 1 of 2, push-ups, 3 reps", "set 2 of 2, push-ups, 3 reps"]
    assert said.count("rest 1 seconds") == 3


def test_live_cli_refuses_a_bad_plan(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.toml"
    bad.write_text(PLAN.replace("reps = 5", "reps = 0"))
    res = run_cli("live", "--workout", bad, "--source", SAMPLES / "squat_side_clean.mp4",
                  "--no-window", "--no-save")
    assert_one_line_error(res, f"{bad}:7", "'reps'")
    res = run_cli("live", "--source", SAMPLES / "squat_side_clean.mp4", "--no-window")
    assert_one_line_error(res, "--exercise")


@pytest.mark.parametrize(("flags", "needles"), [
    (["--sets", "0"], ["--sets", "1..50", "'0'"]),  # was taken as 'not given': one set
    (["--sets", "-2"], ["--sets", "1..50"]),
    (["--exercise", "auto", "--sets", "2"], ["--exercise auto", "--sets"]),  # was 'unknown'
    (["--exercise", "auto", "--reps", "5"], ["--exercise auto"]),
])
def test_live_cli_refuses_bad_set_flags(run_cli, flags: list[str],  # type: ignore[no-untyped-def]
                                        needles: list[str]) -> None:
    args = ["--exercise", "squat", *flags] if "--exercise" not in flags else flags
    res = run_cli("live", *args, "--source", SAMPLES / "squat_side_clean.mp4", "--no-window",
                  "--mute", "--no-save")
    assert_one_line_error(res, *needles)
