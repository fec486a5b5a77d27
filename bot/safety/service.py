"""Suicide risk and safety plans: `/safety <case>` records an assessment and a Stanley-Brown
plan; the case shows its current risk level; high and imminent risk are urgent alerts.

Saving a record, in one unit: the record (plan encrypted), the previous record superseded
(its follow-up is done), a summary in the case thread, the case card redrawn with the level,
and the recorder's receipt. High or imminent: an urgent DM with Acknowledge to every
prescriber (and, outside working hours, the person on call: bot/oncall `urgent_recipients`)
and to the follow-up owner, on the urgent side-effect clock (bot/side_effects deadlines:
the same deadline, reminder and escalation); imminent shows the recorder the clinic's crisis
instructions (CARETHREAD_CRISIS_TEXT) in the receipt at once.

Who may record: anyone on the case's team. Who may acknowledge: a prescriber on the team,
the follow-up owner, or the person on call who was sent the alert (audited as cover).
Notification text carries the case id and "safety" only; never the level or the plan.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from bot.access import case_ref, open_case
from bot.cases.service import post_in_thread, refresh_case, thread_url
from bot.clinic import local_moment
from bot.contributions import CaseButton, WaitingItem
from bot.errors import BadInput, Conflict, NoAccess, NotAllowed
from bot.ids import Action, BlockId
from bot.oncall.service import covering, holds_cover, urgent_recipients
from bot.render import escape_mrkdwn
from bot.safety.policy import LEVELS, METHODS, PLAN_SECTIONS
from bot.side_effects.settings import SideEffectSettings, deadlines
from bot.unit import Unit
from storage import cases as case_repo
from storage import safety as repo
from storage.cases import Case, Role
from storage.core import SlackUser
from storage.safety import RecipientKind, SafetyRecipient, SafetyRecord
from storage.side_effects import Severity


@dataclass(frozen=True)
class SafetyForm:
    """A validated `/safety` form."""

    case_id: int
    method: str
    risk_level: str
    plan: dict[str, str | None]
    follow_up_owner: str
    follow_up_date: date


@dataclass(frozen=True)
class PlanSection:
    heading: str
    text: str | None


@dataclass(frozen=True)
class SafetyCard:
    """Everything a safety message may show, decrypted, for the templates."""

    id: int
    ref: str
    case_id: int
    case_ref: str
    level: str
    level_word: str
    method_word: str
    urgent: bool
    imminent: bool
    recorded_by: str
    created_at: datetime
    plan: list[PlanSection]
    follow_up_owner: str
    follow_up_date: date
    ack_due_at: datetime | None
    escalate_at: datetime | None
    deadline: str
    escalation_step: int
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    superseded: bool
    prescribers: list[str]
    case_managers: list[str]
    alerted: list[str]
    no_prescriber: bool


# -- recording ------------------------------------------------------------------------------------


def form_case(unit: Unit, *, case_id: int) -> str:
    """The case's ref, if the actor may record on it (any team member; open cases only)."""
    access = open_case(unit, case_id, require_open=True)
    if access.member is None:
        raise NotAllowed("Only members of the care team can record a safety assessment.", case_id=case_id)
    return access.case.ref


