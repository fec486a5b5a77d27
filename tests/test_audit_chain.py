"""The hash chain: tampering of any kind is found at the right seq (Hypothesis over random
logs), the full and the periodic verification on a real database, the alert to the admin
channel once per new failure, and PostgreSQL refusing to change audit rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from bot import auditlog
from bot.audit import verify as audit_verify
from bot.audit.settings import AuditSettings
from bot.auditlog import GENESIS_HASH, Outcome, PendingEvent, Source
from bot.scheduler import run_sweep
from bot.unit import Actor
from storage import migrate
from storage.core import AuditEvent, AuditHead
from storage.db import session_scope, snapshot_scope
from tests.support import (
    ALICE,
    BOB,
    care_team,
)

KEY = b"test-audit-key-0123456789"
T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# -- random logs, chained in memory by the code append uses --------------------------------------

pending_events = st.builds(
    PendingEvent,
    at=st.integers(0, 10**8).map(lambda s: T0 + timedelta(seconds=s, microseconds=s % 997)),
    actor=st.sampled_from(["U0ALICE", "U0BOB", "app"]),
    action=st.sampled_from(["case.created", "member.added", "message.delivered", "audit.viewed"]),
    outcome=st.sampled_from(list(Outcome)),
    source=st.sampled_from(list(Source)),
    team_id=st.none() | st.just("T0CLINIC"),
    case_id=st.none() | st.integers(1, 50),
    target=st.none() | st.text(max_size=20),
    correlation_id=st.none() | st.text(max_size=20),
    details=st.dictionaries(
        st.text(max_size=8), st.integers() | st.text(max_size=12) | st.booleans(), max_size=3
    ),
)


def chain(items: list[PendingEvent], key: bytes = KEY) -> list[AuditEvent]:
    return auditlog.chain(key, items, after_seq=0, after_hash=GENESIS_HASH)


def copy(row: AuditEvent, **changes) -> AuditEvent:
    return AuditEvent(**{**row.model_dump(), **changes})


def head_of(rows: list[AuditEvent]) -> AuditHead:
    return AuditHead(id=1, seq=rows[-1].seq, hash=rows[-1].hash)


def forged(template: AuditEvent, seq: int, prev_hash: str) -> AuditEvent:
    """What someone with database access but without the key can write: right shape, right
    links, a hash made with a key of their own."""
    row = copy(template, seq=seq, prev_hash=prev_hash, action="case.closed", hash="")
    row.hash = auditlog.event_hash(b"not-the-key-at-all", row)
    return row


# -- Hypothesis: every kind of tampering, found where it happened -----------------------------

logs = st.lists(pending_events, min_size=1, max_size=25)
FIELDS = (
    "at",
    "actor",
    "action",
    "outcome",
    "source",
    "team_id",
    "case_id",
    "target",
    "details",
    "prev_hash",
    "hash",
)


def test_in_memory_chaining_matches_what_append_writes(engine):
    migrate.upgrade(engine)
    items = [
        PendingEvent(
            at=T0, actor="U0ALICE", action="case.created", outcome=Outcome.OK, source=Source.COMMAND
        ),
        PendingEvent(
            at=T0, actor="app", action="message.delivered", outcome=Outcome.OK, source=Source.DELIVERY
        ),
    ]
    with session_scope(engine) as session:
        auditlog.append(session, KEY, items)
    with session_scope(engine) as session:
        stored = list(session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars())
        assert [(r.seq, r.prev_hash, r.hash) for r in stored] == [
            (r.seq, r.prev_hash, r.hash) for r in chain(items)
        ]
        assert auditlog.verify(session, KEY).ok


@settings(max_examples=150, deadline=None)
@given(logs)
def test_an_untouched_log_verifies(items):
    rows = chain(items)
    result = auditlog.verify_rows(KEY, rows, head_of(rows))
    assert result.ok and result.checked == len(rows)


@settings(max_examples=300, deadline=None)
@given(logs, st.data())
def test_changing_any_field_of_any_row_is_found_at_that_row(items, data):
    rows = chain(items)
    i = data.draw(st.integers(0, len(rows) - 1), label="row")
    name = data.draw(st.sampled_from(FIELDS), label="field")
    old = getattr(rows[i], name)
    if name == "at":
        new = old + timedelta(microseconds=data.draw(st.integers(1, 10**9)))
    elif name == "case_id":
        new = data.draw(st.none() | st.integers(1, 99).filter(lambda v: v != old))
        if new == old:
            new = 100
    elif name in ("prev_hash", "hash"):
        new = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda v: v != old))
    elif name == "details":
        new = auditlog.canonical_details({"tampered": data.draw(st.integers())})
    else:
        new = data.draw(st.text(max_size=20).filter(lambda v: v != old))
    rows[i] = copy(rows[i], **{name: new})
    result = auditlog.verify_rows(KEY, rows, head_of(chain(items)))
    assert not result.ok and result.first_bad_seq == i + 1, (name, result)


@settings(max_examples=200, deadline=None)
@given(logs, st.data())
def test_deleting_any_row_is_found_at_that_row(items, data):
    rows = chain(items)
    head = head_of(rows)
    i = data.draw(st.integers(0, len(rows) - 1))
    del rows[i]
    result = auditlog.verify_rows(KEY, rows, head)
    assert not result.ok and result.first_bad_seq == i + 1, result


@settings(max_examples=200, deadline=None)
@given(logs.filter(lambda items: len(items) >= 2), st.data())
def test_reordering_rows_is_found_at_the_first_moved_row(items, data):
    rows = chain(items)
    head = head_of(rows)
    i = data.draw(st.integers(0, len(rows) - 2))
    j = data.draw(st.integers(i + 1, len(rows) - 1))
    # Two ways to reorder: swap the rows as they come back, or swap their seq numbers (what
    # an UPDATE would do, so that reading in seq order returns them swapped).
    if data.draw(st.booleans(), label="renumber"):
        a, b = copy(rows[j], seq=rows[i].seq), copy(rows[i], seq=rows[j].seq)
        rows[i], rows[j] = a, b
    else:
        rows[i], rows[j] = rows[j], rows[i]
    result = auditlog.verify_rows(KEY, rows, head)
    assert not result.ok and result.first_bad_seq == i + 1, result


@settings(max_examples=200, deadline=None)
@given(logs, st.data())
def test_inserting_a_row_is_found_at_the_inserted_row(items, data):
    rows = chain(items)
    head = head_of(rows)
    i = data.draw(st.integers(0, len(rows)), label="position")
    prev = rows[i - 1].hash if i > 0 else GENESIS_HASH
    intruder = forged(rows[min(i, len(rows) - 1)], i + 1, prev)
    if data.draw(st.booleans(), label="renumber the rest"):
        # The careful forger renumbers and re-links everything after it (with their own key).
        tail, last = [], intruder.hash
        for row in rows[i:]:
            moved = forged(row, row.seq + 1, last)
            tail.append(moved)
            last = moved.hash
        rows = [*rows[:i], intruder, *tail]
    else:
        rows.insert(i, intruder)
    result = auditlog.verify_rows(KEY, rows, head)
    assert not result.ok and result.first_bad_seq == i + 1, result


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logs.filter(lambda items: len(items) >= 2), st.data())
def test_verifying_from_a_verified_point_finds_the_same_seq(items, data):
    rows = chain(items)
    k = data.draw(st.integers(1, len(rows) - 1), label="verified up to")
    i = data.draw(st.integers(k, len(rows) - 1), label="tampered row")
    head = head_of(rows)
    rows[i] = copy(rows[i], actor="U0MALLORY")
    full = auditlog.verify_rows(KEY, rows, head)
    partial = auditlog.verify_rows(KEY, rows[k:], head, start_seq=k + 1, prev_hash=rows[k - 1].hash)
    assert full.first_bad_seq == partial.first_bad_seq == i + 1
    assert partial.checked == i - k


def test_a_log_written_with_another_key_fails_at_the_first_row():
    rows = chain([PendingEvent(at=T0, actor="app", action="x", outcome="ok", source="cli")] * 3)
    result = auditlog.verify_rows(b"another-key-entirely", rows, head_of(rows))
    assert not result.ok and result.first_bad_seq == 1


# -- on a real database ---------------------------------------------------------------------------


def tamper(engine, statement: str, **params) -> None:
    """Change audit rows behind the app's back (on PostgreSQL the trigger must go first,
    as an attacker who owns the table could do)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        connection.execute(text(statement), params)
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete"))


