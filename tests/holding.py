"""Holding the lock an inbox insert needs, from another connection, for tests of the ack
path's deadline (bot/group_insert.py SAVE_SECONDS, storage/db.py `begin_by`)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

from storage.db import make_engine

HOLD_SECONDS = 5.0  # past any deadline under test: a save that waited for it would be late

# How another writer holds the database (SQLite) or the inbox table (PostgreSQL).
SQLITE_HOLDERS = (
    "another process's transaction",  # its own engine: the writer-lock file and SQLite's lock
    "a connection outside CareThread",  # SQLite's lock only (the busy timeout decides)
    "another thread's transaction",  # this engine's writer turn
)
POSTGRES_HOLDER = "LOCK TABLE inbox"


def _take(engine: Engine, how: str) -> Callable[[], None]:
    """Take the lock `how`; what lets it go."""
    if how == "another process's transaction":
        other = make_engine(engine.url.render_as_string(hide_password=False))
        connection = other.connect()
        transaction = connection.begin()  # BEGIN IMMEDIATE, with the lock file

        def end() -> None:
            transaction.rollback()
            connection.close()
            other.dispose()

        return end
    if how == "a connection outside CareThread":
        raw = sqlite3.connect(str(engine.url.database), isolation_level=None, check_same_thread=False)
        raw.execute("BEGIN IMMEDIATE")

        def end_raw() -> None:
            raw.execute("ROLLBACK")
            raw.close()

        return end_raw
    connection = engine.connect()
    transaction = connection.begin()
    if how == POSTGRES_HOLDER:
        connection.exec_driver_sql("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")

    def end_own() -> None:
        transaction.rollback()
        connection.close()

    return end_own


@contextmanager
def holding(engine: Engine, how: str, seconds: float = HOLD_SECONDS) -> Iterator[None]:
    """Hold the lock from a thread of its own until the block ends (or `seconds` pass, so
    that code that waits for it is late rather than stuck); let go before returning."""
    ready, release = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            end = _take(engine, how)
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            return
        ready.set()
        try:
            release.wait(seconds)
        finally:
            end()

    thread = threading.Thread(target=run, name="lock-holder", daemon=True)
    thread.start()
    assert ready.wait(10) and not failed, failed
    try:
        yield
    finally:
        release.set()
        thread.join(10)