def record(unit: Unit, form: SafetyForm) -> SafetyCard:
    """Save the assessment and plan, then tell the thread, the team and the recorder."""
    access = open_case(unit, form.case_id, lock=True, require_open=True)
    case = access.case
    if access.member is None:
        raise NotAllowed("Only members of the care team can record a safety assessment.", case_id=case.id)
    members = {m.user_id: m.role for m in case_repo.members(session=unit.session, case_id=case.id)}
    if form.follow_up_owner not in members:
        raise BadInput(
            f"<@{form.follow_up_owner}> is not on {case.ref}'s care team, so cannot own the follow-up. "
            f"Nothing was saved. Run `/safety {case.ref}` again and pick a team member, "
            f"or add them first with `/case add`.",
            field=BlockId.SAFETY_OWNER,
            case_id=case.id,
        )
    if form.follow_up_date < unit.now.astimezone(unit.deps.settings.clinic.zone).date():
        raise BadInput("The follow-up date is in the past.", field=BlockId.SAFETY_FOLLOW_UP, case_id=case.id)
    previous = repo.current_record(session=unit.session, case_id=case.id, lock=True)
    if previous is not None:
        _supersede(unit, previous)
        if previous.urgent:  # its alerts say why; an unacknowledged one keeps its button
            refresh_messages(unit, previous, build_card(unit, previous, case))

    record = SafetyRecord(
        case_id=case.id,
        recorded_by=unit.actor.user_id,
        created_at=unit.now,
        method=form.method,
        risk_level=form.risk_level,
        plan_enc=unit.deps.cipher.encrypt(json.dumps(form.plan)),
        follow_up_owner=form.follow_up_owner,
        follow_up_date=form.follow_up_date,
        follow_up_due_at=follow_up_remind_at(unit, form.follow_up_owner, form.follow_up_date),
    )
    if record.urgent:
        rules = deadlines(unit.deps.settings)
        record.ack_due_at = rules.ack_due(Severity.URGENT, unit.now)
        record.escalate_at = rules.escalate_at(Severity.URGENT, record.ack_due_at)
        record.next_escalation_at = record.ack_due_at
    unit.session.add(record)
    unit.session.flush()
    unit.audit(
        "safety.recorded",
        case_id=case.id,
        target=f"safety:{record.id}",
        risk_level=record.risk_level,
        method=record.method,
        follow_up_owner=record.follow_up_owner,
        follow_up_date=record.follow_up_date.isoformat(),
        supersedes=previous.id if previous else None,
    )
    alerted: list[str] = []
    if record.urgent:
        route = urgent_recipients(unit, case, item=f"safety:{record.id}")
        # With no prescriber on the team the case managers hear too, as with side effects.
        managers = (
            [] if route.prescribers else [u for u, role in members.items() if role == Role.CASE_MANAGER]
        )
        alerted = list(dict.fromkeys([*route.users, record.follow_up_owner, *managers]))
    card = build_card(unit, record, case, alerted=alerted)
    summary = post_in_thread(unit, case, render(unit, "safety_summary", card), purpose="safety_summary")
    record.summary_outbox_id = summary.id
    for user_id in alerted:
        notify(unit, record, card, user_id, RecipientKind.ALERT)
    unit.post(
        channel=record.recorded_by,
        message=render(
            unit,
            "safety_receipt",
            card,
            crisis_text=unit.deps.settings.section(SideEffectSettings).crisis_text,
        ),
        purpose="safety_receipt",
        case_id=case.id,
    )
    unit.session.add(record)
    refresh_case(unit, case)
    return card


def _supersede(unit: Unit, previous: SafetyRecord) -> None:
    """A newer assessment replaces the current one: its follow-up was done (a reassessment).
    An urgent alert nobody acknowledged stays open and chased (its next_escalation_at kept):
    a later record, even a low one, is not an acknowledgement that someone saw the urgent one."""
    previous.superseded_at = unit.now
    previous.follow_up_due_at = None
    unit.session.add(previous)
    unit.audit("safety.superseded", case_id=previous.case_id, target=f"safety:{previous.id}")


def follow_up_remind_at(unit: Unit, owner: str, day: date) -> datetime:
    """When the owner is reminded: the start of their working hours on the follow-up date (in
    their own zone; the clinic's when Slack gave none), or the next working day's."""
    clinic = unit.deps.settings.clinic
    person = unit.session.get(SlackUser, owner)
    zone = clinic.zone_of(person.tz if person else None)
    start = local_moment(day, clinic.working_hours.start, zone)
    return clinic.working_hours.next_open(max(start, unit.now), zone)


