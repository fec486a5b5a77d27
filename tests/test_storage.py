"""Storage: start-up migrations are idempotent, data survives a restart, SQLite is configured."""

from __future__ import annotations

from sqlalchemy import text

from storage import migrate
from storage.cases import Case


def test_migrations_are_idempotent_at_start_up(engine):
    migrate.upgrade(engine)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar() == 0


def test_sqlite_pragmas(tmp_path):
    from storage.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_a_case_survives_an_app_restart(make_harness):
    first = make_harness()
    try:
        first.command("U0ALICE", "create Persistent Pelican as prescriber")
        first.command("U0ALICE", "med C-1 add lithium 300 mg")
    finally:
        first.close()
    second = make_harness()  # same DB, same keys
    try:
        second.command("U0ALICE", "show C-1")
        shown = second.last_reply_text()
        assert "Persistent Pelican" in shown and "lithium" in shown
        second.command("U0ALICE", "create Second")
        with second.db() as session:
            assert session.get(Case, 2) is not None
    finally:
        second.close()


def test_sqlite_writers_in_two_processes_take_turns_on_the_lock_file(tmp_path):
    """The web server's acks and the work process's units write the same SQLite file: the
    turn is held across processes too (storage/db.py), so neither waits in SQLite's busy
    handler. The child holds the turn; the parent's turn begins only after it gave it back."""
    import os
    import time

    from storage.db import _WriterTurn

    lock, done = tmp_path / "db.writer-lock", tmp_path / "child-done"
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        turn = _WriterTurn(lock)
        turn.take()
        os.write(ready_write, b"!")
        time.sleep(0.3)
        done.write_text("written while holding the turn")
        turn.give_back()
        os._exit(0)
    os.read(ready_read, 1)  # the child holds the turn now
    turn = _WriterTurn(lock)
    assert turn.take()
    try:
        assert done.exists()
    finally:
        turn.give_back()
        os.waitpid(pid, 0)


def test_a_waiting_web_writer_goes_before_the_work_process_next_transaction(tmp_path):
    """The work process writes one transaction after another and defers (`defer_writes`):
    an ack waiting for the lock gets it after at most about one of them, instead of losing
    every race to the process that just let go."""
    import os
    import time

    from storage.db import _WriterTurn

    lock, turns = tmp_path / "db.writer-lock", tmp_path / "turns"
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the work process: back-to-back transactions for a second
        turn = _WriterTurn(lock)
        turn.defers = True
        turn.DEFER_SECONDS = 5.0  # longer than any scheduling delay of a loaded CI machine
        started, told = time.monotonic(), False
        with turns.open("a") as log:
            while time.monotonic() - started < 1.0:
                turn.take()
                log.write("t\n")
                log.flush()
                if not told:
                    os.write(ready_write, b"!")
                    told = True
                time.sleep(0.005)
                turn.give_back()
        os._exit(0)
    os.read(ready_read, 1)  # it is in its first transaction
    before = len(turns.read_text().splitlines())
    turn = _WriterTurn(lock)
    assert turn.take()
    try:
        waited_through = len(turns.read_text().splitlines()) - before
    finally:
        turn.give_back()
        os.waitpid(pid, 0)
    assert waited_through <= 3, waited_through  # without deferring: all of the second's ~150


def test_a_web_process_connection_never_checkpoints_and_a_work_process_one_does(tmp_path):
    """An ack never pays for copying SQLite's log back into the database (storage/db.py
    `never_checkpoint`): only the work process's commits checkpoint."""
    from storage.db import make_engine, never_checkpoint

    url = f"sqlite:///{tmp_path / 'c.db'}"
    web, work = make_engine(url), make_engine(url)
    try:
        with work.connect() as connection:  # made before, as the app's start-up does
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
        with web.connect() as connection:
            pass
        never_checkpoint(web)
        with web.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        with work.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    finally:
        web.dispose()
        work.dispose()


def test_only_a_transaction_with_a_deadline_waits_briefly(engine):
    """`begin_by` (the ack path's inbox save) bounds its waits by its deadline; the pooled
    connection then goes back to the long waits of the work that is not answering Slack."""
    import time

    from storage.db import begin_by, is_postgres

    if is_postgres(engine):
        show = "SELECT setting::int FROM pg_settings WHERE name = 'lock_timeout'"  # in ms
    else:
        show = "PRAGMA busy_timeout"
    with begin_by(engine, time.monotonic() + 1.5) as connection:
        assert engine.pool._timeout <= 1.5  # type: ignore[attr-defined]
        assert 0 < connection.exec_driver_sql(show).scalar() <= 1500
    with engine.begin() as connection:
        assert engine.pool._timeout == 30  # type: ignore[attr-defined]
        assert connection.exec_driver_sql(show).scalar() == (0 if is_postgres(engine) else 30000)
