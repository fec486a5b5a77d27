"""Tables the shared core owns: the outbox, processed Slack deliveries, the audit chain,
app metadata and the users cache. Columns ending in `_enc` hold Fernet tokens
(bot/crypto.py), never plaintext.

The schema itself is owned by Alembic (storage/migrations); tests check the tables match it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text, delete
from sqlmodel import Field, Session, SQLModel, col

from storage.types import utc_column


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanent: Slack refused it; recorded, not retried
    SUPERSEDED = "superseded"  # an update replaced by a newer update of the same message
    WITHHELD = "withheld"  # its reader may no longer read about the case: not sent (bot/audience.py)


class OutboxMessage(SQLModel, table=True):
    """A Slack Web API call queued in the same transaction as the state change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_channel_order", "channel", "status", "id"),
        Index("ix_outbox_case_reader", "case_id", "reader"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    created_at: datetime = Field(sa_column=utc_column())
    method: str = Field(max_length=48)
    channel: str = Field(max_length=32)  # channel or user id; not clinical
    payload_enc: str = Field(sa_type=Text)
    purpose: str = Field(max_length=48)
    case_id: int | None = Field(default=None, index=True)
    # Post as a reply in the thread rooted at this (earlier) outbox message.
    thread_of: int | None = Field(default=None, foreign_key="outbox.id")
    # chat.update of the message another outbox row posted.
    update_of: int | None = Field(default=None, foreign_key="outbox.id", index=True)
    dedupe_key: str | None = Field(default=None, max_length=191, unique=True)
    # The one person who reads it (a DM, an update of a DM, an ephemeral); None: a channel.
    # The relay checks at send time that they may still read about the case.
    reader: str | None = Field(default=None, max_length=32)
    # How the relay sent it when not as queued: "restricted" (ids and statuses only, the
    # channel has readers off the team), "unfollowed" (its reader left the team).
    screened: str | None = Field(default=None, max_length=16)
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_column=utc_column())
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    result_channel: str | None = Field(default=None, max_length=32)
    result_ts: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)


class ProcessedRequest(SQLModel, table=True):
    """Slack deliveries already handled (event_id, view submission id): retries are no-ops."""

    __tablename__ = "processed_requests"

    key: str = Field(primary_key=True, max_length=191)
    created_at: datetime = Field(sa_column=utc_column(index=True))


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained. Holds no clinical text (that lives encrypted elsewhere)."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=utc_column())
    team_id: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=32)
    action: str = Field(max_length=64)
    case_id: int | None = Field(default=None, index=True)
    target: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)
    source: str = Field(max_length=16)
    correlation_id: str | None = Field(default=None, max_length=191)
    details: str = Field(default="{}", sa_type=Text)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """One row: the chain's tip. Locking it serializes appends, so the chain cannot fork."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0)
    hash: str = Field(max_length=64)


class AppMeta(SQLModel, table=True):
    __tablename__ = "app_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class SlackUser(SQLModel, table=True):
    """Cached users.info facts we act on: time zone (when to nudge), bot/deleted (who may receive)."""

    __tablename__ = "slack_users"

    user_id: str = Field(primary_key=True, max_length=32)
    tz: str = Field(default="UTC", max_length=64)
    is_bot: bool = Field(default=False)
    deleted: bool = Field(default=False)
    fetched_at: datetime = Field(sa_column=utc_column())


def forget_users_fetched_before(*, session: Session, cutoff: datetime) -> int:
    """Delete cached users.info rows last fetched before `cutoff`; how many went."""
    result = session.exec(delete(SlackUser).where(col(SlackUser.fetched_at) < cutoff))
    return result.rowcount or 0


# The columns of an audit event in the order `event_tuples` returns them.
EVENT_COLUMNS = (
    "seq",
    "at",
    "team_id",
    "actor",
    "action",
    "case_id",
    "target",
    "outcome",
    "source",
    "correlation_id",
    "details",
    "prev_hash",
    "hash",
)


def event_tuples(
    *, session: Session, after: int = 0, upto: int | None = None, batch: int = 20_000
) -> Iterator[tuple[Any, ...]]:
    """Audit events with after < seq (<= upto), in seq order, as the driver returns them
    (EVENT_COLUMNS order; `at` is the stored value: text on SQLite, a naive UTC datetime on
    PostgreSQL). No ORM and no type processing: the full verification reads a million rows,
    and converting each cost more than hashing it."""
    for rows in event_batches(session=session, after=after, upto=upto, batch=batch):
        yield from rows


# The DBAPI's placeholder for a positional parameter, by paramstyle (PEP 249): sqlite3 has
# qmark, psycopg pyformat (which takes %s too).
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def event_batches(
    *, session: Session, after: int = 0, upto: int | None = None, batch: int = 20_000
) -> Iterator[list[tuple[Any, ...]]]:
    """event_tuples, a batch (a list of plain tuples) at a time, read through the DBAPI cursor
    of the session's own connection, so in the session's transaction and snapshot. The driver's
    tuples are used as they are: wrapping each row in a SQLAlchemy Row, then copying it to a
    tuple, cost as much as reading it."""
    connection = session.connection()
    mark = _PLACEHOLDERS[connection.dialect.paramstyle]
    sql = (
        f"SELECT {', '.join(EVENT_COLUMNS)} FROM audit_events WHERE seq > {mark}"
        + ("" if upto is None else f" AND seq <= {mark}")
        + f" ORDER BY seq LIMIT {mark}"
    )
    cursor = connection.connection.cursor()
    try:
        last = after
        while True:
            cursor.execute(sql, (last, batch) if upto is None else (last, upto, batch))
            rows = list(cursor.fetchall())
            if not rows:
                return
            yield rows
            last = rows[-1][0]
    finally:
        cursor.close()
