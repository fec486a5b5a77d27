"""Cases, their care teams and medications: tables and keyword-only queries (session first)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint, func
from sqlmodel import Field, Session, SQLModel, col, select

from storage.core import OutboxMessage
from storage.reads import remembered
from storage.types import utc_column


class Role(StrEnum):
    PRESCRIBER = "prescriber"
    THERAPIST = "therapist"
    CASE_MANAGER = "case-manager"
    PCP = "pcp"
    PHARMACIST = "pharmacist"
    CONSULTANT = "consultant"  # the psychiatric consultant of a Collaborative Care team

    @property
    def display(self) -> str:
        return ROLE_TITLES[self]


ROLE_TITLES = {
    Role.PRESCRIBER: "Prescriber",
    Role.THERAPIST: "Therapist",
    Role.CASE_MANAGER: "Case manager",
    Role.PCP: "Primary care",
    Role.PHARMACIST: "Pharmacist",
    Role.CONSULTANT: "Psychiatric consultant",
}


class Duty(StrEnum):
    """What someone on a split-treatment team is responsible for (issue 15)."""

    SUICIDE_RISK = "suicide-risk"
    REFILLS = "refills"
    LABS = "labs"
    MED_QUESTIONS = "med-questions"
    AFTER_HOURS = "after-hours"

    @property
    def display(self) -> str:
        return DUTY_TITLES[self]


DUTY_TITLES = {
    Duty.SUICIDE_RISK: "Monitoring suicide risk",
    Duty.REFILLS: "Refills",
    Duty.LABS: "Laboratory monitoring (lithium levels, clozapine blood counts)",
    Duty.MED_QUESTIONS: "The patient's questions about medication",
    Duty.AFTER_HOURS: "After-hours and crisis contact",
}


class MedicationKind(StrEnum):
    """What kind of thing the patient takes: the pharmacist's review covers all of them."""

    PRESCRIPTION = "prescription"
    OTC = "otc"
    SUPPLEMENT = "supplement"
    HERBAL = "herbal"

    @property
    def display(self) -> str:
        return MEDICATION_KIND_TITLES[self]


MEDICATION_KIND_TITLES = {
    MedicationKind.PRESCRIPTION: "Prescription",
    MedicationKind.OTC: "Over the counter",
    MedicationKind.SUPPLEMENT: "Supplement",
    MedicationKind.HERBAL: "Herbal",
}


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Case(SQLModel, table=True):
    __tablename__ = "cases"

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    team_id: str = Field(max_length=32)
    label_enc: str = Field(sa_type=Text)
    status: str = Field(default=CaseStatus.OPEN, max_length=16, index=True)
    home_channel: str = Field(max_length=32)
    # The outbox message that posts the case card: the root of the case thread.
    card_outbox_id: int | None = Field(default=None)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(sa_column=utc_column())
    updated_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    close_reason_enc: str | None = Field(default=None, sa_type=Text)

    @property
    def ref(self) -> str:
        return f"C-{self.id}"


class CaseMember(SQLModel, table=True):
    __tablename__ = "case_members"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_case_members_case_user"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    user_id: str = Field(max_length=32, index=True)
    role: str = Field(max_length=16)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=utc_column())


