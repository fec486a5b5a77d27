"""Group commit for the inbox (bot/group_insert.py): acks arriving together share one
transaction, and each still gets its own row's outcome."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.group_insert import SAVE_SECONDS, GroupInsert, Replayed
from storage.db import DeadlinePassed, session_scope
from storage.inbox import InboxRequest
from storage.migrate import upgrade
from tests.holding import POSTGRES_HOLDER, SQLITE_HOLDERS, holding

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def _row(n: int, signature: str | None = None) -> dict:
    return {
        "priority": 1,
        "received_at": NOW,
        "kind": "command",
        "listener": "cases.command",
        "content_type": "application/x-www-form-urlencoded",
        "body_enc": f"body-{n}",
        "signature_hash": signature if signature is not None else f"sig-{n}",
        "status": "pending",
        "owner": None,
        "lease_until": None,
        "attempts": 0,
    }


def _together(saver: GroupInsert, rows: list[dict]) -> list[object]:
    """Save every row from its own thread, released at once; each thread's outcome."""
    outcomes: list[object] = [None] * len(rows)
    start = threading.Barrier(len(rows))

    def one(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = saver.save(rows[i])
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_rows_saved_together_share_transactions_and_each_gets_its_own_id(migrated):
    saver = GroupInsert(migrated)
    commits, held = [], threading.Event()

    def slow_first_transaction(_conn) -> None:
        """The first leader's transaction lasts until the other 39 have queued behind it,
        as on a busy database, so what follows does not depend on thread scheduling."""
        if not held.is_set():
            held.set()
            deadline = time.monotonic() + 10
            while len(saver._queue) < 39 and time.monotonic() < deadline:
                time.sleep(0.001)

    event.listen(migrated, "begin", slow_first_transaction)
    event.listen(migrated, "commit", lambda _conn: commits.append(1))
    outcomes = _together(saver, [_row(n) for n in range(40)])
    transactions = len(commits)
    assert all(isinstance(o, int) for o in outcomes) and len(set(outcomes)) == 40
    with session_scope(migrated) as session:
        stored = dict(session.execute(select(InboxRequest.id, InboxRequest.body_enc)).all())
    assert {stored[o] for o in outcomes} == {f"body-{n}" for n in range(40)}  # each its own row
    assert [stored[o] for o in outcomes] == [f"body-{n}" for n in range(40)]
    assert transactions == 2  # the first leader's row, then the 39 that waited, in one


def test_a_replay_among_them_is_refused_alone(migrated):
    saver = GroupInsert(migrated)
    first = saver.save(_row(0, "seen"))
    outcomes = _together(saver, [_row(1), _row(2, "seen"), _row(3), _row(4, "seen")])
    assert isinstance(outcomes[0], int) and isinstance(outcomes[2], int)
    assert isinstance(outcomes[1], Replayed) and isinstance(outcomes[3], Replayed)
    with session_scope(migrated) as session:
        assert session.execute(select(func.count()).select_from(InboxRequest)).scalar_one() == 3
        assert session.get(InboxRequest, first).body_enc == "body-0"  # type: ignore[union-attr]


def test_a_database_error_fails_the_whole_batch_and_saves_none_of_it(migrated):
    saver = GroupInsert(migrated)
    broken = _row(1)
    broken["kind"] = None  # NOT NULL: the batch's transaction fails
    outcomes = _together(saver, [broken])
    assert isinstance(outcomes[0], Exception) and not isinstance(outcomes[0], Replayed)
    with session_scope(migrated) as session:
        assert session.execute(select(func.count()).select_from(InboxRequest)).scalar_one() == 0
    assert isinstance(saver.save(_row(2)), int)  # the next request is saved as usual


def test_a_batch_that_waits_out_its_deadline_fails_every_request_in_it_and_saves_none(migrated):
    """Another writer holds the lock the inserts need for longer than Slack waits: every
    request of the batch (and of the batches queued behind it) fails within SAVE_SECONDS,
    each told so, and none is saved once the lock is let go."""
    how = POSTGRES_HOLDER if migrated.dialect.name == "postgresql" else SQLITE_HOLDERS[0]
    saver = GroupInsert(migrated)
    with holding(migrated, how):
        started = time.monotonic()
        outcomes = _together(saver, [_row(n) for n in range(5)])
        answered = time.monotonic() - started
    assert all(isinstance(o, SQLAlchemyError) for o in outcomes), outcomes
    assert answered < SAVE_SECONDS + 1.5, answered  # not the 30 s the workers would wait
    with session_scope(migrated) as session:
        assert session.execute(select(func.count()).select_from(InboxRequest)).scalar_one() == 0
    assert isinstance(saver.save(_row(5)), int)  # the lock let go: saved as usual


def test_a_batch_written_past_its_deadline_is_rolled_back_not_committed(migrated, monkeypatch):
    """The inserts themselves outlast the deadline: the person is told it was not saved, so
    the transaction must not commit afterwards."""
    monkeypatch.setattr("bot.group_insert.SAVE_SECONDS", 0.5)
    saver = GroupInsert(migrated)

    def slow(_conn, _cursor, statement: str, *_args) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            time.sleep(0.7)

    event.listen(migrated, "after_cursor_execute", slow)
    try:
        [outcome] = _together(saver, [_row(1)])
    finally:
        event.remove(migrated, "after_cursor_execute", slow)
    assert isinstance(outcome, DeadlinePassed)
    with session_scope(migrated) as session:
        assert session.execute(select(func.count()).select_from(InboxRequest)).scalar_one() == 0


@pytest.fixture
def migrated(engine):
    upgrade(engine)
    return engine
