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
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from json.encoder import encode_basestring as _json_string  # what json.dumps(ensure_ascii=False) uses
from typing import Any

from sqlalchemy import Row, bindparam, insert, update
from sqlmodel import Session, select

from storage.core import AuditEvent, AuditHead, event_batches
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
    return _hash_of(
        key,
        seq=event.seq,
        at=event.at,
        team_id=event.team_id,
        actor=event.actor,
        action=event.action,
        case_id=event.case_id,
        target=event.target,
        outcome=event.outcome,
        source=event.source,
        correlation_id=event.correlation_id,
        details=event.details,
        prev_hash=event.prev_hash,
    )


def _hash_of(key: bytes, *, at: datetime, **content: Any) -> str:
    """The HMAC over an event's canonical content (every column but `hash`)."""
    content["at"] = at.isoformat(timespec="microseconds")
    message = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _linked(
    key: bytes, events: Iterable[PendingEvent], *, after_seq: int, after_hash: str
) -> list[dict[str, Any]]:
    """The column values of the events continuing the chain from (after_seq, after_hash),
    numbered and hashed in order: each hash covers the one before it."""
    rows, seq, prev = [], after_seq, after_hash
    for item in events:
        seq += 1
        row: dict[str, Any] = {
            "seq": seq,
            "at": item.at,
            "team_id": item.team_id,
            "actor": item.actor,
            "action": item.action,
            "case_id": item.case_id,
            "target": item.target,
            "outcome": str(item.outcome),
            "source": str(item.source),
            "correlation_id": item.correlation_id,
            "details": canonical_details(item.details),
            "prev_hash": prev,
        }
        row["hash"] = prev = _hash_of(key, **row)
        rows.append(row)
    return rows


def chain(key: bytes, events: Iterable[PendingEvent], *, after_seq: int, after_hash: str) -> list[AuditEvent]:
    """The rows that continue the chain from (after_seq, after_hash): numbered and linked."""
    return [AuditEvent(**row) for row in _linked(key, events, after_seq=after_seq, after_hash=after_hash)]


def append(session: Session, key: bytes, events: Iterable[PendingEvent]) -> int:
    """Chain and insert events inside the caller's transaction (commit is the caller's);
    returns how many were written.

    One multi-row INSERT of plain column values, not one ORM object per event: a sweep's
    unit records hundreds of events and building ORM objects cost more than hashing them.
    The head is read and moved on with Core statements too (every unit appends, so an ORM
    load and flush of it cost every request); the caller's own changes are flushed first,
    as the ORM's autoflush did, so they still precede the head's lock."""
    pending = list(events)
    if not pending:
        return 0
    session.flush()
    seq, prev = session.execute(_HEAD_FOR_UPDATE).one()
    written = _linked(key, pending, after_seq=seq, after_hash=prev)
    session.execute(insert(table_of(AuditEvent)), written)
    session.execute(_MOVE_HEAD, {"new_seq": written[-1]["seq"], "new_hash": written[-1]["hash"]})
    return len(written)


_HEADS = table_of(AuditHead)
_HEAD_FOR_UPDATE = select(_HEADS.c.seq, _HEADS.c.hash).where(_HEADS.c.id == 1).with_for_update()
_MOVE_HEAD = (
    update(_HEADS).where(_HEADS.c.id == 1).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


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
    return verify_range(session, key, head=head)


def _canonical(row: tuple[Any, ...]) -> bytes:
    """event_hash's message built from a stored row (storage.core.EVENT_COLUMNS order) without
    a dict or json.dumps: the same bytes (keys sorted, no spaces, ensure_ascii=False, strings
    through the encoder json.dumps uses), several times faster. Nullable: team_id, case_id,
    target, correlation_id. `at` exactly as event_hash writes it, from the stored value: SQLite
    keeps naive UTC text ('2026-11-23 09:00:00.000000'), PostgreSQL gives a naive UTC datetime."""
    seq, at, team_id, actor, action, case_id, target, outcome, source, correlation_id, details, prev, _ = row
    q = _json_string
    at = at.replace(" ", "T", 1) if isinstance(at, str) else at.isoformat(timespec="microseconds")
    return (
        f'{{"action":{q(action)},"actor":{q(actor)},"at":"{at}+00:00",'
        f'"case_id":{"null" if case_id is None else int(case_id)},'
        f'"correlation_id":{"null" if correlation_id is None else q(correlation_id)},'
        f'"details":{q(details)},"outcome":{q(outcome)},"prev_hash":{q(prev)},"seq":{int(seq)},'
        f'"source":{q(source)},"target":{"null" if target is None else q(target)},'
        f'"team_id":{"null" if team_id is None else q(team_id)}}}'
    ).encode()


class KeyedSha256:
    """HMAC-SHA256 (RFC 2104) with the key schedule computed once: each message then costs two
    hash-state copies and no Python-level wrapper, for verifying a million events. Gives
    exactly hmac.new(key, message, sha256).hexdigest() (tests/test_auditlog.py checks)."""

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:  # the block size: longer keys are hashed first, as hmac does
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def verify_range(
    session: Session,
    key: bytes,
    *,
    after: int = 0,
    upto: int | None = None,
    prev_hash: str = GENESIS_HASH,
    head: AuditHead | None = None,
) -> VerifyResult:
    """verify_rows over the events after `after` (to `upto`), fast: plain driver rows
    (storage.core.event_batches), the canonical message built directly, and the HMAC key
    schedule computed once (KeyedSha256). The first row whose fast hash disagrees
    is handed, with everything after it, to the exact verify_rows, so a stored value the fast
    path reads differently can cost time but never change the result."""
    hexdigest, canonical, same = KeyedSha256(key).hexdigest, _canonical, hmac.compare_digest
    expected_seq = after + 1  # the rows checked so far: expected_seq - after - 1
    for rows in event_batches(session=session, after=after, upto=upto):
        for row in rows:
            seq = row[0]
            if seq != expected_seq:
                return VerifyResult(
                    False,
                    expected_seq - after - 1,
                    min(seq, expected_seq),
                    f"expected seq {expected_seq}, found {seq}",
                )
            if row[11] != prev_hash:
                return VerifyResult(False, seq - after - 1, seq, "previous-hash link broken")
            if not same(hexdigest(canonical(row)), row[12]):
                rest = verify_rows(
                    key,
                    iter_events(session, after=seq - 1, upto=upto),
                    head,
                    start_seq=seq,
                    prev_hash=prev_hash,
                )
                return replace(rest, checked=seq - after - 1 + rest.checked)
            prev_hash = row[12]
            expected_seq = seq + 1
    checked = expected_seq - after - 1
    if head is None:
        return VerifyResult(True, checked)
    at_end = verify_rows(key, (), head, start_seq=expected_seq, prev_hash=prev_hash)  # the head check
    return replace(at_end, checked=checked)
