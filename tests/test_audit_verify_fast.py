"""The fast full verification (issue 12): plain driver rows, the canonical message built
directly, the HMAC key schedule computed once, and the chain cut into ranges verified by
several processes. It must report exactly what the one-process, ORM-row walk reports."""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot import auditlog
from bot.audit.verify import start_method, verify_in_parallel
from bot.auditlog import KeyedSha256, Outcome, PendingEvent, Source
from storage import migrate
from storage.core import AuditEvent, AuditHead, event_tuples
from storage.db import session_scope, snapshot_scope
from tests.test_audit_chain import tamper

KEY = b"test-audit-key-0123456789"
T0 = datetime(2026, 11, 23, 9, 30, 15, 123456, tzinfo=UTC)
URLS: dict[object, str] = {}
# How the verifying processes start: both ways must report the same.
METHODS = [m for m in ("fork", "spawn") if m in multiprocessing.get_all_start_methods()]


def _odd_events(n: int) -> list[PendingEvent]:
    """Values the canonical JSON must escape exactly as json.dumps does: quotes, backslashes,
    control characters, non-ASCII, None in every nullable column, whole seconds."""
    odd = ["plain", 'quo"te', "back\\slash", "tab\tnew\nline", "Zoë → ✓", "\u2028", "\x01", "😀"]
    return [
        PendingEvent(
            at=T0 + timedelta(seconds=i) if i % 3 else T0.replace(microsecond=0) + timedelta(minutes=i),
            actor=f"U{i}",
            action=f"case.{odd[i % len(odd)]}",
            outcome=Outcome.OK,
            source=Source.COMMAND,
            team_id=None if i % 2 else "T0",
            case_id=None if i % 4 == 0 else i,
            target=None if i % 5 == 0 else odd[(i + 1) % len(odd)],
            correlation_id=None if i % 3 == 0 else f"{i}.{odd[(i + 2) % len(odd)]}",
            details={"text": odd[(i + 3) % len(odd)], "n": i},
        )
        for i in range(n)
    ]


@pytest.fixture
def chain(db_url_and_engine):
    url, engine = db_url_and_engine
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        auditlog.append(session, KEY, _odd_events(40))
    URLS[engine] = url  # what a verifying process connects with (the test's own schema)
    yield engine
    URLS.pop(engine, None)


def test_keyed_sha256_is_hmac_sha256():
    for key in (b"k", KEY, b"x" * 64, b"y" * 65, b"z" * 200):
        keyed = KeyedSha256(key)
        for message in (b"", b"abc", json.dumps({"a": "Zoë"}, ensure_ascii=False).encode() * 50):
            assert keyed.hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_the_canonical_message_from_stored_rows_is_the_one_event_hash_signs(chain):
    with snapshot_scope(chain) as session:
        stored = list(event_tuples(session=session, batch=7))
        rows = list(auditlog.iter_events(session))
    assert [r[0] for r in stored] == [r.seq for r in rows] == list(range(1, 41))
    for raw, row in zip(stored, rows, strict=True):
        assert (
            KeyedSha256(KEY).hexdigest(auditlog._canonical(raw)) == auditlog.event_hash(KEY, row) == row.hash
        )


def _both(engine, **parallel) -> tuple[auditlog.VerifyResult, auditlog.VerifyResult]:
    with snapshot_scope(engine) as session:
        head = session.get(AuditHead, 1)
        slow = auditlog.verify_rows(KEY, auditlog.iter_events(session), head)
        fast = auditlog.verify(session, KEY)
        assert fast == slow
    url = URLS[engine]
    with snapshot_scope(engine) as session:
        split = verify_in_parallel(url, KEY, session, **parallel)
    return slow, split


@pytest.mark.parametrize("method", METHODS)
def test_an_intact_chain_verifies_in_one_and_in_several_processes(chain, method):
    slow, split = _both(chain, workers=3, method=method)
    assert slow.ok and slow.checked == 40
    assert split == slow


@pytest.mark.parametrize(
    ("statement", "first_bad"),
    [
        ("UPDATE audit_events SET actor = 'U0MALLORY' WHERE seq = 14", 14),  # altered, mid-range
        ("DELETE FROM audit_events WHERE seq = 27", 27),  # removed: the first row of the third range
        ("DELETE FROM audit_events WHERE seq = 26", 26),  # removed: the last row of a range
        ("DELETE FROM audit_events WHERE seq > 37", 38),  # the newest removed, the head not reset
        ("UPDATE audit_events SET details = '{\"n\": 2}' WHERE seq = 1", 1),
    ],
)
@pytest.mark.parametrize("method", METHODS)
def test_tampering_is_found_at_the_same_seq_by_every_path(chain, statement, first_bad, method):
    tamper(chain, statement)
    slow, split = _both(chain, workers=3, method=method)  # ranges 1-13, 14-26, 27-40
    assert not slow.ok and slow.first_bad_seq == first_bad
    assert (split.ok, split.first_bad_seq) == (False, first_bad)


def test_a_row_beyond_the_head_is_found_by_the_split_walk(chain):
    with session_scope(chain) as session:
        head = session.get(AuditHead, 1)
        head.seq -= 1  # as if a row had been forged after the head
        head.hash = session.get(AuditEvent, head.seq).hash
    slow, split = _both(chain, workers=2)
    assert (slow.ok, slow.first_bad_seq) == (split.ok, split.first_bad_seq) == (False, 40)
    assert split.problem == slow.problem == "chain ends at 40, head says 39"


def test_processes_are_forked_only_from_a_process_with_one_thread():
    """Forking copies every lock as it is, including one another thread holds at that moment:
    with a second thread running, the verifying processes are spawned instead."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert start_method() == "spawn"
    finally:
        release.set()
        other.join()
    if threading.active_count() == 1 and "fork" in METHODS:
        assert start_method() == "fork"


def test_a_forked_verifier_leaves_the_parents_connection_usable(chain):
    """The forked processes open their own connections and close none of the parent's: the
    snapshot the parent verified in still reads afterwards."""
    if "fork" not in METHODS:
        pytest.skip("no fork on this platform")
    with snapshot_scope(chain) as session:
        assert verify_in_parallel(URLS[chain], KEY, session, workers=2, method="fork").ok
        assert session.execute(text("SELECT count(*) FROM audit_events")).scalar() == 40
        assert auditlog.verify(session, KEY).ok


def test_a_stored_time_the_fast_path_reads_differently_falls_back_to_the_exact_check(chain):
    """A value written another way (here: `at` without microseconds, as another tool might
    store it) is not a false alarm: the exact walk takes over from that row."""
    if chain.dialect.name != "sqlite":
        pytest.skip("SQLite stores times as text")
    tamper(chain, "UPDATE audit_events SET at = substr(at, 1, 19) WHERE seq = 4 AND at LIKE '%.000000'")
    with snapshot_scope(chain) as session:
        changed = session.execute(text("SELECT at FROM audit_events WHERE seq = 4")).scalar()
        assert len(changed) == 19
        assert auditlog.verify(session, KEY).ok
