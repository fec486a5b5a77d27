"""Scheduled case reviews, Collaborative Care's systematic case review: set or stop a case's
cadence, start a review, collect each member's role-specific update, record the decision.

A review's prompt is posted in the case thread and edited in place as updates come in and
when the decision is recorded. Every step is saved and audited in the unit before Slack is
told. The sweeps that fire due reviews, nudges and the weekly digest are in review_sweeps.py;
the digest itself in caseload.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time
from typing import Any

from bot.access import CaseAccess, open_case
from bot.cases.service import close_case, post_in_thread, thread_post, thread_url
from bot.contributions import WaitingItem
from bot.errors import BadInput, Conflict, NoAccess, NotAllowed
from bot.ids import Action, BlockId
from bot.measures import service as measures
from bot.reviews.cadence import Cadence, Period, first_due
from bot.reviews.fields import (
    DECIDING_ROLES,
    PLAN_PARTS,
    Decision,
    RelapsePlan,
    UpdateField,
    fields_for,
    shown_value,
)
from bot.reviews.settings import ReviewSettings
from bot.slack import SlackUnavailable
from bot.unit import Unit
from storage import cases as cases_repo
from storage import reviews as repo
from storage.cases import Case, CaseMember, Role
from storage.core import SlackUser
from storage.measures import Instrument, ScoreSource
from storage.reviews import (
    NudgeStatus,
    Review,
    ReviewSchedule,
    ReviewStatus,
    ReviewTrigger,
    ReviewUpdate,
)

DISCHARGE_REASON = "Discharged at the case review"


# -- what the use-cases return -----------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleInfo:
    case_ref: str
    active: bool
    cadence: str | None
    tz: str | None
    next_due_at: datetime | None
    open_since: datetime | None = None
    answered: int = 0
    team: int = 0
    thread_url: str | None = None


@dataclass(frozen=True)
class FormField:
    field: UpdateField
    value: str


@dataclass(frozen=True)
class UpdateForm:
    review_id: int
    case_ref: str
    role_title: str
    fields: list[FormField]
    phq9: int | None
    gad7: int | None
    revising: bool
    item9: int | None = None
    taken_on: date | None = None


@dataclass(frozen=True)
class UpdateValues:
    """What a member typed, already validated by the form reader (handlers/reviews.py)."""

    answers: dict[str, str]  # block id -> text (or a select's value, a number as text)
    phq9: int | None = None
    gad7: int | None = None
    item9: int | None = None  # PHQ-9 item 9, with a PHQ-9 only
    taken_on: date | None = None  # when the scores were taken; None: today in the member's zone

    @property
    def empty(self) -> bool:
        return not any(self.answers.values()) and self.phq9 is None and self.gad7 is None


@dataclass(frozen=True)
class TeamMember:
    user_id: str
    role_title: str
    answered: bool


@dataclass(frozen=True)
class DecisionForm:
    review_id: int
    case_ref: str
    members: list[TeamMember]


@dataclass(frozen=True)
class ReviewLine:
    case_ref: str
    thread_url: str | None
    cadence: str | None
    tz: str | None
    next_due_at: datetime | None
    open_since: datetime | None
    my_update_in: bool


# -- cadence -----------------------------------------------------------------------------------


def cadence_of(schedule: ReviewSchedule) -> Cadence:
    return Cadence(
        every=schedule.every,
        period=Period(schedule.period),
        weekday=schedule.weekday,
        at=time.fromisoformat(schedule.at_local),
    )


def set_cadence(unit: Unit, *, case_id: int, cadence: Cadence, tz: str | None) -> ScheduleInfo:
    """Set (or replace) a case's cadence; `tz` is the caller's Slack time zone."""
    access = open_case(unit, case_id, lock=True, require_open=True)
    schedule = _save_schedule(unit, access.case, cadence, tz)
    _note(
        unit,
        access.case,
        "cadence_set",
        cadence=cadence_of(schedule).describe(),
        tz=schedule.tz,
        next_due_at=schedule.next_due_at,
    )
    _audit_schedule(unit, access.case, schedule, by_default=False)
    return _schedule_info(unit, access.case, schedule)


def turn_off(unit: Unit, *, case_id: int) -> ScheduleInfo:
    access = open_case(unit, case_id, lock=True, require_open=True)
    schedule = repo.schedule_for(session=unit.session, case_id=case_id, lock=True)
    if schedule is None or not schedule.active:
        raise Conflict(
            f"Scheduled reviews of {access.case.ref} are already off. Turn them on with "
            f"`/review {access.case.ref} every 2 weeks`.",
            case_id=case_id,
        )
    schedule.active, schedule.next_due_at = False, None
    schedule.set_by, schedule.updated_at = unit.actor.user_id, unit.now
    unit.session.add(schedule)
    _note(unit, access.case, "cadence_off")
    unit.audit("review.cadence_off", case_id=case_id, target=access.case.ref)
    return _schedule_info(unit, access.case, schedule)


def show_schedule(unit: Unit, *, case_id: int) -> ScheduleInfo:
    access = open_case(unit, case_id)
    schedule = repo.schedule_for(session=unit.session, case_id=case_id)
    unit.audit("review.schedule_viewed", case_id=case_id, target=access.case.ref)
    return _schedule_info(unit, access.case, schedule)


def default_schedule(unit: Unit, case: Case) -> None:
    """New cases get the deployment's default cadence in the creator's Slack time zone
    (users.info, cached); if Slack cannot say, in the clinic's (CARETHREAD_CLINIC_TZ)."""
    settings = unit.deps.settings.section(ReviewSettings)
    if settings.default_cadence is None:
        return
    try:
        tz: str | None = unit.deps.gateway.user(unit.actor.user_id, session=unit.session).tz
    except SlackUnavailable:
        known = unit.session.get(SlackUser, unit.actor.user_id)
        tz = known.tz if known else None
    schedule = _save_schedule(unit, case, settings.default_cadence, tz)
    _audit_schedule(unit, case, schedule, by_default=True)


