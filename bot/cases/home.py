"""The App Home tab: my open cases with my role, and what is waiting for me.

Workflows contribute waiting items through their declared `home_items` (bot/contributions.py),
so Home stays one query per workflow, not per case.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.cases.service import CaseSummary
from bot.contributions import HomeLine, WaitingItem
from bot.unit import Unit
from storage import cases as repo


@dataclass(frozen=True)
class HomeData:
    cases: list[CaseSummary]
    waiting: list[WaitingItem]
    sections: list[list[HomeLine]]  # each workflow's home section: heading first


def home_for(unit: Unit) -> HomeData:
    rows = repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
    cases = [
        CaseSummary(
            case.id, case.ref, unit.deps.cipher.decrypt(case.label_enc), case.status, role, case.home_channel
        )
        for case, role in rows
    ]
    waiting: list[WaitingItem] = []
    for workflow in unit.deps.workflows:
        for items in workflow.home_items:
            waiting.extend(items(unit))
    waiting.sort(key=lambda item: item.sort_key)
    sections = [
        lines
        for workflow in unit.deps.workflows
        for section in workflow.home_sections
        if (lines := section(unit))
    ]
    unit.audit("home.viewed", count=len(cases), waiting=len(waiting), cases=[c.id for c in cases])
    return HomeData(cases=cases, waiting=waiting, sections=sections)
