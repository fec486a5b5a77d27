"""The caseload digest: open cases ranked the way Collaborative Care's systematic case review
walks them (urgent open items first, then cases not improving, overdue reviews, new
cases), with counts and a link to each case thread.

Other workflows feed the first criterion through the `urgent_items` they declare
(bot/contributions.py, asked through its `urgent_providers`): given a session and case ids, how
many urgent items are open on each case. Their other open items (adherence reports) come
through `digest_notes`: short phrases shown on a case's line, without changing its rank.
Nothing here imports those workflows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlmodel import Session

from bot.cases.service import thread_url
from bot.config import ClinicSettings
from bot.contributions import (
    CaseButton,
    CaseButtons,
    DigestNotes,
    UrgentItems,
    button_providers,
    first_button,
    note_providers,
    urgent_providers,
)
from bot.errors import NotAllowed
from bot.measures.service import episode_summaries, score_status
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
    scores: str  # "no score yet", "last PHQ-9 3 weeks ago": never "on track" without data
    open_since: datetime | None
    next_due_at: datetime | None
    notes: tuple[str, ...] = ()  # other workflows' open items (digest_notes), plain text
    button: CaseButton | None = None  # the first a workflow offers (Workflow.case_buttons)

    @property
    def rank(self) -> tuple[int, bool, bool, bool, int]:
        return (-self.urgent, not self.not_improving, not self.overdue, not self.new, self.case_id)

    @property
    def flagged(self) -> bool:
        return bool(self.urgent or self.not_improving or self.overdue or self.new or self.notes)


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


def build_digest(
    session: Session,
    *,
    cases: Sequence[Case],
    now: datetime,
    settings: ReviewSettings,
    urgent_items: Sequence[UrgentItems] = (),
    digest_notes: Sequence[DigestNotes] = (),
    buttons: Sequence[CaseButtons] = (),
    clinic: ClinicSettings,
) -> Digest:
    """Rank `cases`; a handful of queries however many cases there are. `clinic` gives the
    zone of "today" and the new-case window, which the registry reads from the same place."""
    ids = [c.id for c in cases]
    today = now.astimezone(clinic.zone).date()
    new_within = clinic.new_case_window
    urgent: dict[int, int] = defaultdict(int)
    for provider in urgent_items:
        for case_id, count in provider(session, ids).items():
            urgent[case_id] += int(count)
    notes: dict[int, list[str]] = defaultdict(list)
    for note_provider in digest_notes:
        for case_id, phrases in note_provider(session, ids).items():
            notes[case_id].extend(phrases)
    summaries = episode_summaries(session, cases=cases, now=now)
    reviews = repo.open_reviews_for(session=session, case_ids=ids)
    schedules = repo.schedules_for(session=session, case_ids=ids)
    roots = repo.thread_roots(session=session, cases=cases)
    lines = []
    for case in cases:
        summary = summaries[case.id]
        review = reviews.get(case.id)
        schedule = schedules.get(case.id)
        lines.append(
            DigestLine(
                case_id=case.id,
                ref=case.ref,
                url=thread_url(roots.get(case.id)),
                urgent=urgent.get(case.id, 0),
                not_improving=summary.not_improving,
                overdue=review is not None and now - review.started_at >= settings.overdue_after,
                new=now - case.created_at < new_within,
                phq9=summary.phq9.trend if summary.phq9 else None,
                scores=score_status(summary, today),
                open_since=review.started_at if review else None,
                next_due_at=schedule.next_due_at if schedule is not None and schedule.active else None,
                notes=tuple(notes.get(case.id, ())),
            )
        )
    lines.sort(key=lambda line: line.rank)
    # Buttons only for the lines shown: each provider reads the case's own state.
    by_id = {c.id: c for c in cases}
    for index, line in enumerate(lines[:MAX_LINES]):
        offered = first_button(buttons, session, by_id[line.case_id], now)
        if offered is not None:
            lines[index] = replace(line, button=offered)
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
        digest_notes=note_providers(unit.deps),
        buttons=button_providers(unit.deps),
        clinic=unit.deps.settings.clinic,
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
