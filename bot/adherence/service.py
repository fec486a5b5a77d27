"""The adherence relay: a team member says how the patient is taking a medication, and the
prescribers hear it the way they hear a side-effect report.

A concern (missing doses, stopped on their own, not picked up) is saved first; in the same unit
the case thread gets a summary, the prescribers chosen by `prescribers_for` get a DM with
Acknowledge and Record plan, and the reporter gets a receipt. Those messages are updated in
place as the report moves open -> acknowledged -> planned; the reporter also gets a DM at each
step, and the sweep (bot/adherence/sweeps.py) chases it on the side-effect relay's clocks.

"Taking as prescribed" is decided differently: it is recorded, noted in the thread and
confirmed to the reporter, and nobody is asked to acknowledge it (there is nothing to act on,
and a DM with buttons for good news would teach prescribers to ignore these DMs).

Notification text carries the case id and the priority word only; the medication, the
patient's words and the plan note are stored encrypted and shown in blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.access import CaseAccess, case_ref, open_case, require_role
from bot.adherence.policy import KINDS, PLANS, is_high_risk, priority_of
from bot.adherence.settings import AdherenceSettings
from bot.cases.service import post_in_thread, refresh_case, thread_url
from bot.contributions import CaseButton, TeamChange, WaitingItem
from bot.errors import BadInput, Conflict, NoAccess
from bot.ids import Action, BlockId
from bot.oncall.service import covering, urgent_recipients
from bot.render import escape_mrkdwn
from bot.side_effects.policy import SEVERITY_RANK, SEVERITY_WORDS
from bot.side_effects.service import (
    Choice,
    Team,
    age_text,
    is_prescriber,
    joins_as_prescriber,
    open_risk_line,
    team_of,
)
from bot.side_effects.settings import deadlines
from bot.unit import Unit
from storage import adherence as repo
from storage import cases as case_repo
from storage.adherence import (
    AdherenceRecipient,
    AdherenceRecipientKind,
    AdherenceReport,
    AdherenceStatus,
)
from storage.cases import Case, Medication, Role
from storage.side_effects import EscalationStep, Severity

ADD_PRESCRIBER_HINT = "`/case add {ref} @person prescriber`"
DM_TEMPLATES: dict[AdherenceRecipientKind, tuple[str, dict[str, str]]] = {
    AdherenceRecipientKind.PRESCRIBER: ("adherence_dm", {"kind": "new"}),
    AdherenceRecipientKind.FALLBACK: ("adherence_dm", {"kind": "fallback"}),
    AdherenceRecipientKind.REMINDER: ("adherence_dm", {"kind": "reminder"}),
    AdherenceRecipientKind.ESCALATION: ("adherence_escalation", {"audience": "dm"}),
    AdherenceRecipientKind.ON_CALL: ("adherence_dm", {"kind": "on_call"}),
}


@dataclass(frozen=True)
class FormChoices:
    """What the report modal offers: the case and its medication list."""

    case_id: int
    case_ref: str
    medications: list[Choice]


@dataclass(frozen=True)
class AdherenceForm:
    """A validated report modal (bot/adherence/forms.py reads it from Slack's state)."""

    case_id: int
    kind: str
    medication_id: int | None
    medication_other: str | None
    reason: str | None


@dataclass(frozen=True)
class Routing:
    """Who hears about a concern first, and as what."""

    to: list[str]
    kind: AdherenceRecipientKind
    no_prescriber: bool
    on_call: list[str] = field(default_factory=list)  # a high-priority report after hours


@dataclass(frozen=True)
class AdherenceCard:
    """Everything an adherence message may show, decrypted, for the templates."""

    id: int
    ref: str
    case_id: int
    case_ref: str
    kind: str
    kind_word: str
    priority: str | None
    priority_word: str | None
    high_risk: bool
    status: str
    reporter: str
    created_at: datetime
    medication: str
    reason: str | None
    ack_due_at: datetime | None
    escalate_at: datetime | None
    deadline: str | None
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

    @property
    def high(self) -> bool:
        return self.priority == "high"


@dataclass(frozen=True)
class ReportLine:
    ref: str
    kind_word: str
    priority_word: str | None
    medication: str  # clinical: shown only to a team member who asked (ephemeral, /case show)
    status: str
    reporter: str
    age: str
    overdue: bool
    escalation_step: int
    acknowledged_by: str | None


# -- routing --------------------------------------------------------------------------------------


def prescribers_for(
    unit: Unit, case: Case, *, reporter: str | None = None, report: AdherenceReport | None = None
) -> Routing:
    """The one choice of who must act on a concern (first DMs and each step of the chase): the
    team's prescribers, or with none the case managers (or the creator). A high-priority
    report (the relay's most urgent: a high-risk medication stopped) is an urgent item: outside
    working hours the person on call hears too (bot/oncall `urgent_recipients`, which gives
    them a cover grant to acknowledge it, or tells the admin channel when nobody is on call)."""
    team = team_of(unit, case)
    if team.prescribers:
        to, kind = list(team.prescribers), AdherenceRecipientKind.PRESCRIBER
    else:
        to, kind = team.fallback(reporter=reporter), AdherenceRecipientKind.FALLBACK
    on_call: list[str] = []
    if report is not None and report.priority == Severity.HIGH and report.status == AdherenceStatus.OPEN:
        route = urgent_recipients(unit, case, item=report_item(report))
        on_call = [u for u in route.on_call if u not in to]
    return Routing(to, kind, not team.prescribers, on_call)


def report_item(report: AdherenceReport) -> str:
    """The report's name for on-call routing and cover grants (bot/oncall): `adherence:<id>`."""
    return f"adherence:{report.id}"


# -- opening the form ---------------------------------------------------------------------------


def form_choices(unit: Unit, *, case_id: int) -> FormChoices:
    """The report modal's options: the case's medication list (any team member may report)."""
    access = open_case(unit, case_id, require_open=True)
    meds = [
        Choice(str(med.id), unit.deps.cipher.decrypt(med.name_enc))
        for med in case_repo.medications(session=unit.session, case_id=case_id)
    ]
    return FormChoices(case_id=case_id, case_ref=access.case.ref, medications=meds[:99])


# -- reporting ------------------------------------------------------------------------------------


def submit_report(unit: Unit, form: AdherenceForm) -> AdherenceCard:
    """Save the report, then queue the thread summary, the DMs (for a concern) and the receipt."""
    if form.kind not in KINDS:
        raise BadInput("Pick how the patient is taking the medication.", case_id=form.case_id)
    access = open_case(unit, form.case_id, lock=True, require_open=True)
    case = access.case
    cipher = unit.deps.cipher
    medication = _medication_name(unit, case, form)
    high_risk = is_high_risk(medication, unit.deps.settings.section(AdherenceSettings).high_risk)
    priority = priority_of(form.kind, high_risk=high_risk)
    concern = priority is not None

    report = AdherenceReport(
        case_id=case.id,
        reporter=unit.actor.user_id,
        created_at=unit.now,
        kind=form.kind,
        medication_id=form.medication_id,
        medication_name_enc=cipher.encrypt(medication),
        reason_enc=cipher.encrypt_optional(form.reason),
        priority=priority,
        high_risk=high_risk,
        status=AdherenceStatus.OPEN if concern else AdherenceStatus.RECORDED,
    )
    if priority is not None:
        rules = deadlines(unit.deps.settings)
        report.ack_due_at = rules.ack_due(priority, unit.now)
        report.escalate_at = rules.escalate_at(priority, report.ack_due_at)
        report.next_escalation_at = report.ack_due_at
    unit.session.add(report)
    unit.session.flush()  # the id names the item the person on call is granted
    routing = prescribers_for(unit, case, reporter=unit.actor.user_id, report=report)
    report.no_prescriber = concern and routing.no_prescriber
    unit.audit(
        "adherence.reported",
        case_id=case.id,
        target=f"adherence:{report.id}",
        kind=form.kind,
        priority=priority,
        high_risk=high_risk,
        routed_to=len(routing.to) if concern else 0,
        on_call=len(routing.on_call),
    )

    routed_to = routing.to if concern else []
    card = build_card(unit, report, case, routed_to=[*routed_to, *routing.on_call])
    summary = post_in_thread(unit, case, render(unit, "adherence_summary", card), purpose="adherence_summary")
    report.summary_outbox_id = summary.id
    for user_id in routed_to:
        notify(unit, report, card, user_id, routing.kind)
    for user_id in routing.on_call:
        notify(unit, report, card, user_id, AdherenceRecipientKind.ON_CALL)
    receipt = unit.post(
        channel=report.reporter,
        message=render(unit, "adherence_receipt", card),
        purpose="adherence_receipt",
        case_id=case.id,
    )
    report.receipt_outbox_id = receipt.id
    unit.session.add(report)
    if concern:
        refresh_case(unit, case)  # the card counts open adherence reports
    return card


def _medication_name(unit: Unit, case: Case, form: AdherenceForm) -> str:
    if form.medication_id is None:
        if not form.medication_other:
            raise BadInput("Name the medication.", case_id=case.id)
        return form.medication_other
    med = unit.session.get(Medication, form.medication_id)
    if med is None or med.case_id != case.id:
        raise BadInput(
            f"That medication is not on {case.ref}'s list. Open the form again, or type its name.",
            case_id=case.id,
        )
    return unit.deps.cipher.decrypt(med.name_enc)


# -- closing the loop -----------------------------------------------------------------------------


def acknowledge(unit: Unit, *, report_id: int) -> AdherenceCard:
    """A prescriber on the team (or the person on call it was routed to after hours, while
    their shift lasts) has seen the concern: the escalation clock stops."""
    report, case = _report_for_acknowledger(unit, report_id)
    if report.status != AdherenceStatus.OPEN:
        raise Conflict(_already(report), case_id=report.case_id)
    _mark_acknowledged(unit, report)
    report.status = AdherenceStatus.ACKNOWLEDGED
    card = build_card(unit, report, case)
    refresh_messages(unit, report, card)
    tell_reporter(unit, report, card, "acknowledged")
    return card


def plan_context(unit: Unit, *, report_id: int) -> AdherenceCard:
    """What the Record plan modal shows; only a team prescriber may open it."""
    report, access = _report_for_prescriber(unit, report_id, "record a plan for adherence reports")
    if report.status not in repo.NOT_CLOSED:
        raise Conflict(_already(report), case_id=report.case_id)
    return build_card(unit, report, access.case)


def record_plan(unit: Unit, *, report_id: int, plan: str, note: str | None) -> AdherenceCard:
    """The loop closes: the plan is recorded (and the report acknowledged, if it was not)."""
    if plan not in PLANS:
        raise BadInput("Pick one of the plans listed.")
    report, access = _report_for_prescriber(unit, report_id, "record a plan for adherence reports")
    if report.status not in repo.NOT_CLOSED:
        raise Conflict(_already(report), case_id=report.case_id)
    if report.status == AdherenceStatus.OPEN:
        _mark_acknowledged(unit, report, with_plan=True)
    report.status = AdherenceStatus.PLANNED
    report.plan, report.plan_by, report.plan_at = plan, unit.actor.user_id, unit.now
    report.plan_note_enc = unit.deps.cipher.encrypt_optional(note)
    unit.session.add(report)
    unit.audit(
        "adherence.plan_recorded",
        case_id=report.case_id,
        target=f"adherence:{report.id}",
        plan=plan,
        with_note=note is not None,
    )
    card = build_card(unit, report, access.case)
    refresh_messages(unit, report, card)
    tell_reporter(unit, report, card, "planned")
    refresh_case(unit, access.case)  # one fewer open report on the card
    return card


def _mark_acknowledged(unit: Unit, report: AdherenceReport, **details: Any) -> None:
    report.acknowledged_by, report.acknowledged_at = unit.actor.user_id, unit.now
    report.next_escalation_at = None
    unit.session.add(report)
    unit.audit(
        "adherence.acknowledged",
        case_id=report.case_id,
        target=f"adherence:{report.id}",
        priority=report.priority,
        late=report.ack_due_at is not None and unit.now > report.ack_due_at,
        **details,
    )


def _report_for_prescriber(unit: Unit, report_id: int, doing: str) -> tuple[AdherenceReport, CaseAccess]:
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


def _report_for_acknowledger(unit: Unit, report_id: int) -> tuple[AdherenceReport, Case]:
    """A prescriber on the team, or the person on call holding a cover grant for this report
    (bot/oncall `covering`, audited). Cover grants acknowledgement only: plans stay with the
    team's prescribers."""
    report = repo.get_report(session=unit.session, report_id=report_id, lock=True)
    if report is None:
        raise NoAccess(reason="not_found")
    if not is_prescriber(unit, report.case_id) and covering(
        unit, case_id=report.case_id, item=report_item(report)
    ):
        return report, case_of(unit, report)
    report, access = _report_for_prescriber(unit, report_id, "acknowledge adherence reports")
    return report, access.case


def _already(report: AdherenceReport) -> str:
    where = f"{report.ref} on {case_ref(report.case_id)}"
    if report.status == AdherenceStatus.PLANNED:
        return (
            f"A plan for this adherence report ({where}) was already recorded by <@{report.plan_by}>. "
            "Nothing was changed."
        )
    if report.status == AdherenceStatus.RECORDED:
        return (
            f"This adherence report ({where}) says the patient is taking it as prescribed; "
            "there is nothing to act on."
        )
    return (
        f"This adherence report ({where}) was already acknowledged by <@{report.acknowledged_by}>. "
        "Nothing was changed; use Record plan to close the loop."
    )


# -- listing and contributions --------------------------------------------------------------------


def list_reports(unit: Unit, *, case_id: int) -> tuple[str, list[ReportLine]]:
    access = open_case(unit, case_id)
    lines = report_lines(unit, access.case)
    unit.audit("adherence.listed", case_id=case_id, target=access.case.ref, count=len(lines))
    return access.case.ref, lines


def report_lines(unit: Unit, case: Case) -> list[ReportLine]:
    reports = repo.open_reports(session=unit.session, case_id=case.id)
    reports.sort(key=lambda r: (SEVERITY_RANK[r.priority or "moderate"], r.created_at, r.id))
    return [
        ReportLine(
            ref=r.ref,
            kind_word=KINDS[r.kind],
            priority_word=SEVERITY_WORDS.get(r.priority or ""),
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
    """`/case show`: the case's open adherence reports (priority, what, age, status)."""
    lines = report_lines(unit, case)
    if not lines:
        return []
    rows = [f"*Open adherence reports* ({len(lines)})"]
    for line in lines[:15]:
        rows.append(
            f"• *{escape_mrkdwn(line.ref)}* {escape_mrkdwn(line.priority_word or '')} · "
            f"{escape_mrkdwn(line.kind_word)}: {escape_mrkdwn(line.medication[:80])} · reported "
            f"{escape_mrkdwn(line.age)} ago by <@{line.reporter}> · {escape_mrkdwn(status_words(line))}"
        )
    if len(lines) > 15:
        rows.append(f"… and {len(lines) - 15} more: `/adherence list {escape_mrkdwn(case.ref)}`")
    return ["\n".join(rows)]


def card_lines(unit: Unit, case: Case) -> list[str]:
    """The case card: how many adherence reports are open (a count, no medication names: the
    card is read by the whole home channel)."""
    count = repo.open_counts(session=unit.session, case_ids=[case.id]).get(case.id, 0)
    if not count:
        return []
    return [f"Adherence: {count} open report{'' if count == 1 else 's'}. `/adherence list {case.ref}`"]


def digest_notes(session: Session, case_ids: Sequence[int]) -> dict[int, list[str]]:
    """The caseload digest: each case's open adherence reports, counted."""
    return {
        case_id: [f"{count} adherence report{'' if count == 1 else 's'} open"]
        for case_id, count in repo.open_counts(session=session, case_ids=case_ids).items()
    }


def status_words(line: ReportLine) -> str:
    if line.status == AdherenceStatus.ACKNOWLEDGED:
        return "acknowledged, waiting for the plan"
    words = "waiting for acknowledgement"
    if line.escalation_step >= EscalationStep.ESCALATED:
        return words + " (overdue, escalated)"
    if line.overdue:
        return words + " (overdue)"
    return words


def waiting_for_me(unit: Unit) -> list[WaitingItem]:
    """App Home: concerns on my cases where I am a prescriber and the loop is open."""
    items = []
    for report, case in repo.waiting_for_prescriber(session=unit.session, user_id=unit.actor.user_id):
        word = SEVERITY_WORDS.get(report.priority or "", "")
        if report.status == AdherenceStatus.OPEN:
            text = f"{word} adherence report {report.ref}: waiting for your acknowledgement"
        else:
            text = f"{word} adherence report {report.ref}: acknowledged, waiting for a plan"
        root = case_repo.thread_root(session=unit.session, case=case)
        due = report.ack_due_at or report.created_at
        items.append(
            WaitingItem(
                case_ref=case.ref,
                text=text,
                url=thread_url(root),
                sort_key=(SEVERITY_RANK[report.priority or "moderate"], due.timestamp(), report.id),
            )
        )
    return items


def covered_waiting(unit: Unit, report_ids: Sequence[int]) -> list[WaitingItem]:
    """App Home for the person on call (Workflow.cover_items, asked by bot/oncall): the
    covered reports still waiting for acknowledgement, with Acknowledge. Ids only."""
    return [
        WaitingItem(
            case_ref=case_ref(report.case_id),
            text=f"{SEVERITY_WORDS.get(report.priority or '', '')} adherence report {report.ref}: "
            "you are on call, waiting for your acknowledgement",
            sort_key=(
                SEVERITY_RANK[report.priority or "moderate"],
                (report.ack_due_at or report.created_at).timestamp(),
                report.id,
            ),
            button=CaseButton("Acknowledge", Action.ADHERENCE_ACK, str(report.id)),
        )
        for report in repo.open_reports_by_ids(session=unit.session, report_ids=report_ids)
    ]


def is_overdue(unit: Unit, report: AdherenceReport) -> bool:
    return (
        report.status == AdherenceStatus.OPEN
        and report.ack_due_at is not None
        and unit.now > report.ack_due_at
    )


# -- messages -------------------------------------------------------------------------------------


def build_card(
    unit: Unit, report: AdherenceReport, case: Case, *, routed_to: list[str] | None = None
) -> AdherenceCard:
    cipher = unit.deps.cipher
    team: Team = team_of(unit, case)
    if routed_to is None:
        kinds = (
            AdherenceRecipientKind.PRESCRIBER,
            AdherenceRecipientKind.FALLBACK,
            AdherenceRecipientKind.ON_CALL,
        )
        routed_to = [
            r.user_id for r in repo.recipients(session=unit.session, report_id=report.id, kinds=kinds)
        ]
    return AdherenceCard(
        id=report.id,
        ref=report.ref,
        case_id=case.id,
        case_ref=case.ref,
        kind=report.kind,
        kind_word=KINDS[report.kind],
        priority=report.priority,
        priority_word=SEVERITY_WORDS.get(report.priority or ""),
        high_risk=report.high_risk,
        status=report.status,
        reporter=report.reporter,
        created_at=report.created_at,
        medication=cipher.decrypt(report.medication_name_enc),
        reason=cipher.decrypt_optional(report.reason_enc),
        ack_due_at=report.ack_due_at,
        escalate_at=report.escalate_at,
        deadline=deadlines(unit.deps.settings).describe(report.priority) if report.priority else None,
        overdue=is_overdue(unit, report),
        escalation_step=report.escalation_step,
        reminded_at=report.reminded_at,
        escalated_at=report.escalated_at,
        acknowledged_by=report.acknowledged_by,
        acknowledged_at=report.acknowledged_at,
        plan_label=PLANS.get(report.plan or ""),
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
    )


def _prescriber_joined(unit: Unit, report: AdherenceReport) -> bool:
    """Was there no prescriber when it was reported, and has one joined since? As in the
    side-effect relay: the first prescriber DM was queued after the reporter's receipt
    (submit_report queues the receipt last), so a prescriber got it by joining."""
    if report.no_prescriber:
        return False
    kinds = (AdherenceRecipientKind.PRESCRIBER,)
    first = repo.recipients(session=unit.session, report_id=report.id, kinds=kinds)[:1]
    return bool(first) and first[0].outbox_id > (report.receipt_outbox_id or 0)


def render(unit: Unit, name: str, card: AdherenceCard, **extra: Any) -> dict[str, Any]:
    return unit.deps.renderer.message(f"adherence/{name}", r=card, action=Action, block=BlockId, **extra)


def notify(
    unit: Unit, report: AdherenceReport, card: AdherenceCard, user_id: str, kind: AdherenceRecipientKind
) -> None:
    """A DM about the report, remembered (so it can be updated in place) and audited."""
    template, extra = _dm_template(unit, report, kind, user_id)
    message = unit.post(
        channel=user_id,
        message=render(unit, template, card, **extra),
        purpose=f"adherence_{kind.value}",
        case_id=report.case_id,
    )
    unit.session.add(
        AdherenceRecipient(
            report_id=report.id, user_id=user_id, kind=kind, outbox_id=message.id, created_at=unit.now
        )
    )
    unit.audit(
        "adherence.notified",
        case_id=report.case_id,
        target=f"user:{user_id}",
        ref=report.ref,
        kind=kind.value,
    )


def _dm_template(
    unit: Unit, report: AdherenceReport, kind: AdherenceRecipientKind, user_id: str
) -> tuple[str, dict[str, str]]:
    """The template of one DM. A reminder to the person on call (who holds the on-call DM) is
    worded as the on-call DM: they may acknowledge under cover, but plans stay with the
    prescribers, so the prescriber's reminder (with Record plan) is not theirs."""
    if kind == AdherenceRecipientKind.REMINDER and any(
        r.user_id == user_id
        for r in repo.recipients(
            session=unit.session, report_id=report.id, kinds=(AdherenceRecipientKind.ON_CALL,)
        )
    ):
        kind = AdherenceRecipientKind.ON_CALL
    return DM_TEMPLATES[kind]


def refresh_messages(unit: Unit, report: AdherenceReport, card: AdherenceCard) -> None:
    """Update in place the thread summary, every DM about the report (so no stale button
    invites a click) and the reporter's receipt."""
    if report.summary_outbox_id is not None:
        unit.update(
            of=report.summary_outbox_id,
            message=render(unit, "adherence_summary", card),
            purpose="adherence_summary",
            case_id=report.case_id,
        )
    for recipient in repo.recipients(session=unit.session, report_id=report.id):
        template, extra = _dm_template(
            unit, report, AdherenceRecipientKind(recipient.kind), recipient.user_id
        )
        unit.update(
            of=recipient.outbox_id,
            message=render(unit, template, card, **extra),
            purpose=f"adherence_{recipient.kind}",
            case_id=report.case_id,
        )
    if report.receipt_outbox_id is not None:
        unit.update(
            of=report.receipt_outbox_id,
            message=render(unit, "adherence_receipt", card),
            purpose="adherence_receipt",
            case_id=report.case_id,
        )


def tell_reporter(unit: Unit, report: AdherenceReport, card: AdherenceCard, step: str) -> None:
    unit.post(
        channel=report.reporter,
        message=render(unit, "adherence_update", card, step=step),
        purpose=f"adherence_update:{step}",
        case_id=report.case_id,
    )


def case_of(unit: Unit, report: AdherenceReport) -> Case:
    case = case_repo.get_case(session=unit.session, case_id=report.case_id)
    assert case is not None  # a report's case is never deleted (foreign key)
    return case


# -- what other workflows ask (bot/contributions.py) ----------------------------------------------


def open_high_risks(session: Session, case: Case) -> list[str]:
    """What closing the case would leave behind (Workflow.open_risks): its high-priority
    concerns (a high-risk medication stopped on the patient's own) whose loop is not closed.
    Ids and statuses only, worded like the side-effect relay's."""
    return [
        open_risk_line(
            "High-priority adherence report", r.ref, acknowledged=r.status == AdherenceStatus.ACKNOWLEDGED
        )
        for r in repo.open_reports(session=session, case_id=case.id)
        if r.priority == Severity.HIGH
    ]


def on_team_changed(unit: Unit, case: Case, change: TeamChange) -> None:
    """A prescriber joins a case with open concerns: each comes to them by DM (with
    Acknowledge and Record plan), and the "no prescriber on this team" warnings (the thread
    summary, the reporter's receipt, the DMs that went to a case manager instead) are updated
    in place to say a prescriber now has it. The side-effect relay's hook, for this relay's
    reports; the escalation clock runs on unchanged. A prescriber who left and comes back
    already has a DM about each report: it is updated in place (buttons working again), not
    sent twice."""
    if not joins_as_prescriber(change):
        return
    reports = repo.open_reports(session=unit.session, case_id=case.id)
    for report in reports:
        report.no_prescriber = False
        unit.session.add(report)
        kinds = (AdherenceRecipientKind.PRESCRIBER,)
        told = repo.recipients(session=unit.session, report_id=report.id, kinds=kinds)
        if change.user_id not in {r.user_id for r in told}:
            notify(
                unit,
                report,
                build_card(unit, report, case),
                change.user_id,
                AdherenceRecipientKind.PRESCRIBER,
            )
            unit.session.flush()  # the new recipient is what marks "a prescriber joined since"
        refresh_messages(unit, report, build_card(unit, report, case))
    if reports:
        unit.audit(
            "adherence.prescriber_joined",
            case_id=case.id,
            target=f"user:{change.user_id}",
            reports=[r.ref for r in reports],
        )
