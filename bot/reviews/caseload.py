"""The caseload digest: open cases ranked the way Collaborative Care's systematic case review
walks them (urgent open side effects first, then cases not improving, overdue reviews, new
cases), with counts and a link to each case thread.

Other workflows feed the first criterion through the `urgent_items` they declare
(bot/contributions.py): given a session and case ids, how many urgent items are open on
each case. Nothing here imports those workflows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from bot.cases.service import thread_url
from bot.contributions import UrgentItems
from bot.deps import Deps
from bot.errors import NotAllowed
from bot.reviews.scores import assess, trend
from bot.reviews.settings import ReviewSettings
from bot.unit import Unit
from storage import cases as cases_repo
from storage import reviews as repo
from storage.cases import Case

MAX_LINES = 40


@dataclass(frozen=True)
class DigestLine:
    case_id: int
    ref: str
    url: str | None
    urgent: int
    not_improving: bool
    overdue: bool
    new: bool
    phq9: str | None
    open_since: datetime | None
    next_due_at: datetime | None

    @property
    def rank(self) -> tuple[int, bool, bool, bool, int]:
        return (-self.urgent, not self.not_improving, not self.overdue, not self.new, self.case_id)

    @property
    def flagged(self) -> bool:
        return bool(self.urgent or self.not_improving or self.overdue or self.new)


@dataclass(frozen=True)
class Digest:
    lines: list[DigestLine]

    @property
    def total(self) -> int:
        return len(self.lines)

    @property
    def urgent(self) -> int:
        return sum(1 for line in self.lines if line.urgent)

    @property
    def not_improving(self) -> int:
        return sum(1 for line in self.lines if line.not_improving)

    @property
    def overdue(self) -> int:
        return sum(1 for line in self.lines if line.overdue)

    @property
    def new(self) -> int:
        return sum(1 for line in self.lines if line.new)

    @property
    def shown(self) -> list[DigestLine]:
        return self.lines[:MAX_LINES]


def urgent_providers(deps: Deps) -> list[UrgentItems]:
    """Every workflow's count of urgent open items per case (urgent side effects, high or imminent
    suicide risk)."""
    return [provider for workflow in deps.workflows for provider in workflow.urgent_items]


def build_digest(
    session: Session,
    *,
    cases: Sequence[Case],
    now: datetime,
    settings: ReviewSettings,
    urgent_items: Sequence[UrgentItems] = (),
) -> Digest:
    """Rank `cases`; a handful of queries however many cases there are."""
    ids = [c.id for c in cases]
    urgent: dict[int, int] = defaultdict(int)
    for provider in urgent_items:
        for case_id, count in provider(session, ids).items():
            urgent[case_id] += int(count)
    series = repo.score_series(session=session, case_ids=ids)
    reviews = repo.open_reviews_for(session=session, case_ids=ids)
    schedules = repo.schedules_for(session=session, case_ids=ids)
    roots = repo.thread_roots(session=session, cases=cases)
    lines = []
    for case in cases:
        phq9 = series.get(case.id, {}).get("phq9", [])
        flag = assess(phq9, in_treatment_since=case.created_at, now=now)
        review = reviews.get(case.id)
        schedule = schedules.get(case.id)
        lines.append(
            DigestLine(
                case_id=case.id,
                ref=case.ref,
                url=thread_url(roots.get(case.id)),
                urgent=urgent.get(case.id, 0),
                not_improving=bool(flag and flag.not_improving),
                overdue=review is not None and now - review.started_at >= settings.overdue_after,
                new=now - case.created_at < settings.new_case_window,
                phq9=trend(phq9) if phq9 else None,
                open_since=review.started_at if review else None,
                next_due_at=schedule.next_due_at if schedule is not None and schedule.active else None,
            )
        )
    lines.sort(key=lambda line: line.rank)
    return Digest(lines)


def digest_for(unit: Unit, *, everything: bool = False) -> Digest:
    """`/review digest`: my open cases (admins: `all` open cases), ranked."""
    if everything and not unit.is_admin:
        raise NotAllowed(
            "Only CareThread admins can see the digest of every case. `/review digest` shows yours."
        )
    if everything:
        cases = repo.open_cases(session=unit.session)
    else:
        cases = [c for c, _ in cases_repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)]
        cases.sort(key=lambda c: c.id)
    digest = build_digest(
        unit.session,
        cases=cases,
        now=unit.now,
        settings=unit.deps.settings.section(ReviewSettings),
        urgent_items=urgent_providers(unit.deps),
    )
    unit.audit(
        "review.digest_viewed",
        target="all" if everything else "mine",
        cases=digest.total,
        urgent=digest.urgent,
        not_improving=digest.not_improving,
        overdue=digest.overdue,
        new=digest.new,
    )
    return digest
