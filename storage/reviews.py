"""Queries for case reviews. Keyword-only, session first; the due-row queries are built
here and claimed by the sweeps through storage.claims.lock_due."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, select
from sqlmodel import Session

from storage.models import Case, CaseMember, CaseStatus, OutboxMessage
from storage.models_reviews import (
    NudgeStatus,
    Review,
    ReviewDigest,
    ReviewNudge,
    ReviewSchedule,
    ReviewStatus,
    ReviewUpdate,
)

WEEKLY_DIGEST = "weekly"


# -- schedules ---------------------------------------------------------------------------------


def schedule_for(*, session: Session, case_id: int, lock: bool = False) -> ReviewSchedule | None:
    query = select(ReviewSchedule).where(ReviewSchedule.case_id == case_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def schedules_for(*, session: Session, case_ids: Sequence[int]) -> dict[int, ReviewSchedule]:
    if not case_ids:
        return {}
    rows = session.execute(select(ReviewSchedule).where(ReviewSchedule.case_id.in_(case_ids))).scalars()
    return {s.case_id: s for s in rows}


def due_schedules(*, now: datetime) -> Select:
    """Active schedules due by `now` on open cases, oldest first (uses ix_review_schedules_due).

    The open-case test is a subquery, so `FOR UPDATE` locks the schedule rows only, never
    the case rows people are editing.
    """
    open_cases = select(Case.id).where(Case.status == CaseStatus.OPEN)
    return (
        select(ReviewSchedule)
        .where(
            ReviewSchedule.active.is_(True),
            ReviewSchedule.next_due_at <= now,
            ReviewSchedule.case_id.in_(open_cases),
        )
        .order_by(ReviewSchedule.next_due_at, ReviewSchedule.id)
    )


# -- reviews -----------------------------------------------------------------------------------


def get_review(*, session: Session, review_id: int, lock: bool = False) -> Review | None:
    query = select(Review).where(Review.id == review_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def open_review(*, session: Session, case_id: int) -> Review | None:
    return session.execute(
        select(Review).where(Review.case_id == case_id, Review.status == ReviewStatus.OPEN)
    ).scalar_one_or_none()


def open_reviews_for(*, session: Session, case_ids: Sequence[int]) -> dict[int, Review]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(Review).where(Review.status == ReviewStatus.OPEN, Review.case_id.in_(case_ids))
    ).scalars()
    return {r.case_id: r for r in rows}


def waiting_for_user(*, session: Session, user_id: str) -> list[tuple[Review, Case]]:
    """Open reviews of the user's open cases that have no update from them yet."""
    answered = select(ReviewUpdate.review_id).where(ReviewUpdate.user_id == user_id)
    return [
        (review, case)
        for review, case in session.execute(
            select(Review, Case)
            .join(Case, Case.id == Review.case_id)
            .join(CaseMember, CaseMember.case_id == Case.id)
            .where(
                CaseMember.user_id == user_id,
                Case.status == CaseStatus.OPEN,
                Review.status == ReviewStatus.OPEN,
                Review.id.not_in(answered),
            )
            .order_by(Review.started_at, Review.id)
        ).all()
    ]


# -- updates -----------------------------------------------------------------------------------


def updates_for(*, session: Session, review_id: int) -> list[ReviewUpdate]:
    return list(
        session.execute(
            select(ReviewUpdate)
            .where(ReviewUpdate.review_id == review_id)
            .order_by(ReviewUpdate.submitted_at, ReviewUpdate.id)
        ).scalars()
    )


def update_by(*, session: Session, review_id: int, user_id: str) -> ReviewUpdate | None:
    return session.execute(
        select(ReviewUpdate).where(ReviewUpdate.review_id == review_id, ReviewUpdate.user_id == user_id)
    ).scalar_one_or_none()


def score_series(*, session: Session, case_ids: Sequence[int]) -> dict[int, dict[str, list[int]]]:
    """{case_id: {"phq9": [...], "gad7": [...]}}, oldest first (uses ix_review_updates_case_time)."""
    series: dict[int, dict[str, list[int]]] = defaultdict(lambda: {"phq9": [], "gad7": []})
    if not case_ids:
        return {}
    rows = session.execute(
        select(ReviewUpdate.case_id, ReviewUpdate.phq9, ReviewUpdate.gad7)
        .where(
            ReviewUpdate.case_id.in_(case_ids),
            (ReviewUpdate.phq9.is_not(None)) | (ReviewUpdate.gad7.is_not(None)),
        )
        .order_by(ReviewUpdate.case_id, ReviewUpdate.submitted_at, ReviewUpdate.id)
    ).all()
    for case_id, phq9, gad7 in rows:
        if phq9 is not None:
            series[case_id]["phq9"].append(phq9)
        if gad7 is not None:
            series[case_id]["gad7"].append(gad7)
    return dict(series)


# -- nudges ------------------------------------------------------------------------------------


def nudges_for(*, session: Session, review_id: int, status: str | None = None) -> list[ReviewNudge]:
    query = select(ReviewNudge).where(ReviewNudge.review_id == review_id)
    if status is not None:
        query = query.where(ReviewNudge.status == status)
    return list(session.execute(query.order_by(ReviewNudge.id)).scalars())


def due_nudges(*, now: datetime) -> Select:
    """Pending nudges due by `now` (uses ix_review_nudges_due)."""
    return (
        select(ReviewNudge)
        .where(ReviewNudge.status == NudgeStatus.PENDING, ReviewNudge.due_at <= now)
        .order_by(ReviewNudge.due_at, ReviewNudge.id)
    )


def due_nudge_users(*, session: Session, now: datetime, limit: int = 500) -> list[str]:
    """Who the next nudge pass may DM: read without locking, to warm the Slack user cache."""
    rows = session.execute(
        select(ReviewNudge.user_id)
        .where(ReviewNudge.status == NudgeStatus.PENDING, ReviewNudge.due_at <= now)
        .distinct()
        .limit(limit)
    ).scalars()
    return list(rows)


# -- digest ------------------------------------------------------------------------------------


def weekly_digest_row() -> Select:
    return select(ReviewDigest).where(ReviewDigest.name == WEEKLY_DIGEST)


def open_cases(*, session: Session, limit: int = 2000) -> list[Case]:
    return list(
        session.execute(
            select(Case).where(Case.status == CaseStatus.OPEN).order_by(Case.id).limit(limit)
        ).scalars()
    )


def thread_roots(*, session: Session, cases: Sequence[Case]) -> dict[int, OutboxMessage]:
    """{case_id: the outbox row of its case card}, in one query."""
    card_ids = {c.card_outbox_id: c.id for c in cases if c.card_outbox_id is not None}
    if not card_ids:
        return {}
    rows = session.execute(select(OutboxMessage).where(OutboxMessage.id.in_(card_ids))).scalars()
    return {card_ids[row.id]: row for row in rows}
