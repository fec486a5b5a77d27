"""Engine and sessions: SQLite by default, PostgreSQL when DATABASE_URL says so.

SQLite gets WAL (readers never block the writer), a busy timeout (writers wait instead of
failing) and foreign keys on. Every SQLite transaction starts with BEGIN IMMEDIATE so two
writers serialize at the start instead of deadlocking when both try to upgrade a read lock.

Those waits are long (BUSY_SECONDS, the pool's 30 s) for the work that is not answering
anyone. A transaction that must be over in time (`begin_by`: the ack path's inbox save,
which Slack gives 3 s) has every wait bounded by what is left of its deadline instead, and
fails (DeadlinePassed, or the database's own timeout error) rather than start late: the
wait for a pooled connection and for a new one, SQLite's writer turn, lock file and busy
timeout, PostgreSQL's lock and statement timeouts; and it is rolled back, not committed,
if the deadline passed while it ran.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import QueuePool
from sqlmodel import Session, create_engine

BUSY_SECONDS = 30  # how long a writer without a deadline waits for SQLite's lock
PG_CONNECT_SECONDS = 2  # a new PostgreSQL connection under a deadline: psycopg's least

# The deadline (time.monotonic()) of the transaction this thread is in, if it has one.
_DEADLINE: ContextVar[float | None] = ContextVar("carethread_deadline", default=None)


class DeadlinePassed(sa_exc.TimeoutError):
    """A transaction with a deadline (`begin_by`) could not be done in time: nothing of it
    was committed."""


def _left(deadline: float) -> float:
    """Seconds left before `deadline`; DeadlinePassed when none are."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the transaction's deadline passed before it was done")
    return left


class _BoundedPool(QueuePool):
    """A QueuePool whose wait for a free connection is bounded by the thread's deadline, if
    it has one (`begin_by`); the others wait the pool's timeout as before."""

    @property
    def _timeout(self) -> float:
        deadline = _DEADLINE.get()
        if deadline is None:
            return self._long_timeout
        return max(0.0, min(self._long_timeout, deadline - time.monotonic()))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._long_timeout = value


# SQLAlchemy names a pool's logger after its class, and quiets only its own ("sqlalchemy.*"):
# keep this one as quiet, or every start logs "Pool disposed … Pool recreating" at INFO.
logging.getLogger(f"{_BoundedPool.__module__}.{_BoundedPool.__name__}").setLevel(logging.WARNING)


def make_engine(url: str, *, echo: bool = False, connect_args: dict | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        on_disk = bool(parsed.database) and parsed.database != ":memory:"
        if on_disk:
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,  # errors and logs never quote values (they can be clinical)
            connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS, **(connect_args or {})},
            **({"poolclass": _BoundedPool} if on_disk else {}),
        )
        _configure_sqlite(engine, Path(f"{parsed.database}.writer-lock") if on_disk else None)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = str(parsed.set(drivername="postgresql+psycopg"))
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            pool_pre_ping=True,
            poolclass=_BoundedPool,
            pool_size=10,
            max_overflow=20,
            connect_args=connect_args or {},
        )
        _configure_postgres(engine)
        return engine
    raise ValueError(f"DATABASE_URL must be sqlite:/// or postgresql+psycopg://, got {parsed.drivername}")


