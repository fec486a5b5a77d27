"""Psychiatric consultation, the Collaborative Care way: the team asks its psychiatric
consultant about a case (usually one that is not improving), the consultant records a
recommendation, and the treating prescriber accepts it, modifies it (with a note) or declines
it (with a reason). The consultant's review time is logged per case and date for billing.

Every step is saved, audited and its messages queued in one unit: the case thread carries
each step (notification text: case ids only), the people who must act next get a DM with
the buttons. When a case's team has no consultant, the configured CARETHREAD_CONSULTANTS
are asked; they may then read and act on that consultation only (`consult_reader`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.access import case_ref, open_case
from bot.auditlog import Source
from bot.cases.service import post_in_thread, thread_url
from bot.consults.settings import ConsultSettings
from bot.contributions import CaseButton, WaitingItem
from bot.deps import Deps
from bot.errors import BadInput, Conflict, NoAccess, NotAllowed
from bot.ids import Action
from bot.measures import service as measures
from bot.unit import Actor, Unit
from storage import cases as cases_repo
from storage import consults as repo
from storage.cases import Case, CaseStatus, Role
from storage.claims import lock_due
from storage.consults import Consult, ConsultMinutes, ConsultStatus
from storage.core import OutboxMessage, SlackUser

BATCH = 100
MAX_RECOMMENDATION = 3000
MAX_RESPONSE_NOTE = 1500
RESPONSES = {
    "accept": ConsultStatus.ACCEPTED,
    "modify": ConsultStatus.MODIFIED,
    "decline": ConsultStatus.DECLINED,
}
RESPONSE_TITLES = {
    ConsultStatus.ACCEPTED: "Accepted",
    ConsultStatus.MODIFIED: "Accepted with changes",
    ConsultStatus.DECLINED: "Declined",
}


# -- what the use-cases return -----------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What the consultant and the prescriber see about the case besides its id: this episode's
    score course (each line cites its scale) and Collaborative Care's not-improving rule
    (bot/measures/scales.py)."""

    scores: list[str]
    weeks: int
    not_improving_scales: list[str]

    @property
    def not_improving(self) -> bool:
        return bool(self.not_improving_scales)


@dataclass(frozen=True)
class ConsultView:
    consult_id: int
    case_ref: str
    status: str
    requested_by: str
    requested_at: datetime
    reason: str | None
    context: Context
    recommendation: str | None = None
    recommended_by: str | None = None
    outcome: str | None = None  # the prescriber's answer, as shown ("Accepted with changes")
    responded_by: str | None = None
    choice: str | None = None  # the prescriber's answer being recorded (response form)


@dataclass(frozen=True)
class MinutesLine:
    case_ref: str
    minutes: int
    entries: int


@dataclass(frozen=True)
class MinutesTotals:
    month: str  # "2026-11"
    lines: list[MinutesLine]
    everything: bool

    @property
    def total(self) -> int:
        return sum(line.minutes for line in self.lines)


# -- requesting --------------------------------------------------------------------------------


def request_consult(unit: Unit, *, case_id: int, reason: str | None) -> Consult:
    """Ask the team's consultants (or the configured ones) about the case."""
    access = open_case(unit, case_id, lock=True, require_open=True)
    case = access.case
    if access.member is None:
        raise NotAllowed(
            f"Only members of {case.ref}'s care team request a consultation. Add yourself with "
            f"`/case add {case.ref} @you <role>` first.",
            case_id=case_id,
        )
    existing = repo.open_consult(session=unit.session, case_id=case_id)
    if existing is not None:
        raise Conflict(_already_open(case, existing), case_id=case_id)
    settings = unit.deps.settings.section(ConsultSettings)
    team = [
        m.user_id
        for m in cases_repo.members(session=unit.session, case_id=case_id)
        if m.role == Role.CONSULTANT
    ]
    asked = team or list(settings.consultants)
    if not asked:
        raise BadInput(
            f"{case.ref}'s team has no psychiatric consultant and none is configured "
            "(CARETHREAD_CONSULTANTS). Add one to the team first.",
            usage=f"`/case add {case.ref} @consultant consultant`",
        )
    consult = Consult(
        case_id=case_id,
        requested_by=unit.actor.user_id,
        requested_at=unit.now,
        reason_enc=unit.deps.cipher.encrypt_optional(reason),
        consultants=",".join(asked),
        configured=not team,
        remind_at=unit.now + settings.remind_after,
    )
    unit.session.add(consult)
    try:
        with unit.session.begin_nested():
            unit.session.flush()
    except IntegrityError:  # uq_consults_one_open: a double click or a colleague just now
        raise Conflict(f"A consultation on {case.ref} was just requested.", case_id=case_id) from None
    view = _view(unit, consult, case)
    message = _render(unit, "consults/consult_request", v=view, asked=asked, configured=not team, dm=False)
    consult.request_outbox_id = post_in_thread(unit, case, message, purpose="consult:request").id
    unit.session.add(consult)
    for user_id in asked:
        unit.post(
            channel=user_id,
            message=_render(
                unit, "consults/consult_request", v=view, asked=asked, configured=not team, dm=True
            ),
            purpose="consult:request",
            case_id=case_id,
        )
    unit.audit(
        "consult.requested",
        case_id=case_id,
        target=f"consult:{consult.id}",
        consultants=len(asked),
        configured=not team,
        not_improving=view.context.not_improving,
        with_reason=reason is not None,
    )
    return consult


