"""Measurement-based care: dated scores, episodes of care, PHQ-9 item 9 alerts.

Use-cases take a Unit: state is saved, audited and every message queued in the outbox in
the same transaction. The arithmetic (bands, change, response, remission, not improving)
is in scales.py; the registry built on these summaries is in registry.py.

Other workflows read the course of a case through `episode_summary(s)` and
`not_improving(...)`; the review update form records its scores through `record_score`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.access import case_ref, open_case, require_role
from bot.cases.service import post_in_thread
from bot.contributions import CaseButton, WaitingItem
from bot.errors import BadInput, Conflict, NoAccess, NotAllowed
from bot.ids import Action
from bot.measures.commands import SCORE_USAGE
from bot.measures.scales import SCALES, Course
from bot.oncall.service import covering, urgent_recipients
from bot.side_effects.service import is_prescriber, open_risk_line, team_of
from bot.side_effects.settings import SideEffectSettings, deadlines
from bot.slack import SlackUnavailable
from bot.unit import Unit
from storage import cases as cases_repo
from storage import measures as repo
from storage.cases import Case, Role
from storage.core import SlackUser
from storage.measures import (
    AlertStatus,
    EpisodeStart,
    Instrument,
    Item9Alert,
    Item9Notice,
    Score,
    ScoreSource,
)
from storage.reads import remembered
from storage.side_effects import Severity

SAFETY_WORKFLOW = "safety"  # bot/safety, when the deployment has it


# -- episodes ------------------------------------------------------------------------------------


def on_case_created(unit: Unit, case: Case) -> None:
    """A new case starts its first episode of care."""
    _start_episode(unit, case, EpisodeStart.CREATED, at=case.created_at)


def on_case_reopened(unit: Unit, case: Case) -> None:
    """A reopened case starts a new episode: baseline, change and weeks count from here."""
    _start_episode(unit, case, EpisodeStart.REOPENED, at=unit.now)


def _start_episode(unit: Unit, case: Case, reason: EpisodeStart, *, at: datetime) -> repo.Episode:
    current = repo.current_episode(session=unit.session, case_id=case.id)
    episode = repo.Episode(
        case_id=case.id,
        number=(current.number + 1) if current else 1,
        started_at=at,
        started_on=at.astimezone(unit.deps.settings.clinic.zone).date(),
        reason=reason,
    )
    unit.session.add(episode)
    unit.session.flush()
    unit.audit(
        "score.episode_started", case_id=case.id, target=case.ref, episode=episode.number, reason=str(reason)
    )
    return episode


def _episode_for(unit: Unit, case: Case) -> repo.Episode:
    """The case's current episode; a case from before episodes were kept gets its first one
    from its creation."""
    return repo.current_episode(session=unit.session, case_id=case.id) or _start_episode(
        unit, case, EpisodeStart.CREATED, at=case.created_at
    )


# -- summaries (read by the registry, the digest, /case show, reviews) ----------------------------


@dataclass(frozen=True)
class EpisodeSummary:
    """A case's current episode of care and each instrument's course in it."""

    case_id: int
    case_ref: str
    episode: int
    started_at: datetime
    reopened: bool
    weeks: int
    courses: dict[str, Course] = field(default_factory=dict)

    @property
    def phq9(self) -> Course | None:
        return self.courses.get(Instrument.PHQ9)

    @property
    def gad7(self) -> Course | None:
        return self.courses.get(Instrument.GAD7)

    @property
    def auditc(self) -> Course | None:
        return self.courses.get(Instrument.AUDITC)

    @property
    def last_score_on(self) -> date | None:
        return max((c.last_on for c in self.courses.values()), default=None)

    @property
    def not_improving_scales(self) -> list[str]:
        return [c.scale.name for c in (self.phq9, self.gad7) if c is not None and c.not_improving]

    @property
    def not_improving(self) -> bool:
        return bool(self.not_improving_scales)


def episode_summaries(session: Session, *, cases: Sequence[Case], now: datetime) -> dict[int, EpisodeSummary]:
    """Every case's current-episode summary in three queries, however many cases."""
    episodes = repo.current_episodes(session=session, case_ids=[c.id for c in cases])
    scores = repo.episode_scores(session=session, episode_ids=[e.id for e in episodes.values()])
    found = {}
    for case in cases:
        episode = episodes.get(case.id)
        started_at = episode.started_at if episode else case.created_at
        by_instrument: dict[str, list[Score]] = {}
        for score in scores.get(episode.id, []) if episode else []:
            by_instrument.setdefault(score.instrument, []).append(score)
        courses = {
            instrument: Course(
                scale=SCALES[instrument],
                values=tuple(s.value for s in rows),
                dates=tuple(s.taken_on for s in rows),
                started_at=started_at,
                now=now,
            )
            for instrument, rows in by_instrument.items()
            if instrument in SCALES
        }
        found[case.id] = EpisodeSummary(
            case_id=case.id,
            case_ref=case.ref,
            episode=episode.number if episode else 1,
            started_at=started_at,
            reopened=bool(episode and episode.reason == EpisodeStart.REOPENED),
            weeks=max(0, (now - started_at).days // 7),
            courses=courses,
        )
    return found


def episode_summary(session: Session, *, case: Case, now: datetime) -> EpisodeSummary:
    """One case's current episode (for /case show, a discharge summary, a consultation);
    computed once per transaction until it writes (storage/reads.py): `/case show` asks for
    its scores section and for its consultation button."""
    return remembered(
        session,
        ("episode_summary", case.id, now),
        lambda: episode_summaries(session, cases=[case], now=now)[case.id],
    )


def course_lines(session: Session, *, case: Case, now: datetime) -> list[str]:
    """One line per instrument scored this episode, citing its scale ("PHQ-9 4/27 minimal ·
    18 → 4 · …"): what a discharge summary and a consultation show of the score course."""
    return summary_lines(episode_summary(session, case=case, now=now))


def summary_lines(summary: EpisodeSummary) -> list[str]:
    """`course_lines` of a summary already in hand."""
    return [course.summary() for key in SCALES if (course := summary.courses.get(key)) is not None]


def not_improving(session: Session, *, cases: Sequence[Case], now: datetime) -> dict[int, list[str]]:
    """{case id: the scales (PHQ-9, GAD-7) by which it is not improving}, flagged cases only."""
    summaries = episode_summaries(session, cases=cases, now=now)
    return {cid: s.not_improving_scales for cid, s in summaries.items() if s.not_improving}


def score_status(summary: EpisodeSummary, today: date) -> str:
    """How long since the last measurement, in words that never imply "on track" without data:
    "no score yet" or "last PHQ-9 3 weeks ago"."""
    latest = summary.phq9 or summary.gad7 or summary.auditc
    if latest is None:
        return "no score yet"
    return f"last {latest.scale.name} {_ago(today, latest.last_on)}"


def _ago(today: date, then: date) -> str:
    days = (today - then).days
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    return f"{days // 7} weeks ago"


# -- recording a score ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    case_ref: str
    course: Course
    value: int
    taken_on: date
    item9: int | None
    previous_value: int | None  # the score this one replaced (same instrument, same day)
    alert: Item9Alert | None
    recipients: AlertRecipients | None = None  # who the alert reached, so the reply says so truly


def person_today(unit: Unit) -> date:
    """Today in the person's Slack time zone (users.info, cached); the clinic's if unknown."""
    try:
        tz: str | None = unit.deps.gateway.user(unit.actor.user_id, session=unit.session).tz
    except SlackUnavailable:
        known = unit.session.get(SlackUser, unit.actor.user_id)
        tz = known.tz if known else None
    zone: ZoneInfo = unit.deps.settings.clinic.zone_of(tz)
    return unit.now.astimezone(zone).date()


def record_score(
    unit: Unit,
    *,
    case_id: int,
    instrument: Instrument,
    value: int,
    item9: int | None = None,
    taken_on: date | None = None,
    source: ScoreSource = ScoreSource.COMMAND,
    review_update_id: int | None = None,
) -> Recorded:
    """Save one dated score. One per instrument per date: a second for the same date
    replaces the first (audited with who entered each). PHQ-9 item 9 of 1 or more alerts the
    prescribers and asks the person who entered it for a safety assessment."""
    access = open_case(unit, case_id, lock=True, require_open=True)
    case = access.case
    if access.member is None:
        raise NotAllowed(
            f"Only members of {case.ref}'s care team can record scores. Add yourself with "
            f"`/case add {case.ref} @you <role>` first.",
            case_id=case_id,
        )
    scale = SCALES[instrument]
    if value < 0 or value > scale.maximum:
        raise BadInput(f"The {scale.name} total is from 0 to {scale.maximum}.", usage=SCORE_USAGE[instrument])
    if item9 is not None and instrument != Instrument.PHQ9:
        raise BadInput("Item 9 belongs to the PHQ-9 only.", usage=SCORE_USAGE[instrument])
    if item9 is not None and item9 > value:
        # Item 9 is one of the nine items summed into the total, so it can never exceed it.
        raise BadInput(
            f"Item 9 ({item9}) cannot be more than the PHQ-9 total ({value}): item 9 is part of the total. "
            "Check both numbers and enter them again.",
            usage=SCORE_USAGE[instrument],
        )
    today = person_today(unit)
    day = taken_on or today
    episode = _episode_for(unit, case)
    problems = []
    if day > today:
        problems.append(f"{day.isoformat()} is in the future (today is {today.isoformat()} where you are).")
    if day < episode.started_on:
        began = "reopened" if episode.reason == EpisodeStart.REOPENED else "created"
        problems.append(
            f"{day.isoformat()} is before this episode of care began ({case.ref} was {began} on "
            f"{episode.started_on.isoformat()}); scores are kept per episode."
        )
    if problems:
        raise BadInput(" ".join(problems), usage=SCORE_USAGE[instrument])
    existing = repo.score_on(session=unit.session, case_id=case_id, instrument=instrument, taken_on=day)
    previous = (existing.value, existing.entered_by, existing.item9) if existing else None
    score = existing or Score(
        case_id=case_id,
        episode_id=episode.id,
        instrument=instrument,
        value=value,
        taken_on=day,
        entered_by=unit.actor.user_id,
        entered_at=unit.now,
        source=source,
    )
    if existing is not None:
        score.replaced += 1
    score.episode_id, score.value, score.item9 = episode.id, value, item9
    score.entered_by, score.entered_at, score.source = unit.actor.user_id, unit.now, source
    score.review_update_id = review_update_id
    unit.session.add(score)
    try:
        unit.session.flush()
    except IntegrityError:  # another entry for the same day committed just now
        raise Conflict(
            f"Another {scale.name} for {case.ref} on {day.isoformat()} was saved just now. Run the "
            "command again to replace it.",
            case_id=case_id,
        ) from None
    unit.audit(
        "score.replaced" if previous else "score.recorded",
        case_id=case_id,
        target=f"score:{score.id}",
        instrument=str(instrument),
        scale=scale.name,
        taken_on=day.isoformat(),
        episode=episode.number,
        source=str(source),
        item9_given=item9 is not None,
        replaced_entry_by=previous[1] if previous else None,
    )
    summary = episode_summary(unit.session, case=case, now=unit.now)
    course = summary.courses[instrument]
    # A correction of the same day's PHQ-9 alerts again only if item 9 went up (a revised review
    # update or a retyped command must not page the prescribers twice for the same answer).
    already = previous[2] if previous and previous[2] is not None else 0
    raised = (
        _raise_item9_alert(unit, case, score)
        if item9 is not None and item9 >= 1 and item9 > already
        else None
    )
    alert, recipients = raised if raised else (None, None)
    if source != ScoreSource.REVIEW:  # a review update posts its own scores in the thread
        post_in_thread(
            unit,
            case,
            unit.deps.renderer.message(
                "measures/score_posted",
                ref=case.ref,
                user=unit.actor.user_id,
                scale=scale,
                value=value,
                band=scale.band(value),
                taken_on=day.isoformat(),
                item9=item9,
                replaced=previous is not None,
                summary=course.summary(),
                alert=recipients,
            ),
            purpose="score_posted",
        )
    return Recorded(
        case_ref=case.ref,
        course=course,
        value=value,
        taken_on=day,
        item9=item9,
        previous_value=previous[0] if previous else None,
        alert=alert,
        recipients=recipients,
    )


def scores_of_update(session: Session, *, review_update_id: int) -> dict[str, Score]:
    """The dated scores a review update recorded (to prefill its form when revised)."""
    return {
        s.instrument: s for s in repo.scores_of_update(session=session, review_update_id=review_update_id)
    }


def show_scores(unit: Unit, *, case_id: int) -> tuple[EpisodeSummary, list[Course]]:
    """`/score <case>`: the current episode's courses, audited as a read."""
    access = open_case(unit, case_id)
    summary = episode_summary(unit.session, case=access.case, now=unit.now)
    unit.audit("score.viewed", case_id=case_id, target=access.case.ref, episode=summary.episode)
    return summary, [c for key in SCALES if (c := summary.courses.get(key)) is not None]


def scores_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: each instrument's course this episode, citing its scale."""
    summary = episode_summary(unit.session, case=case, now=unit.now)
    message = unit.deps.renderer.message(
        "measures/score_section", s=summary, courses=[c for k in SCALES if (c := summary.courses.get(k))]
    )
    return [block["text"]["text"] for block in message["blocks"] if block.get("type") == "section"]


# -- PHQ-9 item 9 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecipients:
    users: list[str]
    prescribers: bool  # False: no prescriber on the team, these are the fallback
    on_call: list[str] = field(default_factory=list)  # outside working hours: the person on call

    @property
    def everyone(self) -> list[str]:
        return [*self.users, *self.on_call]


def alert_item(alert: Item9Alert) -> str:
    """The alert's name for on-call routing and cover grants (bot/oncall): `item9:<id>`."""
    return f"item9:{alert.id}"


def item9_recipients(unit: Unit, case: Case, alert: Item9Alert) -> AlertRecipients:
    """Who is alerted to a PHQ-9 item 9 of 1 or more: every prescriber on the team (or, when
    there is none, the case managers or the case's creator, as for side effects), and outside
    working hours the person on call too (bot/oncall `urgent_recipients`, which gives them a
    cover grant to acknowledge it, or tells the admin channel when nobody is on call). The one
    place that chooses, for the alert and each step of its chase."""
    team = team_of(unit, case)
    users = list(team.prescribers) or team.fallback()
    route = urgent_recipients(unit, case, item=alert_item(alert))
    on_call = [u for u in route.on_call if u not in users]
    return AlertRecipients(users, bool(team.prescribers), on_call)


def _raise_item9_alert(unit: Unit, case: Case, score: Score) -> tuple[Item9Alert, AlertRecipients]:
    rules = deadlines(unit.deps.settings)
    ack_due = rules.ack_due(Severity.URGENT, unit.now)
    alert = Item9Alert(
        case_id=case.id,
        score_id=score.id,
        item9=score.item9 or 0,
        taken_on=score.taken_on,
        entered_by=unit.actor.user_id,
        created_at=unit.now,
        ack_due_at=ack_due,
        escalate_at=rules.escalate_at(Severity.URGENT, ack_due),
        next_escalation_at=ack_due,
    )
    unit.session.add(alert)
    unit.session.flush()
    recipients = item9_recipients(unit, case, alert)
    for user_id in recipients.users:
        notify(unit, alert, case, user_id, "alert" if recipients.prescribers else "fallback")
    for user_id in recipients.on_call:
        notify(unit, alert, case, user_id, "on_call")
    unit.audit(
        "score.item9_alert",
        case_id=case.id,
        target=f"item9:{alert.id}",
        recipients=len(recipients.everyone),
        on_call=len(recipients.on_call),
        to_prescribers=recipients.prescribers,
        ack_due=ack_due.isoformat(),
    )
    has_safety = any(w.name == SAFETY_WORKFLOW for w in unit.deps.workflows)
    unit.post(
        channel=unit.actor.user_id,
        message=unit.deps.renderer.message(
            "measures/item9_prompt",
            ref=case.ref,
            case_id=case.id,
            item9=alert.item9,
            taken_on=alert.taken_on.isoformat(),
            alerted=recipients.users,
            on_call=recipients.on_call,
            to_prescribers=recipients.prescribers,
            safety=has_safety,
            action=Action,
            crisis_text=unit.deps.settings.section(SideEffectSettings).crisis_text,
        ),
        purpose="item9_prompt",
        case_id=case.id,
    )
    unit.audit("score.safety_prompted", case_id=case.id, target=f"item9:{alert.id}", workflow=has_safety)
    return alert, recipients


def _alert_message(unit: Unit, alert: Item9Alert, case: Case, kind: str) -> dict[str, Any]:
    return unit.deps.renderer.message(
        "measures/item9_alert",
        a=alert,
        ref=case.ref,
        kind=kind,
        prescribers=team_of(unit, case).prescribers,
        action=Action,
        deadline=deadlines(unit.deps.settings).describe(Severity.URGENT),
        add_prescriber=f"`/case add {case.ref} @someone prescriber`",
    )


def notify(unit: Unit, alert: Item9Alert, case: Case, user_id: str, kind: str) -> None:
    """A DM about an alert, remembered so that it can be updated in place, and audited."""
    message = unit.post(
        channel=user_id,
        message=_alert_message(unit, alert, case, kind),
        purpose=f"item9_{kind}",
        case_id=case.id,
    )
    unit.session.add(Item9Notice(alert_id=alert.id, user_id=user_id, kind=kind, outbox_id=message.id))
    unit.audit("score.item9_notified", case_id=case.id, target=f"user:{user_id}", alert=alert.id, kind=kind)


def _refresh_notices(unit: Unit, alert: Item9Alert, case: Case) -> None:
    """Every DM about the alert shows its state; no stale Acknowledge button invites a click."""
    for notice in repo.notices(session=unit.session, alert_id=alert.id):
        unit.update(
            of=notice.outbox_id,
            message=_alert_message(unit, alert, case, notice.kind),
            purpose=f"item9_{notice.kind}",
            case_id=case.id,
        )


def acknowledge_alert(unit: Unit, *, alert_id: int) -> Item9Alert:
    """A prescriber on the team (or the person on call it was routed to after hours, while
    their shift lasts) has seen the item 9 alert: the urgent clock stops."""
    alert = repo.get_alert(session=unit.session, alert_id=alert_id, lock=True)
    if alert is None:
        raise NoAccess(reason="not_found")
    case = _case_for_acknowledger(unit, alert)
    if alert.status != AlertStatus.OPEN:
        raise Conflict(
            f"This item 9 alert on {case.ref} was already acknowledged by <@{alert.acknowledged_by}>.",
            case_id=alert.case_id,
        )
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = unit.actor.user_id, unit.now
    alert.next_escalation_at = None
    unit.session.add(alert)
    unit.audit(
        "score.item9_acknowledged",
        case_id=alert.case_id,
        target=f"item9:{alert.id}",
        late=unit.now > alert.ack_due_at,
    )
    _refresh_notices(unit, alert, case)
    unit.post(
        channel=alert.entered_by,
        message=_alert_message(unit, alert, case, "acknowledged"),
        purpose="item9_acknowledged",
        case_id=alert.case_id,
    )
    return alert


def _case_for_acknowledger(unit: Unit, alert: Item9Alert) -> Case:
    """A prescriber on the team, or the person on call holding a cover grant for this alert
    (bot/oncall `covering`, audited); anyone else is refused as before."""
    if not is_prescriber(unit, alert.case_id) and covering(
        unit, case_id=alert.case_id, item=alert_item(alert)
    ):
        case = cases_repo.get_case(session=unit.session, case_id=alert.case_id)
        assert case is not None  # an alert's case is never deleted (foreign key)
        return case
    try:
        access = open_case(unit, alert.case_id)
    except NoAccess as err:  # the same words as an alert that does not exist
        raise NoAccess(reason=err.reason, case_id=alert.case_id) from None
    require_role(access, Role.PRESCRIBER, "acknowledge PHQ-9 item 9 alerts")
    return access.case


def alerts_waiting(unit: Unit) -> list[WaitingItem]:
    """App Home: open item 9 alerts waiting for my acknowledgement (prescribers on the team),
    most urgent of all waiting items."""
    return [
        WaitingItem(
            case_ref=case_ref(alert.case_id),
            text="Urgent PHQ-9 item 9 alert waiting for acknowledgement",
            sort_key=(0, alert.created_at.timestamp(), alert.id),
        )
        for alert in repo.open_alerts_notified_to(session=unit.session, user_id=unit.actor.user_id)
        if (
            member := cases_repo.membership(
                session=unit.session, case_id=alert.case_id, user_id=unit.actor.user_id
            )
        )
        and member.role == Role.PRESCRIBER  # who can acknowledge it
    ]


def covered_waiting(unit: Unit, alert_ids: Sequence[int]) -> list[WaitingItem]:
    """App Home for the person on call (Workflow.cover_items, asked by bot/oncall): the
    covered item 9 alerts still open, with Acknowledge. Ids only."""
    return [
        WaitingItem(
            case_ref=case_ref(alert.case_id),
            text=f"Urgent PHQ-9 item 9 alert {alert.ref}: you are on call, waiting for acknowledgement",
            sort_key=(0, alert.created_at.timestamp(), alert.id),
            button=CaseButton("Acknowledge", Action.SCORE_ITEM9_ACK, str(alert.id)),
        )
        for alert in repo.open_alerts_by_ids(session=unit.session, alert_ids=alert_ids)
    ]


def urgent_open_alerts(session: Session, case_ids: Sequence[int]) -> dict[int, int]:
    """Open item 9 alerts rank a case first in the digest and the registry."""
    return repo.open_alert_counts(session=session, case_ids=case_ids)


def open_item9_risks(session: Session, case: Case) -> list[str]:
    """What closing the case would leave behind (Workflow.open_risks): item 9 alerts nobody
    has acknowledged yet. Ids and statuses only, worded like the
    relays' open reports."""
    return [
        open_risk_line("PHQ-9 item 9 alert", alert.ref, acknowledged=False)
        for alert in repo.open_alerts_for(session=session, case_ids=[case.id])
    ]
