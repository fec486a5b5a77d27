"""Tables of the audit-trail workflow: the case-thread transcript, and the indexes the
thread capture and the `/audit` timeline query by.

The audit events themselves live in `audit_events` (storage/models.py); they hold no
clinical text. What people wrote in a case thread is clinical, so it lives here,
encrypted, and can be purged after the retention period while the events stay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, func, update
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case
from storage.core import AppMeta, AuditEvent, OutboxMessage
from storage.types import UTCDateTime, table_of


class EntryKind(StrEnum):
    POSTED = "posted"
    FILE_SHARED = "file_shared"
    EDITED = "edited"
    DELETED = "deleted"


class ThreadEntry(SQLModel, table=True):
    """One thing that happened to a human message in a case thread: posted (with or
    without files), edited (the new text; earlier versions stay in earlier rows) or
    deleted. Text and file names are Fernet tokens; `purged_at` says retention removed them."""

    __tablename__ = "thread_entries"
    __table_args__ = (
        Index("ix_thread_entries_case_order", "case_id", "id"),
        Index("ix_thread_entries_retention", "purged_at", "at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    kind: str = Field(max_length=16)
    channel: str = Field(max_length=32)
    message_ts: str = Field(max_length=32)  # the message's own ts (what an edit or deletion refers to)
    thread_ts: str = Field(max_length=32)  # the case card's ts
    user_id: str = Field(max_length=32)  # the message's author
    event_id: str | None = Field(default=None, max_length=191)  # = the audit event's correlation_id
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it happened in Slack
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    text_enc: str | None = Field(default=None, sa_type=Text)
    files_enc: str | None = Field(default=None, sa_type=Text)  # JSON list of file facts, encrypted
    file_count: int = Field(default=0)
    purged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


# A message event names its thread by (channel, thread_ts); the case card is the outbox row
# whose result is that pair. Declared here, on the foundation's tables, because this
# workflow is the one that looks messages up this way (once per message in any channel).
Index("ix_outbox_result", table_of(OutboxMessage).c.result_channel, table_of(OutboxMessage).c.result_ts)
# The `/audit` timeline: one case's events, newest first, a page at a time.
Index("ix_audit_events_case_seq", table_of(AuditEvent).c.case_id, table_of(AuditEvent).c.seq)


VERIFY_STATE_KEY = "audit_verify"  # the row migration 0002 creates


def case_for_thread(*, session: Session, channel: str, thread_ts: str) -> Case | None:
    """The case whose card is the message (channel, thread_ts), if any: one indexed lookup."""
    return session.execute(
        select(Case)
        .join(OutboxMessage, col(OutboxMessage.id) == col(Case.card_outbox_id))
        .where(OutboxMessage.result_channel == channel, OutboxMessage.result_ts == thread_ts)
        .limit(1)
    ).scalar_one_or_none()


def count_case_events(*, session: Session, case_id: int, upto: int | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id)
    if upto is not None:
        query = query.where(AuditEvent.seq <= upto)
    return session.execute(query).scalar_one()


def newest_case_seq(*, session: Session, case_id: int) -> int:
    newest = session.execute(select(func.max(AuditEvent.seq)).where(AuditEvent.case_id == case_id)).scalar()
    return int(newest or 0)


def case_events_page(
    *, session: Session, case_id: int, upto: int, offset: int, limit: int
) -> list[AuditEvent]:
    """One page of a case's events with seq <= upto, newest first."""
    return list(
        session.execute(
            select(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.seq <= upto)
            .order_by(col(AuditEvent.seq).desc())
            .offset(offset)
            .limit(limit)
        ).scalars()
    )


def case_events(*, session: Session, case_id: int, batch: int = 2000) -> Iterator[AuditEvent]:
    """All of a case's events, oldest first, in batches."""
    last = 0
    while True:
        rows = list(
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id, AuditEvent.seq > last)
                .order_by(col(AuditEvent.seq))
                .limit(batch)
            ).scalars()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def transcript(*, session: Session, case_id: int) -> list[ThreadEntry]:
    return list(
        session.execute(
            select(ThreadEntry).where(col(ThreadEntry.case_id) == case_id).order_by(col(ThreadEntry.id))
        ).scalars()
    )


def purgeable_counts(*, session: Session, cutoff: datetime) -> dict[int, int]:
    """Per case, how many transcript entries older than `cutoff` still hold text or files."""
    rows = session.execute(
        select(ThreadEntry.case_id, func.count())
        .where(col(ThreadEntry.purged_at).is_(None), col(ThreadEntry.at) < cutoff)
        .group_by(col(ThreadEntry.case_id))
    ).all()
    return {case_id: count for case_id, count in rows}


def purge_case_transcript(*, session: Session, case_id: int, cutoff: datetime, now: datetime) -> int:
    """Drop the text and file facts of one case's entries older than `cutoff`; the rows
    (who, when, which message) stay so the audit events still point at something."""
    result = session.exec(
        update(ThreadEntry)
        .where(
            col(ThreadEntry.case_id) == case_id,
            col(ThreadEntry.purged_at).is_(None),
            col(ThreadEntry.at) < cutoff,
        )
        .values(text_enc=None, files_enc=None, purged_at=now)
    )
    return int(result.rowcount or 0)


def load_verify_state(*, session: Session, lock: bool = False, skip_locked: bool = False) -> dict[str, Any]:
    """The verifier's progress; with `lock`, the row is held until commit (replicas take turns).

    Returns {} when another process holds it (only with `skip_locked`, PostgreSQL).
    """
    query = select(AppMeta).where(AppMeta.key == VERIFY_STATE_KEY)
    if lock:
        is_pg = session.get_bind().dialect.name == "postgresql"
        query = query.with_for_update(skip_locked=skip_locked and is_pg)
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        return {}
    return json.loads(row.value)


def verify_state_missing(*, session: Session) -> bool:
    """True when the verifier's progress row is gone or emptied (never by the app: migration
    0002 creates it), as opposed to locked by another replica's run."""
    row = session.execute(select(AppMeta).where(AppMeta.key == VERIFY_STATE_KEY)).scalar_one_or_none()
    return row is None or not json.loads(row.value or "{}")


def save_verify_state(*, session: Session, state: dict[str, Any]) -> None:
    row = session.get(AppMeta, VERIFY_STATE_KEY) or AppMeta(key=VERIFY_STATE_KEY, value="{}")
    row.value = json.dumps(state, sort_keys=True, default=str)
    session.add(row)
