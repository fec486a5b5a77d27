"""Tables for scheduled case reviews (listed in storage/schema.py).

The database is the source of truth for what is due: `review_schedules.next_due_at`,
`review_nudges.due_at` and `review_digests.next_at` are what the sweeps claim, each with
an index that starts with the columns the sweep filters on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, Select, Text, UniqueConstraint, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseMember, CaseStatus
from storage.core import OutboxMessage
from storage.types import table_of, utc_column


class ReviewStatus(StrEnum):
    OPEN = "open"
    COMPLETE = "complete"


class ReviewTrigger(StrEnum):
    SCHEDULE = "schedule"
    COMMAND = "command"


class NudgeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"  # answered, review complete, left the team, case closed


class ReviewSchedule(SQLModel, table=True):
    """A case's cadence, kept as the wall-clock rule it was given, and its next due time."""

    __tablename__ = "review_schedules"
    __table_args__ = (Index("ix_review_schedules_due", "active", "next_due_at"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", unique=True)
    every: int
    period: str = Field(max_length=8)  # bot.reviews.cadence.Period
    weekday: int | None = Field(default=None)  # 0 = Monday
    at_local: str = Field(max_length=5)  # "HH:MM" on the wall clock of `tz`
    tz: str = Field(max_length=64)
    active: bool = Field(default=True)
    next_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    set_by: str = Field(max_length=32)
    updated_at: datetime = Field(sa_column=utc_column())


class Review(SQLModel, table=True):
    """One review of a case: its prompt message, the updates it collects, its decision."""

    __tablename__ = "reviews"
    __table_args__ = (
        # At most one open review per case, whoever starts it (a sweep on another replica,
        # `/review now`): the database refuses the second.
        Index(
            "uq_reviews_one_open",
            "case_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_reviews_status_case", "status", "case_id"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    status: str = Field(default=ReviewStatus.OPEN, max_length=16)
    trigger: str = Field(max_length=16)  # ReviewTrigger
    due_at: datetime = Field(sa_column=utc_column())
    started_at: datetime = Field(sa_column=utc_column())
    started_by: str = Field(max_length=32)
    # The outbox row that posts the prompt; decisions and updates edit that message in place.
    prompt_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    decision: str | None = Field(default=None, max_length=16)  # bot.reviews.fields.Decision
    decision_note_enc: str | None = Field(default=None, sa_type=Text)
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # A discharge's relapse-prevention plan: encrypted JSON (bot.reviews.fields.RelapsePlan).
    relapse_plan_enc: str | None = Field(default=None, sa_type=Text)


class ReviewUpdate(SQLModel, table=True):
    """A member's update for a review. Free-text answers are one encrypted JSON object. The
    scores are what the member typed (their form is prefilled with them when revising); the
    measurements themselves are the measures workflow's dated scores (storage/measures.py)."""

    __tablename__ = "review_updates"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id", name="uq_review_updates_review_user"),
        Index("ix_review_updates_case_time", "case_id", "submitted_at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    review_id: int = Field(foreign_key="reviews.id")
    case_id: int = Field(foreign_key="cases.id")
    user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    answers_enc: str = Field(sa_type=Text)
    phq9: int | None = Field(default=None)
    gad7: int | None = Field(default=None)
    submitted_at: datetime = Field(sa_column=utc_column())
    revisions: int = Field(default=0)


class ReviewNudge(SQLModel, table=True):
    """One reminder DM per member per review, claimed once when due (and in working hours)."""

    __tablename__ = "review_nudges"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id", name="uq_review_nudges_review_user"),
        Index("ix_review_nudges_due", "status", "due_at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    review_id: int = Field(foreign_key="reviews.id")
    case_id: int = Field(foreign_key="cases.id", index=True)
    user_id: str = Field(max_length=32)
    status: str = Field(default=NudgeStatus.PENDING, max_length=16)
    due_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ReviewDigest(SQLModel, table=True):
    """When the weekly caseload digest is next due. One row, seeded by the migration;
    `rule` is the schedule next_at was computed from, so a changed setting recomputes it."""

    __tablename__ = "review_digests"

    name: str = Field(primary_key=True, max_length=32)
    rule: str = Field(default="", max_length=128)
    next_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


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
    rows = session.execute(select(ReviewSchedule).where(col(ReviewSchedule.case_id).in_(case_ids))).scalars()
    return {s.case_id: s for s in rows}


def due_schedules(*, now: datetime) -> Select:
    """Active schedules due by `now` on open cases, oldest first (uses ix_review_schedules_due).

    The open-case test is a subquery, so `FOR UPDATE` locks the schedule rows only, never
    the case rows people are editing. A correlated EXISTS (one primary-key lookup per due
    row), not `IN (open cases)`: SQLite built the list of every open case for each batch,
    so the sweep grew with the total number of cases.
    """
    case_open = (
        select(Case.id).where(Case.id == ReviewSchedule.case_id, Case.status == CaseStatus.OPEN).exists()
    )
    return (
        select(ReviewSchedule)
        .where(
            col(ReviewSchedule.active).is_(True),
            col(ReviewSchedule.next_due_at) <= now,
            case_open,
        )
        .order_by(col(ReviewSchedule.next_due_at), col(ReviewSchedule.id))
    )


def move_schedules(*, session: Session, schedules: Sequence[ReviewSchedule], to: Sequence[datetime]) -> None:
    """Each claimed schedule's next due time, in one executemany UPDATE rather than an ORM
    flush of every row; the loaded objects are given the new value as already saved."""
    table = table_of(ReviewSchedule)
    if schedules:
        session.execute(
            update(table).where(table.c.id == bindparam("schedule_id")).values(next_due_at=bindparam("due")),
            [{"schedule_id": s.id, "due": due} for s, due in zip(schedules, to, strict=True)],
        )
    for schedule, due in zip(schedules, to, strict=True):
        set_committed_value(schedule, "next_due_at", due)


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
        select(Review).where(Review.status == ReviewStatus.OPEN, col(Review.case_id).in_(case_ids))
    ).scalars()
    return {r.case_id: r for r in rows}


def waiting_for_user(*, session: Session, user_id: str) -> list[tuple[Review, Case]]:
    """Open reviews of the user's open cases that have no update from them yet."""
    answered = select(ReviewUpdate.review_id).where(ReviewUpdate.user_id == user_id)
    return [
        (review, case)
        for review, case in session.execute(
            select(Review, Case)
            .join(Case, col(Case.id) == col(Review.case_id))
            .join(CaseMember, col(CaseMember.case_id) == col(Case.id))
            .where(
                CaseMember.user_id == user_id,
                Case.status == CaseStatus.OPEN,
                Review.status == ReviewStatus.OPEN,
                col(Review.id).not_in(answered),
            )
            .order_by(col(Review.started_at), col(Review.id))
        ).all()
    ]


# -- updates -----------------------------------------------------------------------------------


def updates_for(*, session: Session, review_id: int) -> list[ReviewUpdate]:
    return list(
        session.execute(
            select(ReviewUpdate)
            .where(ReviewUpdate.review_id == review_id)
            .order_by(col(ReviewUpdate.submitted_at), col(ReviewUpdate.id))
        ).scalars()
    )


def update_by(*, session: Session, review_id: int, user_id: str) -> ReviewUpdate | None:
    return session.execute(
        select(ReviewUpdate).where(ReviewUpdate.review_id == review_id, ReviewUpdate.user_id == user_id)
    ).scalar_one_or_none()


def nudges_for(*, session: Session, review_id: int, status: str | None = None) -> list[ReviewNudge]:
    query = select(ReviewNudge).where(ReviewNudge.review_id == review_id)
    if status is not None:
        query = query.where(ReviewNudge.status == status)
    return list(session.execute(query.order_by(col(ReviewNudge.id))).scalars())


def due_nudges(*, now: datetime) -> Select:
    """Pending nudges due by `now` (uses ix_review_nudges_due)."""
    return (
        select(ReviewNudge)
        .where(ReviewNudge.status == NudgeStatus.PENDING, ReviewNudge.due_at <= now)
        .order_by(col(ReviewNudge.due_at), col(ReviewNudge.id))
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
            select(Case).where(col(Case.status) == CaseStatus.OPEN).order_by(col(Case.id)).limit(limit)
        ).scalars()
    )


def thread_roots(*, session: Session, cases: Sequence[Case]) -> dict[int, OutboxMessage]:
    """{case_id: the outbox row of its case card}, in one query."""
    card_ids = {c.card_outbox_id: c.id for c in cases if c.card_outbox_id is not None}
    if not card_ids:
        return {}
    rows = session.execute(select(OutboxMessage).where(col(OutboxMessage.id).in_(card_ids))).scalars()
    return {card_ids[row.id]: row for row in rows}


def insert_open_reviews(*, session: Session, rows: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Open reviews (column values, status open) in one statement; returns case id → review id
    for those inserted.

    A case that already has an open review (another replica's sweep or `/review now` won the
    race) is skipped by uq_reviews_one_open through ON CONFLICT DO NOTHING, instead of failing
    the statement: no savepoint per review. On PostgreSQL the insert waits for a competing
    uncommitted open review and then skips its case. Sent as one executemany (SQLAlchemy
    batches it into multi-row INSERTs), so the statement compiles once per process."""
    if not rows:
        return {}
    table = table_of(Review)
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = dialect_insert(table).on_conflict_do_nothing().returning(table.c.case_id, table.c.id)
    inserted = session.execute(statement, [{**row, "status": ReviewStatus.OPEN} for row in rows])
    return {case_id: review_id for case_id, review_id in inserted}


def set_prompts(*, session: Session, prompts: dict[int, int]) -> None:
    """review id → the outbox id of its prompt, for a batch of new reviews in one executemany."""
    if prompts:
        table = table_of(Review)
        session.execute(
            update(table)
            .where(table.c.id == bindparam("review_id"))
            .values(prompt_outbox_id=bindparam("outbox_id")),
            [{"review_id": review, "outbox_id": outbox} for review, outbox in prompts.items()],
        )


def add_nudges(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Pending nudges (column values) in one executemany: a batch of reviews plans one per member."""
    if rows:
        session.execute(
            insert(table_of(ReviewNudge)), [{**row, "status": NudgeStatus.PENDING} for row in rows]
        )