def _save_schedule(unit: Unit, case: Case, cadence: Cadence, tz: str | None) -> ReviewSchedule:
    """Create or replace the case's schedule; the first due time counts from now."""
    settings = unit.deps.settings.section(ReviewSettings)
    zone = unit.deps.settings.clinic.zone_of(tz)
    resolved = replace(cadence, at=cadence.at or settings.default_at)
    fields: dict[str, Any] = {
        "every": resolved.every,
        "period": resolved.period,
        "weekday": resolved.weekday,
        "at_local": f"{resolved.at:%H:%M}",
        "tz": zone.key,
        "active": True,
        "next_due_at": first_due(resolved, zone, unit.now, default_at=settings.default_at),
        "set_by": unit.actor.user_id,
        "updated_at": unit.now,
    }
    schedule = repo.schedule_for(session=unit.session, case_id=case.id, lock=True)
    if schedule is None:
        schedule = ReviewSchedule(case_id=case.id, **fields)
    else:
        for name, value in fields.items():
            setattr(schedule, name, value)
    unit.session.add(schedule)
    unit.session.flush()
    return schedule


def _audit_schedule(unit: Unit, case: Case, schedule: ReviewSchedule, *, by_default: bool) -> None:
    unit.audit(
        "review.cadence_set",
        case_id=case.id,
        target=case.ref,
        every=schedule.every,
        period=schedule.period,
        weekday=schedule.weekday,
        at=schedule.at_local,
        tz=schedule.tz,
        next_due_at=schedule.next_due_at.isoformat() if schedule.next_due_at else None,
        default=by_default,
    )


# -- starting a review -------------------------------------------------------------------------


def start_now(unit: Unit, *, case_id: int) -> Review:
    access = open_case(unit, case_id, lock=True, require_open=True)
    existing = repo.open_review(session=unit.session, case_id=case_id)
    if existing is not None:
        raise Conflict(
            f"A review of {access.case.ref} is already open. Add your update or record the decision "
            "with the buttons on its prompt in the case thread.",
            case_id=case_id,
        )
    return start_review(unit, access.case, trigger=ReviewTrigger.COMMAND, due_at=unit.now)


def start_review(
    unit: Unit,
    case: Case,
    *,
    trigger: ReviewTrigger,
    due_at: datetime,
    members: Sequence[CaseMember] | None = None,
) -> Review:
    """Open a review: post its prompt in the case thread and plan one nudge per member.

    `members`: the case's team when the caller read it already."""
    if members is None:
        members = cases_repo.members(session=unit.session, case_id=case.id)
    opened = start_reviews(unit, [Opening(case, due_at, members)], trigger=trigger)
    if case.id not in opened:  # uq_reviews_one_open: another process opened one just now
        raise Conflict(f"A review of {case.ref} is already open.", case_id=case.id)
    audit_started(unit, opened[case.id])
    review = repo.get_review(session=unit.session, review_id=opened[case.id].review_id)
    assert review is not None  # inserted in this transaction
    return review


