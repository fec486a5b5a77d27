"""Tables of the side-effect relay (therapist to prescriber, closed loop, escalation).

A report moves open -> acknowledged -> planned. While it is open, `next_escalation_at`
says when the sweep next has something to do for it (the reminder at the deadline, the
escalation after it); `escalation_step` says how far it got, so each step fires once.
Clinical content (medication name, symptoms, red flags, notes, plan note) lives only in
the `*_enc` columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import Column, Date, Index, Select, Text, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseMember, CaseStatus, Role
from storage.types import utc_column


class ReportStatus(StrEnum):
    OPEN = "open"  # waiting for a prescriber's acknowledgement
    ACKNOWLEDGED = "acknowledged"  # seen; waiting for the plan
    PLANNED = "planned"  # plan recorded: the loop is closed


class Severity(StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    MODERATE = "moderate"
    LOW = "low"


class EscalationStep(IntEnum):
    """What the sweep did last for a report."""

    NONE = 0
    REMINDED = 1  # step 1: reminder to the prescribers
    ESCALATED = 2  # step 2: case managers told, thread mention


class RecipientKind(StrEnum):
    PRESCRIBER = "prescriber"  # a DM with Acknowledge / Record plan
    FALLBACK = "fallback"  # no prescriber on the team: case manager or case creator
    REMINDER = "reminder"  # step 1: a reminder DM to a prescriber (or the fallback)
    ESCALATION = "escalation"  # step 2: a DM to a case manager (or the creator)
    ON_CALL = "on_call"  # an urgent report outside working hours: the person on call (bot/oncall)
    REOPENED = "reopened"  # a worse recheck reopened the report: a DM to a prescriber (or the fallback)


class SideEffectReport(SQLModel, table=True):
    __tablename__ = "side_effect_reports"
    __table_args__ = (
        # The escalation sweep: open reports whose next step is due.
        Index("ix_side_effect_reports_due", "status", "next_escalation_at"),
        # /sideeffect list, /case show, App Home: a case's reports that are not yet closed.
        Index("ix_side_effect_reports_case_status", "case_id", "status"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    reporter: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    # The medication list row the reporter picked (None: "Other", typed by hand).
    medication_id: int | None = Field(default=None, foreign_key="medications.id")
    medication_name_enc: str = Field(sa_type=Text)
    # JSON: {"checked": [symptom keys], "other": "free text" | null}
    symptoms_enc: str = Field(sa_type=Text)
    # JSON list of the red-flag texts ticked (the configured list may change later).
    red_flags_enc: str = Field(sa_type=Text)
    notes_enc: str | None = Field(default=None, sa_type=Text)
    onset_date: date = Field(sa_column=Column(Date(), nullable=False))
    frequency: int
    intensity: int
    burden: int
    severity: str = Field(max_length=16)
    status: str = Field(default=ReportStatus.OPEN, max_length=16)
    ack_due_at: datetime = Field(sa_column=utc_column())
    escalate_at: datetime = Field(sa_column=utc_column())
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
    # True while no prescriber has the report: the team had none at report time (it was routed
    # to case managers instead); cleared when a prescriber joins (bot/side_effects/service.py).
    no_prescriber: bool = Field(default=False)

    @property
    def ref(self) -> str:
        return f"SE-{self.id}"


class SideEffectRecipient(SQLModel, table=True):
    """Who was told about a report, how, and which outbox row told them."""

    __tablename__ = "side_effect_recipients"
    __table_args__ = (
        UniqueConstraint("report_id", "user_id", "kind", name="uq_side_effect_recipients_report_user_kind"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    report_id: int = Field(foreign_key="side_effect_reports.id", index=True)
    user_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    outbox_id: int = Field(foreign_key="outbox.id")
    created_at: datetime = Field(sa_column=utc_column())


class RecheckOutcome(StrEnum):
    RESOLVED = "resolved"
    BETTER = "better"
    SAME = "same"
    WORSE = "worse"  # reopens the report


class SideEffectRecheck(SQLModel, table=True):
    """After a plan to adjust the dose, switch or stop, the reporter is asked to rate the
    side effect again (FIBSER). Due at `due_at`; the ask is claimed once (`asked_at`)."""

    __tablename__ = "side_effect_rechecks"
    __table_args__ = (Index("ix_side_effect_rechecks_due", "asked_at", "due_at"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    report_id: int = Field(foreign_key="side_effect_reports.id", index=True)
    case_id: int = Field(foreign_key="cases.id")
    due_at: datetime = Field(sa_column=utc_column())
    asked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ask_outbox_id: int | None = Field(default=None)
    answered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    answered_by: str | None = Field(default=None, max_length=32)
    outcome: str | None = Field(default=None, max_length=16)  # RecheckOutcome
    frequency: int | None = None
    intensity: int | None = None
    burden: int | None = None
    notes_enc: str | None = Field(default=None, sa_type=Text)


NOT_CLOSED = (ReportStatus.OPEN, ReportStatus.ACKNOWLEDGED)


def get_report(*, session: Session, report_id: int, lock: bool = False) -> SideEffectReport | None:
    query = select(SideEffectReport).where(SideEffectReport.id == report_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def open_reports(*, session: Session, case_id: int) -> list[SideEffectReport]:
    """A case's reports whose loop is not closed yet (no plan recorded), oldest first."""
    return list(
        session.execute(
            select(SideEffectReport)
            .where(SideEffectReport.case_id == case_id, col(SideEffectReport.status).in_(NOT_CLOSED))
            .order_by(col(SideEffectReport.created_at), col(SideEffectReport.id))
        ).scalars()
    )


