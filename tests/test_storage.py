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