class Medication(SQLModel, table=True):
    __tablename__ = "medications"

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    name_enc: str = Field(sa_type=Text)
    detail_enc: str | None = Field(default=None, sa_type=Text)
    kind: str = Field(default=MedicationKind.PRESCRIPTION, max_length=16)  # MedicationKind
    active: bool = Field(default=True)
    added_by: str = Field(max_length=32)
    added_at: datetime = Field(sa_column=utc_column())
    stopped_by: str | None = Field(default=None, max_length=32)
    stopped_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class CaseConsent(SQLModel, table=True):
    """The patient's consent to share between the disciplines on the team, as recorded by a
    team member (the signed form lives in the clinic's record). The newest row of a case is
    its consent; older rows stay as history. Free text is encrypted."""

    __tablename__ = "case_consents"
    __table_args__ = (Index("ix_case_consents_remind_due", "reminded_at", "remind_at"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    given_on: date
    expires_on: date
    roles: str = Field(max_length=200)  # comma-separated Role values the consent covers
    organisations_enc: str | None = Field(default=None, sa_type=Text)
    part2: bool = Field(default=False)  # covers substance-use treatment records (42 CFR Part 2)
    note_enc: str | None = Field(default=None, sa_type=Text)
    recorded_by: str = Field(max_length=32)
    recorded_at: datetime = Field(sa_column=utc_column())
    # The expiry reminder: due at remind_at, claimed once (reminded_at set, or superseded).
    remind_at: datetime = Field(sa_column=utc_column())
    reminded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def role_list(self) -> list[str]:
        return [r for r in self.roles.split(",") if r]


class CaseResponsibility(SQLModel, table=True):
    """Who holds one responsibility on a case, when someone set it (`/case roles`, or a
    handoff that carried it). With no row, or a holder no longer on the team, the default
    from the team's roles applies (bot/cases/responsibilities.py)."""

    __tablename__ = "case_responsibilities"
    __table_args__ = (UniqueConstraint("case_id", "duty", name="uq_case_responsibilities_case_duty"),)

    id: int = Field(default=None, primary_key=True)  # assigned on flush; typed as the int every reader gets
    case_id: int = Field(foreign_key="cases.id", index=True)
    duty: str = Field(max_length=24)
    user_id: str = Field(max_length=32)
    set_by: str = Field(max_length=32)
    set_at: datetime = Field(sa_column=utc_column())


class OwnChannel(SQLModel, table=True):
    """A case's own private channel, made by the app, whose members the app keeps equal to
    the team. The case's home_channel is this channel."""

    __tablename__ = "case_own_channels"

    case_id: int = Field(foreign_key="cases.id", primary_key=True)
    channel_id: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=80)
    created_at: datetime = Field(sa_column=utc_column())


def get_case(*, session: Session, case_id: int, lock: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def members(*, session: Session, case_id: int) -> list[CaseMember]:
    """The team, read once per transaction until it writes (storage/reads.py): the card,
    `/case show`, the responsibilities and several workflows each ask for it."""

    def load() -> list[CaseMember]:
        return list(
            session.execute(
                select(CaseMember)
                .where(CaseMember.case_id == case_id)
                .order_by(col(CaseMember.added_at), col(CaseMember.id))
            ).scalars()
        )

    return list(remembered(session, ("case_members", case_id), load))


def members_of(*, session: Session, case_ids: Sequence[int]) -> dict[int, list[CaseMember]]:
    """`members` of many cases in one query (a sweep's batch), each list in the same order."""
    found: dict[int, list[CaseMember]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for member in session.execute(
            select(CaseMember)
            .where(col(CaseMember.case_id).in_(case_ids))
            .order_by(col(CaseMember.case_id), col(CaseMember.added_at), col(CaseMember.id))
        ).scalars():
            found[member.case_id].append(member)
    return found


def cases_by_id(*, session: Session, case_ids: Sequence[int]) -> dict[int, Case]:
    """Many cases in one query (a sweep's batch); they also land in the session's identity map."""
    if not case_ids:
        return {}
    rows = session.execute(select(Case).where(col(Case.id).in_(case_ids))).scalars()
    return {case.id: case for case in rows}


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
        .join(CaseMember, col(CaseMember.case_id) == col(Case.id))
        .where(CaseMember.user_id == user_id)
    )
    if status is not None:
        query = query.where(Case.status == status)
    return [(case, role) for case, role in session.execute(query.order_by(col(Case.id).desc())).all()]


def all_cases(*, session: Session, status: str | None = CaseStatus.OPEN, limit: int = 500) -> list[Case]:
    query = select(Case)
    if status is not None:
        query = query.where(Case.status == status)
    return list(session.execute(query.order_by(col(Case.id).desc()).limit(limit)).scalars())


def count_members(*, session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(CaseMember.case_id, func.count())
        .where(col(CaseMember.case_id).in_(case_ids))
        .group_by(col(CaseMember.case_id))
    ).all()
    return {case_id: count for case_id, count in rows}


def medications(*, session: Session, case_id: int, active_only: bool = True) -> list[Medication]:
    """The case's medications, active ones only unless asked. Every one (a case has a
    handful) is read once per transaction until it writes (storage/reads.py) and the active
    ones are picked from them: `/case show` lists the active ones and its medication history
    section all of them."""

    def load() -> list[Medication]:
        query = select(Medication).where(Medication.case_id == case_id)
        return list(session.execute(query.order_by(col(Medication.added_at), col(Medication.id))).scalars())

    every = remembered(session, ("medications", case_id), load)
    return [m for m in every if m.active] if active_only else list(every)


def thread_root(*, session: Session, case: Case) -> OutboxMessage | None:
    if case.card_outbox_id is None:
        return None
    return session.get(OutboxMessage, case.card_outbox_id)


def current_consent(*, session: Session, case_id: int) -> CaseConsent | None:
    return session.execute(
        select(CaseConsent)
        .where(col(CaseConsent.case_id) == case_id)
        .order_by(col(CaseConsent.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def consent_reminders_due(*, now: datetime):
    """Consents whose expiry reminder is due and not sent: a query for claims.lock_due."""
    return (
        select(CaseConsent)
        .where(col(CaseConsent.reminded_at).is_(None), col(CaseConsent.remind_at) <= now)
        .order_by(col(CaseConsent.remind_at), col(CaseConsent.id))
    )


def responsibilities(*, session: Session, case_id: int, lock: bool = False) -> list[CaseResponsibility]:
    """The responsibilities set explicitly on a case (not the defaults from roles)."""
    query = select(CaseResponsibility).where(CaseResponsibility.case_id == case_id)
    if lock:
        query = query.with_for_update()
    return list(session.execute(query.order_by(col(CaseResponsibility.id))).scalars())


def own_channel(*, session: Session, case_id: int) -> OwnChannel | None:
    return session.get(OwnChannel, case_id)
