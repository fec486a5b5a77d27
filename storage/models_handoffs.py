"""Tables for threaded handoffs (I-PASS notes, closed-loop acceptance, coverage).

A handoff is a proposal until the receiver accepts it: the care team changes only then.
The sweep (bot/services/handoffs.py) finds due work through three nullable due times,
each cleared when its step fires or when the handoff leaves the state it belongs to:
`remind_at` and `tell_sender_at` (pending handoffs), `coverage_until` (accepted coverage).
Each has a (status, due time) index, which is exactly what the sweep queries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime

__all__ = ["Handoff", "HandoffKind", "HandoffStatus", "Severity"]


def _utc(nullable: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable)


class HandoffKind(StrEnum):
    TRANSFER = "transfer"  # permanent: the sender leaves the team on acceptance
    COVERAGE = "coverage"  # until a date: the sender stays, the receiver leaves at the end


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ENDED = "ended"  # accepted coverage that has reached its end date
    VOID = "void"  # the sender left the team before the receiver answered


class Severity(StrEnum):
    """I-PASS illness severity."""

    STABLE = "stable"
    WATCHER = "watcher"
    UNSTABLE = "unstable"


class Handoff(SQLModel, table=True):
    __tablename__ = "handoffs"
    __table_args__ = (
        Index("ix_handoffs_remind_due", "status", "remind_at"),
        Index("ix_handoffs_sender_due", "status", "tell_sender_at"),
        Index("ix_handoffs_coverage_due", "status", "coverage_until"),
        Index("ix_handoffs_to_user", "to_user", "status"),
        Index("ix_handoffs_from_user", "from_user", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    from_user: str = Field(max_length=32)
    to_user: str = Field(max_length=32)
    role: str = Field(max_length=16)  # the receiver's role on the team once accepted
    kind: str = Field(max_length=16)
    status: str = Field(default=HandoffStatus.PENDING, max_length=16)
    severity: str = Field(max_length=16)
    # I-PASS free text, encrypted (bot/crypto.py).
    summary_enc: str = Field(sa_type=Text)
    actions_enc: str = Field(sa_type=Text)
    awareness_enc: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_column=_utc())
    coverage_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # Due times for the sweep; None once fired or no longer applicable.
    remind_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    tell_sender_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    sender_told_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    # The receiver's answer.
    decided_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    synthesis_enc: str | None = Field(default=None, sa_type=Text)
    decline_reason_enc: str | None = Field(default=None, sa_type=Text)
    # The receiver's role on the team before accepting (restored when coverage ends).
    previous_role: str | None = Field(default=None, max_length=16)
    ended_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    end_outcome: str | None = Field(default=None, max_length=16)  # removed | restored | kept
    # Outbox rows of the thread post and of the DMs with buttons (updated once answered).
    thread_outbox_id: int | None = Field(default=None)
    request_outbox_id: int | None = Field(default=None)
    reminder_outbox_id: int | None = Field(default=None)

    @property
    def case_ref(self) -> str:
        return f"C-{self.case_id}"
