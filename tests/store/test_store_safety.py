"""Session store safety (issue 14 #5, #7, #8): never chmod or take over a file formcoach did not
create, safe concurrent first-open, and every database failure a StoreError naming its cause."""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import sqlite3
import stat
import time
from pathlib import Path

import pytest
from fake_result import make_result

from formcoach import store as S
from formcoach.errors import StoreError


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def _siblings(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


# -- #7: --db that is a directory, a symlink, another application's file ------------------------


def test_db_directory_is_refused_and_its_mode_kept(tmp_path, monkeypatch, run_cli):
    d = tmp_path / "home"
    d.mkdir()
    os.chmod(d, 0o755)
    with pytest.raises(StoreError) as ei:
        S.Store(d)
    msg = str(ei.value)
    assert "is a directory" in msg and str(d) in msg and "\n" not in msg
    assert _mode(d) == 0o755 and list(d.iterdir()) == []
    monkeypatch.setenv(S.ENV_DB, str(d))  # FORMCOACH_DB=DIR: the same
    with pytest.raises(StoreError, match="is a directory"):
        S.Store()
    res = run_cli("history", "--db", d)
    assert res.code == 2 and "is a directory" in res.err and "Traceback" not in res.err
    assert _mode(d) == 0o755


def test_symlink_to_a_directory_is_refused_without_chmod(tmp_path):
    d = tmp_path / "real"
    d.mkdir()
    os.chmod(d, 0o750)
    link = tmp_path / "link.db"
    link.symlink_to(d)
    with pytest.raises(StoreError, match="is a directory"):
        S.Store(link)
    assert _mode(d) == 0o750 and list(d.iterdir()) == []


def test_symlink_to_a_database_is_used_but_its_target_not_chmodded(tmp_path, caplog):
    target = tmp_path / "real.db"
    S.Store(target).close()
    os.chmod(target, 0o640)
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with caplog.at_level("WARNING", logger="formcoach.store"), S.Store(link) as st:
        st.start_session()
    assert _mode(target) == 0o640  # warned about, never changed
    assert "readable or writable by other users" in caplog.text
    with S.Store(target) as st:
        assert st.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 1


def test_dangling_symlink_is_refused_and_nothing_created(tmp_path):
    link = tmp_path / "link.db"
    link.symlink_to(tmp_path / "elsewhere" / "x.db")
    with pytest.raises(StoreError, match="symlink to a missing file"):
        S.Store(link)
    assert not (tmp_path / "elsewhere").exists()


def _foreign_db(path: Path, user_version: int, tables: tuple[str, ...]) -> bytes:
    con = sqlite3.connect(path)
    for t in tables:
        con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, body TEXT)")
        con.execute(f"INSERT INTO {t} (body) VALUES ('keep me')")
    con.execute(f"PRAGMA user_version = {user_version}")
    con.commit()
    con.close()
    return path.read_bytes()


@pytest.mark.parametrize(("user_version", "tables"), [
    (0, ("notes",)),  # a plain app database
    (3, ("notes", "tags")),  # one that versions itself too
    (1, ("sessions", "sets")),  # same table names, not formcoach's schema
    (5, ()),  # no tables but a user_version: still somebody's
])
def test_foreign_sqlite_file_is_refused_before_anything_is_written(tmp_path, user_version, tables):
    db = tmp_path / "other.sqlite"
    before = _foreign_db(db, user_version, tables)
    os.chmod(db, 0o644)
    with pytest.raises(StoreError) as ei:
        S.Store(db)
    msg = str(ei.value)
    assert "not a formcoach session database" in msg and str(db) in msg and "\n" not in msg
    assert "corrupt" not in msg
    assert db.read_bytes() == before  # no tables, no WAL switch, no user_version
    assert _siblings(db) == []  # no -wal / -shm / -journal left behind
    assert _mode(db) == 0o644


def test_foreign_wal_database_keeps_its_bytes(tmp_path):
    db = tmp_path / "app.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="not a formcoach session database"):
        S.Store(db)
    assert db.read_bytes() == before


def test_empty_sqlite_database_is_initialised(tmp_path):
    """An SQLite file with nothing in it (no tables, user_version 0) is not refused."""
    db = tmp_path / "empty.db"
    sqlite3.connect(db).close()
    with S.Store(db) as st:
        assert st.version == S.SCHEMA_VERSION


def test_non_sqlite_file_is_not_called_corrupt_and_kept(tmp_path):
    db = tmp_path / "notes.txt"
    db.write_text("my training diary\n" * 200)
    before = db.read_bytes()
    with pytest.raises(StoreError) as ei:
        S.Store(db)
    msg = str(ei.value)
    assert "not a formcoach session database" in msg and "not an SQLite file" in msg
    assert "corrupt" not in msg and "move it aside" not in msg
    assert db.read_bytes() == before and _siblings(db) == []


# -- #8: concurrent first-open ------------------------------------------------------------------

_barrier: object = None


def _init(barrier: object) -> None:
    global _barrier
    _barrier = barrier


def _first_open(path: str) -> str:
    try:
        _barrier.wait(30)  # type: ignore[attr-defined]
        S.Store(path).close()
        return "ok"
    except Exception as e:  # reported to the parent, which asserts on it
        return f"{type(e).__name__}: {e}"


