"""Tables for threaded handoffs (I-PASS notes, closed-loop acceptance, coverage).

A handoff is a proposal until the receiver accepts it: the care team changes only then.
The sweep (bot/handoffs/service.py) finds due work through three nullable due times,
each cleared when its step fires or when the handoff leaves the state it belongs to:
`remind_at` and `tell_sender_at` (pending handoffs), `coverage_until` (accepted coverage).
Each has a (status, due time) index, which is exactly what the sweep queries.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Text, or_
from sqlmodel import Field, Session, SQLModel, col, select

from storage.claims import lock_due
from storage.types import utc_column


class HandoffKind(StrEnum):
    TRANSFER = "transfer"  # permanent: the sender leaves the team on acceptance
    COVERAGE = "coverage"  # until a date: the sender stays, the receiver leaves at the end


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ENDED = "ended"  # accepted coverage that has reached its end date
    VOID = "void"  # the sender left the team before the receiver answered
    CANCELED = "canceled"  # withdrawn by the sender (`/handoff cancel`), or its case was closed


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

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
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
    created_at: datetime = Field(sa_column=utc_column())
    coverage_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # Due times for the sweep; None once fired or no longer applicable.
    remind_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    tell_sender_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sender_told_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The receiver's answer.
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    synthesis_enc: str | None = Field(default=None, sa_type=Text)
    decline_reason_enc: str | None = Field(default=None, sa_type=Text)
    # The receiver's role on the team before accepting (restored when coverage ends).
    previous_role: str | None = Field(default=None, max_length=16)
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # removed | restored | kept_last | role_changed | already_off | superseded | case_closed;
    # for a canceled handoff: by_sender | case_closed
    end_outcome: str | None = Field(default=None, max_length=16)
    # The responsibilities (storage.cases.Duty values, comma-separated) the handoff carried to
    # the receiver on acceptance; given back when coverage ends.
    duties: str | None = Field(default=None, max_length=200)
    # Outbox rows of the thread post and of the DMs with buttons (updated once answered).
    thread_outbox_id: int | None = Field(default=None)
    request_outbox_id: int | None = Field(default=None)
    reminder_outbox_id: int | None = Field(default=None)

    @property
    def case_ref(self) -> str:
        return f"C-{self.case_id}"


def get(*, session: Session, handoff_id: int, lock: bool = False) -> Handoff | None:
    query = select(Handoff).where(Handoff.id == handoff_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def pending_between(*, session: Session, case_id: int, from_user: str, to_user: str) -> Handoff | None:
    return session.execute(
        select(Handoff)
        .where(
            Handoff.case_id == case_id,
            Handoff.from_user == from_user,
            Handoff.to_user == to_user,
            Handoff.status == HandoffStatus.PENDING,
        )
        .limit(1)
    ).scalar_one_or_none()


def active_coverage(*, session: Session, case_id: int, user_id: str, role: str) -> Handoff | None:
    """The accepted, not yet ended coverage through which `user_id` holds `role`, if any."""
    return session.execute(
        select(Handoff)
        .where(
            Handoff.case_id == case_id,
            Handoff.to_user == user_id,
            Handoff.role == role,
            Handoff.kind == HandoffKind.COVERAGE,
            Handoff.status == HandoffStatus.ACCEPTED,
        )
        .order_by(col(Handoff.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def pending_on_case(*, session: Session, case_id: int, from_user: str | None = None) -> list[Handoff]:
    """A case's pending handoffs (those `from_user` sent, if given), oldest first."""
    query = select(Handoff).where(Handoff.case_id == case_id, Handoff.status == HandoffStatus.PENDING)
    if from_user is not None:
        query = query.where(Handoff.from_user == from_user)
    return list(session.execute(query.order_by(col(Handoff.created_at), col(Handoff.id))).scalars())


def pending_of(*, session: Session, user_id: str, received: bool) -> list[Handoff]:
    """Pending handoffs sent to (`received`) or by the user, oldest first."""
    party = Handoff.to_user if received else Handoff.from_user
    return list(
        session.execute(
            select(Handoff)
            .where(party == user_id, Handoff.status == HandoffStatus.PENDING)
            .order_by(col(Handoff.created_at), col(Handoff.id))
        ).scalars()
    )


def settled_with(*, session: Session, case_id: int, user_id: str, at: datetime) -> bool:
    """Was a handoff on the case between `user_id` and someone decided or ended at `at`?"""
    found = session.execute(
        select(Handoff.id)
        .where(
            Handoff.case_id == case_id,
            (Handoff.from_user == user_id) | (Handoff.to_user == user_id),
            (Handoff.decided_at == at) | (Handoff.ended_at == at),
        )
        .limit(1)
    ).first()
    return found is not None


def active_coverages_of(*, session: Session, user_id: str) -> list[Handoff]:
    """Running coverage the user gave or holds."""
    return list(
        session.execute(
            select(Handoff)
            .where(
                or_(col(Handoff.from_user) == user_id, col(Handoff.to_user) == user_id),
                Handoff.kind == HandoffKind.COVERAGE,
                Handoff.status == HandoffStatus.ACCEPTED,
            )
            .order_by(col(Handoff.coverage_until), col(Handoff.id))
        ).scalars()
    )


def open_on_case(*, session: Session, case_id: int) -> list[Handoff]:
    """Pending handoffs and running coverage on one case (for `/case show`)."""
    return list(
        session.execute(
            select(Handoff)
            .where(
                Handoff.case_id == case_id,
                or_(
                    col(Handoff.status) == HandoffStatus.PENDING,
                    (col(Handoff.status) == HandoffStatus.ACCEPTED)
                    & (col(Handoff.kind) == HandoffKind.COVERAGE),
                ),
            )
            .order_by(col(Handoff.created_at), col(Handoff.id))
        ).scalars()
    )


def claim_due_reminders(*, session: Session, now: datetime) -> list[Handoff]:
    return _claim(session, now, HandoffStatus.PENDING, Handoff.remind_at)


def claim_due_sender_notices(*, session: Session, now: datetime) -> list[Handoff]:
    return _claim(session, now, HandoffStatus.PENDING, Handoff.tell_sender_at)


def claim_ending_coverage(*, session: Session, now: datetime) -> list[Handoff]:
    return _claim(
        session, now, HandoffStatus.ACCEPTED, Handoff.coverage_until, Handoff.kind == HandoffKind.COVERAGE
    )


def _claim(session: Session, now: datetime, status: str, due: Any, *also: Any) -> list[Handoff]:
    """Rows in `status` whose `due` time has come, oldest first, locked for this sweep.
    (status, due) is an index on the table for each of the three due times."""
    return lock_due(
        session,
        select(Handoff).where(Handoff.status == status, due <= now, *also).order_by(due, col(Handoff.id)),
    )
