"""Views (`/case show`, `/case list`, help) read in a snapshot and write only what they
record, after their reads: on SQLite, a view that held the write lock through its reads kept
every acknowledgement waiting behind it (bot/unit.py `Unit`, bot/deps.py `Deps.unit`)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select

from bot.auditlog import Source
from bot.cases import service as cases
from bot.delivery import RESPONSE_URL
from bot.unit import Actor
from storage.core import AuditEvent, OutboxStatus, ProcessedRequest
from storage.db import ReadOnlyWrite, is_postgres, session_scope, snapshot_scope
from storage.inbox import InboxRequest, InboxStatus
from storage.types import table_of
from tests.support import ALICE, Harness, care_team

ACTOR = Actor(ALICE, "T0CLINIC", Source.COMMAND)


def _write_elsewhere(h: Harness, key: str, done: threading.Event) -> threading.Thread:
    """Another writer (an ack saving its request, say), on a thread of its own."""

    def write() -> None:
        with session_scope(h.engine) as session:
            session.add(ProcessedRequest(key=key, created_at=h.clock.now()))
        done.set()

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_a_view_lets_other_writers_commit_while_it_reads(harness):
    case_id = care_team(harness)
    done = threading.Event()
    with harness.deps.unit(ACTOR, reads_only=True) as unit:
        shown = cases.show_case(unit, case_id=case_id)
        writer = _write_elsewhere(harness, "while-viewing", done)
        assert done.wait(10), "another writer waited for a view to end"
    writer.join()
    assert shown.ref == f"C-{case_id}"
    # What the view records is written after its reads.
    [viewed] = harness.audit_events(action="case.viewed")
    assert viewed.case_id == case_id and viewed.actor == ALICE


def test_a_unit_that_writes_holds_other_sqlite_writers_until_it_ends(harness):
    """The contrast that makes the test above mean something: SQLite has one writer."""
    if is_postgres(harness.engine):
        pytest.skip("PostgreSQL's writers do not wait for each other's unrelated rows")
    case_id = care_team(harness)
    done = threading.Event()
    with harness.deps.unit(ACTOR) as unit:
        cases.show_case(unit, case_id=case_id)
        writer = _write_elsewhere(harness, "while-changing", done)
        assert not done.wait(0.5), "a second SQLite writer committed inside a write transaction"
    writer.join(10)
    assert done.is_set()


def test_a_view_cannot_change_state(harness):
    case_id = care_team(harness)
    before = len(harness.audit_events())
    with pytest.raises(ReadOnlyWrite), harness.deps.unit(ACTOR, reads_only=True) as unit:
        unit.audit("case.viewed", case_id=case_id)
        unit.session.add(ProcessedRequest(key="sneaked-in", created_at=unit.now))
        unit.session.flush()
    with pytest.raises(RuntimeError, match="only reads"), harness.deps.unit(ACTOR, reads_only=True) as unit:
        unit.once("a-delivery-id")
    with pytest.raises(RuntimeError, match="only reads"), harness.deps.unit(ACTOR, reads_only=True) as unit:
        unit.post(channel="C0CARE", message={"text": "x"}, purpose="test", thread_of=1)
    assert harness.rows(ProcessedRequest) == []
    assert len(harness.audit_events()) == before  # a failed view records nothing


def test_a_read_only_snapshot_refuses_core_writes_too(harness):
    engine = harness.engine
    with pytest.raises(ReadOnlyWrite), snapshot_scope(engine) as session:
        session.execute(insert(table_of(ProcessedRequest)).values(key="core", created_at=datetime.now(UTC)))
    with session_scope(engine) as session:
        assert session.execute(select(ProcessedRequest)).first() is None


def test_a_view_worked_twice_replies_once_and_is_recorded_once(harness):
    """Two workers on one `/case show` row (the first one's lease ran out): the done mark is
    written with the view's audit event and reply, so the second finds it done and writes
    nothing."""
    case_id = care_team(harness)
    harness.deps.inbox.stop()
    replies_before = len(harness.replies())
    harness.command(ALICE, f"show C-{case_id}", settle=False)
    [row] = [r for r in harness.rows(InboxRequest) if r.status != InboxStatus.DONE]
    harness.deps.inbox._process(row.id)
    harness.deps.inbox._process(row.id)
    assert harness.deps.relay.wait_idle(10)
    assert len(harness.audit_events(action="case.viewed")) == 1
    shown = harness.replies()[replies_before:]
    assert len(shown) == 1 and f"C-{case_id}" in str(shown[0])
    assert harness.get(InboxRequest, row.id).status == InboxStatus.DONE
    assert {m.status for m in harness.outbox(replies=True, method=RESPONSE_URL)} == {OutboxStatus.SENT}


def test_help_is_one_view_recorded_once(harness):
    harness.command(ALICE, "help")
    [event] = harness.audit_events(action="help.viewed")
    assert event.actor == ALICE
    assert "/case show" in harness.last_reply_text()
    assert isinstance(event, AuditEvent)
