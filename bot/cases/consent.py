"""Consent on record (issue 11): the patient's consent to share between the disciplines on
the care team, as a team member records it from the clinic's signed form.

What it covers decides who may join: while a consent is on record (expired or not), a
member of a role it does not name is refused (bot/cases/service.check_team_change). With
none recorded nobody is refused, because blocking a team from forming until the paperwork
arrives would stop care; the card says "No consent on record" so the gap is seen. An
expired consent still limits the roles (expiry must never widen sharing); the card says it
has expired. Substance-use treatment records (42 CFR Part 2) need the patient's explicit
consent, so whether it covers them is recorded too, and shown only to the team on request:
the flag itself reveals that the patient is in such treatment, so it never goes on the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from bot.access import open_case
from bot.cases import service as cases
from bot.cases.settings import case_settings
from bot.clinic import local_moment
from bot.errors import FieldErrors
from bot.ids import BlockId
from bot.unit import Actor, Unit
from storage import cases as repo
from storage.cases import CaseConsent, CaseStatus, Role
from storage.claims import lock_due

if TYPE_CHECKING:
    from bot.deps import Deps


@dataclass(frozen=True)
class ConsentForm:
    given_on: date
    expires_on: date
    roles: tuple[Role, ...]
    organizations: str | None
    part2: bool
    note: str | None


@dataclass(frozen=True)
class ConsentView:
    ref: str
    given_on: date
    expires_on: date
    expired: bool
    roles: list[str]  # titles
    organizations: str | None
    part2: bool
    note: str | None
    recorded_by: str
    recorded_at: datetime


def open_form(unit: Unit, *, case_id: int) -> str:
    """Before the consent form opens: may this person record consent on this case?"""
    access = open_case(unit, case_id, require_open=True)
    unit.audit("consent.form_opened", case_id=case_id, target=access.case.ref)
    return access.case.ref


def record(unit: Unit, *, case_id: int, form: ConsentForm) -> CaseConsent:
    """Save the consent, replacing the one before it (whose reminder is then never sent)."""
    access = open_case(unit, case_id, lock=True, require_open=True)
    case = access.case
    covered = {r.value for r in form.roles}
    outside = sorted(
        {
            (m.role, m.user_id)
            for m in repo.members(session=unit.session, case_id=case_id)
            if m.role not in covered
        }
    )
    if outside:
        names = ", ".join(f"<@{user}> ({Role(role).display.lower()})" for role, user in outside)
        raise FieldErrors(
            {
                BlockId.CONSENT_ROLES: f"The team already has members in roles this consent does not cover: "
                f"{names}. Tick their roles if the patient agreed to share with them, or take them off "
                f"the team first (`/case remove {case.ref} @person`)."
            },
            case_id=case_id,
        )
    previous = repo.current_consent(session=unit.session, case_id=case_id)
    if previous is not None and previous.reminded_at is None:
        previous.reminded_at = unit.now  # superseded: its reminder is claimed, never sent
        unit.session.add(previous)
    remind_day = form.expires_on - case_settings(unit.deps.settings).consent_remind_before
    consent = CaseConsent(
        case_id=case_id,
        given_on=form.given_on,
        expires_on=form.expires_on,
        roles=",".join(r.value for r in Role if r.value in covered),
        organisations_enc=unit.deps.cipher.encrypt_optional(form.organizations),
        part2=form.part2,
        note_enc=unit.deps.cipher.encrypt_optional(form.note),
        recorded_by=unit.actor.user_id,
        recorded_at=unit.now,
        remind_at=_reminder_time(unit, remind_day),
    )
    unit.session.add(consent)
    unit.session.flush()
    unit.audit(
        "consent.recorded",
        case_id=case_id,
        target=f"consent:{consent.id}",
        roles=consent.role_list,
        part2=form.part2,
        expires_on=form.expires_on.isoformat(),
        replaces=previous.id if previous is not None else None,
    )
    cases.thread_note(unit, case, "consent_recorded", expires_on=form.expires_on)
    cases.refresh_case(unit, case)
    return consent


def show(unit: Unit, *, case_id: int) -> ConsentView | None:
    access = open_case(unit, case_id)
    consent = repo.current_consent(session=unit.session, case_id=case_id)
    unit.audit("consent.viewed", case_id=case_id, target=access.case.ref, recorded=consent is not None)
    if consent is None:
        return None
    cipher = unit.deps.cipher
    return ConsentView(
        ref=access.case.ref,
        given_on=consent.given_on,
        expires_on=consent.expires_on,
        expired=consent.expires_on < unit.now.date(),
        roles=[Role(r).display for r in consent.role_list],
        organizations=cipher.decrypt_optional(consent.organisations_enc),
        part2=consent.part2,
        note=cipher.decrypt_optional(consent.note_enc),
        recorded_by=consent.recorded_by,
        recorded_at=consent.recorded_at,
    )


# -- the reminder before expiry ----------------------------------------------------------------


def _reminder_time(unit: Unit, day: date) -> datetime:
    """A non-urgent reminder waits for working hours: the clinic's opening on `day` (its zone,
    its working days), or the next one after it."""
    clinic = unit.deps.settings.clinic
    opening = local_moment(day, clinic.working_hours.start, clinic.zone)
    return clinic.working_hours.next_open(opening, clinic.zone)


def remind_before_expiry(deps: Deps) -> int:
    """Sweep step: the case managers (with none: whoever recorded the consent, or else the
    whole team) get one
    DM when a consent is CARETHREAD_CONSENT_REMIND_DAYS from expiring. Claimed with
    lock_due and marked in the same transaction as the DM is queued, so it fires once
    across replicas and restarts; a sweep that runs late still sends it, once."""
    sent = 0
    with deps.unit(Actor.app()) as unit:
        for consent in lock_due(unit.session, repo.consent_reminders_due(now=unit.now), limit=200):
            consent.reminded_at = unit.now
            unit.session.add(consent)
            case = repo.get_case(session=unit.session, case_id=consent.case_id)
            if case is None or case.status != CaseStatus.OPEN:
                continue
            team = repo.members(session=unit.session, case_id=case.id)
            readers = (
                [m.user_id for m in team if m.role == Role.CASE_MANAGER]
                or [m.user_id for m in team if m.user_id == consent.recorded_by]
                or [m.user_id for m in team]
            )
            message = unit.deps.renderer.message(
                "cases/consent_reminder",
                ref=case.ref,
                expires_on=consent.expires_on,
                days=(consent.expires_on - unit.now.date()).days,
            )
            for user_id in readers:
                unit.post(channel=user_id, message=message, purpose="consent_reminder", case_id=case.id)
            unit.audit("consent.reminded", case_id=case.id, target=f"consent:{consent.id}", readers=readers)
            sent += 1
    return sent