@dataclass(frozen=True)
class Opening:
    """A review to open: its case, due time and team."""

    case: Case
    due_at: datetime
    members: Sequence[CaseMember]


@dataclass(frozen=True)
class Opened:
    """A review start_reviews opened, for its `review.started` event (audit_started)."""

    case_id: int
    review_id: int
    trigger: ReviewTrigger
    due_at: datetime
    members: int


@dataclass(frozen=True)
class _NewReview:
    """What a just-opened review's prompt shows: the fields _prompt_message reads from a
    Review, without loading one."""

    id: int
    case_id: int
    trigger: str
    started_by: str
    due_at: datetime
    status: str = ReviewStatus.OPEN
    decision: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None


def start_reviews(unit: Unit, openings: Sequence[Opening], *, trigger: ReviewTrigger) -> dict[int, Opened]:
    """Open reviews of many cases in one go (the sweep's batch; start_review for one):
    returns case id → the review opened. A case left out already had an open review (another
    process won the race): nothing is posted or planned for it.

    Each statement covers the whole batch (the reviews, their prompts in the outbox, the
    prompts' ids, the nudges); the caller records `review.started` (audit_started) in its
    own order of events."""
    settings = unit.deps.settings.section(ReviewSettings)
    started = repo.insert_open_reviews(
        session=unit.session,
        rows=[
            {
                "case_id": o.case.id,
                "trigger": trigger,
                "due_at": o.due_at,
                "started_at": unit.now,
                "started_by": unit.actor.user_id,
            }
            for o in openings
        ],
    )
    opening = [o for o in openings if o.case.id in started]
    prompts = []
    for o in opening:
        team = [TeamMember(m.user_id, Role(m.role).display, False) for m in o.members]  # nobody answered yet
        review = _NewReview(started[o.case.id], o.case.id, trigger, unit.actor.user_id, o.due_at)
        prompts.append(
            thread_post(o.case, _prompt_message(unit, review, o.case, team), purpose="review_prompt")
        )
    outbox_ids = unit.post_all(prompts)
    repo.set_prompts(
        session=unit.session,
        prompts={started[o.case.id]: outbox_id for o, outbox_id in zip(opening, outbox_ids, strict=True)},
    )
    repo.add_nudges(
        session=unit.session,
        rows=[
            {
                "review_id": started[o.case.id],
                "case_id": o.case.id,
                "user_id": member.user_id,
                "due_at": unit.now + settings.nudge_after,
            }
            for o in opening
            for member in o.members
        ],
    )
    return {
        o.case.id: Opened(o.case.id, started[o.case.id], trigger, o.due_at, len(o.members)) for o in opening
    }


def audit_started(unit: Unit, opened: Opened) -> None:
    unit.audit(
        "review.started",
        case_id=opened.case_id,
        target=f"review:{opened.review_id}",
        trigger=str(opened.trigger),
        due_at=opened.due_at.isoformat(),
        members=opened.members,
    )


# -- updates -----------------------------------------------------------------------------------


def update_form(unit: Unit, *, review_id: int) -> UpdateForm:
    """What the "Add my update" modal shows this member: their role's questions, prefilled
    with their earlier answers if they are revising."""
    review, access, role = _open_review_as_member(unit, review_id, doing="add review updates")
    existing = repo.update_by(session=unit.session, review_id=review_id, user_id=unit.actor.user_id)
    answers = _answers(unit, existing)
    scored = measures.scores_of_update(unit.session, review_update_id=existing.id) if existing else {}
    phq9 = scored.get(Instrument.PHQ9)
    unit.audit("review.update_form_opened", case_id=review.case_id, target=f"review:{review_id}")
    return UpdateForm(
        review_id=review_id,
        case_ref=access.case.ref,
        role_title=Role(role).display,
        fields=[FormField(f, answers.get(f.block.value, "")) for f in fields_for(role)],
        phq9=existing.phq9 if existing else None,
        gad7=existing.gad7 if existing else None,
        revising=existing is not None,
        item9=phq9.item9 if phq9 else None,
        taken_on=next((score.taken_on for score in scored.values()), None),
    )


