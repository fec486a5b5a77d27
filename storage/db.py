"""Engine and sessions: SQLite by default, PostgreSQL when DATABASE_URL says so.

SQLite gets WAL (readers never block the writer), a busy timeout (writers wait instead of
failing) and foreign keys on. Every SQLite transaction starts with BEGIN IMMEDIATE so two
writers serialize at the start instead of deadlocking when both try to upgrade a read lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine


def make_engine(url: str, *, echo: bool = False, connect_args: dict | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # errors and logs never quote values (they can be clinical)
            connect_args={"check_same_thread": False, "timeout": 30, **(connect_args or {})},
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        return create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=20,
            connect_args=connect_args or {},
        )
    raise ValueError(f"DATABASE_URL must be sqlite:/// or postgresql+psycopg://, got {parsed.drivername}")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised by every test
        # A read-only snapshot (snapshot_scope) must not hold the write lock: in WAL mode a
        # plain BEGIN reads a consistent snapshot while writers carry on.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


_READ_ONLY = "carethread_read_only"


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def snapshot_scope(engine: Engine) -> Iterator[Session]:
    """A read-only transaction that sees one consistent snapshot for its whole length.

    For long reads that must not be torn by concurrent commits (verifying the audit chain
    while requests append to it, exporting a timeline): REPEATABLE READ READ ONLY on
    PostgreSQL; a deferred BEGIN on SQLite, which in WAL mode neither blocks nor waits for
    writers. Never commits anything.
    """
    options: dict = {_READ_ONLY: True}
    if is_postgres(engine):
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with (
        engine.connect().execution_options(**options) as connection,
        Session(bind=connection, expire_on_commit=False) as session,
    ):
        try:
            yield session
        finally:
            session.rollback()