def follow_up_overdue_at(unit: Unit, record: SafetyRecord) -> datetime:
    """When a follow-up with no reassessment is overdue: the clinic's next working day opens
    after the follow-up date has passed (clinic zone)."""
    clinic = unit.deps.settings.clinic
    day_after = local_moment(record.follow_up_date + timedelta(days=1), time(0), clinic.zone)
    return clinic.working_hours.next_open(day_after, clinic.zone)


# -- acknowledging --------------------------------------------------------------------------------


def acknowledge(unit: Unit, *, record_id: int) -> SafetyCard:
    """Someone who may act has seen the alert: the urgent clock stops."""
    record = repo.get_record(session=unit.session, record_id=record_id, lock=True)
    if record is None:
        raise NoAccess(reason="not_found")
    case = _case_for_acknowledger(unit, record)
    if not record.urgent:
        raise Conflict(
            f"Safety record {record.ref} is not an urgent alert. Nothing was changed.", case_id=case.id
        )
    if record.acknowledged_by is not None:
        raise Conflict(
            f"Safety record {record.ref} on {case.ref} was already acknowledged by "
            f"<@{record.acknowledged_by}>. Nothing was changed.",
            case_id=case.id,
        )
    record.acknowledged_by, record.acknowledged_at = unit.actor.user_id, unit.now
    record.next_escalation_at = None
    unit.session.add(record)
    unit.audit(
        "safety.acknowledged",
        case_id=case.id,
        target=f"safety:{record.id}",
        late=record.ack_due_at is not None and unit.now > record.ack_due_at,
    )
    card = build_card(unit, record, case)
    refresh_messages(unit, record, card)
    return card


def _case_for_acknowledger(unit: Unit, record: SafetyRecord) -> Case:
    """A prescriber on the team, the follow-up owner, or the person on call covering it."""
    item = f"safety:{record.id}"
    try:
        access = open_case(unit, record.case_id)
    except NoAccess as err:
        if not covering(unit, case_id=record.case_id, item=item):
            raise NoAccess(reason=err.reason, case_id=record.case_id) from None
        return case_of(unit, record)
    if access.role == Role.PRESCRIBER or unit.actor.user_id == record.follow_up_owner:
        return access.case
    if covering(unit, case_id=record.case_id, item=item):
        return access.case
    raise NotAllowed(
        "Only a prescriber on the care team, the follow-up owner or the person on call can acknowledge "
        "a safety alert.",
        case_id=record.case_id,
    )


# -- what the case shows --------------------------------------------------------------------------


def risk_line(unit: Unit, case: Case) -> list[str]:
    """The case card (and `/case show`): the current risk level, how it was assessed, when,
    and the follow-up. Nothing when none is recorded."""
    return _risk_line(case, repo.current_record(session=unit.session, case_id=case.id))


def _risk_line(case: Case, record: SafetyRecord | None) -> list[str]:
    if record is None:
        return []
    siren = ":rotating_light: " if record.urgent else ""
    ack = ""
    if record.urgent:
        ack = (
            f" · acknowledged by <@{record.acknowledged_by}>"
            if record.acknowledged_by
            else " · *not yet acknowledged*"
        )
    return [
        f"*Suicide risk*\n{siren}*{LEVELS[record.risk_level]}* ({escape_mrkdwn(METHODS[record.method])}, "
        f"{escape_mrkdwn(record.ref)} by <@{record.recorded_by}> on {record.created_at:%Y-%m-%d}){ack}. "
        f"Follow-up by <@{record.follow_up_owner}> on {record.follow_up_date.isoformat()}. "
        f"`/safety {escape_mrkdwn(case.ref)}` records a reassessment."
    ]


