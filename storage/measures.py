"""Measurement-based care: dated scores, episodes of care and PHQ-9 item 9 alerts.

A score is one instrument's total for one case on the date it was taken: at most one per
(case, instrument, date), so two members entering the same day's PHQ-9 give one point, the
later replacing the earlier (the replacement is audited). Each score belongs to the episode
of care it was entered in; an episode starts when the case is created or reopened, so
baseline, change and weeks in treatment restart with it.

An item 9 alert (PHQ-9 item 9 of 1 or more) is open until a prescriber acknowledges it;
`next_escalation_at` says when the sweep next has something to do for it, `escalation_step`
how far it got, as for urgent side-effect reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import Column, Date, Index, Select, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from storage.audit import ThreadEntry
from storage.cases import CaseMember
from storage.reviews import ReviewUpdate
from storage.types import utc_column


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"
    AUDITC = "auditc"


class ScoreSource(StrEnum):
    COMMAND = "command"  # /score
    REVIEW = "review"  # the review update form
    MIGRATED = "migrated"  # a review update's score from before dated scores (migration 0010)


class EpisodeStart(StrEnum):
    CREATED = "created"
    REOPENED = "reopened"


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


class EscalationStep(IntEnum):
    NONE = 0
    REMINDED = 1  # at the urgent deadline: a reminder to the prescribers
    ESCALATED = 2  # after it: the case managers (or the creator) and the thread


class Episode(SQLModel, table=True):
    """One episode of care of a case: from creation or a reopening to the next closing."""

    __tablename__ = "measure_episodes"
    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_measure_episodes_case_number"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    number: int  # 1 for the episode the case was created with
    started_at: datetime = Field(sa_column=utc_column())
    started_on: date = Field(sa_column=Column(Date(), nullable=False))  # in the clinic's zone
    reason: str = Field(max_length=16)


class Score(SQLModel, table=True):
    __tablename__ = "measure_scores"
    __table_args__ = (
        UniqueConstraint("case_id", "instrument", "taken_on", name="uq_measure_scores_case_instrument_day"),
        Index("ix_measure_scores_episode", "episode_id", "instrument", "taken_on"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    episode_id: int = Field(foreign_key="measure_episodes.id")
    instrument: str = Field(max_length=16)
    value: int
    item9: int | None = Field(default=None)  # PHQ-9 only
    taken_on: date = Field(sa_column=Column(Date(), nullable=False))
    entered_by: str = Field(max_length=32)
    entered_at: datetime = Field(sa_column=utc_column())
    source: str = Field(max_length=16)
    review_update_id: int | None = Field(default=None, foreign_key="review_updates.id")
    replaced: int = Field(default=0)  # how many times a later entry for the same day replaced it


class Item9Alert(SQLModel, table=True):
    """PHQ-9 item 9 of 1 or more: the prescribers are told at once and must acknowledge."""

    __tablename__ = "measure_item9_alerts"
    __table_args__ = (Index("ix_measure_item9_alerts_due", "status", "next_escalation_at"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    score_id: int = Field(foreign_key="measure_scores.id")
    item9: int
    taken_on: date = Field(sa_column=Column(Date(), nullable=False))
    entered_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    status: str = Field(default=AlertStatus.OPEN, max_length=16)
    ack_due_at: datetime = Field(sa_column=utc_column())
    escalate_at: datetime = Field(sa_column=utc_column())
    next_escalation_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalation_step: int = Field(default=EscalationStep.NONE)
    acknowledged_by: str | None = Field(default=None, max_length=32)
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def ref(self) -> str:
        return f"A-{self.id}"


class Item9Notice(SQLModel, table=True):
    """A DM sent about an alert, remembered so it can be updated in place (no stale button)."""

    __tablename__ = "measure_item9_notices"

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    alert_id: int = Field(foreign_key="measure_item9_alerts.id", index=True)
    user_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)  # alert | reminder | escalation
    outbox_id: int


# -- queries -------------------------------------------------------------------------------------


def current_episode(*, session: Session, case_id: int) -> Episode | None:
    return session.execute(
        select(Episode).where(Episode.case_id == case_id).order_by(col(Episode.number).desc()).limit(1)
    ).scalar_one_or_none()


def current_episodes(*, session: Session, case_ids: Sequence[int]) -> dict[int, Episode]:
    """Each case's latest episode, in one query."""
    if not case_ids:
        return {}
    latest = (
        select(Episode.case_id, func.max(Episode.number).label("number"))
        .where(col(Episode.case_id).in_(case_ids))
        .group_by(col(Episode.case_id))
        .subquery()
    )
    rows = session.execute(
        select(Episode).join(
            latest, (col(Episode.case_id) == latest.c.case_id) & (col(Episode.number) == latest.c.number)
        )
    ).scalars()
    return {e.case_id: e for e in rows}