class _WriterTurn:
    """One write transaction at a time per SQLite engine, handed from thread to thread at once,
    in arrival order.

    SQLite allows one writer; a writer that finds the database locked is put to sleep by the
    busy handler in steps of 1, 2, 5, 10, 15, 20, 25, 50, 100 ms and tries again, so under
    contention every ack (an inbox insert) waited tens of milliseconds behind workers that
    had long finished. Taking turns in the process instead wakes the next writer the moment
    the last one is done, first come first served (so a burst of acks cannot starve the
    relay, whose leases would then run out). Re-entrant per thread (a thread that opens a
    second write transaction meets SQLite's own lock, as before), and bounded: after
    WAIT_SECONDS a writer proceeds and SQLite decides.

    Across processes (the web server's acks and the work process's units, bot/processes.py)
    the thread whose turn it is also takes an exclusive lock on a file beside the database
    (`lock_path`), which the kernel hands on when it is let go: without it, an ack waited in
    the busy handler behind the work process's transactions, up to 130 ms at one client.
    Waiting for that lock polls every POLL_SECONDS at most, and is bounded the same way.

    The work process's writers defer (`defer_writes`): while a web process waits for the lock
    (it holds a shared lock on a second file, `want_path`, meanwhile), a deferring writer waits
    up to DEFER_SECONDS before it takes the lock again. Otherwise the work process, running
    one transaction after another, took the lock back each time before a waiting ack noticed
    it was free, and acks waited through several of its transactions.

    A writer with a deadline (`begin_by`) waits for its turn, and for the lock file, only
    until then, and then fails (DeadlinePassed) instead of proceeding: it must not start late."""

    WAIT_SECONDS = 30.0
    POLL_SECONDS = 0.001
    DEFER_SECONDS = 0.05

    def __init__(self, lock_path: Path | None = None) -> None:
        self._mutex = threading.Lock()
        self._waiting: deque[tuple[int, threading.Lock]] = deque()
        self._owner: int | None = None
        self._depth = 0
        self._lock_path = lock_path
        self._want_path = lock_path.with_name(lock_path.name + "-want") if lock_path else None
        self._lock_fd: int | None = None
        self._want_fd: int | None = None
        self._lock_pid = 0  # the process that opened them: a forked child opens its own
        self._locked = False
        self.defers = False
        self.checkpoints = True  # this process's commits copy the WAL back into the database

    def take(self, deadline: float | None = None) -> bool:
        """This thread's turn: True once taken, False when WAIT_SECONDS ran out (SQLite's
        own lock decides then); with `deadline`, DeadlinePassed when it is not taken by then."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return True
            first = self._owner is None and not self._waiting
            if first:
                self._owner, self._depth = me, 1
            else:
                handed = threading.Lock()
                handed.acquire()
                entry = (me, handed)
                self._waiting.append(entry)
        if first:  # the other processes' turn is taken outside the mutex: it may take a while
            return self._lock_file(deadline)
        if handed.acquire(timeout=self._wait(deadline)):
            return self._lock_file(deadline)
        with self._mutex:
            if entry in self._waiting:  # still queued: give up the turn, SQLite decides
                self._waiting.remove(entry)
                if deadline is not None:
                    raise DeadlinePassed("no turn to write before the deadline")
                return False
        return self._lock_file(deadline)  # handed over just as the wait ran out

    def _wait(self, deadline: float | None) -> float:
        if deadline is None:
            return self.WAIT_SECONDS
        return max(0.0, min(self.WAIT_SECONDS, deadline - time.monotonic()))

    def _lock_file(self, deadline: float | None) -> bool:
        """The other processes' turn, taken by the thread whose turn it is in this one; with
        `deadline`, when it is not taken by then the turn here is given back and
        DeadlinePassed raised."""
        if self._lock_path is None or self._want_path is None:
            return True
        if self._lock_fd is None or self._want_fd is None or self._lock_pid != os.getpid():
            self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._want_fd = os.open(self._want_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._lock_pid = os.getpid()
        if self.defers:  # a web process waiting for the lock goes first
            _poll(lambda: _flock(self._want_fd, fcntl.LOCK_EX), self.DEFER_SECONDS, self.POLL_SECONDS)
            fcntl.flock(self._want_fd, fcntl.LOCK_UN)
        if _flock(self._lock_fd, fcntl.LOCK_EX):
            self._locked = True
            return True
        waiting = not self.defers and _flock(self._want_fd, fcntl.LOCK_SH)
        try:
            self._locked = _poll(
                lambda: _flock(self._lock_fd, fcntl.LOCK_EX), self._wait(deadline), self.POLL_SECONDS
            )  # not taken in WAIT_SECONDS: SQLite's own lock decides
        finally:
            if waiting:
                fcntl.flock(self._want_fd, fcntl.LOCK_UN)
        if not self._locked and deadline is not None:
            self.give_back()
            raise DeadlinePassed("another process kept the database's writer lock past the deadline")
        return True

    def give_back(self) -> None:
        with self._mutex:
            self._depth -= 1
            if self._depth > 0:
                return
            if self._locked and self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                self._locked = False
            if self._waiting:
                self._owner, handed = self._waiting.popleft()
                self._depth = 1
                handed.release()
            else:
                self._owner, self._depth = None, 0


def _flock(fd: int | None, operation: int) -> bool:
    """Take a lock without blocking; whether it was taken."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)  # type: ignore[arg-type]
        return True
    except BlockingIOError:
        return False


def _poll(attempt: Callable[[], bool], seconds: float, every: float) -> bool:
    """Try `attempt` until it succeeds or `seconds` pass, pausing up to `every` between tries."""
    deadline = time.monotonic() + seconds
    pause = every / 10
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, every)
    return True


_TURNS: WeakKeyDictionary[Engine, _WriterTurn] = WeakKeyDictionary()


def never_checkpoint(engine: Engine) -> None:
    """This process only saves requests (the web server, bot/processes.py): its commits never
    run SQLite's WAL checkpoint, which copies the log back into the database and syncs it, so
    no acknowledgement waits for one; the work process's commits checkpoint as before. New
    connections only: call it before the process's first request. Nothing on PostgreSQL."""
    turn = _TURNS.get(engine)
    if turn is not None:
        turn.checkpoints = False
        engine.dispose()  # connections made so far (migrations, checks) checkpoint: let them go


def defer_writes(engine: Engine) -> None:
    """This process's writers let a waiting web process write first (SQLite, between the
    web server and the work process, bot/processes.py); nothing on PostgreSQL, whose writers
    do not take turns."""
    turn = _TURNS.get(engine)
    if turn is not None:
        turn.defers = True


_TURN = "carethread_writer_turn"  # set on a pooled connection while it holds the turn
_BUSY = "carethread_busy_ms"  # a pooled SQLite connection's busy timeout, as last set


