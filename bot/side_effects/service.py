"""The side-effect relay: a team member reports, the prescribers are told, the loop closes.

A report is saved first; in the same unit the case thread gets a summary, every prescriber
on the team gets a DM with Acknowledge and Record plan, and the reporter gets a receipt.
Those three messages are kept up to date in place as the report moves open ->
acknowledged -> planned; the reporter also gets a DM at each step. With no prescriber on
the team the report still goes somewhere: to the case managers (or the case's creator).
Deadlines and escalation are in side_effect_policy and side_effect_escalation.

Notification text (`text`) carries the case id and the severity word only; details go in
blocks. Medication, symptoms, red flags, notes and the plan note are stored encrypted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session

from bot.access import CaseAccess, case_ref, open_case, require_role
from bot.cases.service import post_in_thread, thread_url
from bot.contributions import CaseButton, TeamChange, WaitingItem
from bot.errors import BadInput, Conflict, NoAccess
from bot.ids import Action, BlockId
from bot.oncall.service import covering, urgent_recipients
from bot.render import escape_mrkdwn
from bot.side_effects.policy import (
    CHANGE_PLAN_NEEDS_NOTE,
    CHANGE_PLANS,
    FIBSER_ITEMS,
    FIBSER_KEYS,
    PLANS,
    SEVERITY_RANK,
    SEVERITY_WORDS,
    SYMPTOMS,
    priority_basis,
    severity_of,
)
from bot.side_effects.settings import SideEffectSettings, deadlines
from bot.unit import Unit
from storage import cases as case_repo
from storage import medications as medication_repo
from storage import side_effects as repo
from storage.cases import Case, Medication, Role
from storage.side_effects import (
    EscalationStep,
    RecipientKind,
    ReportStatus,
    Severity,
    SideEffectRecheck,
    SideEffectRecipient,
    SideEffectReport,
)

ADD_PRESCRIBER_HINT = "`/case add {ref} @person prescriber`"
# Which template (and variant) renders each kind of DM, first and on every update.
DM_TEMPLATES: dict[RecipientKind, tuple[str, dict[str, str]]] = {
    RecipientKind.PRESCRIBER: ("side_effect_dm", {"kind": "new"}),
    RecipientKind.FALLBACK: ("side_effect_dm", {"kind": "fallback"}),
    RecipientKind.REMINDER: ("side_effect_dm", {"kind": "reminder"}),
    RecipientKind.ESCALATION: ("side_effect_escalation", {"audience": "dm"}),
    RecipientKind.ON_CALL: ("side_effect_dm", {"kind": "on_call"}),
    RecipientKind.REOPENED: ("side_effect_recheck", {"step": "reopened"}),
}
# A red flag naming suicidality asks the reporter to complete `/safety` (a button in the receipt).
SUICIDALITY = "suicid"


# -- what the forms and messages show -----------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


@dataclass(frozen=True)
class FormChoices:
    """What the report modal offers: the case (or a picker of mine), its medications."""

    case_id: int | None
    case_ref: str | None
    medications: list[Choice]
    cases: list[Choice] = field(default_factory=list)  # picker mode only
    picker: bool = False


@dataclass(frozen=True)
class ReportForm:
    """A validated report modal (handlers/side_effect_forms.py reads it from Slack's state)."""

    case_id: int
    medication_id: int | None
    medication_other: str | None
    symptoms: tuple[str, ...]
    symptoms_other: str | None
    onset: date
    frequency: int
    intensity: int
    burden: int
    red_flags: tuple[int, ...]  # indexes into SideEffectSettings.red_flags
    notes: str | None
    # Red-flag words found in free text that the reporter confirmed are not red flags.
    red_flag_words_cleared: int = 0
    recheck_id: int | None = None  # a recheck of an earlier report (bot/side_effects/recheck.py)
    outcome: str | None = None  # the recheck's answer: resolved / better / same / worse


@dataclass(frozen=True)
class FibserLine:
    label: str
    score: int
    wording: str


@dataclass(frozen=True)
class ReportCard:
    """Everything a side-effect message may show, decrypted, for the templates."""

    id: int
    ref: str
    case_id: int
    case_ref: str
    severity: str
    severity_word: str
    status: str
    reporter: str
    created_at: datetime
    onset: str
    medication: str
    symptoms: list[str]
    symptoms_other: str | None
    fibser: list[FibserLine]
    red_flags: list[str]
    notes: str | None
    ack_due_at: datetime
    escalate_at: datetime
    deadline: str
    overdue: bool
    escalation_step: int
    reminded_at: datetime | None
    escalated_at: datetime | None
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    plan_label: str | None
    plan_note: str | None
    plan_by: str | None
    plan_at: datetime | None
    no_prescriber: bool
    prescribers: list[str]
    case_managers: list[str]
    routed_to: list[str]
    age: str
    add_prescriber: str
    prescriber_joined: bool = False  # it went to others for want of a prescriber; one has joined since
    priority_basis: str = ""  # the rule behind the priority (FIBSER burden, intensity, red flag)
    escalated_to: list[str] = field(default_factory=list)  # who step 2 goes to (Team.escalation_targets)
    # A plan that changes a medication offers to record the change until one is linked.
    change_offered: bool = False
    change_recorded: bool = False
    # The newest recheck's answer, if any (resolved / better / same / worse).
    recheck_outcome: str | None = None
    recheck_at: datetime | None = None
    recheck_burden: int | None = None
    asks_safety: bool = False  # a suicidality red flag: the receipt offers the /safety form

    @property
    def urgent(self) -> bool:
        return self.severity == Severity.URGENT


@dataclass(frozen=True)
class SubmittedReport:
    id: int
    ref: str
    case_ref: str
    severity: str
    prescribers: list[str]
    routed_to: list[str]


@dataclass(frozen=True)
class ReportLine:
    ref: str
    severity_word: str
    medication: str  # clinical: shown only to a team member who asked (ephemeral)
    status: str
    reporter: str
    age: str
    overdue: bool
    escalation_step: int
    acknowledged_by: str | None


# -- opening the form ---------------------------------------------------------------------------


def form_choices(unit: Unit, *, case_id: int | None, picker: bool = False) -> FormChoices:
    """The report modal's options. With no case, the modal shows a picker of my open cases."""
    cases: list[Choice] = []
    if picker or case_id is None:
        rows = case_repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
        if not rows:
            raise BadInput(
                "You are not on the care team of any open case, so there is nothing to report on. "
                "Ask a colleague to add you with `/case add`.",
                usage="`/sideeffect <case>`",
            )
        cases = [
            Choice(str(case.id), f"{case.ref} · {unit.deps.cipher.decrypt(case.label_enc)}")
            for case, _role in rows[:100]
        ]
    if case_id is None:
        return FormChoices(case_id=None, case_ref=None, medications=[], cases=cases, picker=True)
    access = open_case(unit, case_id, require_open=True)
    meds = [
        Choice(str(med.id), unit.deps.cipher.decrypt(med.name_enc))
        for med in case_repo.medications(session=unit.session, case_id=case_id)
    ]
    return FormChoices(
        case_id=case_id, case_ref=access.case.ref, medications=meds[:99], cases=cases, picker=bool(cases)
    )


# -- reporting ------------------------------------------------------------------------------------


def submit_report(unit: Unit, form: ReportForm) -> SubmittedReport:
    """Save the report, then queue the thread summary, the DMs and the reporter's receipt."""
    access = open_case(unit, form.case_id, lock=True, require_open=True)
    case = access.case
    settings = unit.deps.settings.section(SideEffectSettings)
    cipher = unit.deps.cipher
    medication = _medication_name(unit, case, form)
    red_flags = [settings.red_flags[i] for i in form.red_flags]
    severity = severity_of(red_flags=red_flags, burden=form.burden, intensity=form.intensity)
    rules = deadlines(unit.deps.settings)
    ack_due = rules.ack_due(severity, unit.now)
    team = team_of(unit, case)
    prescribers = team.prescribers
    fallback = [] if prescribers else team.fallback(reporter=unit.actor.user_id)

    report = SideEffectReport(
        case_id=case.id,
        reporter=unit.actor.user_id,
        created_at=unit.now,
        medication_id=form.medication_id,
        medication_name_enc=cipher.encrypt(medication),
        symptoms_enc=cipher.encrypt(
            json.dumps({"checked": list(form.symptoms), "other": form.symptoms_other})
        ),
        red_flags_enc=cipher.encrypt(json.dumps(red_flags)),
        notes_enc=cipher.encrypt_optional(form.notes),
        onset_date=form.onset,
        frequency=form.frequency,
        intensity=form.intensity,
        burden=form.burden,
        severity=severity,
        status=ReportStatus.OPEN,
        ack_due_at=ack_due,
        escalate_at=rules.escalate_at(severity, ack_due),
        next_escalation_at=ack_due,
        no_prescriber=not prescribers,
    )
    unit.session.add(report)
    unit.session.flush()
    unit.audit(
        "side_effect.reported",
        case_id=case.id,
        target=f"side_effect:{report.id}",
        severity=severity,
        prescribers=len(prescribers),
        routed_to=len(prescribers or fallback),
        red_flag_words_cleared=form.red_flag_words_cleared,
    )

    on_call: list[str] = []
    if severity == Severity.URGENT:
        route = urgent_recipients(unit, case, item=f"side_effect:{report.id}")
        on_call = [u for u in route.on_call if u not in prescribers]
    card = build_card(unit, report, case, routed_to=[*(prescribers or fallback), *on_call])
    summary = post_in_thread(
        unit, case, render(unit, "side_effect_summary", card), purpose="side_effect_summary"
    )
    report.summary_outbox_id = summary.id
    for user_id in prescribers:
        notify(unit, report, card, user_id, RecipientKind.PRESCRIBER)
    for user_id in fallback:
        notify(unit, report, card, user_id, RecipientKind.FALLBACK)
    for user_id in on_call:
        notify(unit, report, card, user_id, RecipientKind.ON_CALL)
    receipt = unit.post(
        channel=report.reporter,
        message=render(unit, "side_effect_receipt", card, crisis_text=settings.crisis_text),
        purpose="side_effect_receipt",
        case_id=case.id,
    )
    report.receipt_outbox_id = receipt.id
    unit.session.add(report)
    return SubmittedReport(report.id, report.ref, case.ref, severity, prescribers, prescribers or fallback)


def _medication_name(unit: Unit, case: Case, form: ReportForm) -> str:
    if form.medication_id is None:
        if not form.medication_other:
            raise BadInput("Name the medication.", case_id=case.id)
        return form.medication_other
    med = unit.session.get(Medication, form.medication_id)
    if med is None or med.case_id != case.id:
        raise BadInput(
            f"That medication is not on {case.ref}'s list. Open the form again, or pick Other and type it.",
            case_id=case.id,
        )
    return unit.deps.cipher.decrypt(med.name_enc)


# -- closing the loop -----------------------------------------------------------------------------


def acknowledge(unit: Unit, *, report_id: int) -> ReportCard:
    """A prescriber on the team (or the person on call it was sent to, outside working hours)
    has seen the report: the escalation clock stops."""
    report, case = _report_for_acknowledger(unit, report_id)
    if report.status != ReportStatus.OPEN:
        raise Conflict(_already(report), case_id=report.case_id)
    _mark_acknowledged(unit, report)
    report.status = ReportStatus.ACKNOWLEDGED
    card = build_card(unit, report, case)
    refresh_messages(unit, report, card)
    tell_reporter(unit, report, card, "acknowledged")
    return card


def plan_context(unit: Unit, *, report_id: int) -> ReportCard:
    """What the Record plan modal shows; only a team prescriber may open it."""
    report, access = _report_for_prescriber(unit, report_id, "record a plan for side-effect reports")
    if report.status == ReportStatus.PLANNED:
        raise Conflict(_already(report), case_id=report.case_id)
    return build_card(unit, report, access.case)


def record_plan(unit: Unit, *, report_id: int, plan: str, note: str | None) -> ReportCard:
    """The loop closes: the plan is recorded (and the report acknowledged, if it was not)."""
    if plan not in PLANS:
        raise BadInput("Pick one of the plans listed.")
    if plan in CHANGE_PLANS and not note:
        raise BadInput(CHANGE_PLAN_NEEDS_NOTE, field=BlockId.SE_PLAN_NOTE)
    report, access = _report_for_prescriber(unit, report_id, "record a plan for side-effect reports")
    if report.status == ReportStatus.PLANNED:
        raise Conflict(_already(report), case_id=report.case_id)
    if report.status == ReportStatus.OPEN:
        _mark_acknowledged(unit, report, with_plan=True)
    report.status = ReportStatus.PLANNED
    report.plan, report.plan_by, report.plan_at = plan, unit.actor.user_id, unit.now
    report.plan_note_enc = unit.deps.cipher.encrypt_optional(note)
    unit.session.add(report)
    unit.audit(
        "side_effect.plan_recorded",
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        plan=plan,
        with_note=note is not None,
    )
    _schedule_recheck(unit, report)
    card = build_card(unit, report, access.case)
    refresh_messages(unit, report, card)
    tell_reporter(unit, report, card, "planned")
    return card


def _schedule_recheck(unit: Unit, report: SideEffectReport) -> None:
    """A plan that changes a medication gets a recheck: the reporter is asked to rate the
    side effect again CARETHREAD_SIDEEFFECT_RECHECK_DAYS later, at the clinic's next working
    hour (asked by bot/side_effects/recheck.py)."""
    if report.plan not in CHANGE_PLANS:
        return
    settings = unit.deps.settings
    days = settings.section(SideEffectSettings).recheck_days
    due = settings.clinic.working_hours.next_open(unit.now + timedelta(days=days), settings.clinic.zone)
    recheck = SideEffectRecheck(report_id=report.id, case_id=report.case_id, due_at=due)
    unit.session.add(recheck)
    unit.session.flush()
    unit.audit(
        "side_effect.recheck_scheduled",
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        recheck=recheck.id,
        days=days,
    )


def _mark_acknowledged(unit: Unit, report: SideEffectReport, **details: Any) -> None:
    """Who saw it and when; the escalation clock stops here."""
    report.acknowledged_by, report.acknowledged_at = unit.actor.user_id, unit.now
    report.next_escalation_at = None
    unit.session.add(report)
    unit.audit(
        "side_effect.acknowledged",
        case_id=report.case_id,
        target=f"side_effect:{report.id}",
        severity=report.severity,
        late=unit.now > report.ack_due_at,
        **details,
    )


def _report_for_prescriber(unit: Unit, report_id: int, doing: str) -> tuple[SideEffectReport, CaseAccess]:
    report = repo.get_report(session=unit.session, report_id=report_id, lock=True)
    if report is None:
        raise NoAccess(reason="not_found")
    try:
        access = open_case(unit, report.case_id)
    except NoAccess as err:
        # The same words as a report that does not exist: a probe learns no case id.
        raise NoAccess(reason=err.reason, case_id=report.case_id) from None
    require_role(access, Role.PRESCRIBER, doing)
    return report, access


def _report_for_acknowledger(unit: Unit, report_id: int) -> tuple[SideEffectReport, Case]:
    """A prescriber on the team, or the person on call who was sent this urgent report and is
    still on shift (bot/oncall `covering`, audited); anyone else is refused as before."""
    report = repo.get_report(session=unit.session, report_id=report_id, lock=True)
    if report is None:
        raise NoAccess(reason="not_found")
    if not is_prescriber(unit, report.case_id) and covering(
        unit, case_id=report.case_id, item=f"side_effect:{report.id}"
    ):
        return report, case_of(unit, report)
    report, access = _report_for_prescriber(unit, report_id, "acknowledge side-effect reports")
    return report, access.case


def is_prescriber(unit: Unit, case_id: int) -> bool:
    """Is the actor a prescriber on the case's team? (Before trying an on-call cover grant.)"""
    member = case_repo.membership(session=unit.session, case_id=case_id, user_id=unit.actor.user_id)
    return member is not None and member.role == Role.PRESCRIBER


def _already(report: SideEffectReport) -> str:
    if report.status == ReportStatus.PLANNED:
        return (
            f"A plan for this report ({report.ref} on {case_ref(report.case_id)}) was already recorded "
            f"by <@{report.plan_by}>. Nothing was changed."
        )
    return (
        f"This report ({report.ref} on {case_ref(report.case_id)}) was already acknowledged by "
        f"<@{report.acknowledged_by}>. Nothing was changed; use Record plan to close the loop."
    )


# -- listing ------------------------------------------------------------------------------------


def list_reports(unit: Unit, *, case_id: int) -> tuple[str, list[ReportLine]]:
    access = open_case(unit, case_id)
    lines = report_lines(unit, access.case)
    unit.audit("side_effect.listed", case_id=case_id, target=access.case.ref, count=len(lines))
    return access.case.ref, lines


def report_lines(unit: Unit, case: Case) -> list[ReportLine]:
    reports = repo.open_reports(session=unit.session, case_id=case.id)
    reports.sort(key=lambda r: (SEVERITY_RANK[r.severity], r.created_at, r.id))
    return [
        ReportLine(
            ref=r.ref,
            severity_word=SEVERITY_WORDS[r.severity],
            medication=unit.deps.cipher.decrypt(r.medication_name_enc),
            status=r.status,
            reporter=r.reporter,
            age=age_text(unit.now - r.created_at),
            overdue=is_overdue(unit, r),
            escalation_step=r.escalation_step,
            acknowledged_by=r.acknowledged_by,
        )
        for r in reports
    ]


def open_reports_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: the case's open side-effect reports (severity, age, status)."""
    lines = report_lines(unit, case)
    if not lines:
        return []
    rows = [f"*Open side-effect reports* ({len(lines)})"]
    for line in lines[:15]:
        rows.append(
            f"• *{escape_mrkdwn(line.ref)}* {escape_mrkdwn(line.severity_word)} · reported "
            f"{escape_mrkdwn(line.age)} ago by <@{line.reporter}> · {escape_mrkdwn(status_words(line))}"
        )
    if len(lines) > 15:
        rows.append(f"… and {len(lines) - 15} more: `/sideeffect list {escape_mrkdwn(case.ref)}`")
    return ["\n".join(rows)]


def status_words(line: ReportLine) -> str:
    if line.status == ReportStatus.ACKNOWLEDGED:
        return "acknowledged, waiting for the plan"
    words = "waiting for acknowledgement"
    if line.escalation_step >= EscalationStep.ESCALATED:
        return words + " (overdue, escalated)"
    if line.overdue:
        return words + " (overdue)"
    return words


def waiting_for_me(unit: Unit) -> list[WaitingItem]:
    """App Home: reports on my cases where I am a prescriber and the loop is open."""
    items = []
    for report, case in repo.waiting_for_prescriber(session=unit.session, user_id=unit.actor.user_id):
        word = SEVERITY_WORDS[report.severity]
        if report.status == ReportStatus.OPEN:
            delta = report.ack_due_at - unit.now
            when = f"due in {age_text(delta)}" if delta > timedelta(0) else f"overdue by {age_text(-delta)}"
            text = f"{word} side-effect report {report.ref}: waiting for your acknowledgement, {when}"
        else:
            text = f"{word} side-effect report {report.ref}: acknowledged, waiting for a plan"
        root = case_repo.thread_root(session=unit.session, case=case)
        items.append(
            WaitingItem(
                case_ref=case.ref,
                text=text,
                url=thread_url(root),
                # Numbers only (other workflows' items sort alongside): soonest due first.
                sort_key=(SEVERITY_RANK[report.severity], report.ack_due_at.timestamp(), report.id),
            )
        )
    return items


def covered_waiting(unit: Unit, report_ids: Sequence[int]) -> list[WaitingItem]:
    """App Home for the person on call (Workflow.cover_items, asked by bot/oncall): the
    covered reports still waiting for acknowledgement, with Acknowledge. Ids only."""
    items = []
    for report in repo.open_reports_by_ids(session=unit.session, report_ids=report_ids):
        delta = report.ack_due_at - unit.now
        when = f"due in {age_text(delta)}" if delta > timedelta(0) else f"overdue by {age_text(-delta)}"
        items.append(
            WaitingItem(
                case_ref=case_ref(report.case_id),
                text=f"{SEVERITY_WORDS[report.severity]} side-effect report {report.ref}: you are on call, "
                f"waiting for your acknowledgement, {when}",
                sort_key=(SEVERITY_RANK[report.severity], report.ack_due_at.timestamp(), report.id),
                button=CaseButton("Acknowledge", Action.SIDE_EFFECT_ACK, str(report.id)),
            )
        )
    return items


def is_overdue(unit: Unit, report: SideEffectReport) -> bool:
    return report.status == ReportStatus.OPEN and unit.now > report.ack_due_at


def age_text(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"


# -- messages -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Team:
    prescribers: list[str]
    case_managers: list[str]
    members: set[str]
    created_by: str
    reporter: str | None = None

    def fallback(self, *, reporter: str | None = None) -> list[str]:
        """Who hears about a report when no prescriber can: the case managers, or else the
        case's creator, if still on the team (a case's details never leave its team)."""
        managers = [u for u in self.case_managers if u != reporter]
        if managers:
            return managers
        if self.created_by in self.members and self.created_by != reporter:
            return [self.created_by]
        return []

    def escalation_targets(self) -> list[str]:
        """Who step 2 goes to: the case managers; with none, the other members (not the
        prescribers who did not answer, not the reporter, who is told anyway). Empty: the
        admin channel is told instead (bot/side_effects/sweeps.py)."""
        if self.case_managers:
            return list(self.case_managers)
        return sorted(self.members - set(self.prescribers) - {self.reporter})


def team_of(unit: Unit, case: Case, *, reporter: str | None = None) -> Team:
    members = case_repo.members(session=unit.session, case_id=case.id)
    return Team(
        prescribers=[m.user_id for m in members if m.role == Role.PRESCRIBER],
        case_managers=[m.user_id for m in members if m.role == Role.CASE_MANAGER],
        members={m.user_id for m in members},
        created_by=case.created_by,
        reporter=reporter,
    )


def build_card(
    unit: Unit, report: SideEffectReport, case: Case, *, routed_to: list[str] | None = None
) -> ReportCard:
    cipher = unit.deps.cipher
    symptoms = json.loads(cipher.decrypt(report.symptoms_enc))
    team = team_of(unit, case, reporter=report.reporter)
    red_flags = json.loads(cipher.decrypt(report.red_flags_enc))
    if routed_to is None:
        kinds = (RecipientKind.PRESCRIBER, RecipientKind.FALLBACK, RecipientKind.ON_CALL)
        routed_to = [
            r.user_id for r in repo.recipients(session=unit.session, report_id=report.id, kinds=kinds)
        ]
    plan_label = PLANS.get(report.plan or "")
    changed = report.status == ReportStatus.PLANNED and medication_repo.linked_to_report(
        session=unit.session, report_id=report.id
    )
    recheck = repo.latest_recheck(session=unit.session, report_id=report.id)
    return ReportCard(
        id=report.id,
        ref=report.ref,
        case_id=case.id,
        case_ref=case.ref,
        severity=report.severity,
        severity_word=SEVERITY_WORDS[report.severity],
        status=report.status,
        reporter=report.reporter,
        created_at=report.created_at,
        onset=report.onset_date.isoformat(),
        medication=cipher.decrypt(report.medication_name_enc),
        symptoms=[SYMPTOMS.get(key, key) for key in symptoms.get("checked", [])],
        symptoms_other=symptoms.get("other"),
        fibser=[
            FibserLine(
                FIBSER_ITEMS[key]["label"].removesuffix(" (FIBSER)"),
                getattr(report, key),
                FIBSER_ITEMS[key]["options"][getattr(report, key)],
            )
            for key in FIBSER_KEYS
        ],
        red_flags=red_flags,
        notes=cipher.decrypt_optional(report.notes_enc),
        ack_due_at=report.ack_due_at,
        escalate_at=report.escalate_at,
        deadline=deadlines(unit.deps.settings).describe(report.severity),
        overdue=is_overdue(unit, report),
        escalation_step=report.escalation_step,
        reminded_at=report.reminded_at,
        escalated_at=report.escalated_at,
        acknowledged_by=report.acknowledged_by,
        acknowledged_at=report.acknowledged_at,
        plan_label=plan_label,
        plan_note=cipher.decrypt_optional(report.plan_note_enc),
        plan_by=report.plan_by,
        plan_at=report.plan_at,
        no_prescriber=report.no_prescriber,
        prescribers=team.prescribers,
        case_managers=team.case_managers,
        routed_to=routed_to,
        age=age_text(unit.now - report.created_at),
        add_prescriber=ADD_PRESCRIBER_HINT.format(ref=case.ref),
        prescriber_joined=_prescriber_joined(unit, report),
        priority_basis=priority_basis(red_flags=red_flags, burden=report.burden, intensity=report.intensity),
        escalated_to=team.escalation_targets(),
        change_offered=report.status == ReportStatus.PLANNED and report.plan in CHANGE_PLANS and not changed,
        change_recorded=changed,
        recheck_outcome=recheck.outcome if recheck else None,
        recheck_at=recheck.answered_at if recheck else None,
        recheck_burden=recheck.burden if recheck else None,
        asks_safety=any(SUICIDALITY in flag.casefold() for flag in red_flags),
    )


def _prescriber_joined(unit: Unit, report: SideEffectReport) -> bool:
    """Was there no prescriber when it was reported, and has one joined since? The first
    prescriber it went to got it after it was reported: their DM was queued after the
    reporter's receipt, which submit_report queues last."""
    if report.no_prescriber:
        return False
    first = repo.recipients(session=unit.session, report_id=report.id, kinds=(RecipientKind.PRESCRIBER,))[:1]
    return bool(first) and first[0].outbox_id > (report.receipt_outbox_id or 0)


def render(unit: Unit, name: str, card: ReportCard, **extra: Any) -> dict[str, Any]:
    return unit.deps.renderer.message(f"side_effects/{name}", r=card, action=Action, block=BlockId, **extra)


def notify(
    unit: Unit, report: SideEffectReport, card: ReportCard, user_id: str, recipient: RecipientKind
) -> None:
    """A DM about the report, remembered (so it can be updated in place) and audited."""
    template, extra = DM_TEMPLATES[recipient]
    message = unit.post(
        channel=user_id,
        message=render(unit, template, card, **extra),
        purpose=f"side_effect_{recipient.value}",
        case_id=report.case_id,
    )
    # A reopened report repeats its steps: the existing row then points at the newest DM,
    # which is the one later refreshes update (a second row would break the unique key).
    row = repo.recipient(session=unit.session, report_id=report.id, user_id=user_id, kind=recipient)
    if row is None:
        row = SideEffectRecipient(
            report_id=report.id, user_id=user_id, kind=recipient, outbox_id=message.id, created_at=unit.now
        )
    else:
        row.outbox_id = message.id
    unit.session.add(row)
    unit.audit(
        "side_effect.notified",
        case_id=report.case_id,
        target=f"user:{user_id}",
        report=report.id,
        kind=recipient.value,
    )


def refresh_messages(unit: Unit, report: SideEffectReport, card: ReportCard) -> None:
    """Update in place what already shows the report: the thread summary, every DM about
    it (so no stale button invites a click) and the reporter's receipt."""
    if report.summary_outbox_id is not None:
        unit.update(
            of=report.summary_outbox_id,
            message=render(unit, "side_effect_summary", card),
            purpose="side_effect_summary",
            case_id=report.case_id,
        )
    for recipient in repo.recipients(session=unit.session, report_id=report.id):
        template, extra = DM_TEMPLATES[RecipientKind(recipient.kind)]
        unit.update(
            of=recipient.outbox_id,
            message=render(unit, template, card, **extra),
            purpose=f"side_effect_{recipient.kind}",
            case_id=report.case_id,
        )
    if report.receipt_outbox_id is not None:
        unit.update(
            of=report.receipt_outbox_id,
            message=render(
                unit,
                "side_effect_receipt",
                card,
                crisis_text=unit.deps.settings.section(SideEffectSettings).crisis_text,
            ),
            purpose="side_effect_receipt",
            case_id=report.case_id,
        )


def tell_reporter(unit: Unit, report: SideEffectReport, card: ReportCard, step: str) -> None:
    unit.post(
        channel=report.reporter,
        message=render(unit, "side_effect_update", card, step=step),
        purpose=f"side_effect_update:{step}",
        case_id=report.case_id,
    )


def case_of(unit: Unit, report: SideEffectReport) -> Case:
    case = case_repo.get_case(session=unit.session, case_id=report.case_id)
    assert case is not None  # a report's case is never deleted (foreign key)
    return case


def open_urgent_risks(session: Session, case: Case) -> list[str]:
    """What closing the case would leave behind (Workflow.open_risks): its urgent reports
    whose loop is not closed. Ids and statuses only."""
    return [
        open_risk_line("Urgent side-effect report", r.ref, acknowledged=r.status == ReportStatus.ACKNOWLEDGED)
        for r in repo.open_reports(session=session, case_id=case.id)
        if r.severity == Severity.URGENT
    ]


def open_risk_line(what: str, ref: str, *, acknowledged: bool) -> str:
    """One line of Workflow.open_risks for a relay report whose loop is open, worded the same
    for every relay (side effects, adherence): what it is, its id, how far the loop got."""
    status = "acknowledged, waiting for a plan" if acknowledged else "not acknowledged"
    return f"• {escape_mrkdwn(what)} *{escape_mrkdwn(ref)}*: {status}"


def on_team_changed(unit: Unit, case: Case, change: TeamChange) -> None:
    """A prescriber joins a case with open reports: each comes to them by DM (with
    Acknowledge and Record plan), and the "no prescriber on this team" warnings (the thread
    summary, the reporter's confirmation, the DMs that went to a case manager instead) are
    updated in place to say a prescriber now has it."""
    if not joins_as_prescriber(change):
        return
    for report in repo.open_reports(session=unit.session, case_id=case.id):
        report.no_prescriber = False
        unit.session.add(report)
        told = repo.recipients(session=unit.session, report_id=report.id, kinds=(RecipientKind.PRESCRIBER,))
        if change.user_id not in {r.user_id for r in told}:
            notify(unit, report, build_card(unit, report, case), change.user_id, RecipientKind.PRESCRIBER)
            unit.session.flush()  # the new recipient is what marks "a prescriber joined since"
        refresh_messages(unit, report, build_card(unit, report, case))
    unit.audit("side_effect.prescriber_joined", case_id=case.id, target=f"user:{change.user_id}")


def joins_as_prescriber(change: TeamChange) -> bool:
    """Did this team change make someone a prescriber (added as one, or moved into the role)?
    Both relays hand their open reports to such a person (Workflow.on_team_changed). Someone
    who was a prescriber before, left and comes back already has a DM about each report they
    were sent; the relays update that DM in place (its buttons work again) rather than send a
    second one, which the recipients' unique (report, user, kind) also forbids."""
    return change.role == Role.PRESCRIBER and change.previous_role != Role.PRESCRIBER


def urgent_open_reports(session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """The caseload digest ranks cases with urgent reports still open above everything else."""
    return repo.urgent_open_counts(session=session, case_ids=case_ids)