# -- the recommendation ------------------------------------------------------------------------


def recommendation_form(unit: Unit, *, consult_id: int) -> ConsultView:
    consult, case = _open_as_consultant(unit, consult_id)
    _require_status(consult, case, ConsultStatus.REQUESTED)
    unit.audit("consult.form_opened", case_id=case.id, target=f"consult:{consult_id}", form="recommendation")
    return _view(unit, consult, case)


def recommend(unit: Unit, *, consult_id: int, recommendation: str, minutes: int | None) -> Consult:
    """Record the consultant's recommendation (and, if given, the minutes spent on it today, in
    their time zone), then ask the team's prescribers to answer it."""
    consult, case = _open_as_consultant(unit, consult_id, lock=True)
    _require_status(consult, case, ConsultStatus.REQUESTED)
    settings = unit.deps.settings.section(ConsultSettings)
    consult.status = ConsultStatus.RECOMMENDED
    consult.recommendation_enc = unit.deps.cipher.encrypt(recommendation)
    consult.recommended_by, consult.recommended_at = unit.actor.user_id, unit.now
    consult.remind_at, consult.reminded_at = unit.now + settings.remind_after, None  # the next stage's clock
    unit.session.add(consult)
    if minutes is not None:
        _add_minutes(unit, case, minutes, _today(unit), consult_id=consult.id)
    prescribers = _prescribers(unit, case)
    view = _view(unit, consult, case)
    _edit(unit, consult.request_outbox_id, case, "consults/consult_request", v=view, asked=consult.asked)
    consult.recommendation_outbox_id = post_in_thread(
        unit,
        case,
        _render(unit, "consults/consult_recommended", v=view, prescribers=prescribers, dm=False),
        purpose="consult:recommended",
    ).id
    unit.session.add(consult)
    for user_id in prescribers:
        unit.post(
            channel=user_id,
            message=_render(unit, "consults/consult_recommended", v=view, prescribers=prescribers, dm=True),
            purpose="consult:recommended",
            case_id=case.id,
        )
    unit.audit(
        "consult.recommended",
        case_id=case.id,
        target=f"consult:{consult.id}",
        minutes=minutes,
        prescribers=len(prescribers),
    )
    return consult


# -- the prescriber's answer -------------------------------------------------------------------


def response_form(unit: Unit, *, consult_id: int, choice: str) -> ConsultView:
    consult, case = _open_as_prescriber(unit, consult_id)
    _require_status(consult, case, ConsultStatus.RECOMMENDED)
    unit.audit("consult.form_opened", case_id=case.id, target=f"consult:{consult_id}", form=choice)
    return replace(_view(unit, consult, case), choice=choice)


def respond(unit: Unit, *, consult_id: int, choice: str, note: str | None) -> Consult:
    """Accept, modify (with a note) or decline (with a reason) the recommendation."""
    if choice not in RESPONSES:
        raise BadInput("Answer the recommendation with Accept, Modify or Decline.")
    if choice != "accept" and not note:
        what = "what you change" if choice == "modify" else "why you decline it"
        raise BadInput(f"Say {what}.", field=None)
    consult, case = _open_as_prescriber(unit, consult_id, lock=True)
    _require_status(consult, case, ConsultStatus.RECOMMENDED)
    consult.status = RESPONSES[choice]
    consult.response_note_enc = unit.deps.cipher.encrypt_optional(note or None)
    consult.responded_by, consult.responded_at = unit.actor.user_id, unit.now
    unit.session.add(consult)
    _edit(
        unit,
        consult.recommendation_outbox_id,
        case,
        "consults/consult_recommended",
        v=_view(unit, consult, case),
        prescribers=_prescribers(unit, case),
    )
    message = dict(
        ref=case.ref,
        consult_id=consult.id,
        actor=unit.actor.user_id,
        outcome=RESPONSE_TITLES[ConsultStatus(consult.status)],
        note=note,
        choice=choice,
    )
    post_in_thread(
        unit,
        case,
        _render(unit, "consults/consult_answered", dm=False, **message),
        purpose="consult:answered",
    )
    if consult.recommended_by and consult.recommended_by != unit.actor.user_id:
        unit.post(
            channel=consult.recommended_by,
            message=_render(unit, "consults/consult_answered", dm=True, **message),
            purpose="consult:answered",
            case_id=case.id,
        )
    unit.audit(
        "consult.answered",
        case_id=case.id,
        target=f"consult:{consult.id}",
        answer=choice,
        with_note=note is not None,
    )
    return consult


