"""Chasing unacknowledged adherence concerns, on the side-effect relay's clocks.

Each open report carries `next_escalation_at` and `escalation_step`. The sweep claims due
reports with storage.claims.lock_due and, in the same unit as the messages and audit events,
fires the next step and moves the report on, so each step fires once across replicas:

- step 1, at the acknowledgement deadline: a reminder DM to whoever `prescribers_for` names;
- step 2, CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION of the deadline later: a DM to the case
  managers (or the creator) and a thread message mentioning the prescribers and case managers.

Outside working hours each step of a high-priority report also reaches whoever is on call then
(`prescribers_for`, through bot/oncall `urgent_recipients`; with nobody on call the admin channel
is told): a first DM with Acknowledge to someone not yet told, else the step's own DM.
A moderate report's steps wait for the clinic's working hours (`bot/side_effects/sweeps.py
wait_for_working_hours`, `adherence.step_deferred`); a closed case's reports are not chased.

A sweep that runs late fires every step whose time has passed, once each, in order (the
side-effect relay's reasoning: the report is overdue by then, and waiting longer only delays
telling anyone).
"""

from __future__ import annotations

from datetime import datetime

from bot.adherence import service as relay
from bot.auditlog import Source
from bot.cases.service import post_in_thread
from bot.deps import Deps
from bot.side_effects.service import team_of
from bot.side_effects.sweeps import wait_for_working_hours
from bot.unit import Actor, Unit
from storage import adherence as repo
from storage.adherence import AdherenceRecipientKind, AdherenceReport, AdherenceStatus
from storage.cases import CaseStatus
from storage.claims import lock_due
from storage.side_effects import EscalationStep, Severity

BATCH = 100


def escalate_due(deps: Deps) -> int:
    """Fire every due escalation step; returns how many steps fired."""
    fired = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = lock_due(unit.session, repo.due_for_escalation(unit.now), limit=BATCH)
            for report in due:
                fired += advance(unit, report)
        if len(due) < BATCH:
            return fired


def advance(unit: Unit, report: AdherenceReport) -> int:
    """Fire the steps that are due for one report and leave it not due (or finished)."""
    if relay.case_of(unit, report).status != CaseStatus.OPEN:
        # A closed case's reports are not chased, as bot/safety/sweeps.py does; the skip is on record.
        report.next_escalation_at = None
        unit.session.add(report)
        unit.audit(
            "adherence.chase_stopped",
            case_id=report.case_id,
            target=f"adherence:{report.id}",
            reason="case_closed",
        )
        return 0
    steps = 0
    while (
        report.status == AdherenceStatus.OPEN
        and report.next_escalation_at is not None
        and report.next_escalation_at <= unit.now
    ):
        # A moderate concern's steps wait for working hours, as side effects' non-urgent ones do;
        # a high-priority one's never wait (after hours it also reaches the person on call).
        if wait_for_working_hours(
            unit,
            report,
            urgent=report.priority == Severity.HIGH,
            action="adherence.step_deferred",
            target=f"adherence:{report.id}",
        ):
            break
        if report.escalation_step == EscalationStep.NONE:
            _remind(unit, report)
        elif report.escalation_step == EscalationStep.REMINDED:
            _escalate(unit, report)
        else:
            report.next_escalation_at = None
            break
        steps += 1
    unit.session.add(report)
    if steps:
        case = relay.case_of(unit, report)
        card = relay.build_card(unit, report, case)
        relay.refresh_messages(unit, report, card)
        if report.escalation_step == EscalationStep.ESCALATED:
            relay.tell_reporter(unit, report, card, "escalated")
    return steps


def _remind(unit: Unit, report: AdherenceReport) -> None:
    case = relay.case_of(unit, report)
    routing = relay.prescribers_for(unit, case, report=report)
    targets = routing.to
    report.escalation_step = EscalationStep.REMINDED
    report.reminded_at = unit.now
    report.next_escalation_at = report.escalate_at
    card = relay.build_card(unit, report, case)
    for user_id in targets:
        relay.notify(unit, report, card, user_id, AdherenceRecipientKind.REMINDER)
    _tell_on_call(unit, report, card, routing.on_call, AdherenceRecipientKind.REMINDER)
    recipients = len(targets) + len(routing.on_call)
    _audit_step(unit, report, "adherence.reminded", step=1, recipients=recipients, due=report.ack_due_at)


def _escalate(unit: Unit, report: AdherenceReport) -> None:
    case = relay.case_of(unit, report)
    targets = team_of(unit, case).escalation_targets()
    on_call = [u for u in relay.prescribers_for(unit, case, report=report).on_call if u not in targets]
    report.escalation_step = EscalationStep.ESCALATED
    report.escalated_at = unit.now
    report.next_escalation_at = None
    card = relay.build_card(unit, report, case)
    for user_id in targets:
        relay.notify(unit, report, card, user_id, AdherenceRecipientKind.ESCALATION)
    _tell_on_call(unit, report, card, on_call, AdherenceRecipientKind.ESCALATION)
    targets = [*targets, *on_call]
    post_in_thread(
        unit,
        case,
        relay.render(unit, "adherence_escalation", card, audience="thread"),
        purpose="adherence_escalation",
    )
    _audit_step(unit, report, "adherence.escalated", step=2, recipients=len(targets), due=report.escalate_at)


def _tell_on_call(
    unit: Unit,
    report: AdherenceReport,
    card: relay.AdherenceCard,
    on_call: list[str],
    step_kind: AdherenceRecipientKind,
) -> None:
    """The person on call gets the first DM (with Acknowledge) unless they already have it;
    then the step's own DM (each kind once per person: the recipients table's key)."""
    told = {
        r.user_id
        for r in repo.recipients(
            session=unit.session, report_id=report.id, kinds=(AdherenceRecipientKind.ON_CALL,)
        )
    }
    for user_id in on_call:
        kind = step_kind if user_id in told else AdherenceRecipientKind.ON_CALL
        relay.notify(unit, report, card, user_id, kind)


def _audit_step(
    unit: Unit, report: AdherenceReport, action: str, *, step: int, recipients: int, due: datetime | None
) -> None:
    """A scheduled firing, with how late it came."""
    unit.audit(
        action,
        case_id=report.case_id,
        target=f"adherence:{report.id}",
        priority=report.priority,
        step=step,
        recipients=recipients,
        late_minutes=int((unit.now - due).total_seconds() // 60) if due else 0,
    )
