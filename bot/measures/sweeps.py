"""Chasing unacknowledged PHQ-9 item 9 alerts on the urgent clock: a sweep step.

The alert's deadlines are the side-effect relay's urgent ones (CARETHREAD_SIDEEFFECT_DEADLINE_URGENT
and CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION): step 1, at the acknowledgement deadline, a
reminder DM to the same people as the alert; step 2, after it, a DM to the case managers (or the
case's creator) and a thread message mentioning the prescribers and case managers. Outside working
hours each step also reaches whoever is on call then (`service.item9_recipients`, through
bot/oncall `urgent_recipients`; with nobody on call the admin channel is told), with the button
to acknowledge it. Each due alert
is claimed with storage.claims.lock_due and moved on in the same unit as its messages and audit
events, so each step fires once across replicas and restarts; a late sweep fires both in order.
"""

from __future__ import annotations

from bot.auditlog import Source
from bot.cases.service import post_in_thread
from bot.deps import Deps
from bot.measures import service
from bot.side_effects.service import team_of
from bot.unit import Actor, Unit
from storage import cases as cases_repo
from storage import measures as repo
from storage.cases import CaseStatus
from storage.claims import lock_due
from storage.measures import EscalationStep, Item9Alert

BATCH = 100


def escalate_item9_alerts(deps: Deps) -> int:
    """Sweep step: chase unacknowledged item 9 alerts on the urgent clock, as urgent side
    effects are chased: a reminder to the prescribers at the deadline, then the case
    managers (or the creator) and the thread. Each step claimed once (lock_due)."""
    fired = 0
    while True:  # batch after batch, each its own unit, until a short one (as the other sweeps)
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = lock_due(unit.session, repo.due_alerts(unit.now), limit=BATCH)
            for alert in due:
                fired += _advance(unit, alert)
        if len(due) < BATCH:
            return fired


def _advance(unit: Unit, alert: Item9Alert) -> int:
    case = cases_repo.get_case(session=unit.session, case_id=alert.case_id)
    assert case is not None  # an alert's case is never deleted (foreign key)
    if case.status != CaseStatus.OPEN:
        # A closed case's alerts are not chased (closing it is where open risk is reviewed),
        # as bot/safety/sweeps.py does for safety records; the skip is on record.
        alert.next_escalation_at = None
        unit.session.add(alert)
        unit.audit(
            "score.item9_chase_stopped", case_id=case.id, target=f"item9:{alert.id}", reason="case_closed"
        )
        return 0
    steps = 0
    while alert.next_escalation_at is not None and alert.next_escalation_at <= unit.now:
        team = team_of(unit, case)
        if alert.escalation_step == EscalationStep.NONE:
            alert.escalation_step = EscalationStep.REMINDED
            alert.next_escalation_at = alert.escalate_at
            recipients = service.item9_recipients(unit, case, alert)
            targets = recipients.everyone
            for user_id in recipients.users:  # without a prescriber: the fallback words, no button
                service.notify(
                    unit, alert, case, user_id, "reminder" if recipients.prescribers else "fallback"
                )
            for user_id in recipients.on_call:
                service.notify(unit, alert, case, user_id, "on_call")
            action, due = "score.item9_reminded", alert.ack_due_at
        else:
            alert.escalation_step = EscalationStep.ESCALATED
            alert.next_escalation_at = None
            targets = team.escalation_targets()
            for user_id in targets:
                service.notify(unit, alert, case, user_id, "escalation")
            on_call = [u for u in service.item9_recipients(unit, case, alert).on_call if u not in targets]
            for user_id in on_call:  # after hours: whoever is on call now, able to acknowledge
                service.notify(unit, alert, case, user_id, "on_call")
            targets = [*targets, *on_call]
            post_in_thread(
                unit,
                case,
                unit.deps.renderer.message(
                    "measures/item9_escalation",
                    ref=case.ref,
                    a=alert,
                    people=sorted({*team.prescribers, *team.case_managers}),
                ),
                purpose="item9_escalation",
            )
            action, due = "score.item9_escalated", alert.escalate_at
        unit.audit(
            action,
            case_id=case.id,
            target=f"item9:{alert.id}",
            step=int(alert.escalation_step),
            recipients=len(targets),
            late_minutes=int((unit.now - due).total_seconds() // 60),
        )
        steps += 1
    unit.session.add(alert)
    return steps
