"""Queries for cases, their teams and medications. Keyword-only, session first."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlmodel import Session

from storage.models import Case, CaseMember, CaseStatus, Medication, OutboxMessage


def get_case(*, session: Session, case_id: int, lock: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def members(*, session: Session, case_id: int) -> list[CaseMember]:
    return list(
        session.execute(
            select(CaseMember)
            .where(CaseMember.case_id == case_id)
            .order_by(CaseMember.added_at, CaseMember.id)
        ).scalars()
    )


def membership(*, session: Session, case_id: int, user_id: str) -> CaseMember | None:
    return session.execute(
        select(CaseMember).where(CaseMember.case_id == case_id, CaseMember.user_id == user_id)
    ).scalar_one_or_none()


def cases_of_user(
    *, session: Session, user_id: str, status: str | None = CaseStatus.OPEN
) -> list[tuple[Case, str]]:
    """(case, role) for each case the user is on, newest first."""
    query = (
        select(Case, CaseMember.role)
        .join(CaseMember, CaseMember.case_id == Case.id)
        .where(CaseMember.user_id == user_id)
    )
    if status is not None:
        query = query.where(Case.status == status)
    return [(case, role) for case, role in session.execute(query.order_by(Case.id.desc())).all()]


def all_cases(*, session: Session, status: str | None = CaseStatus.OPEN, limit: int = 500) -> list[Case]:
    query = select(Case)
    if status is not None:
        query = query.where(Case.status == status)
    return list(session.execute(query.order_by(Case.id.desc()).limit(limit)).scalars())


def count_members(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(CaseMember.case_id, func.count())
        .where(CaseMember.case_id.in_(case_ids))
        .group_by(CaseMember.case_id)
    ).all()
    return {case_id: count for case_id, count in rows}


def medications(*, session: Session, case_id: int, active_only: bool = True) -> list[Medication]:
    query = select(Medication).where(Medication.case_id == case_id)
    if active_only:
        query = query.where(Medication.active.is_(True))
    return list(session.execute(query.order_by(Medication.added_at, Medication.id)).scalars())


def thread_root(*, session: Session, case: Case) -> OutboxMessage | None:
    if case.card_outbox_id is None:
        return None
    return session.get(OutboxMessage, case.card_outbox_id)