def add_update(unit: Unit, *, review_id: int, values: UpdateValues) -> ReviewUpdate:
    review, access, role = _open_review_as_member(unit, review_id, doing="add review updates", lock=True)
    fields = fields_for(role)
    answers = {
        f.block.value: values.answers[f.block.value] for f in fields if values.answers.get(f.block.value)
    }
    if not answers and values.phq9 is None and values.gad7 is None:
        raise BadInput("The update was empty: answer at least one question or give a score.", field=None)
    me = unit.actor.user_id
    update = repo.update_by(session=unit.session, review_id=review_id, user_id=me)
    revised = update is not None
    if update is None:
        update = ReviewUpdate(
            review_id=review_id,
            case_id=review.case_id,
            user_id=me,
            role=role,
            answers_enc="",
            submitted_at=unit.now,
        )
    else:
        update.revisions += 1
    update.role = role
    update.answers_enc = unit.deps.cipher.encrypt(json.dumps(answers, ensure_ascii=False))
    update.phq9, update.gad7, update.submitted_at = values.phq9, values.gad7, unit.now
    unit.session.add(update)
    _cancel_nudges(unit, review_id, user_id=me)
    unit.session.flush()
    # The scores become dated measurements of this episode (one per instrument per day).
    for instrument, value in ((Instrument.PHQ9, values.phq9), (Instrument.GAD7, values.gad7)):
        if value is not None:
            measures.record_score(
                unit,
                case_id=review.case_id,
                instrument=instrument,
                value=value,
                item9=values.item9 if instrument == Instrument.PHQ9 else None,
                taken_on=values.taken_on,
                source=ScoreSource.REVIEW,
                review_update_id=update.id,
            )
    message = unit.deps.renderer.message(
        "reviews/review_update",
        ref=access.case.ref,
        user=me,
        role_title=Role(role).display,
        revised=revised,
        answers=[
            (f.label, shown_value(f, answers[f.block.value])) for f in fields if f.block.value in answers
        ],
        phq9=values.phq9,
        gad7=values.gad7,
        item9=values.item9,
        taken_on=values.taken_on.isoformat() if values.taken_on else None,
    )
    post_in_thread(unit, access.case, message, purpose="review_update")
    _refresh_prompt(unit, review, access.case)
    unit.audit(
        "review.update_added",
        case_id=review.case_id,
        target=f"review:{review_id}",
        role=role,
        answered=sorted(answers),
        phq9=values.phq9 is not None,
        gad7=values.gad7 is not None,
        revision=update.revisions,
    )
    return update


# -- the decision ------------------------------------------------------------------------------


def decision_form(unit: Unit, *, review_id: int) -> DecisionForm:
    review, access, role = _open_review_as_member(unit, review_id, doing="record review decisions")
    _require_deciding_role(access, role)
    unit.audit("review.decision_form_opened", case_id=review.case_id, target=f"review:{review_id}")
    return DecisionForm(review_id, access.case.ref, _team(unit, review))


def decide(
    unit: Unit, *, review_id: int, decision: Decision, note: str, plan: RelapsePlan | None = None
) -> Review:
    """Complete the review: record the decision, edit the prompt in place, tell the thread.
    A discharge needs a relapse-prevention plan: it is kept (encrypted) on the review, sent
    with the score course to the team's primary care members by DM, and the case is closed
    (through the cases service, with its own audit)."""
    review, access, role = _open_review_as_member(unit, review_id, doing="record review decisions", lock=True)
    _require_deciding_role(access, role)
    discharge = decision == Decision.DISCHARGE
    if discharge and plan is None:
        raise BadInput(
            "Discharge / close needs a relapse-prevention plan: warning signs, how long to continue "
            "medication, and whom to call.",
            field=BlockId.REVIEW_PLAN_WARNING_SIGNS,
        )
    case = access.case
    review.status, review.decision = ReviewStatus.COMPLETE, decision
    review.decision_note_enc = unit.deps.cipher.encrypt(note)
    review.decided_by, review.decided_at = unit.actor.user_id, unit.now
    if discharge and plan is not None:
        review.relapse_plan_enc = unit.deps.cipher.encrypt(json.dumps(asdict(plan), ensure_ascii=False))
    unit.session.add(review)
    _cancel_nudges(unit, review_id)
    unit.session.flush()
    updates = repo.updates_for(session=unit.session, review_id=review_id)
    _refresh_prompt(unit, review, case)
    pcps = (
        [m.user_id for m in cases_repo.members(session=unit.session, case_id=case.id) if m.role == Role.PCP]
        if discharge
        else []
    )
    post_in_thread(
        unit,
        case,
        unit.deps.renderer.message(
            "reviews/review_decided",
            ref=case.ref,
            actor=unit.actor.user_id,
            decision=decision.display,
            note=note,
            closes=discharge,
            plan=_plan_lines(plan) if discharge and plan is not None else [],
            pcps=pcps,
        ),
        purpose="review_decided",
    )
    unit.audit(
        "review.decided",
        case_id=case.id,
        target=f"review:{review_id}",
        decision=str(decision),
        updates=len(updates),
    )
    if discharge and plan is not None:
        _send_discharge_summary(unit, case, review, plan, pcps)
        close_case(unit, case_id=case.id, reason=DISCHARGE_REASON)
    return review


