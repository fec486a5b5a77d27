"""The append-only, hash-chained audit log.

Each event's hash is an HMAC (key from the environment) over its canonical content and the
previous event's hash, so anyone with database access alone can neither alter a row nor
recompute the chain after altering it. Appends lock the single `audit_head` row, which
serializes them across threads and processes: the chain cannot fork.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row
from sqlmodel import Session, select

from storage.core import AuditEvent, AuditHead
from storage.types import table_of

GENESIS_HASH = "0" * 64
# A stored event: the ORM object, or a plain row with the same columns (iter_events).
EventRow = AuditEvent | Row[Any]


class Outcome(StrEnum):
    OK = "ok"
    DENIED = "denied"
    BAD_INPUT = "bad_input"
    CONFLICT = "conflict"
    ERROR = "error"


class Source(StrEnum):
    COMMAND = "command"
    BUTTON = "button"
    MODAL = "modal"
    SCHEDULER = "scheduler"
    THREAD = "thread"
    DELIVERY = "delivery"
    HOME = "home"
    CLI = "cli"
    EVENT = "event"  # a Slack event about a channel (members joined or left, sharing)


APP_ACTOR = "app"


@dataclass
class PendingEvent:
    """An event recorded during a unit of work, chained when the unit commits."""

    at: datetime
    actor: str
    action: str
    outcome: str
    source: str
    team_id: str | None = None
    case_id: int | None = None
    target: str | None = None
    correlation_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def canonical_details(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def event_hash(key: bytes, event: EventRow) -> str:
    content = {
        "seq": event.seq,
        "at": event.at.isoformat(timespec="microseconds"),
        "team_id": event.team_id,
        "actor": event.actor,
        "action": event.action,
        "case_id": event.case_id,
        "target": event.target,
        "outcome": event.outcome,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "details": event.details,
        "prev_hash": event.prev_hash,
    }
    message = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def chain(key: bytes, events: Iterable[PendingEvent], *, after_seq: int, after_hash: str) -> list[AuditEvent]:
    """The rows that continue the chain from (after_seq, after_hash): numbered and linked."""
    rows, seq, prev = [], after_seq, after_hash
    for item in events:
        seq += 1
        row = AuditEvent(
            seq=seq,
            at=item.at,
            team_id=item.team_id,
            actor=item.actor,
            action=item.action,
            case_id=item.case_id,
            target=item.target,
            outcome=str(item.outcome),
            source=str(item.source),
            correlation_id=item.correlation_id,
            details=canonical_details(item.details),
            prev_hash=prev,
            hash="",
        )
        row.hash = prev = event_hash(key, row)
        rows.append(row)
    return rows


def append(session: Session, key: bytes, events: Iterable[PendingEvent]) -> list[AuditEvent]:
    """Chain and insert events inside the caller's transaction (commit is the caller's)."""
    pending = list(events)
    if not pending:
        return []
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    written = chain(key, pending, after_seq=head.seq, after_hash=head.hash)
    session.add_all(written)
    head.seq, head.hash = written[-1].seq, written[-1].hash
    session.add(head)
    session.flush()
    return written


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_rows(
    key: bytes,
    rows: Iterable[EventRow],
    head: AuditHead | None = None,
    *,
    start_seq: int = 1,
    prev_hash: str = GENESIS_HASH,
) -> VerifyResult:
    """Walk the chain in seq order; report the first sequence number that is wrong.

    Detects an altered row (hash mismatch), a deleted or inserted row (gap, or prev_hash
    not the previous row's hash), reordering (seq out of order), and truncation at the
    end (the head records the last seq and hash). `start_seq`/`prev_hash` continue from
    a point already verified (the periodic job checks only what is new).
    """
    expected_seq, checked = start_seq, 0
    for row in rows:
        if row.seq != expected_seq:
            bad = min(row.seq, expected_seq)
            return VerifyResult(False, checked, bad, f"expected seq {expected_seq}, found {row.seq}")
        if row.prev_hash != prev_hash:
            return VerifyResult(False, checked, row.seq, "previous-hash link broken")
        if not hmac.compare_digest(event_hash(key, row), row.hash):
            return VerifyResult(False, checked, row.seq, "content does not match its hash")
        prev_hash, expected_seq, checked = row.hash, expected_seq + 1, checked + 1
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev_hash):
        last = expected_seq - 1
        return VerifyResult(
            False, checked, min(head.seq, last) + 1, f"chain ends at {last}, head says {head.seq}"
        )
    return VerifyResult(True, checked)


def iter_events(
    session: Session, *, batch: int = 5000, after: int = 0, upto: int | None = None
) -> Iterator[Row]:
    """Events with after < seq (<= upto) in seq order, fetched in batches so a million
    rows fit in memory. Plain rows with the columns as attributes, not ORM objects: the
    verifier only reads them, and skipping the identity map makes it several times faster."""
    table = table_of(AuditEvent)
    last = after
    while True:
        query = table.select().where(table.c.seq > last)
        if upto is not None:
            query = query.where(table.c.seq <= upto)
        rows = session.execute(query.order_by(table.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session, key: bytes) -> VerifyResult:
    """The whole chain against its head. Give it a snapshot session (storage.db.snapshot_scope)
    on a live database, or rows appended while it reads look like a broken tail."""
    head = session.get(AuditHead, 1)
    return verify_rows(key, iter_events(session), head)
