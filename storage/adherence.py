"""Tables of the adherence relay: a team member tells the prescribers how the patient is taking
a medication (as prescribed, missing doses, stopped on their own, not picked up).

A concern moves open -> acknowledged -> planned, on the side-effect relay's clocks: while open,
`next_escalation_at` says when the sweep next has something to do (the reminder at the deadline,
the escalation after it) and `escalation_step` how far it got, so each step fires once. A report
of "taking as prescribed" is saved as `recorded`: nothing to acknowledge, no clock.
Clinical content (the medication's name, the patient's reason and questions, the plan note)
lives only in the `*_enc` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Select, Text, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseMember, CaseStatus, Role
from storage.types import utc_column


class AdherenceKind(StrEnum):
    AS_PRESCRIBED = "as_prescribed"
    MISSING_DOSES = "missing_doses"
    STOPPED = "stopped"  # stopped on their own
    NOT_PICKED_UP = "not_picked_up"  # not picked up from the pharmacy


class AdherenceStatus(StrEnum):
    RECORDED = "recorded"  # taking as prescribed: noted, nothing to acknowledge
    OPEN = "open"  # waiting for a prescriber's acknowledgement
    ACKNOWLEDGED = "acknowledged"  # seen; waiting for the plan
    PLANNED = "planned"  # plan recorded: the loop is closed


class AdherenceRecipientKind(StrEnum):
    PRESCRIBER = "prescriber"  # a DM with Acknowledge / Record plan
    FALLBACK = "fallback"  # no prescriber on the team: case manager or case creator
    REMINDER = "reminder"  # step 1: a reminder DM
    ESCALATION = "escalation"  # step 2: a DM to a case manager (or the creator)
    ON_CALL = "on_call"  # a high-priority report outside working hours: the person on call


class AdherenceReport(SQLModel, table=True):
    __tablename__ = "adherence_reports"
    __table_args__ = (
        # The escalation sweep: open reports whose next step is due.
        Index("ix_adherence_reports_due", "status", "next_escalation_at"),
        # /adherence list, /case show, the card, the digest: a case's reports not yet closed.
        Index("ix_adherence_reports_case_status", "case_id", "status"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush
    case_id: int = Field(foreign_key="cases.id")
    reporter: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    kind: str = Field(max_length=16)
    # The medication list row the reporter picked (None: typed by hand).
    medication_id: int | None = Field(default=None, foreign_key="medications.id")
    medication_name_enc: str = Field(sa_type=Text)
    # The patient's reason and questions, in their words.
    reason_enc: str | None = Field(default=None, sa_type=Text)
    # The side-effect relay's severity words (high, moderate); None for "taking as prescribed".
    priority: str | None = Field(default=None, max_length=16)
    high_risk: bool = Field(default=False)  # the medication matched CARETHREAD_ADHERENCE_HIGH_RISK
    status: str = Field(default=AdherenceStatus.OPEN, max_length=16)
    ack_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalate_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    next_escalation_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalation_step: int = Field(default=0)
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalated_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    acknowledged_by: str | None = Field(default=None, max_length=32)
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    plan: str | None = Field(default=None, max_length=32)
    plan_note_enc: str | None = Field(default=None, sa_type=Text)
    plan_by: str | None = Field(default=None, max_length=32)
    plan_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # Outbox rows whose messages are updated in place as the status changes.
    summary_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    receipt_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    no_prescriber: bool = Field(default=False)

    @property
    def ref(self) -> str:
        return f"AD-{self.id}"


class AdherenceRecipient(SQLModel, table=True):
    """Who was told about a report, how, and which outbox row told them."""

    __tablename__ = "adherence_recipients"
    __table_args__ = (
        UniqueConstraint("report_id", "user_id", "kind", name="uq_adherence_recipients_report_user_kind"),
    )

    id: int = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="adherence_reports.id", index=True)
    user_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    outbox_id: int = Field(foreign_key="outbox.id")
    created_at: datetime = Field(sa_column=utc_column())


NOT_CLOSED = (AdherenceStatus.OPEN, AdherenceStatus.ACKNOWLEDGED)


def get_report(*, session: Session, report_id: int, lock: bool = False) -> AdherenceReport | None:
    query = select(AdherenceReport).where(AdherenceReport.id == report_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def open_reports(*, session: Session, case_id: int) -> list[AdherenceReport]:
    """A case's concerns whose loop is not closed yet (no plan recorded), oldest first."""
    return list(
        session.execute(
            select(AdherenceReport)
            .where(AdherenceReport.case_id == case_id, col(AdherenceReport.status).in_(NOT_CLOSED))
            .order_by(col(AdherenceReport.created_at), col(AdherenceReport.id))
        ).scalars()
    )


def open_counts(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """Per case, reports whose loop is not closed: one grouped query for the digest."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(AdherenceReport.case_id, func.count())
        .where(col(AdherenceReport.case_id).in_(case_ids), col(AdherenceReport.status).in_(NOT_CLOSED))
        .group_by(col(AdherenceReport.case_id))
    ).all()
    return {case_id: count for case_id, count in rows}


def due_for_escalation(now: datetime) -> Select:
    """Open reports whose next escalation step is due; for storage.claims.lock_due.

    Uses ix_adherence_reports_due (status, next_escalation_at)."""
    return (
        select(AdherenceReport)
        .where(
            AdherenceReport.status == AdherenceStatus.OPEN,
            col(AdherenceReport.next_escalation_at).is_not(None),
            col(AdherenceReport.next_escalation_at) <= now,
        )
        .order_by(col(AdherenceReport.next_escalation_at), col(AdherenceReport.id))
    )


def waiting_for_prescriber(*, session: Session, user_id: str) -> list[tuple[AdherenceReport, Case]]:
    """Reports on open cases where `user_id` is a prescriber and the loop is still open."""
    rows = session.execute(
        select(AdherenceReport, Case)
        .join(Case, col(Case.id) == col(AdherenceReport.case_id))
        .join(CaseMember, col(CaseMember.case_id) == col(Case.id))
        .where(
            CaseMember.user_id == user_id,
            CaseMember.role == Role.PRESCRIBER,
            Case.status == CaseStatus.OPEN,
            col(AdherenceReport.status).in_(NOT_CLOSED),
        )
        .order_by(col(AdherenceReport.created_at), col(AdherenceReport.id))
    ).all()
    return [(report, case) for report, case in rows]


def recipients(
    *, session: Session, report_id: int, kinds: tuple[AdherenceRecipientKind, ...] | None = None
) -> list[AdherenceRecipient]:
    query = select(AdherenceRecipient).where(AdherenceRecipient.report_id == report_id)
    if kinds:
        query = query.where(col(AdherenceRecipient.kind).in_(kinds))
    return list(session.execute(query.order_by(col(AdherenceRecipient.id))).scalars())


def open_reports_by_ids(*, session: Session, report_ids: Sequence[int]) -> list[AdherenceReport]:
    """Of these reports, those still waiting for acknowledgement: one query for the on-call
    person's App Home (bot/oncall `covered_waiting`)."""
    if not report_ids:
        return []
    return list(
        session.execute(
            select(AdherenceReport).where(
                col(AdherenceReport.id).in_(report_ids), AdherenceReport.status == AdherenceStatus.OPEN
            )
        ).scalars()
    )
