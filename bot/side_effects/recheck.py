"""Rechecking a side effect after the plan changed a medication.

A plan to adjust the dose, switch or stop schedules a recheck CARETHREAD_SIDEEFFECT_RECHECK_DAYS
later (service.record_plan). The sweep step claims each due recheck once
(storage.claims.lock_due) and DMs the reporter a button that opens the report form again,
prefilled with the report's answers, plus how it compares: resolved, better, same or worse.
The answer is saved, shown on the report's messages and in the case thread; *worse* reopens
the report, with a fresh acknowledgement deadline for the severity the new answers give, and
the prescribers are told.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from bot.access import open_case
from bot.auditlog import Source
from bot.cases.service import post_in_thread
from bot.deps import Deps
from bot.errors import Conflict, NoAccess, NotAllowed
from bot.oncall.service import urgent_recipients
from bot.side_effects import service as relay
from bot.side_effects.policy import severity_of
from bot.side_effects.settings import SideEffectSettings, deadlines
from bot.unit import Actor, Unit
from storage import cases as case_repo
from storage import side_effects as repo
from storage.cases import Case
from storage.claims import lock_due
from storage.side_effects import (
    EscalationStep,
    RecheckOutcome,
    RecipientKind,
    ReportStatus,
    Severity,
    SideEffectRecheck,
    SideEffectReport,
)

BATCH = 100
OUTCOME_WORDS = {
    RecheckOutcome.RESOLVED: "Resolved",
    RecheckOutcome.BETTER: "Better",
    RecheckOutcome.SAME: "About the same",
    RecheckOutcome.WORSE: "Worse",
}


@dataclass(frozen=True)
class Prefill:
    """The report's answers, to prefill the recheck form with ("the same form")."""

    recheck_id: int
    report_ref: str
    medication_id: int | None
    medication_other: str | None
    symptoms: list[str]
    symptoms_other: str | None
    onset: date
    frequency: int
    intensity: int
    burden: int


def ask_due(deps: Deps) -> int:
    """Sweep step: ask each due recheck's reporter once; returns how many were asked."""
    asked = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = lock_due(unit.session, repo.rechecks_due(unit.now), limit=BATCH)
            for recheck in due:
                asked += _ask(unit, recheck)
        if len(due) < BATCH:
            return asked


