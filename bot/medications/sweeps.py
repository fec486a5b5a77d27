"""Reminding the team of medication changes they have not marked seen: a sweep step.

Each person told of a change carries `remind_at` (CARETHREAD_MEDCHANGE_SEEN_HOURS after the
change, counted on the clinic's working days); marking it seen clears it. The step claims due
reminders with storage.claims.lock_due and, in the same unit, either sends the one reminder
DM and sets `reminded_at`, moves it to when the person's working hours begin (in their own
Slack time zone, as review nudges and handoff reminders do), or cancels it (they left the
team, or the case closed). So each reminder goes once across replicas and restarts, and a
process that was down sends it once when it comes back.
"""

from __future__ import annotations

import logging

from bot.auditlog import Source
from bot.deps import Deps
from bot.medications import service
from bot.slack import SlackUnavailable
from bot.unit import Actor, Unit
from storage import cases as case_repo
from storage import medications as repo
from storage.cases import CaseStatus
from storage.core import SlackUser
from storage.db import session_scope
from storage.medications import ChangeRecipient

BATCH = 100
log = logging.getLogger(__name__)


def remind_unseen(deps: Deps) -> int:
    """Send every due seen-reminder once; returns how many were sent."""
    _learn_time_zones(deps)
    sent = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = repo.lock_seen_reminders(unit.session, now=unit.now, limit=BATCH)
            for recipient in due:
                sent += _remind(unit, recipient)
        if len(due) < BATCH:
            return sent


def _learn_time_zones(deps: Deps) -> None:
    """users.info for whoever is due a reminder, before any row is locked: the gateway opens
    its own session and calls Slack, neither of which may happen inside the claiming unit."""
    with session_scope(deps.engine) as session:
        users = repo.due_reminder_users(session=session, now=deps.clock.now())
    for user_id in users:
        try:
            deps.gateway.user(user_id)
        except SlackUnavailable:
            log.warning("users.info failed for %s; their reminder uses the clinic's time zone", user_id)


def _remind(unit: Unit, recipient: ChangeRecipient) -> int:
    change = repo.get_change(session=unit.session, change_id=recipient.change_id)
    assert change is not None  # a recipient's change is never deleted (foreign key)
    case = case_repo.get_case(session=unit.session, case_id=change.case_id)
    assert case is not None
    target = f"user:{recipient.user_id}"
    on_team = case_repo.membership(session=unit.session, case_id=case.id, user_id=recipient.user_id)
    if on_team is None or case.status != CaseStatus.OPEN or recipient.seen_at is not None:
        recipient.remind_at = None
        unit.session.add(recipient)
        reason = "left_team" if on_team is None else "seen" if recipient.seen_at else "case_closed"
        unit.audit(
            "medication.reminder_canceled", case_id=case.id, target=target, change=change.id, reason=reason
        )
        return 0
    clinic = unit.deps.settings.clinic
    person = unit.session.get(SlackUser, recipient.user_id)
    zone = clinic.zone_of(person.tz if person else None)
    opens = clinic.working_hours.next_open(unit.now, zone)
    if opens > unit.now:
        recipient.remind_at = opens
        unit.session.add(recipient)
        unit.audit(
            "medication.reminder_deferred",
            case_id=case.id,
            target=target,
            change=change.id,
            until=opens.isoformat(),
            tz=zone.key,
        )
        return 0
    card = service.build_card(unit, change, case)
    message = unit.post(
        channel=recipient.user_id,
        message=service.render(unit, "med_change_dm", card, role=recipient.role, reminder=True, seen_at=None),
        purpose="medication_change_reminder",
        case_id=case.id,
    )
    recipient.reminded_at, recipient.reminder_outbox_id = unit.now, message.id
    unit.session.add(recipient)
    unit.audit(
        "medication.change_reminded",
        case_id=case.id,
        target=target,
        change=change.id,
        late_minutes=int((unit.now - (recipient.remind_at or unit.now)).total_seconds() // 60),
    )
    return 1
