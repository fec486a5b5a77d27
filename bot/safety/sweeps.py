"""Chasing safety records: two sweep steps, each claiming due rows with storage.claims.lock_due
and moving each on in the same unit as its messages and audit events (so each fires once).

- `chase_alerts`: an unacknowledged high or imminent record follows the urgent side-effect
  clock. Step 1 at the deadline: a reminder DM to whoever must hear about an urgent item now
  (`urgent_recipients`: the prescribers, and the person on call outside working hours) and
  the follow-up owner. Step 2 a further fraction later: a DM to the case managers (the
  case's creator when there is none) and a thread message naming the prescribers.
- `follow_ups`: on the follow-up date, at the start of the owner's working hours, the owner
  is reminded (a non-urgent reminder waits for working hours); when the next working day
  opens with no reassessment recorded, the case managers are told it is overdue.
A superseded record (a newer one was recorded) has no follow-up left, but its urgent alert is
chased until acknowledged (a later record does not acknowledge it); a record on a closed case
has no due times left once the sweep meets it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Select

from bot.auditlog import Source
from bot.cases.service import post_in_thread
from bot.deps import Deps
from bot.oncall.service import urgent_recipients
from bot.safety import service as safety
from bot.unit import Actor, Unit
from storage import cases as case_repo
from storage import safety as repo
from storage.cases import Case, CaseStatus, Role
from storage.claims import lock_due
from storage.safety import AlertStep, FollowUpStep, RecipientKind, SafetyRecord

BATCH = 100


def chase_alerts(deps: Deps) -> int:
    """Fire every due step of unacknowledged urgent records; returns how many fired."""
    return _run(deps, repo.due_alerts, _advance_alert)


def follow_ups(deps: Deps) -> int:
    """Fire every due follow-up reminder and overdue notice; returns how many fired."""
    return _run(deps, repo.due_follow_ups, _advance_follow_up)


def _run(deps: Deps, query: Callable[[datetime], Select], fire: Callable[[Unit, SafetyRecord], int]) -> int:
    fired = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = lock_due(unit.session, query(unit.now), limit=BATCH)
            for record in due:
                fired += fire(unit, record)
                unit.session.add(record)
        if len(due) < BATCH:
            return fired


def _advance_alert(unit: Unit, record: SafetyRecord) -> int:
    steps = 0
    while record.next_escalation_at is not None and record.next_escalation_at <= unit.now:
        case = safety.case_of(unit, record)
        if record.acknowledged_by is not None or _closed(case):  # superseded: still chased
            record.next_escalation_at = None
        elif record.escalation_step == AlertStep.NONE:
            _remind(unit, record, case)
            steps += 1
        elif record.escalation_step == AlertStep.REMINDED:
            _escalate(unit, record, case)
            steps += 1
        else:
            record.next_escalation_at = None
    if steps:
        case = safety.case_of(unit, record)
        safety.refresh_messages(unit, record, safety.build_card(unit, record, case))
    return steps


def _remind(unit: Unit, record: SafetyRecord, case: Case) -> None:
    route = urgent_recipients(unit, case, item=f"safety:{record.id}")
    targets = list(dict.fromkeys([*route.users, record.follow_up_owner])) or _managers(unit, case)
    record.escalation_step = AlertStep.REMINDED
    record.next_escalation_at = record.escalate_at
    card = safety.build_card(unit, record, case)
    for user_id in targets:
        _notify_once(unit, record, card, user_id, RecipientKind.REMINDER)
    _audit(unit, record, "safety.reminded", step=1, recipients=len(targets))


def _escalate(unit: Unit, record: SafetyRecord, case: Case) -> None:
    targets = _managers(unit, case)
    route = urgent_recipients(unit, case, item=f"safety:{record.id}")  # after hours: on call too
    targets += [u for u in route.on_call if u not in targets]
    record.escalation_step = AlertStep.ESCALATED
    record.next_escalation_at = None
    card = safety.build_card(unit, record, case)
    for user_id in targets:
        _notify_once(unit, record, card, user_id, RecipientKind.ESCALATION)
    post_in_thread(
        unit,
        case,
        safety.render(unit, "safety_escalation", card, audience="thread"),
        purpose="safety_escalation",
    )
    _audit(unit, record, "safety.escalated", step=2, recipients=len(targets))


def _advance_follow_up(unit: Unit, record: SafetyRecord) -> int:
    case = safety.case_of(unit, record)
    if record.superseded_at is not None or _closed(case):
        record.follow_up_due_at = None
        return 0
    if record.follow_up_step == FollowUpStep.NONE:
        # At fire time, not only when scheduled: a sweep late after downtime must not remind
        # at night. The owner's next working-hours opening, as medication reminders do.
        opens = safety.follow_up_remind_at(unit, record.follow_up_owner, record.follow_up_date)
        if opens > unit.now:
            record.follow_up_due_at = opens
            unit.audit(
                "safety.follow_up_deferred",
                case_id=record.case_id,
                target=f"safety:{record.id}",
                until=opens.isoformat(),
            )
            return 0
    card = safety.build_card(unit, record, case)
    if record.follow_up_step == FollowUpStep.NONE:
        record.follow_up_step = FollowUpStep.REMINDED
        record.follow_up_due_at = safety.follow_up_overdue_at(unit, record)
        _notify_once(unit, record, card, record.follow_up_owner, RecipientKind.FOLLOW_UP)
        _audit(unit, record, "safety.follow_up_reminded", step=1, recipients=1)
        return 1
    record.follow_up_step = FollowUpStep.ESCALATED
    record.follow_up_due_at = None
    targets = _managers(unit, case)
    for user_id in targets:
        _notify_once(unit, record, card, user_id, RecipientKind.OVERDUE)
    _audit(unit, record, "safety.follow_up_overdue", step=2, recipients=len(targets))
    return 1


def _closed(case: Case) -> bool:
    """A closed case's records are not chased (closing it is where open risk is reviewed)."""
    return case.status != CaseStatus.OPEN


def _managers(unit: Unit, case: Case) -> list[str]:
    """The case managers, else the case's creator while on the team."""
    members = case_repo.members(session=unit.session, case_id=case.id)
    managers = [m.user_id for m in members if m.role == Role.CASE_MANAGER]
    if managers:
        return managers
    return [case.created_by] if any(m.user_id == case.created_by for m in members) else []


def _notify_once(
    unit: Unit, record: SafetyRecord, card: safety.SafetyCard, user_id: str, kind: RecipientKind
) -> None:
    """One DM of each kind per person per record (the table's unique key says so too)."""
    told = repo.recipients(session=unit.session, record_id=record.id, kinds=(kind,))
    if any(r.user_id == user_id for r in told):
        return
    safety.notify(unit, record, card, user_id, kind)


def _audit(unit: Unit, record: SafetyRecord, action: str, *, step: int, recipients: int) -> None:
    unit.audit(action, case_id=record.case_id, target=f"safety:{record.id}", step=step, recipients=recipients)