def _configure_sqlite(engine: Engine, lock_path: Path | None) -> None:
    turn = _WriterTurn(lock_path)
    _TURNS[engine] = turn

    def give_back(info: dict) -> None:
        if info.pop(_TURN, False):
            turn.give_back()

    def busy_timeout(conn: Connection, ms: int) -> None:
        """The connection's wait for SQLite's lock: short under a deadline, long otherwise
        (the pooled connection goes on to other transactions)."""
        info = conn.connection.info
        if info.get(_BUSY) != ms:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(ms)}")
            info[_BUSY] = ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):  # pragma: no cover - exercised by every test
        dbapi_connection.isolation_level = None  # let us emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        record.info[_BUSY] = BUSY_SECONDS * 1000
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not turn.checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised by every test
        # A read-only snapshot (snapshot_scope) must not hold the write lock: in WAL mode a
        # plain BEGIN reads a consistent snapshot while writers carry on.
        if conn.get_execution_options().get(_READ_ONLY):
            busy_timeout(conn, BUSY_SECONDS * 1000)
            conn.exec_driver_sql("BEGIN")
            return
        deadline = _DEADLINE.get()
        info = conn.connection.info  # the pooled connection's: outlives this checkout
        if turn.take(deadline):
            info[_TURN] = True
        try:
            # Under a deadline, SQLite's lock is waited for only as long as is left of it:
            # "database is locked" then, and the INSERT never runs.
            wait = BUSY_SECONDS if deadline is None else _left(deadline)
            busy_timeout(conn, max(1, int(wait * 1000)))
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            give_back(info)
            raise

    # SQLAlchemy announces a commit or rollback before it happens: end the transaction here,
    # then hand the turn on, so the next writer never finds the database still locked (and
    # sleeps in the busy handler). SQLAlchemy's own call that follows finds nothing to do; if
    # this one failed, that call fails the same way and raises it as it always did.
    @event.listens_for(engine, "commit")
    def _on_commit(conn):  # pragma: no cover - exercised by every test
        try:
            conn.connection.dbapi_connection.commit()
        except sqlite3.Error:
            pass
        finally:
            give_back(conn.connection.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn):  # pragma: no cover - exercised by every test
        try:
            conn.connection.dbapi_connection.rollback()
        except sqlite3.Error:
            pass
        finally:
            give_back(conn.connection.info)

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection, record):  # pragma: no cover - a transaction never ended
        give_back(record.info)


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect, _record, _cargs, cparams):  # pragma: no cover - exercised by tests
        if _DEADLINE.get() is not None:  # a new connection for a transaction with a deadline
            cparams["connect_timeout"] = PG_CONNECT_SECONDS

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # pragma: no cover - exercised by tests
        deadline = _DEADLINE.get()
        if deadline is None:
            return
        # Each statement of this transaction, and each wait for a lock, ends by the deadline
        # (an error, and the transaction rolls back); SET LOCAL: only this transaction's.
        ms = str(max(1, int(_left(deadline) * 1000)))
        conn.exec_driver_sql(
            "SELECT set_config('statement_timeout', %(ms)s, true), set_config('lock_timeout', %(ms)s, true)",
            {"ms": ms},
        )


@contextmanager
def begin_by(engine: Engine, deadline: float) -> Iterator[Connection]:
    """A write transaction that is committed by `deadline` (time.monotonic()) or not at all.

    For the ack path's inbox save (bot/group_insert.py): every wait it would make is bounded
    by what is left (a pooled or new connection, SQLite's writer turn, lock file and busy
    timeout, PostgreSQL's lock and statement timeouts), and what outlasts it fails with
    DeadlinePassed or the database's timeout error before anything is written. Past the
    deadline when the caller is done, it is rolled back instead of committed: the person was,
    or is about to be, told it was not saved. Only a COMMIT already sent is not interrupted."""
    token = _DEADLINE.set(deadline)
    try:
        with engine.connect() as connection, connection.begin():
            yield connection
            _left(deadline)
    finally:
        _DEADLINE.reset(token)


_READ_ONLY = "carethread_read_only"
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class ReadOnlyWrite(RuntimeError):
    """A statement that writes, run in a read-only snapshot (snapshot_scope): a bug."""


def _refuse_writes(_conn, _cursor, statement: str, *_args) -> None:
    if statement.lstrip()[:7].upper().startswith(_WRITES):
        raise ReadOnlyWrite(f"a read-only snapshot cannot run {statement.split(None, 1)[0]}")


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
    writers. Never commits anything, and refuses to write (ReadOnlyWrite): on SQLite a write
    here would otherwise be rolled back without a word when the snapshot ends.
    """
    options: dict = {_READ_ONLY: True}
    if is_postgres(engine):
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with (
        engine.connect().execution_options(**options) as connection,
        Session(bind=connection, expire_on_commit=False) as session,
    ):
        event.listen(connection, "before_cursor_execute", _refuse_writes)
        try:
            yield session
        finally:
            session.rollback()