def urgent_open_counts(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """Per case, urgent reports whose loop is not closed: one grouped query for the digest."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(SideEffectReport.case_id, func.count())
        .where(
            col(SideEffectReport.case_id).in_(case_ids),
            SideEffectReport.severity == Severity.URGENT,
            col(SideEffectReport.status).in_(NOT_CLOSED),
        )
        .group_by(col(SideEffectReport.case_id))
    ).all()
    return {case_id: count for case_id, count in rows}


def due_for_escalation(now: datetime) -> Select:
    """Open reports whose next escalation step is due; for storage.claims.lock_due.

    Uses ix_side_effect_reports_due (status, next_escalation_at)."""
    return (
        select(SideEffectReport)
        .where(
            SideEffectReport.status == ReportStatus.OPEN,
            col(SideEffectReport.next_escalation_at).is_not(None),
            col(SideEffectReport.next_escalation_at) <= now,
        )
        .order_by(col(SideEffectReport.next_escalation_at), col(SideEffectReport.id))
    )


def waiting_for_prescriber(*, session: Session, user_id: str) -> list[tuple[SideEffectReport, Case]]:
    """Reports on open cases where `user_id` is a prescriber and the loop is still open."""
    rows = session.execute(
        select(SideEffectReport, Case)
        .join(Case, col(Case.id) == col(SideEffectReport.case_id))
        .join(CaseMember, col(CaseMember.case_id) == col(Case.id))
        .where(
            CaseMember.user_id == user_id,
            CaseMember.role == Role.PRESCRIBER,
            Case.status == CaseStatus.OPEN,
            col(SideEffectReport.status).in_(NOT_CLOSED),
        )
        .order_by(col(SideEffectReport.ack_due_at), col(SideEffectReport.id))
    ).all()
    return [(report, case) for report, case in rows]


def recipients(
    *, session: Session, report_id: int, kinds: tuple[RecipientKind, ...] | None = None
) -> list[SideEffectRecipient]:
    query = select(SideEffectRecipient).where(SideEffectRecipient.report_id == report_id)
    if kinds:
        query = query.where(col(SideEffectRecipient.kind).in_(kinds))
    return list(session.execute(query.order_by(col(SideEffectRecipient.id))).scalars())


def recipient(
    *, session: Session, report_id: int, user_id: str, kind: RecipientKind
) -> SideEffectRecipient | None:
    """The one row per (report, user, kind) the unique constraint allows: a reopened report's
    second reminder reuses it rather than colliding with it."""
    return session.execute(
        select(SideEffectRecipient).where(
            SideEffectRecipient.report_id == report_id,
            SideEffectRecipient.user_id == user_id,
            SideEffectRecipient.kind == kind,
        )
    ).scalar_one_or_none()


def get_recheck(*, session: Session, recheck_id: int, lock: bool = False) -> SideEffectRecheck | None:
    query = select(SideEffectRecheck).where(SideEffectRecheck.id == recheck_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def latest_recheck(*, session: Session, report_id: int) -> SideEffectRecheck | None:
    """The report's newest answered recheck, shown on its messages."""
    return session.execute(
        select(SideEffectRecheck)
        .where(SideEffectRecheck.report_id == report_id, col(SideEffectRecheck.answered_at).is_not(None))
        .order_by(col(SideEffectRecheck.answered_at).desc(), col(SideEffectRecheck.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def rechecks_due(now: datetime) -> Select:
    """Rechecks whose ask is due and not sent: a query for storage.claims.lock_due."""
    return (
        select(SideEffectRecheck)
        .where(col(SideEffectRecheck.asked_at).is_(None), col(SideEffectRecheck.due_at) <= now)
        .order_by(col(SideEffectRecheck.due_at), col(SideEffectRecheck.id))
    )


def open_reports_by_ids(*, session: Session, report_ids: Sequence[int]) -> list[SideEffectReport]:
    """Of these reports, those still waiting for acknowledgement: one query for the on-call
    person's App Home (bot/oncall `covered_waiting`)."""
    if not report_ids:
        return []
    return list(
        session.execute(
            select(SideEffectReport).where(
                col(SideEffectReport.id).in_(report_ids), SideEffectReport.status == ReportStatus.OPEN
            )
        ).scalars()
    )