def _require_deciding_role(access: CaseAccess, role: str) -> None:
    if role not in DECIDING_ROLES:
        raise NotAllowed(
            f"Only the prescriber, the therapist or the case manager on {access.case.ref}'s team records "
            "the review decision. Add your update instead, or ask one of them.",
            case_id=access.case.id,
        )


def _plan_lines(plan: RelapsePlan) -> list[tuple[str, str]]:
    return [(title, getattr(plan, name)) for _, name, title in PLAN_PARTS]


def _send_discharge_summary(
    unit: Unit, case: Case, review: Review, plan: RelapsePlan, pcps: list[str]
) -> None:
    """The primary care member(s) take over after discharge: each gets a DM with the
    relapse-prevention plan and the score course. With none on the team, the thread said so
    (review_decided) and the audit records that no summary went out."""
    scores = measures.course_lines(unit.session, case=case, now=unit.now)
    for user_id in pcps:
        unit.post(
            channel=user_id,
            message=unit.deps.renderer.message(
                "reviews/review_discharge_summary",
                ref=case.ref,
                decided_by=unit.actor.user_id,
                decided_at=unit.now,
                plan=_plan_lines(plan),
                scores=scores,
                url=_thread_url(unit, case),
            ),
            purpose="review_discharge_summary",
            case_id=case.id,
        )
    unit.audit(
        "review.discharge_summary_sent" if pcps else "review.discharge_summary_none",
        case_id=case.id,
        target=f"review:{review.id}",
        recipients=len(pcps),
    )


# -- lists, /case show, App Home ---------------------------------------------------------------


def list_reviews(unit: Unit) -> list[ReviewLine]:
    """My open cases' schedules and open reviews, soonest first."""
    me = unit.actor.user_id
    cases = [case for case, _ in cases_repo.cases_of_user(session=unit.session, user_id=me)]
    ids = [c.id for c in cases]
    schedules = repo.schedules_for(session=unit.session, case_ids=ids)
    reviews = repo.open_reviews_for(session=unit.session, case_ids=ids)
    lines = []
    for case in cases:
        schedule = schedules.get(case.id)
        live = schedule if schedule is not None and schedule.active else None
        review = reviews.get(case.id)
        mine = review is not None and repo.update_by(session=unit.session, review_id=review.id, user_id=me)
        lines.append(
            ReviewLine(
                case_ref=case.ref,
                thread_url=_thread_url(unit, case),
                cadence=cadence_of(live).describe() if live else None,
                tz=live.tz if live else None,
                next_due_at=live.next_due_at if live else None,
                open_since=review.started_at if review else None,
                my_update_in=bool(mine),
            )
        )
    lines.sort(key=lambda line: (line.open_since is None, line.open_since or line.next_due_at or unit.now))
    unit.audit("review.listed", count=len(lines), open=len(reviews))
    return lines