def show_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: the risk line and the plan's sections (the reader is on the team)."""
    record = repo.current_record(session=unit.session, case_id=case.id)  # read once for both
    line = _risk_line(case, record)
    if record is None:
        return []
    plan = _plan(unit, record)
    parts = [f"• *{escape_mrkdwn(p.heading)}*: {escape_mrkdwn(p.text)}" for p in plan if p.text]
    unit.audit("safety.viewed", case_id=case.id, target=f"safety:{record.id}")
    if not parts:
        return [line[0] + "\n_No safety plan written._"]
    # One string per plan section: case_show clips each string to one block's limit, and six
    # sections of up to MAX_SECTION characters together would lose the last ones silently.
    return [line[0], "*Safety plan*\n" + parts[0], *parts[1:]]


def waiting_for_me(unit: Unit) -> list[WaitingItem]:
    """App Home: an urgent alert I should acknowledge (as a prescriber or the owner), and a
    follow-up I own, with its date."""
    items = []
    for record, case in repo.waiting_for(session=unit.session, user_id=unit.actor.user_id):
        url = thread_url(case_repo.thread_root(session=unit.session, case=case))
        if record.urgent and record.acknowledged_by is None:
            items.append(
                WaitingItem(
                    case_ref=case.ref,
                    text=f"Urgent safety alert {record.ref}: waiting for acknowledgement",
                    url=url,
                    sort_key=(0, (record.ack_due_at or record.created_at).timestamp(), record.id),
                )
            )
        if record.follow_up_owner == unit.actor.user_id and record.superseded_at is None:
            due = local_moment(record.follow_up_date, time(0), unit.deps.settings.clinic.zone)
            items.append(
                WaitingItem(
                    case_ref=case.ref,
                    text=f"Safety follow-up {record.ref}: yours, due {record.follow_up_date.isoformat()}",
                    url=url,
                    sort_key=(1, due.timestamp(), record.id),
                )
            )
    return items


def covered_waiting(unit: Unit, record_ids: Sequence[int]) -> list[WaitingItem]:
    """App Home for the person on call (Workflow.cover_items, asked by bot/oncall): covered
    urgent alerts nobody has acknowledged, with Acknowledge. The follow-up owner already sees
    theirs in `waiting_for_me`, so they are left out here. Ids and the level only."""
    return [
        WaitingItem(
            case_ref=case_ref(record.case_id),
            text=f"Urgent safety alert {record.ref} ({LEVELS[record.risk_level]} suicide risk): "
            "you are on call, waiting for acknowledgement",
            sort_key=(0, (record.ack_due_at or record.created_at).timestamp(), record.id),
            button=CaseButton("Acknowledge", Action.SAFETY_ACK, str(record.id)),
        )
        for record in repo.unacknowledged_urgent_by_ids(session=unit.session, record_ids=record_ids)
        if record.follow_up_owner != unit.actor.user_id
    ]


def open_risks(session: Session, case: Case) -> list[str]:
    """What closing the case would leave behind (Workflow.open_risks): a current risk level of
    high or imminent, whether or not its alert was acknowledged (closing ends the follow-up and
    the chase). The level, the record's id and its state only; no plan text."""
    record = repo.current_record(session=session, case_id=case.id)
    if record is None or not record.urgent:
        return []
    state = f"acknowledged by <@{record.acknowledged_by}>" if record.acknowledged_by else "not acknowledged"
    return [
        f"• Current suicide risk *{escape_mrkdwn(LEVELS[record.risk_level])}* "
        f"(safety record *{record.ref}*, follow-up {record.follow_up_date.isoformat()}): {state}"
    ]


