"""The exercise catalogue: every pack loads, aliases resolve, bad packs fail with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from formcoach.errors import ConfigError
from formcoach.exercises import CountConfig, Exercise, exercise_ids, list_exercises, load_exercise
from formcoach.kinematics.features import FEATURES, sided

REQUIRED = {
    "squat", "pushup", "lunge", "bicep_curl", "shoulder_press", "jumping_jack", "situp",
    "pullup", "deadlift", "bench_press", "plank", "front_raise", "shoulder_shrug",
}


def test_every_required_pack_is_bundled_and_loads() -> None:
    assert REQUIRED <= set(exercise_ids())
    for ex in list_exercises():
        assert isinstance(ex, Exercise)
        assert ex.path is not None and ex.path.stem == ex.id
        assert ex.kind in ("reps", "hold")
        c = ex.count
        assert c.signal in FEATURES or sided(c.signal) is not None
        for m in ex.metrics:
            assert m in FEATURES or sided(m) is not None
        assert isinstance(ex.rules_raw, list)
    assert load_exercise("plank").kind == "hold"


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("pushup", "pushup"), ("push-up", "pushup"), ("pushups", "pushup"), ("Push Ups", "pushup"),
        ("squats", "squat"), ("SQUAT", "squat"), ("bicep curl", "bicep_curl"),
        ("curls", "bicep_curl"), ("jumping jacks", "jumping_jack"), ("sit-up", "situp"),
        ("pull-ups", "pullup"), ("rdl", "deadlift"), ("shrugs", "shoulder_shrug"),
        ("Front Raise", "front_raise"), ("bench", "bench_press"), ("ohp", "shoulder_press"),
    ],
)
def test_aliases(name: str, want: str) -> None:
    assert load_exercise(name).id == want


def test_unknown_name_lists_valid_ids() -> None:
    with pytest.raises(ConfigError) as e:
        load_exercise("underwater basket weaving")
    msg = str(e.value)
    assert "underwater basket weaving" in msg
    for ex_id in ("squat", "pushup", "plank"):
        assert ex_id in msg


def _write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = """\
id = "wall_sit_squat"
name = "My squat"
kind = "reps"

[count]
signal = "knee"
side = "left"
rep_direction = "down"
min_rom_deg = 25.0
rel_rom = 0.4

[metrics]
joints = ["knee"]

[[rules]]
id = "depth"
anything = "the rules engine validates this"
"""


def test_user_pack_by_path(tmp_path: Path) -> None:
    ex = load_exercise(_write(tmp_path, GOOD))
    assert ex.id == "wall_sit_squat"
    assert ex.count == CountConfig(signal="knee", side="left", min_rom=25.0, rel_rom=0.4)
    assert ex.metrics == ("knee",)
    assert ex.rules_raw == [{"id": "depth", "anything": "the rules engine validates this"}]
    assert load_exercise(str(ex.path)).id == "wall_sit_squat"


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('id = "x"\n\n[count]\nsignal = "knee"\nwobble = 3\n', 5, "unknown key 'wobble'"),
        ('id = "x"\ncolour = "red"\n', 2, "unknown key 'colour'"),
        ('id = "x"\n[count]\nsignal = "knee"\nmin_rom = "big"\n', 4, "must be a float"),
        ('id = "x"\n[count]\nside = "middle"\n', 3, "side"),
        ('id = "x"\n[count]\nrep_direction = "sideways"\n', 3, "rep_direction"),
        ('id = "x"\n[count]\nsignal = "tail_wag"\n', 3, "unknown signal"),
        ('id = "x"\n[count]\nreturn_frac = 1.5\n', 3, "return_frac"),
        ('id = "x"\nkind = "sets"\n', 2, "kind"),
        ('id = "x"\n[metrics]\njoints = ["elbow", "fin"]\n', 3, "unknown metric"),
        ('id = "x"\n[metrics]\nangles = ["elbow"]\n', 3, "unknown key 'angles'"),
        ('id = "x"\nviews = ["top"]\n', 2, "views"),
        ('id = "x"\n[count\nsignal = "knee"\n', 2, "TOML syntax error"),
        ('id = "x"\nname = \n', 2, "TOML syntax error"),
    ],
)
def test_bad_pack_reports_file_and_line(tmp_path: Path, text: str, line: int,
                                        fragment: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_exercise(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:{line}:"), msg
    assert fragment in msg
    assert "\n" not in msg


def test_missing_id_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="missing required key 'id'"):
        load_exercise(_write(tmp_path, 'name = "x"\n'))
    with pytest.raises(ConfigError, match="not found"):
        load_exercise(tmp_path / "nope.toml")


def test_rules_must_be_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="rules"):
        load_exercise(_write(tmp_path, 'id = "x"\nrules = [1, 2]\n'))
