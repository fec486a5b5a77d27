"""Reminding the team of medication changes they have not marked seen: a sweep step.

Each change with someone to tell carries `remind_at` (CARETHREAD_MEDCHANGE_SEEN_HOURS after
the change, on working days, at a working hour). The step claims due changes with
storage.claims.lock_due and, in the same unit, DMs one reminder to each recipient who has
not marked it seen and sets `reminded_at`, so the reminder goes once across replicas and
restarts; a process that was down sends it once when it comes back.
"""

from __future__ import annotations

from bot.auditlog import Source
from bot.deps import Deps
from bot.medications import service
from bot.unit import Actor
from storage import cases as case_repo
from storage import medications as repo

BATCH = 100


def remind_unseen(deps: Deps) -> int:
    """Send every due seen-reminder once; returns how many people were reminded."""
    reminded = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = repo.lock_seen_reminders(unit.session, now=unit.now, limit=BATCH)
            for change in due:
                change.reminded_at = unit.now
                unit.session.add(change)
                case = case_repo.get_case(session=unit.session, case_id=change.case_id)
                assert case is not None  # a change's case is never deleted (foreign key)
                members = {m.user_id for m in case_repo.members(session=unit.session, case_id=case.id)}
                waiting = [
                    r
                    for r in repo.recipients(session=unit.session, change_id=change.id)
                    if r.seen_at is None and r.user_id in members  # who left the team is not chased
                ]
                card = service.build_card(unit, change, case)
                for recipient in waiting:
                    message = unit.post(
                        channel=recipient.user_id,
                        message=service.render(
                            unit, "med_change_dm", card, role=recipient.role, reminder=True, seen_at=None
                        ),
                        purpose="medication_change_reminder",
                        case_id=case.id,
                    )
                    recipient.reminder_outbox_id = message.id
                    unit.session.add(recipient)
                unit.audit(
                    "medication.change_reminded",
                    case_id=case.id,
                    target=f"medication_change:{change.id}",
                    recipients=len(waiting),
                    late_minutes=int((unit.now - (change.remind_at or unit.now)).total_seconds() // 60),
                )
                reminded += len(waiting)
        if len(due) < BATCH:
            return reminded