@pytest.fixture
def alerting(make_harness):
    return make_harness(CARETHREAD_ADMIN_CHANNEL="C0ADMIN")


def _activity(harness) -> None:
    case_id = care_team(harness, {ALICE: "prescriber", BOB: "therapist"})
    harness.command(ALICE, f"show C-{case_id}")


def _run(harness, **limits) -> audit_verify.RunResult:
    result = audit_verify.run_periodic(harness.deps, **limits)
    harness.settle()
    harness.clock.advance(timedelta(seconds=harness.settings.section(AuditSettings).verify_seconds))
    return result


def test_full_verify_sees_one_snapshot_while_others_append(harness):
    _activity(harness)
    with snapshot_scope(harness.engine) as session:
        head = session.get(AuditHead, 1)
        harness.deps.record(Actor.app(), "test.appended_meanwhile", Outcome.OK)
        result = auditlog.verify_rows(KEY and harness.deps.audit_key, auditlog.iter_events(session), head)
    assert result.ok
    assert audit_verify.verify_full(harness.deps).ok


def test_periodic_verification_is_a_sweep_step_that_runs_once_per_period(harness):
    _activity(harness)
    assert run_sweep(harness.deps)["audit_verify"] == "ok"
    assert run_sweep(harness.deps)["audit_verify"] == "not_due"
    harness.clock.advance(timedelta(seconds=harness.settings.section(AuditSettings).verify_seconds))
    assert run_sweep(harness.deps)["audit_verify"] == "ok"
    verified = harness.audit_events(action="audit.verified")
    assert len(verified) == 2 and all(e.source == "scheduler" and e.actor == "app" for e in verified)
    with session_scope(harness.engine) as session:
        state = json.loads(
            session.execute(text("SELECT value FROM app_meta WHERE key='audit_verify'")).scalar()
        )
        head = session.get(AuditHead, 1)
    assert state["tip_seq"] == verified[-1].seq - 1 and state["tip_seq"] <= head.seq


