"""Chasing unacknowledged side-effect reports: a sweep step, run every sweep and at start-up.

Each open report carries `next_escalation_at` and `escalation_step`. When the sweep finds
one due (claimed with storage.claims.lock_due, so a replica running the same sweep skips
it), it fires the next step and moves the report on in the same transaction as the
messages and audit events that step produces:

- step 1, at the acknowledgement deadline: a reminder DM to the team's prescribers (to the
  case managers or the creator when there is no prescriber);
- step 2, a further fraction of the deadline later (CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION):
  a DM to the case managers (with none, to the other members: never only to the prescribers
  who did not answer; with nobody else on the team, the admin channel, CARETHREAD_ADMIN_CHANNEL,
  is told the case and report ids only) and a thread message mentioning them and the
  prescribers.

An urgent report's steps also go, outside the clinic's working hours, to whoever is on call
then (bot/oncall `urgent_recipients`; with nobody on call the admin channel is told). A
non-urgent report's steps wait for the clinic's working hours instead (audited as
`side_effect.step_deferred`).

A sweep that runs late (the app was down past both times) fires every step whose time has
passed, each exactly once, in order: the reminder and then the escalation. We do not wait
another interval before escalating, because the escalation time has already passed and the
report is overdue by then; delaying it further only for the reminder to "have a chance"
would leave an urgent report with nobody told. A second sweep finds nothing due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from bot.auditlog import Source
from bot.cases.service import post_in_thread
from bot.deps import Deps
from bot.oncall.service import urgent_recipients
from bot.side_effects import service as relay
from bot.unit import Actor, Unit
from storage import side_effects as repo
from storage.claims import lock_due
from storage.side_effects import EscalationStep, RecipientKind, ReportStatus, Severity, SideEffectReport

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


def advance(unit: Unit, report: SideEffectReport) -> int:
    """Fire the steps that are due for one report and leave it not due (or finished)."""
    steps = 0
    while (
        report.status == ReportStatus.OPEN
        and report.next_escalation_at is not None
        and report.next_escalation_at <= unit.now
    ):
        if wait_for_working_hours(
            unit,
            report,
            urgent=report.severity == Severity.URGENT,
            action="side_effect.step_deferred",
            target=f"side_effect:{report.id}",
        ):
            break
        if report.escalation_step == EscalationStep.NONE:
            _remind(unit, report)
        elif report.escalation_step == EscalationStep.REMINDED:
            _escalate(unit, report)
        else:  # nothing left to fire; never due again
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


class Chased(Protocol):
    """A report chased on these clocks (side effects, adherence): what the deferral moves."""

    id: int
    case_id: int
    escalation_step: int
    next_escalation_at: datetime | None
    escalate_at: Any  # a datetime (optional on adherence reports)


def wait_for_working_hours(unit: Unit, item: Chased, *, urgent: bool, action: str, target: str) -> bool:
    """A non-urgent item's reminder and escalation wait for the clinic's working hours (its
    zone and days); an urgent one's never wait. Returns True when the step was moved. Shared
    with bot/adherence/sweeps.py so both relays defer by one rule."""
    if urgent:
        return False
    clinic = unit.deps.settings.clinic
    opens = clinic.working_hours.next_open(unit.now, clinic.zone)
    if opens <= unit.now:
        return False
    if (
        item.escalation_step == EscalationStep.NONE
        and item.next_escalation_at is not None
        and item.escalate_at is not None
    ):
        # The escalation keeps its distance from the deferred reminder, which gets its chance.
        item.escalate_at += opens - item.next_escalation_at
    item.next_escalation_at = opens
    unit.audit(
        action,
        case_id=item.case_id,
        target=target,
        step=item.escalation_step + 1,
        until=opens.isoformat(),
    )
    return True


def _remind(unit: Unit, report: SideEffectReport) -> None:
    case = relay.case_of(unit, report)
    team = relay.team_of(unit, case)
    targets = team.prescribers or team.fallback()
    on_call: list[str] = []
    if report.severity == Severity.URGENT:  # outside working hours the person on call hears too
        route = urgent_recipients(unit, case, item=f"side_effect:{report.id}")
        on_call = [u for u in route.on_call if u not in targets]
    report.escalation_step = EscalationStep.REMINDED
    report.reminded_at = unit.now
    report.next_escalation_at = report.escalate_at
    card = relay.build_card(unit, report, case)
    for user_id in targets:
        relay.notify(unit, report, card, user_id, RecipientKind.REMINDER)
    told = {r.user_id for r in repo.recipients(session=unit.session, report_id=report.id)}
    for user_id in on_call:
        kind = RecipientKind.REMINDER if user_id in told else RecipientKind.ON_CALL
        relay.notify(unit, report, card, user_id, kind)
    _audit_step(
        unit,
        report,
        "side_effect.reminded",
        step=1,
        recipients=len(targets) + len(on_call),
        due=report.ack_due_at,
    )


def _escalate(unit: Unit, report: SideEffectReport) -> None:
    case = relay.case_of(unit, report)
    team = relay.team_of(unit, case, reporter=report.reporter)
    targets = team.escalation_targets()
    if report.severity == Severity.URGENT:  # outside working hours the person on call hears too
        route = urgent_recipients(unit, case, item=f"side_effect:{report.id}")
        targets += [u for u in route.on_call if u not in targets]
    report.escalation_step = EscalationStep.ESCALATED
    report.escalated_at = unit.now
    report.next_escalation_at = None
    card = relay.build_card(unit, report, case)
    for user_id in targets:
        relay.notify(unit, report, card, user_id, RecipientKind.ESCALATION)
    admin_channel = unit.deps.settings.admin_channel
    if not targets and admin_channel:
        # Nobody on the team but the prescribers who did not answer: the admins find someone.
        # The channel is not the team's, so the message carries ids and the priority only.
        unit.post(
            channel=admin_channel,
            message=relay.render(unit, "side_effect_escalation", card, audience="admins"),
            purpose="side_effect_escalation_admins",
        )
    post_in_thread(
        unit,
        case,
        relay.render(unit, "side_effect_escalation", card, audience="thread"),
        purpose="side_effect_escalation",
    )
    _audit_step(
        unit,
        report,
        "side_effect.escalated",
        step=2,
        recipients=len(targets),
        due=report.escalate_at,
        admin_channel=not targets and bool(admin_channel),
    )


def _audit_step(
    unit: Unit,
    report: SideEffectReport,
    action: str,
    *,
    step: int,
    recipients: int,
    due: datetime,
    **details: Any,
) -> None:
    """A scheduled firing, with how late it came (a sweep after downtime shows it here)."""
    unit.audit(
        action,
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        severity=report.severity,
        step=step,
        recipients=recipients,
        late_minutes=int((unit.now - due).total_seconds() // 60),
        **details,
    )