# -- the consultant's time ---------------------------------------------------------------------


def log_minutes(unit: Unit, *, case_id: int, minutes: int, on: date | None, tz: str | None) -> ConsultMinutes:
    """`/consult <case> minutes <N> [on YYYY-MM-DD]`: time the consultant spent on the case,
    dated in their own time zone (today by default; never in the future)."""
    case = _case_for_consultant(unit, case_id)
    today = unit.now.astimezone(unit.deps.settings.clinic.zone_of(tz)).date()
    day = on or today
    if day > today:
        raise BadInput(
            f"{day.isoformat()} is in the future: log review time on the day it was spent.",
            usage="`/consult <case> minutes <N> [on YYYY-MM-DD]`",
        )
    open_one = repo.open_consult(session=unit.session, case_id=case_id)
    return _add_minutes(unit, case, minutes, day, consult_id=open_one.id if open_one else None)


def minutes_totals(unit: Unit, *, year: int, month: int) -> MinutesTotals:
    """Minutes of consultant review time per case in a calendar month, for billing (the
    Collaborative Care codes count time per patient per month). Admins see every case;
    anyone else the cases they are on or were asked to consult on."""
    start = date(year, month, 1)
    end = date(year + (month == 12), month % 12 + 1, 1)
    case_ids: list[int] | None = None
    if not unit.is_admin:
        me = unit.actor.user_id
        mine = {c.id for c, _ in cases_repo.cases_of_user(session=unit.session, user_id=me, status=None)}
        case_ids = sorted(mine | set(repo.cases_asked_of(session=unit.session, user_id=me)))
    rows = repo.minutes_by_case(session=unit.session, start=start, end=end, case_ids=case_ids)
    totals = MinutesTotals(
        month=f"{year:04d}-{month:02d}",
        lines=[MinutesLine(case_ref(case_id), total, entries) for case_id, total, entries in rows],
        everything=case_ids is None,
    )
    unit.audit(
        "consult.minutes_report",
        target=f"month:{totals.month}",
        scope="all" if case_ids is None else "mine",
        cases=len(totals.lines),
        minutes=totals.total,
    )
    return totals


# -- contributions: buttons, /case show, App Home, reader check --------------------------------


def consult_buttons(session: Session, case: Case, now: datetime) -> list[CaseButton]:
    """**Request consultation** on an open case that is not improving and has no open one."""
    if case.status != CaseStatus.OPEN or repo.open_consult(session=session, case_id=case.id) is not None:
        return []
    if not measures.episode_summary(session, case=case, now=now).not_improving:
        return []
    return [CaseButton("Request consultation", Action.CONSULT_REQUEST.value, str(case.id))]