def score_on(*, session: Session, case_id: int, instrument: str, taken_on: date) -> Score | None:
    return session.execute(
        select(Score).where(
            Score.case_id == case_id, Score.instrument == instrument, Score.taken_on == taken_on
        )
    ).scalar_one_or_none()


def scores_of_update(*, session: Session, review_update_id: int) -> list[Score]:
    return list(session.execute(select(Score).where(Score.review_update_id == review_update_id)).scalars())


def episode_scores(*, session: Session, episode_ids: Sequence[int]) -> dict[int, list[Score]]:
    """{episode id: its scores, oldest date first}."""
    if not episode_ids:
        return {}
    found: dict[int, list[Score]] = defaultdict(list)
    rows = session.execute(
        select(Score)
        .where(col(Score.episode_id).in_(episode_ids))
        .order_by(col(Score.taken_on), col(Score.id))
    ).scalars()
    for score in rows:
        found[score.episode_id].append(score)
    return found


def last_team_contact(*, session: Session, case_ids: Sequence[int]) -> dict[int, datetime]:
    """The team's last contact with each case: the newest review update, score entry or
    message in the case thread by someone on its team, whichever is latest (a score carried
    over by the migration is not a contact)."""
    if not case_ids:
        return {}
    latest: dict[int, datetime] = {}
    queries = (
        select(ReviewUpdate.case_id, func.max(ReviewUpdate.submitted_at))
        .where(col(ReviewUpdate.case_id).in_(case_ids))
        .group_by(col(ReviewUpdate.case_id)),
        select(Score.case_id, func.max(Score.entered_at))
        .where(col(Score.case_id).in_(case_ids), Score.source != ScoreSource.MIGRATED)
        .group_by(col(Score.case_id)),
        select(ThreadEntry.case_id, func.max(ThreadEntry.at))
        .join(
            CaseMember,
            (col(CaseMember.case_id) == col(ThreadEntry.case_id))
            & (col(CaseMember.user_id) == col(ThreadEntry.user_id)),
        )
        .where(col(ThreadEntry.case_id).in_(case_ids))
        .group_by(col(ThreadEntry.case_id)),
    )
    for query in queries:
        for case_id, at in session.execute(query).all():
            if at is None:
                continue
            at = _aware(at)
            if case_id not in latest or at > latest[case_id]:
                latest[case_id] = at
    return latest


def _aware(at: datetime) -> datetime:
    """max() over a UTC column comes back without the column type on some dialects."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def get_alert(*, session: Session, alert_id: int, lock: bool = False) -> Item9Alert | None:
    query = select(Item9Alert).where(Item9Alert.id == alert_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def open_alert_counts(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(Item9Alert.case_id, func.count())
        .where(col(Item9Alert.case_id).in_(case_ids), Item9Alert.status == AlertStatus.OPEN)
        .group_by(col(Item9Alert.case_id))
    ).all()
    return {case_id: count for case_id, count in rows}


def open_alerts_for(*, session: Session, case_ids: Sequence[int]) -> list[Item9Alert]:
    if not case_ids:
        return []
    return list(
        session.execute(
            select(Item9Alert)
            .where(col(Item9Alert.case_id).in_(case_ids), Item9Alert.status == AlertStatus.OPEN)
            .order_by(col(Item9Alert.created_at))
        ).scalars()
    )


def notices(*, session: Session, alert_id: int) -> list[Item9Notice]:
    return list(
        session.execute(
            select(Item9Notice).where(Item9Notice.alert_id == alert_id).order_by(col(Item9Notice.id))
        ).scalars()
    )


def due_alerts(now: datetime) -> Select:
    """Open alerts whose next escalation step is due: a query for claims.lock_due."""
    return (
        select(Item9Alert)
        .where(
            Item9Alert.status == AlertStatus.OPEN,
            col(Item9Alert.next_escalation_at).is_not(None),
            col(Item9Alert.next_escalation_at) <= now,
        )
        .order_by(col(Item9Alert.next_escalation_at), col(Item9Alert.id))
    )


def open_alerts_notified_to(*, session: Session, user_id: str) -> list[Item9Alert]:
    """Open item 9 alerts this person was sent (App Home: waiting for their acknowledgement)."""
    return list(
        session.execute(
            select(Item9Alert)
            .join(Item9Notice, col(Item9Notice.alert_id) == col(Item9Alert.id))
            .where(Item9Notice.user_id == user_id, Item9Alert.status == AlertStatus.OPEN)
            .distinct()
            .order_by(col(Item9Alert.created_at))
        ).scalars()
    )


def open_alerts_by_ids(*, session: Session, alert_ids: Sequence[int]) -> list[Item9Alert]:
    """Of these item 9 alerts, those still open: one query for the on-call person's App Home
    (bot/oncall `covered_waiting`)."""
    if not alert_ids:
        return []
    return list(
        session.execute(
            select(Item9Alert).where(col(Item9Alert.id).in_(alert_ids), Item9Alert.status == AlertStatus.OPEN)
        ).scalars()
    )
