"""Queries for side-effect reports. Keyword-only, session first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlmodel import Session

from storage.models import Case, CaseMember, CaseStatus, Role
from storage.models_side_effects import (
    RecipientKind,
    ReportStatus,
    Severity,
    SideEffectRecipient,
    SideEffectReport,
)

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
            .where(SideEffectReport.case_id == case_id, SideEffectReport.status.in_(NOT_CLOSED))
            .order_by(SideEffectReport.created_at, SideEffectReport.id)
        ).scalars()
    )


def urgent_open_counts(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """Per case, urgent reports whose loop is not closed: one grouped query for the digest."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(SideEffectReport.case_id, func.count())
        .where(
            SideEffectReport.case_id.in_(case_ids),
            SideEffectReport.severity == Severity.URGENT,
            SideEffectReport.status.in_(NOT_CLOSED),
        )
        .group_by(SideEffectReport.case_id)
    ).all()
    return {case_id: count for case_id, count in rows}


def due_for_escalation(now: datetime) -> Select:
    """Open reports whose next escalation step is due; for storage.claims.lock_due.

    Uses ix_side_effect_reports_due (status, next_escalation_at)."""
    return (
        select(SideEffectReport)
        .where(
            SideEffectReport.status == ReportStatus.OPEN,
            SideEffectReport.next_escalation_at.is_not(None),
            SideEffectReport.next_escalation_at <= now,
        )
        .order_by(SideEffectReport.next_escalation_at, SideEffectReport.id)
    )


def waiting_for_prescriber(*, session: Session, user_id: str) -> list[tuple[SideEffectReport, Case]]:
    """Reports on open cases where `user_id` is a prescriber and the loop is still open."""
    rows = session.execute(
        select(SideEffectReport, Case)
        .join(Case, Case.id == SideEffectReport.case_id)
        .join(CaseMember, CaseMember.case_id == Case.id)
        .where(
            CaseMember.user_id == user_id,
            CaseMember.role == Role.PRESCRIBER,
            Case.status == CaseStatus.OPEN,
            SideEffectReport.status.in_(NOT_CLOSED),
        )
        .order_by(SideEffectReport.ack_due_at, SideEffectReport.id)
    ).all()
    return [(report, case) for report, case in rows]


def recipients(
    *, session: Session, report_id: int, kinds: tuple[RecipientKind, ...] | None = None
) -> list[SideEffectRecipient]:
    query = select(SideEffectRecipient).where(SideEffectRecipient.report_id == report_id)
    if kinds:
        query = query.where(SideEffectRecipient.kind.in_(kinds))
    return list(session.execute(query.order_by(SideEffectRecipient.id)).scalars())