def consult_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: the latest consultation and where it stands."""
    consult = repo.latest_consult(session=unit.session, case_id=case.id)
    if consult is None:
        return []
    message = _render(unit, "consults/consult_case_section", c=consult, titles=RESPONSE_TITLES)
    return [block["text"]["text"] for block in message["blocks"]]


def consults_waiting(unit: Unit) -> list[WaitingItem]:
    """App Home: consultations waiting for my recommendation, or for my answer as prescriber."""
    me = unit.actor.user_id
    items = []
    for consult, case in repo.open_with_cases(session=unit.session):
        if consult.status == ConsultStatus.REQUESTED and me in consult.asked:
            text = "Consultation waiting for your recommendation"
        elif consult.status == ConsultStatus.RECOMMENDED and me in _prescribers(unit, case):
            text = "Consultant's recommendation waiting for your answer"
        else:
            continue
        items.append(
            WaitingItem(
                case_ref=case.ref,
                text=text,
                url=thread_url(cases_repo.thread_root(session=unit.session, case=case)),
                sort_key=(2, (consult.recommended_at or consult.requested_at).timestamp(), consult.id),
            )
        )
    return items


def consult_reader(session: Session, message: OutboxMessage, now: datetime) -> bool:
    """The relay's send-time check (Workflow.readers): a configured consultant who is not on the
    team may read the consultation messages of the cases they were asked about."""
    if message.case_id is None or message.reader is None or not message.purpose.startswith("consult:"):
        return False
    return repo.addressed_to(session=session, case_id=message.case_id, user_id=message.reader)


# -- the reminder sweep ------------------------------------------------------------------------


def remind_due(deps: Deps) -> int:
    """One reminder per stage: the consultants when the recommendation is late, the team's
    prescribers when their answer is. Claimed with lock_due, so it fires once."""
    sent = 0
    while True:
        with deps.unit(Actor.app(Source.SCHEDULER)) as unit:
            due = lock_due(unit.session, repo.due_reminders(now=unit.now), limit=BATCH)
            for consult in due:
                sent += _remind(unit, consult)
        if len(due) < BATCH:
            return sent


def _remind(unit: Unit, consult: Consult) -> int:
    consult.reminded_at = unit.now
    unit.session.add(consult)
    case = cases_repo.get_case(session=unit.session, case_id=consult.case_id)
    target = f"consult:{consult.id}"
    if case is None or case.status != CaseStatus.OPEN:
        unit.audit("consult.reminder_skipped", case_id=consult.case_id, target=target, reason="case_closed")
        return 0
    waiting_for_recommendation = consult.status == ConsultStatus.REQUESTED
    people = consult.asked if waiting_for_recommendation else _prescribers(unit, case)
    since = consult.requested_at if waiting_for_recommendation else consult.recommended_at
    for user_id in people:
        unit.post(
            channel=user_id,
            message=_render(
                unit,
                "consults/consult_reminder",
                ref=case.ref,
                consult_id=consult.id,
                stage=consult.status,
                since=since,
                url=thread_url(cases_repo.thread_root(session=unit.session, case=case)),
                people=[],
                thread=False,
            ),
            purpose="consult:reminder",
            case_id=case.id,
        )
    post_in_thread(
        unit,
        case,
        _render(
            unit,
            "consults/consult_reminder",
            ref=case.ref,
            consult_id=consult.id,
            stage=consult.status,
            since=since,
            url=None,
            people=people,
            thread=True,
        ),
        purpose="consult:reminder",
    )
    unit.audit("consult.reminded", case_id=case.id, target=target, stage=consult.status, people=len(people))
    return len(people)


# -- helpers -----------------------------------------------------------------------------------


def _open_consult(unit: Unit, consult_id: int, *, lock: bool) -> tuple[Consult, Case, str | None]:
    """The consultation, its case and the actor's role there. A consultation that does not
    exist and one on a case the actor may not see are refused in the same words; a configured
    consultant asked about this case is let in (with no role)."""
    consult = repo.get_consult(session=unit.session, consult_id=consult_id, lock=lock)
    if consult is None:
        raise NoAccess(reason="consult_not_found")
    try:
        access = open_case(unit, consult.case_id, require_open=True)
    except NoAccess as err:
        if not (consult.configured and unit.actor.user_id in consult.asked):
            raise NoAccess(reason=err.reason, case_id=err.case_id) from None
        case = cases_repo.get_case(session=unit.session, case_id=consult.case_id)
        assert case is not None  # the consult's foreign key
        if case.status != CaseStatus.OPEN:
            raise NotAllowed(f"Case {case.ref} is closed.", case_id=case.id) from None
        return consult, case, None
    return consult, access.case, access.role


def _open_as_consultant(unit: Unit, consult_id: int, *, lock: bool = False) -> tuple[Consult, Case]:
    consult, case, role = _open_consult(unit, consult_id, lock=lock)
    outside = consult.configured and role is None and unit.actor.user_id in consult.asked
    if role != Role.CONSULTANT and not outside:
        raise NotAllowed(
            f"Only the psychiatric consultant asked about {case.ref} records the recommendation.",
            case_id=case.id,
        )
    return consult, case


def _open_as_prescriber(unit: Unit, consult_id: int, *, lock: bool = False) -> tuple[Consult, Case]:
    consult, case, role = _open_consult(unit, consult_id, lock=lock)
    if role != Role.PRESCRIBER:
        raise NotAllowed(
            f"Only a prescriber on {case.ref}'s team answers the consultant's recommendation.",
            case_id=case.id,
        )
    return consult, case


def _case_for_consultant(unit: Unit, case_id: int) -> Case:
    """The case, for its consultant: on the team as consultant, or asked about it."""
    me = unit.actor.user_id
    asked = repo.addressed_to(session=unit.session, case_id=case_id, user_id=me)
    try:
        access = open_case(unit, case_id)
    except NoAccess:
        if not asked:
            raise
        case = cases_repo.get_case(session=unit.session, case_id=case_id)
        assert case is not None
        return case
    if access.role != Role.CONSULTANT:
        raise NotAllowed(
            f"Only the psychiatric consultant of {access.case.ref} logs consultation minutes.",
            case_id=case_id,
        )
    return access.case


def _require_status(consult: Consult, case: Case, status: ConsultStatus) -> None:
    if consult.status == status:
        return
    if consult.status in RESPONSE_TITLES:
        raise Conflict(
            f"This consultation on {case.ref} is settled: "
            f"{RESPONSE_TITLES[ConsultStatus(consult.status)].lower()} by <@{consult.responded_by}>.",
            case_id=case.id,
        )
    if consult.status == ConsultStatus.RECOMMENDED:
        raise Conflict(
            f"The recommendation on {case.ref} is already recorded (by <@{consult.recommended_by}>); "
            "it waits for the prescriber's answer.",
            case_id=case.id,
        )
    raise Conflict(
        f"The consultation on {case.ref} has no recommendation yet: the consultant records it first.",
        case_id=case.id,
    )


def _already_open(case: Case, consult: Consult) -> str:
    stage = (
        "waiting for the consultant's recommendation"
        if consult.status == ConsultStatus.REQUESTED
        else "waiting for the prescriber's answer"
    )
    return f"A consultation on {case.ref} is already open ({stage}); see the case thread."


def _add_minutes(
    unit: Unit, case: Case, minutes: int, day: date, *, consult_id: int | None
) -> ConsultMinutes:
    row = repo.add_minutes(
        session=unit.session,
        row=ConsultMinutes(
            case_id=case.id,
            consult_id=consult_id,
            user_id=unit.actor.user_id,
            minutes=minutes,
            on_date=day,
            logged_at=unit.now,
        ),
    )
    unit.audit(
        "consult.minutes_logged",
        case_id=case.id,
        target=case.ref,
        minutes=minutes,
        on=day.isoformat(),
        consult=consult_id,
    )
    return row


def _today(unit: Unit) -> date:
    """Today for the actor: in their Slack time zone as last learnt (users.info fills the
    cache; no Slack call inside the unit), else the clinic's."""
    known = unit.session.get(SlackUser, unit.actor.user_id)
    return unit.now.astimezone(unit.deps.settings.clinic.zone_of(known.tz if known else None)).date()


