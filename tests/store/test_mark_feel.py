"""``formcoach mark --pain N --rpe N``: how a saved set felt, on the last set or a given one."""

from __future__ import annotations

from conftest import assert_one_line_error
from fake_result import make_result

from formcoach import store as S


def _db(tmp_path):  # type: ignore[no-untyped-def]
    db = tmp_path / "s.db"
    r = make_result(n_reps=2)
    with S.Store(db) as st:
        ids = []
        for name in ("a.mp4", "b.mp4"):
            rec = S.SetRecorder.begin(st, "squat", name)
            rec.finish(r.metrics)
            ids.append(rec.set_id)
        S.SetRecorder.begin(st, "squat", "c.mp4")  # still being recorded: not "the last set"
    return db, ids


def test_pain_and_rpe_mark_the_last_set_or_the_one_named(tmp_path, run_cli):
    db, (first, last) = _db(tmp_path)
    res = run_cli("mark", "--pain", "3", "--rpe", "7.5", "--db", db)
    assert res.code == 0, res.err
    assert f"set {last} (squat" in res.out and "pain 3, RPE 7.5" in res.out
    res = run_cli("mark", str(first), "--rpe", "6", "--db", db)
    assert res.code == 0 and "RPE 6" in res.out and "pain" not in res.out
    res = run_cli("mark", str(first), "--pain", "0", "--rir", "2", "--db", db)
    assert res.code == 0 and f"set {first} marked: 2 reps in reserve" in res.out
    with S.Store(db) as st:
        got = {i: (st.get_set(i) or {}) for i in (first, last)}
        assert (got[last]["pain"], got[last]["rpe"]) == (3, 7.5)
        assert (got[first]["pain"], got[first]["rpe"]) == (0, 6.0)  # a later mark adds to it
        assert st.set_ends()[first]["rir"] == 2


def test_bad_marks_are_one_line_and_change_nothing(tmp_path, run_cli):
    db, (_, last) = _db(tmp_path)
    for args, needle in ((("--pain", "11"), "--pain must be a whole number 0..10, got 11"),
                         (("--pain", "-1"), "0..10"),
                         (("--rpe", "10.5"), "--rpe must be a number 0..10, got 10.5"),
                         (("--rpe", "nan"), "--rpe must be a number 0..10"),
                         ((), "nothing to mark"),
                         (("99", "--pain", "2"), "no set 99")):
        assert_one_line_error(run_cli("mark", *args, "--db", db), needle)
    assert_one_line_error(run_cli("mark", "--pain", "2.5", "--db", db), "invalid int value")
    with S.Store(db) as st:
        s = st.get_set(last)
        assert s is not None and s["pain"] is None and s["rpe"] is None
    none = tmp_path / "none.db"
    assert_one_line_error(run_cli("mark", "--pain", "1", "--db", none), "no sets saved yet")
    assert not none.exists()
