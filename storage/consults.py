"""Tables for psychiatric consultation (listed in storage/schema.py).

A consult is asked on a case, answered by the consultant's recommendation and closed by the
treating prescriber's answer (accept, modify, decline). `remind_at`/`reminded_at` is what the
reminder sweep claims: one reminder per stage (waiting for the recommendation, then for the
prescriber's answer). The consultant's review time is kept per case and date for billing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, Select, Text, func, text
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseStatus
from storage.types import utc_column


class ConsultStatus(StrEnum):
    REQUESTED = "requested"  # waiting for the consultant's recommendation
    RECOMMENDED = "recommended"  # waiting for the prescriber's answer
    ACCEPTED = "accepted"
    MODIFIED = "modified"
    DECLINED = "declined"


OPEN_STATUSES = (ConsultStatus.REQUESTED.value, ConsultStatus.RECOMMENDED.value)


class Consult(SQLModel, table=True):
    """One consultation request on a case and where it stands."""

    __tablename__ = "consults"
    __table_args__ = (
        # One open consultation per case: a double click or a second request finds the first.
        Index(
            "uq_consults_one_open",
            "case_id",
            unique=True,
            sqlite_where=text("status IN ('requested', 'recommended')"),
            postgresql_where=text("status IN ('requested', 'recommended')"),
        ),
        Index("ix_consults_remind_due", "reminded_at", "remind_at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    status: str = Field(default=ConsultStatus.REQUESTED, max_length=16)
    requested_by: str = Field(max_length=32)
    requested_at: datetime = Field(sa_column=utc_column())
    reason_enc: str | None = Field(default=None, sa_type=Text)
    # Who was asked (comma-separated Slack user ids): the team's consultants, or the configured
    # CARETHREAD_CONSULTANTS when the team has none (those may then act on this consult only).
    consultants: str = Field(max_length=400)
    configured: bool = Field(default=False)  # asked from CARETHREAD_CONSULTANTS, not the team
    # The thread posts of the request and of the recommendation: edited in place (buttons
    # gone, outcome shown) when the next step is recorded.
    request_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    recommendation_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    recommendation_enc: str | None = Field(default=None, sa_type=Text)
    recommended_by: str | None = Field(default=None, max_length=32)
    recommended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    response_note_enc: str | None = Field(default=None, sa_type=Text)
    responded_by: str | None = Field(default=None, max_length=32)
    responded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    remind_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def asked(self) -> list[str]:
        return [u for u in self.consultants.split(",") if u]


class ConsultMinutes(SQLModel, table=True):
    """Minutes a consultant spent reviewing a case on a date (Collaborative Care billing)."""

    __tablename__ = "consult_minutes"
    __table_args__ = (Index("ix_consult_minutes_date", "on_date", "case_id"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    consult_id: int | None = Field(default=None, foreign_key="consults.id")
    user_id: str = Field(max_length=32)
    minutes: int
    on_date: date
    logged_at: datetime = Field(sa_column=utc_column())


def get_consult(*, session: Session, consult_id: int, lock: bool = False) -> Consult | None:
    query = select(Consult).where(Consult.id == consult_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def open_consult(*, session: Session, case_id: int) -> Consult | None:
    return session.execute(
        select(Consult).where(Consult.case_id == case_id, col(Consult.status).in_(OPEN_STATUSES))
    ).scalar_one_or_none()


def latest_consult(*, session: Session, case_id: int) -> Consult | None:
    return (
        session.execute(
            select(Consult).where(Consult.case_id == case_id).order_by(col(Consult.id).desc()).limit(1)
        )
        .scalars()
        .first()
    )


def addressed_to(*, session: Session, case_id: int, user_id: str) -> bool:
    """Was `user_id` asked, as a configured consultant from outside the team, about this case?
    (A consultant on the team reads and acts as a member; one who left the team does not.)"""
    rows = session.execute(
        select(Consult.consultants).where(Consult.case_id == case_id, col(Consult.configured).is_(True))
    ).scalars()
    return any(user_id in row.split(",") for row in rows)


def cases_asked_of(*, session: Session, user_id: str) -> list[int]:
    """Ids of the cases `user_id` was asked to consult on."""
    rows = session.execute(select(Consult.case_id, Consult.consultants)).all()
    return sorted({case_id for case_id, asked in rows if user_id in asked.split(",")})


def open_with_cases(*, session: Session, limit: int = 500) -> list[tuple[Consult, Case]]:
    """Open consultations with their (open) cases, oldest first: App Home's waiting items."""
    return [
        (consult, case)
        for consult, case in session.execute(
            select(Consult, Case)
            .join(Case, col(Case.id) == col(Consult.case_id))
            .where(col(Consult.status).in_(OPEN_STATUSES), Case.status == CaseStatus.OPEN)
            .order_by(col(Consult.id))
            .limit(limit)
        ).all()
    ]


def due_reminders(*, now: datetime) -> Select:
    """Open consults whose stage has waited past its reminder time (uses ix_consults_remind_due)."""
    return (
        select(Consult)
        .where(
            col(Consult.reminded_at).is_(None),
            col(Consult.remind_at) <= now,
            col(Consult.status).in_(OPEN_STATUSES),
        )
        .order_by(col(Consult.remind_at), col(Consult.id))
    )


def add_minutes(*, session: Session, row: ConsultMinutes) -> ConsultMinutes:
    session.add(row)
    session.flush()
    return row


def minutes_by_case(
    *, session: Session, start: date, end: date, case_ids: Sequence[int] | None = None
) -> list[tuple[int, int, int]]:
    """(case_id, total minutes, entries) for dates in [start, end), by case id."""
    query = (
        select(ConsultMinutes.case_id, func.sum(ConsultMinutes.minutes), func.count())
        .where(col(ConsultMinutes.on_date) >= start, col(ConsultMinutes.on_date) < end)
        .group_by(col(ConsultMinutes.case_id))
        .order_by(col(ConsultMinutes.case_id))
    )
    if case_ids is not None:
        query = query.where(col(ConsultMinutes.case_id).in_(case_ids))
    return [(int(c), int(total), int(n)) for c, total, n in session.execute(query).all()]
