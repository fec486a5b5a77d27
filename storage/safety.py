"""Tables of suicide-risk assessments and safety plans (Stanley-Brown).

Each `/safety` form saves one `SafetyRecord`; the newest one on a case is its current risk
level, and saving a newer one supersedes the previous (its follow-up is done: a
reassessment was recorded). A high or imminent record is an urgent alert: while it is not
acknowledged, `next_escalation_at` says when the sweep next chases it (the reminder at the
urgent deadline, then the escalation), exactly as an urgent side-effect report. Its
follow-up has its own clock: `follow_up_due_at` is when the owner is reminded (their
working hours on the follow-up date), then when the case managers are told it is overdue.
The plan, the only free text, lives in `plan_enc` (JSON of the six sections).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import Column, Date, Index, Select, Text, UniqueConstraint, and_, or_
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseMember, CaseStatus, Role
from storage.types import utc_column


class RiskLevel(StrEnum):
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    IMMINENT = "imminent"


URGENT_LEVELS = (RiskLevel.HIGH, RiskLevel.IMMINENT)


class Method(StrEnum):
    CSSRS = "cssrs"  # Columbia Suicide Severity Rating Scale screen
    PHQ9_ITEM9 = "phq9_item9"
    CLINICAL = "clinical"  # clinical judgment


class AlertStep(IntEnum):
    NONE = 0
    REMINDED = 1
    ESCALATED = 2


class FollowUpStep(IntEnum):
    NONE = 0
    REMINDED = 1  # the owner was reminded on the follow-up date
    ESCALATED = 2  # overdue: the case managers were told


class RecipientKind(StrEnum):
    ALERT = "alert"  # urgent DM with Acknowledge: prescribers, on-call, follow-up owner
    REMINDER = "reminder"  # step 1 of the urgent clock
    ESCALATION = "escalation"  # step 2: case managers
    FOLLOW_UP = "follow_up"  # the owner's reminder on the follow-up date
    OVERDUE = "overdue"  # the follow-up passed with no reassessment: case managers


class SafetyRecord(SQLModel, table=True):
    __tablename__ = "safety_records"
    __table_args__ = (
        Index("ix_safety_records_case", "case_id", "id"),
        Index("ix_safety_records_alert_due", "next_escalation_at"),
        Index("ix_safety_records_follow_up_due", "follow_up_due_at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id")
    recorded_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    method: str = Field(max_length=16)
    risk_level: str = Field(max_length=16)
    # JSON: the six Stanley-Brown sections, each text or null.
    plan_enc: str = Field(sa_type=Text)
    follow_up_owner: str = Field(max_length=32)
    follow_up_date: date = Field(sa_column=Column(Date(), nullable=False))
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The urgent clock (high and imminent only).
    ack_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalate_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    next_escalation_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    escalation_step: int = Field(default=0)
    acknowledged_by: str | None = Field(default=None, max_length=32)
    acknowledged_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The follow-up clock.
    follow_up_due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    follow_up_step: int = Field(default=0)
    # The thread post, updated in place.
    summary_outbox_id: int | None = Field(default=None, foreign_key="outbox.id")

    @property
    def ref(self) -> str:
        return f"SR-{self.id}"

    @property
    def urgent(self) -> bool:
        return self.risk_level in URGENT_LEVELS


class SafetyRecipient(SQLModel, table=True):
    """Who was told about a record, how, and which outbox row told them (updated in place)."""

    __tablename__ = "safety_recipients"
    __table_args__ = (
        UniqueConstraint("record_id", "user_id", "kind", name="uq_safety_recipients_record_user_kind"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    record_id: int = Field(foreign_key="safety_records.id", index=True)
    user_id: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    outbox_id: int = Field(foreign_key="outbox.id")
    created_at: datetime = Field(sa_column=utc_column())


def get_record(*, session: Session, record_id: int, lock: bool = False) -> SafetyRecord | None:
    query = select(SafetyRecord).where(SafetyRecord.id == record_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def current_record(*, session: Session, case_id: int, lock: bool = False) -> SafetyRecord | None:
    """The case's newest record: its current risk level."""
    query = (
        select(SafetyRecord)
        .where(SafetyRecord.case_id == case_id, col(SafetyRecord.superseded_at).is_(None))
        .order_by(col(SafetyRecord.id).desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def current_levels(*, session: Session, case_ids: Sequence[int]) -> dict[int, str]:
    """Per case, the current risk level (cases with no record are absent): one query."""
    if not case_ids:
        return {}
    rows = session.execute(
        select(SafetyRecord.case_id, SafetyRecord.risk_level).where(
            col(SafetyRecord.case_id).in_(case_ids), col(SafetyRecord.superseded_at).is_(None)
        )
    ).all()
    return {case_id: level for case_id, level in rows}


def due_alerts(now: datetime) -> Select:
    """Unacknowledged urgent records whose next step is due; for storage.claims.lock_due."""
    return (
        select(SafetyRecord)
        .where(col(SafetyRecord.next_escalation_at).is_not(None), col(SafetyRecord.next_escalation_at) <= now)
        .order_by(col(SafetyRecord.next_escalation_at), col(SafetyRecord.id))
    )


def due_follow_ups(now: datetime) -> Select:
    """Records whose follow-up reminder or overdue notice is due; for lock_due."""
    return (
        select(SafetyRecord)
        .where(col(SafetyRecord.follow_up_due_at).is_not(None), col(SafetyRecord.follow_up_due_at) <= now)
        .order_by(col(SafetyRecord.follow_up_due_at), col(SafetyRecord.id))
    )


def recipients(
    *, session: Session, record_id: int, kinds: tuple[RecipientKind, ...] | None = None
) -> list[SafetyRecipient]:
    query = select(SafetyRecipient).where(SafetyRecipient.record_id == record_id)
    if kinds:
        query = query.where(col(SafetyRecipient.kind).in_(kinds))
    return list(session.execute(query.order_by(col(SafetyRecipient.id))).scalars())


def was_told(*, session: Session, record_id: int, user_id: str) -> bool:
    """Was this person sent the record's urgent alert (the follow-up owner, an on-call person)?"""
    return (
        session.execute(
            select(SafetyRecipient.id).where(
                SafetyRecipient.record_id == record_id,
                SafetyRecipient.user_id == user_id,
                SafetyRecipient.kind == RecipientKind.ALERT,
            )
        ).first()
        is not None
    )


def waiting_for(*, session: Session, user_id: str) -> list[tuple[SafetyRecord, Case]]:
    """Records on open cases that wait for `user_id`: an unacknowledged urgent alert (current
    or superseded) on a case where they are a prescriber or the follow-up owner, or the current
    record's follow-up they own."""
    prescriber_on = select(CaseMember.case_id).where(
        CaseMember.user_id == user_id, CaseMember.role == Role.PRESCRIBER
    )
    rows = session.execute(
        select(SafetyRecord, Case)
        .join(Case, col(Case.id) == col(SafetyRecord.case_id))
        .where(
            Case.status == CaseStatus.OPEN,
            or_(
                and_(col(SafetyRecord.superseded_at).is_(None), col(SafetyRecord.follow_up_owner) == user_id),
                and_(  # an urgent alert stays waiting until acknowledged, even once superseded
                    or_(
                        col(SafetyRecord.case_id).in_(prescriber_on),
                        col(SafetyRecord.follow_up_owner) == user_id,
                    ),
                    col(SafetyRecord.risk_level).in_(URGENT_LEVELS),
                    col(SafetyRecord.acknowledged_by).is_(None),
                ),
            ),
        )
        .order_by(col(SafetyRecord.id))
    ).all()
    return [(record, case) for record, case in rows]


def unacknowledged_urgent_by_ids(*, session: Session, record_ids: Sequence[int]) -> list[SafetyRecord]:
    """Of these safety records, the current urgent (high or imminent) ones nobody has
    acknowledged (superseded or not: a later record does not acknowledge it): one query for the on-call
    person's App Home (bot/oncall `covered_waiting`)."""
    if not record_ids:
        return []
    return list(
        session.execute(
            select(SafetyRecord).where(
                col(SafetyRecord.id).in_(record_ids),
                col(SafetyRecord.risk_level).in_(URGENT_LEVELS),
                col(SafetyRecord.acknowledged_by).is_(None),
            )
        ).scalars()
    )