def test_concurrent_first_open_all_succeed(tmp_path):
    n, trials = 10, 4
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(n)
    with ctx.Pool(n, initializer=_init, initargs=(barrier,)) as pool:
        for t in range(trials):
            db = tmp_path / f"t{t}" / "sessions.db"
            out = pool.map(_first_open, [str(db)] * n, chunksize=1)
            assert out == ["ok"] * n, [o for o in out if o != "ok"]
            with S.Store(db) as st:
                assert st.version == S.SCHEMA_VERSION
                assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                cols = {r[1] for r in st.conn.execute("PRAGMA table_info(sets)")}
                assert {"owner_pid", "owner_host"} <= cols
            assert _mode(db) == 0o600


# -- #5: locked, full disk, corrupt; StoreError everywhere, closable after ----------------------


def test_locked_database_while_saving_a_rep_is_a_store_error(tmp_path):
    db = tmp_path / "s.db"
    r = make_result(n_reps=3)
    st = S.Store(db, timeout=0.3, skippable=True)  # live/analyze: they have --no-save
    rec = S.SetRecorder.begin(st, "squat")
    rec.on_rep(r.metrics.reps[0])
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        t0 = time.monotonic()
        with pytest.raises(StoreError) as ei:
            rec.on_rep(r.metrics.reps[1])
        assert 0.25 <= time.monotonic() - t0 < 5
        msg = str(ei.value)
        assert "locked by another process" in msg and "waited 0.3 s" in msg and str(db) in msg
        assert "--no-save" in msg and "corrupt" not in msg
        assert rec.error is ei.value
        t0 = time.monotonic()
        rec.on_rep(r.metrics.reps[2])  # after the error: no raise, no second wait
        rec.finish(status="interrupted")
        assert time.monotonic() - t0 < 0.2
        st.close()
        st.close()
    finally:
        other.execute("ROLLBACK")
        other.close()
    with S.Store(db) as st2:
        assert [x["rep_index"] for x in st2.reps(rec.set_id or 0)] == [0]


def test_locked_database_on_open_is_a_store_error_not_corrupt(tmp_path, monkeypatch):
    db = tmp_path / "s.db"
    con = sqlite3.connect(db)  # a v1 formcoach database: opening must migrate (write)
    for sql in S.MIGRATIONS[0]:
        con.execute(sql)
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    monkeypatch.setattr(S, "BUSY_TIMEOUT_S", 0.2, raising=False)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as ei:
            S.Store(db)
    finally:
        other.execute("ROLLBACK")
        other.close()
    msg = str(ei.value)
    assert "locked by another process (waited 0.2 s)" in msg and "corrupt" not in msg
    with S.Store(db) as st:  # and it opens once the lock is gone
        assert st.version == S.SCHEMA_VERSION


def test_full_disk_while_saving_is_a_store_error_naming_the_cause(tmp_path):
    db = tmp_path / "s.db"
    st = S.Store(db)
    rec = S.SetRecorder.begin(st, "squat")
    pages = st.conn.execute("PRAGMA page_count").fetchone()[0]
    st.conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLITE_FULL on the next growth
    big = {"index": 0, "note": "x" * 200_000}
    with pytest.raises(StoreError) as ei:
        st.add_rep(rec.set_id or 0, big)
    msg = str(ei.value)
    assert f"cannot write session database {db}: disk full" in msg and "corrupt" not in msg
    assert not st.conn.in_transaction  # rolled back, nothing half-written
    with pytest.raises(StoreError, match="disk full"):  # again: no "transaction within ..."
        st.add_rep(rec.set_id or 0, big)
    st.close()
    with S.Store(db) as st2:
        assert st2.reps(rec.set_id or 0) == []
        assert st2.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_full_disk_when_creating_the_file_names_the_cause(tmp_path, monkeypatch):
    def full(*a: object, **k: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(S.os, "open", full)
    with pytest.raises(StoreError, match=r"cannot create session database .*: disk full"):
        S.Store(tmp_path / "s.db")


def test_every_sqlite_error_from_the_api_is_a_store_error(tmp_path):
    st = S.Store(tmp_path / "s.db")
    st.close()
    for call in (st.start_session, st.list_sets, lambda: st.reps(1), lambda: st.faults(1),
                 lambda: st.add_rep(1, {"index": 0}), lambda: st.finish_set(1),
                 lambda: st.version):
        with pytest.raises(StoreError, match=str(tmp_path)):
            call()
    st.close()


def _corrupt_pages(db: Path) -> None:
    con = sqlite3.connect(db)
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    data = bytearray(db.read_bytes())
    assert len(data) > 3 * page
    data[page:] = b"\xa5" * (len(data) - page)  # every page but the first (the schema)
    db.write_bytes(bytes(data))


def test_really_corrupt_database_still_says_corrupt(tmp_path):
    db = tmp_path / "s.db"
    with S.Store(db) as st:
        rec = S.SetRecorder.begin(st, "squat")
        for i in range(40):
            st.add_rep(rec.set_id or 0, {"index": i, "pad": "y" * 500})
        st.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _corrupt_pages(db)
    with pytest.raises(StoreError) as ei:
        with S.Store(db) as st:
            st.list_sets()
    msg = str(ei.value)
    assert "is corrupt (integrity_check:" in msg and "move it aside" in msg and "\n" not in msg


def test_only_commands_with_no_save_suggest_it(tmp_path):
    """'pass --no-save' is advice for analyze, live and batch; mark, serve, history... have no
    such flag, so their message stops at what they can do."""
    bad = tmp_path / "file"
    bad.write_text("x")
    for skippable in (False, True):
        with pytest.raises(StoreError) as ei:
            S.Store(bad / "s.db", skippable=skippable)
        msg = str(ei.value)
        assert "--db with another path" in msg
        assert ("--no-save" in msg) == skippable