def high_risk_cases(session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """The caseload digest: a case whose current risk is high or imminent ranks first."""
    levels = repo.current_levels(session=session, case_ids=case_ids)
    return {case_id: 1 for case_id, level in levels.items() if level in repo.URGENT_LEVELS}


# -- messages -------------------------------------------------------------------------------------


def build_card(
    unit: Unit, record: SafetyRecord, case: Case, *, alerted: list[str] | None = None
) -> SafetyCard:
    members = case_repo.members(session=unit.session, case_id=case.id)
    prescribers = [m.user_id for m in members if m.role == Role.PRESCRIBER]
    if alerted is None:
        alerted = [
            r.user_id
            for r in repo.recipients(session=unit.session, record_id=record.id, kinds=(RecipientKind.ALERT,))
        ]
    return SafetyCard(
        id=record.id,
        ref=record.ref,
        case_id=case.id,
        case_ref=case.ref,
        level=record.risk_level,
        level_word=LEVELS[record.risk_level],
        method_word=METHODS[record.method],
        urgent=record.urgent,
        imminent=record.risk_level == repo.RiskLevel.IMMINENT,
        recorded_by=record.recorded_by,
        created_at=record.created_at,
        plan=_plan(unit, record),
        follow_up_owner=record.follow_up_owner,
        follow_up_date=record.follow_up_date,
        ack_due_at=record.ack_due_at,
        escalate_at=record.escalate_at,
        deadline=deadlines(unit.deps.settings).describe(Severity.URGENT),
        escalation_step=record.escalation_step,
        acknowledged_by=record.acknowledged_by,
        acknowledged_at=record.acknowledged_at,
        superseded=record.superseded_at is not None,
        prescribers=prescribers,
        case_managers=[m.user_id for m in members if m.role == Role.CASE_MANAGER],
        alerted=alerted,
        no_prescriber=not prescribers,
    )


def _plan(unit: Unit, record: SafetyRecord) -> list[PlanSection]:
    saved = json.loads(unit.deps.cipher.decrypt(record.plan_enc))
    return [PlanSection(heading, saved.get(key)) for key, heading, _ in PLAN_SECTIONS]


def render(unit: Unit, name: str, card: SafetyCard, **extra: Any) -> dict[str, Any]:
    return unit.deps.renderer.message(f"safety/{name}", r=card, action=Action, **extra)


def notify(unit: Unit, record: SafetyRecord, card: SafetyCard, user_id: str, kind: RecipientKind) -> None:
    """A DM about the record, remembered (so it can be updated in place) and audited."""
    message = unit.post(
        channel=user_id,
        message=_alert_dm(unit, record, card, kind.value, user_id),
        purpose=f"safety_{kind.value}",
        case_id=record.case_id,
    )
    unit.session.add(
        SafetyRecipient(
            record_id=record.id, user_id=user_id, kind=kind, outbox_id=message.id, created_at=unit.now
        )
    )
    unit.audit(
        "safety.notified", case_id=record.case_id, target=f"user:{user_id}", record=record.id, kind=kind.value
    )


def _alert_dm(unit: Unit, record: SafetyRecord, card: SafetyCard, kind: str, reader: str) -> dict[str, Any]:
    """One DM about the record, worded for its reader: the on-call banner only for someone who
    really holds cover for it (a grant from urgent_recipients' route.on_call), so a case manager
    alerted for want of a prescriber gets the fallback wording and no button they cannot use."""
    on_call = holds_cover(unit, case_id=record.case_id, user_id=reader, item=f"safety:{record.id}")
    return render(unit, "safety_alert", card, kind=kind, reader=reader, on_call=on_call)


def refresh_messages(unit: Unit, record: SafetyRecord, card: SafetyCard) -> None:
    """Update in place the thread summary and every DM about the record (no stale button)."""
    if record.summary_outbox_id is not None:
        unit.update(
            of=record.summary_outbox_id,
            message=render(unit, "safety_summary", card),
            purpose="safety_summary",
            case_id=record.case_id,
        )
    for recipient in repo.recipients(session=unit.session, record_id=record.id):
        unit.update(
            of=recipient.outbox_id,
            message=_alert_dm(unit, record, card, recipient.kind, recipient.user_id),
            purpose=f"safety_{recipient.kind}",
            case_id=record.case_id,
        )


def case_of(unit: Unit, record: SafetyRecord) -> Case:
    case = case_repo.get_case(session=unit.session, case_id=record.case_id)
    assert case is not None  # a record's case is never deleted (foreign key)
    return case
