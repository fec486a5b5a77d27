"""The review sweeps: due reviews, nudges and the weekly digest, each claimed once.

Each step selects its due rows through storage.claims.lock_due and, in the same unit, moves
every row to its next state (a schedule's next due time past now, a nudge sent or deferred,
the digest's next time) together with the messages and audit events of that step. So two
processes on one database post each review once, and a sweep after downtime posts a missed
review once and moves the schedule to its next future slot instead of replaying every
missed period.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from bot.auditlog import Source
from bot.cases.service import post_in_thread, thread_url
from bot.contributions import button_providers, note_providers, urgent_providers
from bot.deps import Deps
from bot.ids import Action
from bot.reviews import caseload
from bot.reviews.cadence import first_due, next_due_after
from bot.reviews.service import Opening, audit_started, cadence_of, start_reviews
from bot.reviews.settings import ReviewSettings
from bot.slack import SlackUnavailable
from bot.unit import Actor, Unit
from storage import cases as cases_repo
from storage import reviews as repo
from storage.cases import Case, CaseMember, CaseStatus
from storage.claims import lock_due
from storage.core import SlackUser
from storage.db import session_scope
from storage.reviews import (
    NudgeStatus,
    Review,
    ReviewDigest,
    ReviewNudge,
    ReviewSchedule,
    ReviewStatus,
    ReviewTrigger,
)

log = logging.getLogger(__name__)
BATCH = 100


def _scheduler() -> Actor:
    return Actor.app(Source.SCHEDULER)


# -- due reviews -------------------------------------------------------------------------------


def fire_due_reviews(deps: Deps) -> int:
    """Post every review that has come due; returns how many schedules fired."""
    settings = deps.settings.section(ReviewSettings)
    total = 0
    while True:
        with deps.unit(_scheduler()) as unit:
            schedules = lock_due(unit.session, repo.due_schedules(now=unit.now), limit=BATCH)
            _fire_batch(unit, schedules, settings, _Batch.read(unit, schedules))
        total += len(schedules)
        if len(schedules) < BATCH:
            return total


@dataclass(frozen=True)
class _Batch:
    """What firing a batch of schedules reads, in one query each instead of one per schedule."""

    cases: dict[int, Case]
    open_reviews: dict[int, Review]
    teams: dict[int, list[CaseMember]]

    @classmethod
    def read(cls, unit: Unit, schedules: list[ReviewSchedule]) -> _Batch:
        ids = [s.case_id for s in schedules]
        session = unit.session
        return cls(
            cases_repo.cases_by_id(session=session, case_ids=ids),
            repo.open_reviews_for(session=session, case_ids=ids),
            cases_repo.members_of(session=session, case_ids=ids),
        )


def _fire_batch(unit: Unit, schedules: list[ReviewSchedule], settings: ReviewSettings, batch: _Batch) -> None:
    """Move each claimed schedule to its next due time and open its review, the whole batch
    in a few statements (start_reviews); a case whose last review is still open (or that
    `/review now` on another replica opened just now) is told it is overdue instead. Events
    are recorded schedule by schedule, as if each had fired alone."""
    moved = []
    for schedule in schedules:
        case = batch.cases.get(schedule.case_id)
        due = schedule.next_due_at
        assert case is not None and due is not None  # the due query guarantees both
        following, missed = next_due_after(
            cadence_of(schedule),
            unit.deps.settings.clinic.zone_of(schedule.tz),
            due,
            unit.now,
            default_at=settings.default_at,
        )
        moved.append((case, due, following, missed))
    repo.move_schedules(
        session=unit.session, schedules=schedules, to=[following for _, _, following, _ in moved]
    )
    opened = start_reviews(
        unit,
        [
            Opening(case, due, batch.teams[case.id])
            for case, due, _, _ in moved
            if case.id not in batch.open_reviews
        ],
        trigger=ReviewTrigger.SCHEDULE,
    )
    for case, due, following, missed in moved:
        review = opened.get(case.id)
        if review is None:
            # One open review at a time: the team is still on the last one. Instead of staying
            # silent, the thread is told it is overdue and who has not answered; the schedule
            # row claimed above moves on in this unit, so each due time bumps once.
            _bump_open_review(unit, case, due=due, following=following)
            continue
        audit_started(unit, review)
        unit.audit(
            "review.fired",
            case_id=case.id,
            target=f"review:{review.review_id}",
            due_at=due.isoformat(),
            missed_periods=missed,
            next_due_at=following.isoformat(),
        )


def _bump_open_review(unit: Unit, case: Case, *, due: datetime, following: datetime) -> None:
    """The next review fell due while the last one is still open: say so in the case thread,
    mentioning the members who have not added an update yet."""
    review = repo.open_review(session=unit.session, case_id=case.id)
    if review is None or review.started_at >= due:
        # Completed meanwhile, or just opened for this very due time (`/review now` on another
        # replica won the race): nothing is overdue.
        unit.audit(
            "review.due_while_open",
            case_id=case.id,
            target=case.ref,
            due_at=due.isoformat(),
            next_due_at=following.isoformat(),
        )
        return
    answered = {u.user_id for u in repo.updates_for(session=unit.session, review_id=review.id)}
    waiting = [
        m.user_id
        for m in cases_repo.members(session=unit.session, case_id=case.id)
        if m.user_id not in answered
    ]
    days = max(0, (unit.now - review.due_at).days)
    post_in_thread(
        unit,
        case,
        unit.deps.renderer.message(
            "reviews/review_overdue",
            ref=case.ref,
            review_id=review.id,
            days=days,
            started_at=review.started_at,
            waiting=waiting,
            action=Action,
        ),
        purpose="review_overdue",
    )
    unit.audit(
        "review.due_while_open",
        case_id=case.id,
        target=f"review:{review.id}",
        due_at=due.isoformat(),
        next_due_at=following.isoformat(),
        overdue_days=days,
        waiting=len(waiting),
    )


# -- nudges ------------------------------------------------------------------------------------


def send_due_nudges(deps: Deps) -> int:
    """DM each member who has not answered once, inside their working hours; returns how
    many nudges were sent."""
    settings = deps.settings.section(ReviewSettings)
    _learn_time_zones(deps)
    sent = 0
    while True:
        with deps.unit(_scheduler()) as unit:
            nudges = lock_due(unit.session, repo.due_nudges(now=unit.now), limit=BATCH)
            for nudge in nudges:
                sent += _nudge(unit, nudge, settings)
        if len(nudges) < BATCH:
            return sent


def _learn_time_zones(deps: Deps) -> None:
    """users.info for whoever may be nudged, before any row is locked: the gateway opens its
    own session and calls Slack, neither of which may happen inside the claiming unit."""
    with session_scope(deps.engine) as session:
        users = repo.due_nudge_users(session=session, now=deps.clock.now())
    for user_id in users:
        try:
            deps.gateway.user(user_id)
        except SlackUnavailable:
            log.warning("users.info failed for %s; its nudge uses the clinic's time zone", user_id)


def _nudge(unit: Unit, nudge: ReviewNudge, settings: ReviewSettings) -> int:
    review = unit.session.get(Review, nudge.review_id)
    case = unit.session.get(Case, nudge.case_id)
    person = unit.session.get(SlackUser, nudge.user_id)
    reason = None
    if review is None or review.status != ReviewStatus.OPEN:
        reason = "review_complete"
    elif case is None or case.status != CaseStatus.OPEN:
        reason = "case_closed"
    elif cases_repo.membership(session=unit.session, case_id=nudge.case_id, user_id=nudge.user_id) is None:
        reason = "left_team"
    elif repo.update_by(session=unit.session, review_id=nudge.review_id, user_id=nudge.user_id) is not None:
        reason = "answered"
    elif person is not None and (person.is_bot or person.deleted):
        reason = "not_a_person"
    target = f"user:{nudge.user_id}"
    if reason is not None:
        nudge.status = NudgeStatus.CANCELLED
        unit.session.add(nudge)
        unit.audit("review.nudge_cancelled", case_id=nudge.case_id, target=target, reason=reason)
        return 0
    clinic = unit.deps.settings.clinic
    zone = clinic.zone_of(person.tz if person else None)
    opens = clinic.working_hours.next_open(unit.now, zone)
    if opens > unit.now:
        nudge.due_at = opens
        unit.session.add(nudge)
        unit.audit(
            "review.nudge_deferred",
            case_id=nudge.case_id,
            target=target,
            until=opens.isoformat(),
            tz=zone.key,
        )
        return 0
    assert review is not None and case is not None
    unit.post(
        channel=nudge.user_id,
        message=unit.deps.renderer.message(
            "reviews/review_nudge",
            action=Action,
            ref=case.ref,
            review_id=review.id,
            started_at=review.started_at,
            url=thread_url(cases_repo.thread_root(session=unit.session, case=case)),
        ),
        purpose="review_nudge",
        case_id=case.id,
    )
    nudge.status, nudge.sent_at = NudgeStatus.SENT, unit.now
    unit.session.add(nudge)
    unit.audit("review.nudged", case_id=case.id, target=target, review=review.id, tz=zone.key)
    return 1


# -- the weekly digest -------------------------------------------------------------------------


def post_weekly_digest(deps: Deps) -> int:
    """Post the caseload digest when its weekly time has come; returns how many were posted.

    The one `review_digests` row is the claim: locked, checked and moved to the next week in
    the unit that queues the digests.
    """
    settings = deps.settings.section(ReviewSettings)
    rule = settings.digest
    zone = deps.settings.clinic.zone
    if rule is None:
        return 0
    with deps.unit(_scheduler()) as unit:
        rows = lock_due(unit.session, repo.weekly_digest_row(), limit=1)
        if not rows:  # another process holds it, or the migration's row is missing
            if unit.session.get(ReviewDigest, repo.WEEKLY_DIGEST) is None:
                unit.session.add(ReviewDigest(name=repo.WEEKLY_DIGEST))
            return 0
        row: ReviewDigest = rows[0]
        following = first_due(rule.cadence, zone, unit.now, default_at=rule.at)
        if row.rule != rule.describe(zone.key) or row.next_at is None:
            row.rule, row.next_at = rule.describe(zone.key), following
            unit.session.add(row)
            unit.audit(
                "review.digest_scheduled",
                target="digest:weekly",
                rule=row.rule,
                next_at=following.isoformat(),
            )
            return 0
        if row.next_at > unit.now:
            return 0
        posted = _post_digests(unit, settings)
        row.last_sent_at, row.next_at = unit.now, following
        unit.session.add(row)
        return posted


def _post_digests(unit: Unit, settings: ReviewSettings) -> int:
    """One digest per care-team channel with that channel's open cases (the channel already
    holds those case threads), or one of every open case to CARETHREAD_DIGEST_CHANNEL."""
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in repo.open_cases(session=unit.session):
        groups[settings.digest_channel or case.home_channel].append(case)
    if settings.digest_channel and not groups:
        groups[settings.digest_channel] = []
    for channel, cases in sorted(groups.items()):
        digest = caseload.build_digest(
            unit.session,
            cases=cases,
            now=unit.now,
            settings=settings,
            urgent_items=urgent_providers(unit.deps),
            digest_notes=note_providers(unit.deps),
            buttons=button_providers(unit.deps),
            clinic=unit.deps.settings.clinic,
        )
        unit.post(
            channel=channel,
            message=unit.deps.renderer.message(
                "reviews/review_digest", digest=digest, scope="weekly", now=unit.now
            ),
            purpose="review_digest",
        )
        unit.audit(
            "review.digest_posted",
            target=f"channel:{channel}",
            cases=digest.total,
            urgent=digest.urgent,
            not_improving=digest.not_improving,
            overdue=digest.overdue,
            new=digest.new,
        )
    return len(groups)