def review_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: the cadence and any open review (the scores are the measures workflow's)."""
    info = _schedule_info(unit, case, repo.schedule_for(session=unit.session, case_id=case.id))
    message = unit.deps.renderer.message("reviews/review_case_section", s=info)
    return [block["text"]["text"] for block in message["blocks"]]


def reviews_waiting(unit: Unit) -> list[WaitingItem]:
    """App Home: my open reviews that have no update from me yet."""
    items = []
    for review, case in repo.waiting_for_user(session=unit.session, user_id=unit.actor.user_id):
        items.append(
            WaitingItem(
                case_ref=case.ref,
                text="Case review waiting for your update",
                url=_thread_url(unit, case),
                sort_key=(2, review.started_at.timestamp()),
            )
        )
    return items


# -- helpers -----------------------------------------------------------------------------------


def _open_review_as_member(
    unit: Unit, review_id: int, *, doing: str, lock: bool = False
) -> tuple[Review, CaseAccess, str]:
    """The open review and the actor's role, if they are on its case's team. A review that
    does not exist and one on a case the actor cannot see are refused in the same words."""
    review = repo.get_review(session=unit.session, review_id=review_id, lock=lock)
    if review is None:
        raise NoAccess(reason="review_not_found")
    try:
        access = open_case(unit, review.case_id, require_open=True)
    except NoAccess as err:  # without the case id: a review id must not reveal its case
        raise NoAccess(reason=err.reason, case_id=err.case_id) from None
    if access.member is None:
        raise NotAllowed(
            f"Only members of {access.case.ref}'s care team can {doing}. Add yourself with "
            f"`/case add {access.case.ref} @you <role>` first.",
            case_id=review.case_id,
        )
    if review.status != ReviewStatus.OPEN:
        decided = Decision(review.decision).display if review.decision else "complete"
        raise Conflict(
            f"This review of {access.case.ref} is complete (decision: {decided}, by <@{review.decided_by}>). "
            f"`/review {access.case.ref} now` starts a new one.",
            case_id=review.case_id,
        )
    return review, access, access.member.role


def _cancel_nudges(unit: Unit, review_id: int, *, user_id: str | None = None) -> None:
    """Nobody is reminded of a review they answered or that is complete."""
    for nudge in repo.nudges_for(session=unit.session, review_id=review_id, status=NudgeStatus.PENDING):
        if user_id is None or nudge.user_id == user_id:
            nudge.status = NudgeStatus.CANCELLED
            unit.session.add(nudge)


def _answers(unit: Unit, update: ReviewUpdate | None) -> dict[str, str]:
    if update is None:
        return {}
    return json.loads(unit.deps.cipher.decrypt(update.answers_enc))


def _team(unit: Unit, review: Review | _NewReview) -> list[TeamMember]:
    answered = {u.user_id for u in repo.updates_for(session=unit.session, review_id=review.id)}
    return [
        TeamMember(m.user_id, Role(m.role).display, m.user_id in answered)
        for m in cases_repo.members(session=unit.session, case_id=review.case_id)
    ]


def _prompt_message(
    unit: Unit, review: Review | _NewReview, case: Case, team: list[TeamMember] | None = None
) -> dict[str, Any]:
    return unit.deps.renderer.message(
        "reviews/review_prompt",
        action=Action,
        ref=case.ref,
        review_id=review.id,
        status=review.status,
        trigger=review.trigger,
        started_by=review.started_by,
        due_at=review.due_at,
        members=_team(unit, review) if team is None else team,
        decision=Decision(review.decision).display if review.decision else None,
        decided_by=review.decided_by,
        decided_at=review.decided_at,
    )


def _refresh_prompt(unit: Unit, review: Review, case: Case) -> None:
    if review.prompt_outbox_id is not None:
        unit.update(
            of=review.prompt_outbox_id,
            message=_prompt_message(unit, review, case),
            purpose="review_prompt",
            case_id=case.id,
        )


def _note(unit: Unit, case: Case, kind: str, **fields: Any) -> None:
    message = unit.deps.renderer.message(
        "reviews/review_note", ref=case.ref, kind=kind, actor=unit.actor.user_id, **fields
    )
    post_in_thread(unit, case, message, purpose=f"review_note:{kind}")


def _thread_url(unit: Unit, case: Case) -> str | None:
    return thread_url(cases_repo.thread_root(session=unit.session, case=case))


def _schedule_info(unit: Unit, case: Case, schedule: ReviewSchedule | None) -> ScheduleInfo:
    review = repo.open_review(session=unit.session, case_id=case.id)
    team = _team(unit, review) if review else []
    live = schedule if schedule is not None and schedule.active else None
    return ScheduleInfo(
        case_ref=case.ref,
        active=live is not None,
        cadence=cadence_of(live).describe() if live else None,
        tz=live.tz if live else None,
        next_due_at=live.next_due_at if live else None,
        open_since=review.started_at if review else None,
        answered=sum(1 for m in team if m.answered),
        team=len(team),
        thread_url=_thread_url(unit, case),
    )
