"""Schema v4 (``set_ends``): how a set ended, as the user marked it (reps in reserve)."""

from __future__ import annotations

import sqlite3

import pytest

from formcoach import store as S
from formcoach.errors import InputError


def _v3_database(path) -> None:
    conn = sqlite3.connect(path)
    for step in S.MIGRATIONS[:3]:
        for sql in step:
            conn.execute(sql)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO sessions (started_at, formcoach_version) VALUES ('2026-01-01', 'x')")
    conn.execute("INSERT INTO sets (session_id, exercise, started_at, status) VALUES "
                 "(1, 'squat', '2026-01-01T10:00:00', 'complete')")
    conn.execute("INSERT INTO reps (set_id, rep_index, rom_deg, metrics_json) VALUES (1, 0, 90, '{}')")
    conn.commit()
    conn.close()


def test_migration_from_v3_adds_set_ends_and_keeps_every_row(tmp_path):
    db = tmp_path / "s.db"
    _v3_database(db)
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION == 6
        assert [r["id"] for r in st.list_sets()] == [1]
        assert st.reps(1)[0]["rom_deg"] == 90
        assert st.set_ends() == {}
        st.mark_set_end(1, 3)
        assert st.set_ends("squat")[1]["rir"] == 3
        assert st.set_ends("pushup") == {}


def test_marks_replace_each_other_and_go_with_their_set(tmp_path):
    with S.Store(tmp_path / "s.db") as st:
        sid = st.start_set(st.start_session(), "squat")
        st.mark_set_end(sid, 2)
        st.mark_set_end(sid, 0, to_failure=True)
        ends = st.set_ends()
        assert ends[sid]["rir"] == 0 and ends[sid]["to_failure"] is True and len(ends) == 1
        st.conn.execute("DELETE FROM sets WHERE id = ?", (sid,))
        assert st.set_ends() == {}


@pytest.mark.parametrize(("rir", "failure", "needle"), [
    (-1, False, "0..30"), (31, False, "0..30"), (1.5, False, "whole number"),
    (2, True, "failure has 0"),
])
def test_bad_marks_are_one_line_input_errors(tmp_path, rir, failure, needle):
    with S.Store(tmp_path / "s.db") as st:
        sid = st.start_set(st.start_session(), "squat")
        with pytest.raises(InputError, match=needle):
            st.mark_set_end(sid, rir, to_failure=failure)
        with pytest.raises(InputError, match="no set 99"):
            st.mark_set_end(99, 1)
