"""SQLModel tables. Columns ending in `_enc` hold Fernet tokens (bot/crypto.py), never plaintext.

The schema itself is owned by Alembic (storage/migrations); these classes must match it,
and tests/test_migrations.py checks that they do.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _utc(nullable: bool = False, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    THERAPIST = "therapist"
    CASE_MANAGER = "case-manager"
    PCP = "pcp"
    PHARMACIST = "pharmacist"

    @property
    def display(self) -> str:
        return ROLE_TITLES[self]


ROLE_TITLES = {
    Role.PRESCRIBER: "Prescriber",
    Role.THERAPIST: "Therapist",
    Role.CASE_MANAGER: "Case manager",
    Role.PCP: "Primary care",
    Role.PHARMACIST: "Pharmacist",
}


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Case(SQLModel, table=True):
    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    team_id: str = Field(max_length=32)
    label_enc: str = Field(sa_type=Text)
    status: str = Field(default=CaseStatus.OPEN, max_length=16, index=True)
    home_channel: str = Field(max_length=32)
    # The outbox message that posts the case card: the root of the case thread.
    card_outbox_id: int | None = Field(default=None)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=_utc())
    updated_at: datetime = Field(sa_column=_utc())
    closed_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    close_reason_enc: str | None = Field(default=None, sa_type=Text)

    @property
    def ref(self) -> str:
        return f"C-{self.id}"


class CaseMember(SQLModel, table=True):
    __tablename__ = "case_members"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_members_case_user"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    user_id: str = Field(max_length=32, index=True)
    role: str = Field(max_length=16)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=_utc())


class Medication(SQLModel, table=True):
    __tablename__ = "medications"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    name_enc: str = Field(sa_type=Text)
    detail_enc: str | None = Field(default=None, sa_type=Text)
    active: bool = Field(default=True)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=_utc())
    stopped_by: str | None = Field(default=None, max_length=32)
    stopped_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # permanent: Slack refused it; recorded, not retried
    SUPERSEDED = "superseded"  # an update replaced by a newer update of the same message


class OutboxMessage(SQLModel, table=True):
    """A Slack Web API call queued in the same transaction as the state change it reports."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_channel_order", "channel", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(sa_column=_utc())
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
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(sa_column=_utc())
    lease_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    result_channel: str | None = Field(default=None, max_length=32)
    result_ts: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)


class ProcessedRequest(SQLModel, table=True):
    """Slack deliveries already handled (event_id, view submission id): retries are no-ops."""

    __tablename__ = "processed_requests"

    key: str = Field(primary_key=True, max_length=191)
    created_at: datetime = Field(sa_column=_utc(index=True))


class AuditEvent(SQLModel, table=True):
    """Append-only, hash-chained. Holds no clinical text (that lives encrypted elsewhere)."""

    __tablename__ = "audit_events"

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=_utc())
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
    """One row: the chain's tip. Locking it serialises appends, so the chain cannot fork."""

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
    fetched_at: datetime = Field(sa_column=_utc())


# Workflow tables live in their own modules; importing them here registers them on
# SQLModel.metadata wherever the foundation models are imported (Alembic included).
from storage.models_audit import *  # noqa: E402,F403
from storage.models_handoffs import *  # noqa: E402, F403
from storage.models_reviews import *  # noqa: E402, F403
from storage.models_side_effects import *  # noqa: E402,F403
