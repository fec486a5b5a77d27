"""The inbox: every accepted Slack request, saved before its 200 goes back.

A row holds the request as received (raw body, Fernet-encrypted) and the listener key that
will process it. A worker claims it with a lease (`owner`, `lease_until`); the unit that
does the work marks it done in the same transaction (`mark_done`), so a request acts once
even when a worker dies and another claims the row after the lease. The body is dropped
when the row is done; the row itself stays a while so that a replayed signature
(`signature_hash`, unique) is recognized.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, SmallInteger, Text, delete, func, or_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.dml import Insert
from sqlmodel import Field, Session, SQLModel, col, select

from storage.claims import lock_due
from storage.types import table_of, utc_column


class InboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"  # could not be read back (key or body); logged, never retried


FORM_FIRST, NORMAL = 0, 1  # InboxRequest.priority: lower is claimed first


class InboxKind(StrEnum):
    COMMAND = "command"
    ACTION = "action"
    VIEW = "view"
    EVENT = "event"
    OPTIONS = "options"


class InboxRequest(SQLModel, table=True):
    __tablename__ = "inbox"
    # The claim's order: pending rows are read in it and the first unleased ones taken, so a
    # claim costs what it takes (plus the rows this process already holds), not the backlog.
    __table_args__ = (Index("ix_inbox_claim_order", "status", "priority", "id"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    received_at: datetime = Field(sa_column=utc_column())
    kind: str = Field(max_length=16)
    listener: str = Field(max_length=64)  # the registered processing function's key
    content_type: str = Field(default="", max_length=100)
    body_enc: str | None = Field(default=None, sa_type=Text)  # None once done
    # sha256 of "<timestamp>:<signature>": a replay of a signed request collides here.
    signature_hash: str | None = Field(default=None, max_length=64, unique=True)
    status: str = Field(default=InboxStatus.PENDING, max_length=16)
    owner: str | None = Field(default=None, max_length=100)  # the process holding the lease
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = Field(default=0)
    # FORM_FIRST when it opens a modal (its trigger_id lasts 3 s): claimed before older rows.
    priority: int = Field(default=NORMAL, sa_type=SmallInteger, sa_column_kwargs={"server_default": "1"})
    done_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True, index=True))
    last_error: str | None = Field(default=None, max_length=200)


def claim(session: Session, *, owner: str, now: datetime, until: datetime, limit: int) -> list[int]:
    """Lease up to `limit` pending rows nobody holds (or whose holder's lease ran out),
    those that open a form first, then oldest first. `FOR UPDATE SKIP LOCKED` on
    PostgreSQL; SQLite serializes writers."""
    ids = lock_due(
        session,
        select(InboxRequest.id)
        .where(
            InboxRequest.status == InboxStatus.PENDING,
            or_(col(InboxRequest.lease_until).is_(None), col(InboxRequest.lease_until) < now),
        )
        .order_by(col(InboxRequest.status), col(InboxRequest.priority), col(InboxRequest.id)),
        limit=limit,
    )
    if ids:
        session.execute(
            update(InboxRequest).where(col(InboxRequest.id).in_(ids)).values(owner=owner, lease_until=until)
        )
    return ids


def insert_unless_seen(dialect: str) -> Insert:
    """One inbox row, `INSERT … ON CONFLICT DO NOTHING RETURNING id`: no id back means its
    signature hash was already saved (a replay), without failing the transaction."""
    table = table_of(InboxRequest)
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return dialect_insert(table).on_conflict_do_nothing().returning(table.c.id)


def pending_count(session: Session) -> int:
    """Requests saved and not yet done (held or not): how far behind the work is."""
    query = select(func.count()).select_from(InboxRequest).where(InboxRequest.status == InboxStatus.PENDING)
    return session.exec(query).one()


def mark_done(session: Session, *, row_id: int, now: datetime) -> bool:
    """Done, in the caller's transaction; False when it already was (another worker did it)."""
    result = session.exec(
        update(InboxRequest)
        .where(col(InboxRequest.id) == row_id, col(InboxRequest.status) == InboxStatus.PENDING)
        .values(status=InboxStatus.DONE, done_at=now, body_enc=None, owner=None, lease_until=None)
    )
    return (result.rowcount or 0) == 1


def mark_failed(session: Session, *, row_id: int, now: datetime, error: str) -> None:
    session.execute(
        update(InboxRequest)
        .where(col(InboxRequest.id) == row_id, col(InboxRequest.status) == InboxStatus.PENDING)
        .values(status=InboxStatus.FAILED, done_at=now, owner=None, lease_until=None, last_error=error[:200])
    )


def retry_later(session: Session, *, row_id: int, at: datetime, error: str) -> None:
    """Put a row back for anyone to claim at `at` (the lease doubles as the retry time)."""
    session.execute(
        update(InboxRequest)
        .where(col(InboxRequest.id) == row_id, col(InboxRequest.status) == InboxStatus.PENDING)
        .values(owner=None, lease_until=at, attempts=InboxRequest.attempts + 1, last_error=error[:200])
    )


def release(session: Session, *, owner: str) -> int:
    """Every lease `owner` holds, given up at once (shutdown): another process takes them now."""
    result = session.exec(
        update(InboxRequest)
        .where(col(InboxRequest.owner) == owner, col(InboxRequest.status) == InboxStatus.PENDING)
        .values(owner=None, lease_until=None)
    )
    return result.rowcount or 0


def purge(session: Session, *, before: datetime) -> int:
    """Finished rows older than `before` (kept until then only to recognize replays)."""
    result = session.exec(
        delete(InboxRequest).where(
            col(InboxRequest.status) != InboxStatus.PENDING, col(InboxRequest.done_at) < before
        )
    )
    return result.rowcount or 0
