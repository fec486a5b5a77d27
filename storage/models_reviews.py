"""Tables for scheduled case reviews (imported at the bottom of storage/models.py).

The database is the source of truth for what is due: `review_schedules.next_due_at`,
`review_nudges.due_at` and `review_digests.next_at` are what the sweeps claim, each with
an index that starts with the columns the sweep filters on.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.models import _utc


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

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", unique=True)
    every: int
    period: str = Field(max_length=8)  # bot.cadence.Period
    weekday: int | None = Field(default=None)  # 0 = Monday
    at_local: str = Field(max_length=5)  # "HH:MM" on the wall clock of `tz`
    tz: str = Field(max_length=64)
    active: bool = Field(default=True)
    next_due_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    set_by: str = Field(max_length=32)
    updated_at: datetime = Field(sa_column=_utc())


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

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    status: str = Field(default=ReviewStatus.OPEN, max_length=16)
    trigger: str = Field(max_length=16)  # ReviewTrigger
    due_at: datetime = Field(sa_column=_utc())
    started_at: datetime = Field(sa_column=_utc())
    started_by: str = Field(max_length=32)
    # The outbox row that posts the prompt; decisions and updates edit that message in place.
    prompt_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    decision: str | None = Field(default=None, max_length=16)  # bot.review_fields.Decision
    decision_note_enc: str | None = Field(default=None, sa_type=Text)
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class ReviewUpdate(SQLModel, table=True):
    """A member's update for a review. Free-text answers are one encrypted JSON object;
    the scores are kept as numbers so trends and the not-improving rule can be computed."""

    __tablename__ = "review_updates"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id", name="uq_review_updates_review_user"),
        Index("ix_review_updates_case_time", "case_id", "submitted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="reviews.id")
    case_id: int = Field(foreign_key="cases.id")
    user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    answers_enc: str = Field(sa_type=Text)
    phq9: int | None = Field(default=None)
    gad7: int | None = Field(default=None)
    submitted_at: datetime = Field(sa_column=_utc())
    revisions: int = Field(default=0)


class ReviewNudge(SQLModel, table=True):
    """One reminder DM per member per review, claimed once when due (and in working hours)."""

    __tablename__ = "review_nudges"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id", name="uq_review_nudges_review_user"),
        Index("ix_review_nudges_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    review_id: int = Field(foreign_key="reviews.id")
    case_id: int = Field(foreign_key="cases.id", index=True)
    user_id: str = Field(max_length=32)
    status: str = Field(default=NudgeStatus.PENDING, max_length=16)
    due_at: datetime = Field(sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


class ReviewDigest(SQLModel, table=True):
    """When the weekly caseload digest is next due. One row, seeded by the migration;
    `rule` is the schedule next_at was computed from, so a changed setting recomputes it."""

    __tablename__ = "review_digests"

    name: str = Field(primary_key=True, max_length=32)
    rule: str = Field(default="", max_length=128)
    next_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    last_sent_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))


__all__ = [
    "NudgeStatus",
    "Review",
    "ReviewDigest",
    "ReviewNudge",
    "ReviewSchedule",
    "ReviewStatus",
    "ReviewTrigger",
    "ReviewUpdate",
]
