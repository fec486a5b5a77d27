"""Medication changes: each start, dose change, switch and stop of a case's medication, who
on the team has seen it, and the pharmacist's interaction check. Tables and keyword-only
queries (session first).

The medication list itself (`Medication`) stays in storage/cases.py, where cases create it;
every change to it after that is a `MedicationChange` row, so the history of a medication is
its start (`added_at`, or a `start` row) and its change rows in order. Clinical text (doses,
reasons, targets, what to watch for, the taper plan, the interaction note) lives only in
`_enc` columns.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Select, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from storage.cases import Case, CaseMember, CaseStatus
from storage.claims import lock_due
from storage.types import utc_column


class ChangeKind(StrEnum):
    START = "start"
    CHANGE = "change"  # dose or schedule
    SWITCH = "switch"  # stop this one, start `new_medication_id`
    STOP = "stop"


class InteractionCheck(StrEnum):
    NO_CONCERN = "no_concern"
    CONCERN = "concern"


class MedicationChange(SQLModel, table=True):
    __tablename__ = "medication_changes"

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    medication_id: int = Field(foreign_key="medications.id", index=True)
    new_medication_id: int | None = Field(default=None, foreign_key="medications.id")  # a switch's new one
    kind: str = Field(max_length=16)
    before_enc: str | None = Field(default=None, sa_type=Text)  # dose and schedule before
    after_enc: str | None = Field(default=None, sa_type=Text)  # dose and schedule after
    reason_enc: str | None = Field(default=None, sa_type=Text)
    targets_enc: str | None = Field(default=None, sa_type=Text)  # target symptoms
    watch_enc: str | None = Field(default=None, sa_type=Text)  # what to watch for
    taper_enc: str | None = Field(default=None, sa_type=Text)
    remeasure_enc: str | None = Field(default=None, sa_type=Text)  # when to re-measure
    # The side-effect report whose plan led to this change, if any.
    side_effect_report_id: int | None = Field(default=None, foreign_key="side_effect_reports.id")
    changed_by: str = Field(max_length=32)
    changed_at: datetime = Field(sa_column=utc_column())
    note_outbox_id: int | None = Field(default=None)  # the thread note, updated in place
    interaction: str | None = Field(default=None, max_length=16)  # InteractionCheck
    interaction_note_enc: str | None = Field(default=None, sa_type=Text)
    interaction_by: str | None = Field(default=None, max_length=32)
    interaction_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChangeRecipient(SQLModel, table=True):
    """A team member told of a change by DM (with Seen; a pharmacist also with the
    interaction check), when they said they had seen it, and their one reminder if they had
    not: due at `remind_at` (moved to their working hours by the sweep), claimed once."""

    __tablename__ = "medication_change_recipients"
    __table_args__ = (
        UniqueConstraint("change_id", "user_id", name="uq_medication_change_recipient"),
        # The seen-reminder sweep: recipients whose reminder is due and not sent.
        Index("ix_medication_change_recipients_remind_due", "reminded_at", "remind_at"),
    )

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    change_id: int = Field(foreign_key="medication_changes.id", index=True)
    user_id: str = Field(max_length=32)
    role: str = Field(max_length=16)
    outbox_id: int
    seen_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    remind_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    reminder_outbox_id: int | None = Field(default=None)


def get_change(*, session: Session, change_id: int, lock: bool = False) -> MedicationChange | None:
    query = select(MedicationChange).where(MedicationChange.id == change_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def recipients(*, session: Session, change_id: int) -> list[ChangeRecipient]:
    return list(
        session.execute(
            select(ChangeRecipient)
            .where(ChangeRecipient.change_id == change_id)
            .order_by(col(ChangeRecipient.id))
        ).scalars()
    )


def changes_of_case(*, session: Session, case_id: int) -> list[MedicationChange]:
    return list(
        session.execute(
            select(MedicationChange)
            .where(MedicationChange.case_id == case_id)
            .order_by(col(MedicationChange.changed_at), col(MedicationChange.id))
        ).scalars()
    )


def linked_to_report(*, session: Session, report_id: int) -> bool:
    """Whether a medication change was recorded from this side-effect report's plan."""
    query = select(MedicationChange.id).where(MedicationChange.side_effect_report_id == report_id).limit(1)
    return session.execute(query).first() is not None


def seen_reminders_due(*, now: datetime) -> Select:
    """Recipients whose one seen-reminder is due and not sent: a query for claims.lock_due."""
    return (
        select(ChangeRecipient)
        .where(
            col(ChangeRecipient.reminded_at).is_(None),
            col(ChangeRecipient.remind_at).is_not(None),
            col(ChangeRecipient.remind_at) <= now,
        )
        .order_by(col(ChangeRecipient.remind_at), col(ChangeRecipient.id))
    )


def lock_seen_reminders(session: Session, *, now: datetime, limit: int) -> list[ChangeRecipient]:
    """Claim the due seen-reminders (storage.claims.lock_due) for the caller's unit."""
    return lock_due(session, seen_reminders_due(now=now), limit=limit)


def due_reminder_users(*, session: Session, now: datetime) -> list[str]:
    """Who has a seen-reminder due: their time zones are looked up before claiming."""
    query = seen_reminders_due(now=now).with_only_columns(col(ChangeRecipient.user_id)).distinct()
    return list(session.execute(query.order_by(None)).scalars())


def unseen_by(*, session: Session, user_id: str) -> list[tuple[ChangeRecipient, MedicationChange, Case]]:
    """Changes on open cases sent to `user_id` that they have not marked seen (App Home)."""
    rows = session.execute(
        select(ChangeRecipient, MedicationChange, Case)
        .join(MedicationChange, col(MedicationChange.id) == col(ChangeRecipient.change_id))
        .join(Case, col(Case.id) == col(MedicationChange.case_id))
        .join(CaseMember, (col(CaseMember.case_id) == col(Case.id)) & (col(CaseMember.user_id) == user_id))
        .where(
            ChangeRecipient.user_id == user_id,
            col(ChangeRecipient.seen_at).is_(None),
            Case.status == CaseStatus.OPEN,
        )
        .order_by(col(MedicationChange.changed_at), col(MedicationChange.id))
        .limit(50)
    ).all()
    return [(recipient, change, case) for recipient, change, case in rows]
