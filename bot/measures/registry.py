"""The caseload registry: every case with its latest scores, bands and change from baseline,
weeks in treatment, last score and last contact, and the flags a Collaborative Care team
acts on, sorted the way a systematic case review walks them:
urgent items open first, then not improving, then overdue (no score in 4 weeks or no contact
in 2 weeks), then new episodes, then the rest.

Shown on App Home (My caseload), by `/registry` and, for admins, `/registry all`. The weekly
digest (bot/reviews/caseload.py) words its statuses with `score_status` from the service, so
neither ever says "on track" for a case without data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlmodel import Session

from bot.cases.service import thread_url
from bot.contributions import CaseButton, HomeLine, button_providers, first_button, urgent_providers
from bot.deps import Deps
from bot.errors import NotAllowed
from bot.measures.scales import Course
from bot.measures.service import EpisodeSummary, episode_summaries, score_status
from bot.unit import Unit
from storage import cases as cases_repo
from storage import measures as repo
from storage.cases import Case

NO_SCORE_AFTER = timedelta(weeks=4)
NO_CONTACT_AFTER = timedelta(weeks=2)
MAX_LINES = 40
HOME_LINES = 20


@dataclass(frozen=True)
class RegistryLine:
    summary: EpisodeSummary
    url: str | None
    last_contact: datetime | None
    urgent: int
    no_recent_score: bool
    no_recent_contact: bool
    new: bool
    status: str  # "no score yet", "last PHQ-9 3 weeks ago"
    button: CaseButton | None = None  # the first a workflow offers (Request consultation)

    @property
    def ref(self) -> str:
        return self.summary.case_ref

    @property
    def not_improving(self) -> bool:
        return self.summary.not_improving

    @property
    def overdue(self) -> bool:
        return self.no_recent_score or self.no_recent_contact

    @property
    def flags(self) -> list[str]:
        flags = []
        if self.urgent:
            flags.append(f":rotating_light: {self.urgent} urgent item{'s' if self.urgent != 1 else ''} open")
        if self.not_improving:
            flags.append(f":warning: not improving ({', '.join(self.summary.not_improving_scales)})")
        if self.no_recent_score:
            flags.append("no score in 4 weeks")
        if self.no_recent_contact:
            flags.append("no contact in 2 weeks")
        return flags

    @property
    def rank(self) -> tuple[int, bool, bool, bool, int]:
        return (-self.urgent, not self.not_improving, not self.overdue, not self.new, self.summary.case_id)

    def courses(self) -> list[Course]:
        return [c for c in (self.summary.phq9, self.summary.gad7) if c is not None]


@dataclass(frozen=True)
class Registry:
    lines: list[RegistryLine]
    everything: bool

    @property
    def shown(self) -> list[RegistryLine]:
        return self.lines[:MAX_LINES]

    def count(self, what: str) -> int:
        return sum(1 for line in self.lines if getattr(line, what))


def build_registry(
    session: Session, *, deps: Deps, cases: Sequence[Case], now: datetime, today: date
) -> list[RegistryLine]:
    """Rank `cases`; a handful of queries however many cases there are."""
    ids = [c.id for c in cases]
    urgent: dict[int, int] = defaultdict(int)
    for provider in urgent_providers(deps):
        for case_id, count in provider(session, ids).items():
            urgent[case_id] += int(count)
    summaries = episode_summaries(session, cases=cases, now=now)
    contacts = repo.last_team_contact(session=session, case_ids=ids)
    new_within = deps.settings.clinic.new_case_window  # CARETHREAD_NEW_CASE_DAYS, as the digest
    lines = []
    for case in cases:
        summary = summaries[case.id]
        last_on = summary.last_score_on
        in_episode = now - summary.started_at
        contact = contacts.get(case.id)
        contact = max(contact, summary.started_at) if contact else summary.started_at
        lines.append(
            RegistryLine(
                summary=summary,
                url=thread_url(cases_repo.thread_root(session=session, case=case)),
                last_contact=contact,
                urgent=urgent.get(case.id, 0),
                no_recent_score=(
                    (today - last_on).days >= NO_SCORE_AFTER.days
                    if last_on is not None
                    else in_episode >= NO_SCORE_AFTER
                ),
                no_recent_contact=now - contact >= NO_CONTACT_AFTER,
                new=in_episode < new_within,
                status=score_status(summary, today),
            )
        )
    lines.sort(key=lambda line: line.rank)
    # Buttons (Request consultation on a case not improving) only for the lines shown, as the
    # digest does: each provider reads the case's own state.
    providers = button_providers(deps)
    by_id = {c.id: c for c in cases}
    for index, line in enumerate(lines[:MAX_LINES]):
        offered = first_button(providers, session, by_id[line.summary.case_id], now)
        if offered is not None:
            lines[index] = replace(line, button=offered)
    return lines


def registry_for(unit: Unit, *, everything: bool = False) -> Registry:
    """`/registry`: my open cases; `/registry all`: every open case (admins only)."""
    if everything and not unit.is_admin:
        raise NotAllowed("Only CareThread admins can see every case's registry. `/registry` shows yours.")
    lines = _lines(unit, everything=everything)
    unit.audit(
        "registry.viewed",
        target="all" if everything else "mine",
        count=len(lines),
        cases=[line.summary.case_id for line in lines],
    )
    return Registry(lines, everything)


def caseload_section(unit: Unit) -> list[HomeLine]:
    """App Home: My caseload, the registry of my open cases (heading first, then one line per
    case with its button, as in `/registry`)."""
    lines = _lines(unit, everything=False)
    if not lines:
        return []
    shown = lines[:HOME_LINES]
    message = unit.deps.renderer.message("measures/registry", r=Registry(shown, False), home=True)
    unit.audit("registry.home_viewed", count=len(lines), cases=[line.summary.case_id for line in lines])
    heading, *texts = [b["text"]["text"] for b in message["blocks"] if b.get("type") == "section"]
    lined = zip(texts, shown, strict=True)
    return [HomeLine(heading), *(HomeLine(text, line.button) for text, line in lined)]


def _lines(unit: Unit, *, everything: bool) -> list[RegistryLine]:
    if everything:
        cases = cases_repo.all_cases(session=unit.session)
    else:
        cases = [c for c, _ in cases_repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)]
    zone = unit.deps.settings.clinic.zone
    return build_registry(
        unit.session, deps=unit.deps, cases=cases, now=unit.now, today=unit.now.astimezone(zone).date()
    )
