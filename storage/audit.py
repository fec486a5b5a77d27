"""Queries of the audit-trail workflow: thread lookup, a case's timeline and transcript,
retention, and the verifier's saved progress. Keyword-only, session first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlmodel import Session

from storage.models import AppMeta, AuditEvent, Case, OutboxMessage
from storage.models_audit import ThreadEntry

VERIFY_STATE_KEY = "audit_verify"  # the row migration 0002 creates


def case_for_thread(*, session: Session, channel: str, thread_ts: str) -> Case | None:
    """The case whose card is the message (channel, thread_ts), if any: one indexed lookup."""
    return session.execute(
        select(Case)
        .join(OutboxMessage, OutboxMessage.id == Case.card_outbox_id)
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
            .order_by(AuditEvent.seq.desc())
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
                .order_by(AuditEvent.seq)
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
            select(ThreadEntry).where(ThreadEntry.case_id == case_id).order_by(ThreadEntry.id)
        ).scalars()
    )


def purgeable_counts(*, session: Session, cutoff: datetime) -> dict[int, int]:
    """Per case, how many transcript entries older than `cutoff` still hold text or files."""
    rows = session.execute(
        select(ThreadEntry.case_id, func.count())
        .where(ThreadEntry.purged_at.is_(None), ThreadEntry.at < cutoff)
        .group_by(ThreadEntry.case_id)
    ).all()
    return {case_id: count for case_id, count in rows}


def purge_case_transcript(*, session: Session, case_id: int, cutoff: datetime, now: datetime) -> int:
    """Drop the text and file facts of one case's entries older than `cutoff`; the rows
    (who, when, which message) stay so the audit events still point at something."""
    result = session.execute(
        update(ThreadEntry)
        .where(ThreadEntry.case_id == case_id, ThreadEntry.purged_at.is_(None), ThreadEntry.at < cutoff)
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


def save_verify_state(*, session: Session, state: dict[str, Any]) -> None:
    row = session.get(AppMeta, VERIFY_STATE_KEY) or AppMeta(key=VERIFY_STATE_KEY, value="{}")
    row.value = json.dumps(state, sort_keys=True, default=str)
    session.add(row)