def test_alerts_the_admin_channel_once_per_new_failure(alerting):
    h = alerting
    _activity(h)
    assert _run(h).status == "ok"
    target = h.audit_events()[2]
    original = target.details
    tamper(h.engine, "UPDATE audit_events SET details = :d WHERE seq = :s", d='{"role":"pcp"}', s=target.seq)

    first = _run(h)
    assert (first.status, first.first_bad_seq, first.alerted) == ("failed", target.seq, True)
    alerts = h.posts("C0ADMIN")
    assert len(alerts) == 1 and alerts[0]["text"] == "CareThread audit trail verification failed"
    assert f"#{target.seq}" in json.dumps(alerts[0]["blocks"])

    again = _run(h)  # the same failure: audited, not alerted again
    assert (again.status, again.first_bad_seq, again.alerted) == ("failed", target.seq, False)
    assert len(h.posts("C0ADMIN")) == 1

    earlier = h.audit_events()[0]
    tamper(h.engine, "UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = :s", s=earlier.seq)
    assert _run(h).first_bad_seq == earlier.seq  # a new failure: a new alert
    assert len(h.posts("C0ADMIN")) == 2

    # Restored from backup: verifies again, and a later failure alerts again.
    tamper(h.engine, "UPDATE audit_events SET actor = :a WHERE seq = :s", a=earlier.actor, s=earlier.seq)
    tamper(h.engine, "UPDATE audit_events SET details = :d WHERE seq = :s", d=original, s=target.seq)
    assert _run(h).status == "ok"
    tamper(h.engine, "UPDATE audit_events SET details = '{}' WHERE seq = :s", s=target.seq)
    # The rolling re-check comes round to that old row within a cycle of runs.
    later = next(r for r in (_run(h) for _ in range(5)) if r.status == "failed")
    assert (later.first_bad_seq, later.alerted) == (target.seq, True)
    assert len(h.posts("C0ADMIN")) == 3
    failed = h.audit_events(action="audit.verify_failed")
    assert [json.loads(e.details)["alerted"] for e in failed] == [True, False, True, True]
    assert all(e.outcome == "error" for e in failed)