def _prescribers(unit: Unit, case: Case) -> list[str]:
    return [
        m.user_id
        for m in cases_repo.members(session=unit.session, case_id=case.id)
        if m.role == Role.PRESCRIBER
    ]


def _context(session: Session, case: Case, now: datetime) -> Context:
    summary = measures.episode_summary(session, case=case, now=now)  # one summary: two queries
    return Context(measures.summary_lines(summary), summary.weeks, summary.not_improving_scales)


def _view(unit: Unit, consult: Consult, case: Case) -> ConsultView:
    cipher = unit.deps.cipher
    return ConsultView(
        consult_id=consult.id,
        case_ref=case.ref,
        status=consult.status,
        requested_by=consult.requested_by,
        requested_at=consult.requested_at,
        reason=cipher.decrypt_optional(consult.reason_enc),
        context=_context(unit.session, case, unit.now),
        recommendation=cipher.decrypt_optional(consult.recommendation_enc),
        recommended_by=consult.recommended_by,
        outcome=RESPONSE_TITLES.get(ConsultStatus(consult.status)),
        responded_by=consult.responded_by,
    )


def _edit(unit: Unit, outbox_id: int | None, case: Case, template: str, **context: Any) -> None:
    """Edit a thread post of this consultation in place once its step is done: the buttons go,
    the outcome shows (a stale click is refused by the status check anyway)."""
    if outbox_id is not None:
        message = _render(unit, template, dm=False, configured=False, **context)
        unit.update(of=outbox_id, message=message, purpose="consult:edited", case_id=case.id)


def _render(unit: Unit, template: str, **context: Any) -> dict[str, Any]:
    return unit.deps.renderer.message(template, action=Action, **context)
