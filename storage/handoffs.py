"""Queries for handoffs. Keyword-only, session first.

The three `claim_*` functions are the sweep's: each selects due rows through
storage.claims.lock_due (FOR UPDATE SKIP LOCKED on PostgreSQL) using one of the
(status, due time) indexes declared on the table; the caller moves each row out of the
due state in the same transaction, so each step fires once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from storage.claims import lock_due
from storage.models_handoffs import Handoff, HandoffKind, HandoffStatus


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
        .order_by(Handoff.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def pending_of(*, session: Session, user_id: str, received: bool) -> list[Handoff]:
    """Pending handoffs sent to (`received`) or by the user, oldest first."""
    party = Handoff.to_user if received else Handoff.from_user
    return list(
        session.execute(
            select(Handoff)
            .where(party == user_id, Handoff.status == HandoffStatus.PENDING)
            .order_by(Handoff.created_at, Handoff.id)
        ).scalars()
    )


def active_coverages_of(*, session: Session, user_id: str) -> list[Handoff]:
    """Running coverage the user gave or holds."""
    return list(
        session.execute(
            select(Handoff)
            .where(
                or_(Handoff.from_user == user_id, Handoff.to_user == user_id),
                Handoff.kind == HandoffKind.COVERAGE,
                Handoff.status == HandoffStatus.ACCEPTED,
            )
            .order_by(Handoff.coverage_until, Handoff.id)
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
                    Handoff.status == HandoffStatus.PENDING,
                    (Handoff.status == HandoffStatus.ACCEPTED) & (Handoff.kind == HandoffKind.COVERAGE),
                ),
            )
            .order_by(Handoff.created_at, Handoff.id)
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
        select(Handoff).where(Handoff.status == status, due <= now, *also).order_by(due, Handoff.id),
    )