def test_new_rows_gaps_and_truncation_are_found(alerting):
    h = alerting
    _activity(h)
    assert _run(h).status == "ok"
    h.command(ALICE, "show C-1")
    newest = h.audit_events()[-1]
    tamper(h.engine, "UPDATE audit_events SET outcome = 'denied' WHERE seq = :s", s=newest.seq)
    assert _run(h).first_bad_seq == newest.seq
    tamper(h.engine, "DELETE FROM audit_events WHERE seq = :s", s=newest.seq)  # a gap
    gap = _run(h)
    assert (gap.status, gap.first_bad_seq, gap.problem) == (
        "failed",
        newest.seq,
        f"expected seq {newest.seq}, found {newest.seq + 1}",
    )
    tamper(h.engine, "DELETE FROM audit_events WHERE seq >= :s", s=newest.seq)  # the tail cut off
    truncated = _run(h)
    assert (truncated.status, truncated.first_bad_seq) == ("failed", newest.seq)
    assert truncated.problem.startswith("chain ends at")


def test_an_intruder_beyond_the_head_is_found_and_alerted_directly(alerting):
    h = alerting
    _activity(h)
    assert _run(h).status == "ok"
    with session_scope(h.engine) as session:
        head = session.get(AuditHead, 1)
        last = session.get(AuditEvent, head.seq)
        session.add(forged(copy(last), head.seq + 1, last.hash))  # an INSERT: no trigger refuses it
    # Every append now collides with the intruder, so the failure cannot be recorded in the
    # trail or sent through the outbox: the alert goes out directly, still only once.
    for _ in range(2):
        result = _run(h)
        assert (result.status, result.first_bad_seq) == ("failed", head.seq + 1)
    alerts = h.posts("C0ADMIN")
    assert len(alerts) == 1 and alerts[0]["text"] == "CareThread audit trail verification failed"
    assert "rows beyond the chain head" in json.dumps(alerts[0]["blocks"])
    full = audit_verify.verify_full(h.deps)
    assert (full.ok, full.first_bad_seq) == (False, head.seq + 1)


def test_work_per_run_is_bounded_and_old_rows_are_rechecked_in_turn(harness):
    _activity(harness)
    total = len(harness.audit_events())
    runs = 0
    while True:
        result = audit_verify.run_periodic(harness.deps, tip_batch=4, recheck_chunk=3)
        runs += 1
        assert result.status == "ok" and result.checked <= 4 + 3
        with session_scope(harness.engine) as session:
            state = json.loads(
                session.execute(text("SELECT value FROM app_meta WHERE key='audit_verify'")).scalar()
            )
        if state["due_at"] is not None:
            break  # caught up with the head: next run in a period
    assert runs >= total // 4
    # An old row, long verified, is altered: the rolling re-check reaches it within a cycle.
    tamper(harness.engine, "UPDATE audit_events SET action = 'case.closed' WHERE seq = 2")
    found = None
    for _ in range(total):
        harness.clock.advance(timedelta(seconds=harness.settings.section(AuditSettings).verify_seconds))
        found = audit_verify.run_periodic(harness.deps, tip_batch=4, recheck_chunk=3)
        if found.status == "failed":
            break
    assert found is not None and (found.status, found.first_bad_seq) == ("failed", 2)


def test_a_failure_without_an_admin_channel_is_logged_and_audited(harness, caplog):
    _activity(harness)
    tamper(harness.engine, "UPDATE audit_events SET actor = 'U0X' WHERE seq = 1")
    result = _run(harness)
    assert (result.status, result.first_bad_seq, result.alerted) == ("failed", 1, False)
    assert "CARETHREAD_ADMIN_CHANNEL is not set" in caplog.text
    [failed] = harness.audit_events(action="audit.verify_failed")
    assert json.loads(failed.details) == {"alerted": False, "problem": "content does not match its hash"}


def test_postgresql_refuses_to_change_or_remove_audit_rows(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only")
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        auditlog.append(
            session, KEY, [PendingEvent(at=T0, actor="app", action="x", outcome="ok", source="cli")]
        )
    for statement in (
        "UPDATE audit_events SET action = 'y' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 1",
        "TRUNCATE audit_events",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    with session_scope(engine) as session:
        row = session.get(AuditEvent, 1)
        assert row.action == "x"
        # Appending still works, and so does verification.
        auditlog.append(
            session, KEY, [PendingEvent(at=T0, actor="app", action="z", outcome="ok", source="cli")]
        )
    with snapshot_scope(engine) as session:
        assert auditlog.verify(session, KEY).ok