def _ask(unit: Unit, recheck: SideEffectRecheck) -> int:
    recheck.asked_at = unit.now
    unit.session.add(recheck)
    report = repo.get_report(session=unit.session, report_id=recheck.report_id)
    assert report is not None  # a recheck's report is never deleted (foreign key)
    on_team = case_repo.membership(session=unit.session, case_id=report.case_id, user_id=report.reporter)
    case = relay.case_of(unit, report)
    if on_team is None or case.status != "open":
        unit.audit(
            "side_effect.recheck_skipped",
            case_id=report.case_id,
            target=f"side_effect:{report.id}",
            recheck=recheck.id,
            reason="reporter_left" if on_team is None else "case_closed",
        )
        return 0
    card = relay.build_card(unit, report, case)
    message = unit.post(
        channel=report.reporter,
        message=relay.render(unit, "side_effect_recheck", card, recheck_id=recheck.id, step="ask"),
        purpose="side_effect_recheck_ask",
        case_id=report.case_id,
    )
    recheck.ask_outbox_id = message.id
    unit.audit(
        "side_effect.recheck_asked",
        case_id=report.case_id,
        target=f"user:{report.reporter}",
        report=report.id,
        recheck=recheck.id,
        late_minutes=int((unit.now - recheck.due_at).total_seconds() // 60),
    )
    return 1


def prefill(unit: Unit, *, recheck_id: int) -> tuple[relay.FormChoices, Prefill]:
    """The recheck form: the report form for its case, with the report's answers."""
    recheck, report = _open(unit, recheck_id)
    choices = relay.form_choices(unit, case_id=report.case_id)
    symptoms = json.loads(unit.deps.cipher.decrypt(report.symptoms_enc))
    return choices, Prefill(
        recheck_id=recheck.id,
        report_ref=report.ref,
        medication_id=report.medication_id,
        medication_other=None
        if report.medication_id
        else unit.deps.cipher.decrypt(report.medication_name_enc),
        symptoms=list(symptoms.get("checked", [])),
        symptoms_other=symptoms.get("other"),
        onset=report.onset_date,
        frequency=report.frequency,
        intensity=report.intensity,
        burden=report.burden,
    )


def record(unit: Unit, *, recheck_id: int, form: relay.ReportForm, outcome: str) -> relay.ReportCard:
    """Save the rerating; show it on the report and in the thread; worse reopens the report."""
    recheck, report = _open(unit, recheck_id, lock=True)
    outcome = RecheckOutcome(outcome)
    settings = unit.deps.settings.section(SideEffectSettings)
    recheck.answered_at, recheck.answered_by, recheck.outcome = unit.now, unit.actor.user_id, outcome
    recheck.frequency, recheck.intensity, recheck.burden = form.frequency, form.intensity, form.burden
    recheck.notes_enc = unit.deps.cipher.encrypt_optional(form.notes)
    unit.session.add(recheck)
    red_flags = [settings.red_flags[i] for i in form.red_flags]
    reopened = outcome == RecheckOutcome.WORSE
    if reopened:
        _reopen(unit, report, red_flags, form)
    unit.session.flush()
    unit.audit(
        "side_effect.rechecked",
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        recheck=recheck.id,
        answer=str(outcome),
        burden=form.burden,
        reopened=reopened,
    )
    case = relay.case_of(unit, report)
    card = relay.build_card(unit, report, case)
    relay.refresh_messages(unit, report, card)
    post_in_thread(
        unit,
        case,
        relay.render(unit, "side_effect_recheck", card, recheck_id=recheck.id, step="thread"),
        purpose="side_effect_recheck",
    )
    if reopened:
        _tell_reopened(unit, report, case, card)
    return card


def _tell_reopened(unit: Unit, report: SideEffectReport, case: Case, card: relay.ReportCard) -> None:
    """The prescribers (or the fallback) hear of the reopen; an urgent one also reaches the
    person on call after hours, as a new urgent report does. Through relay.notify, so the
    DMs are remembered and later refreshes update their buttons."""
    targets = card.prescribers or relay.team_of(unit, case).fallback()
    for user_id in targets:
        relay.notify(unit, report, card, user_id, RecipientKind.REOPENED)
    if report.severity == Severity.URGENT:
        route = urgent_recipients(unit, case, item=f"side_effect:{report.id}")
        for user_id in route.on_call:
            if user_id not in targets:
                relay.notify(unit, report, card, user_id, RecipientKind.ON_CALL)


def _reopen(unit: Unit, report: SideEffectReport, red_flags: list[str], form: relay.ReportForm) -> None:
    """Worse: the loop opens again, on the clocks the new answers call for."""
    if red_flags:
        known = json.loads(unit.deps.cipher.decrypt(report.red_flags_enc))
        report.red_flags_enc = unit.deps.cipher.encrypt(json.dumps(list(dict.fromkeys(known + red_flags))))
    # The same rule as a new report (service.submit): a severe intensity is at least high.
    report.severity = severity_of(red_flags=red_flags, burden=form.burden, intensity=form.intensity)
    rules = deadlines(unit.deps.settings)
    report.status = ReportStatus.OPEN
    report.ack_due_at = rules.ack_due(report.severity, unit.now)
    report.escalate_at = rules.escalate_at(report.severity, report.ack_due_at)
    report.next_escalation_at = report.ack_due_at
    report.escalation_step = EscalationStep.NONE
    report.reminded_at = report.escalated_at = None
    unit.session.add(report)
    unit.audit(
        "side_effect.reopened",
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        severity=report.severity,
    )


def _open(unit: Unit, recheck_id: int, *, lock: bool = False) -> tuple[SideEffectRecheck, SideEffectReport]:
    recheck = repo.get_recheck(session=unit.session, recheck_id=recheck_id, lock=lock)
    if recheck is None:
        raise NoAccess(reason="not_found")
    report = repo.get_report(session=unit.session, report_id=recheck.report_id, lock=lock)
    assert report is not None  # a recheck's report is never deleted (foreign key)
    try:
        open_case(unit, report.case_id, require_open=True)
    except NoAccess as err:
        raise NoAccess(reason=err.reason, case_id=report.case_id) from None
    if unit.actor.user_id != report.reporter:
        raise NotAllowed(
            f"This recheck of {report.ref} was sent to <@{report.reporter}>, who reported it.",
            case_id=report.case_id,
        )
    if recheck.answered_at is not None:
        answered = OUTCOME_WORDS[RecheckOutcome(recheck.outcome or RecheckOutcome.SAME)].lower()
        raise Conflict(
            f"This recheck of {report.ref} was already answered ({answered}). Nothing was changed.",
            case_id=report.case_id,
        )
    return recheck, report
