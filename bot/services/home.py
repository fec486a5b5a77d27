"""The App Home tab: my open cases with my role, and what is waiting for me.

Later workflows (side-effect reports, reviews, handoffs) contribute waiting items by
registering a provider here, so Home stays one query per workflow, not per case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.services.cases import CaseSummary
from bot.unit import Unit
from storage import cases as repo


@dataclass(frozen=True)
class WaitingItem:
    """One thing waiting for the user. `sort_key` holds numbers only, most urgent first:
    (urgency rank: 0 = most urgent, unix time it has waited since or is due, id), so items
    from different workflows sort together without comparing unlike types."""

    case_ref: str
    text: str
    url: str | None = None
    sort_key: tuple[float, ...] = ()


WaitingProvider = Callable[[Unit], list[WaitingItem]]
WAITING_PROVIDERS: list[WaitingProvider] = []


def waiting_provider(fn: WaitingProvider) -> WaitingProvider:
    WAITING_PROVIDERS.append(fn)
    return fn


@dataclass(frozen=True)
class HomeData:
    cases: list[CaseSummary]
    waiting: list[WaitingItem]


def home_for(unit: Unit) -> HomeData:
    rows = repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
    cases = [
        CaseSummary(
            case.id, case.ref, unit.deps.cipher.decrypt(case.label_enc), case.status, role, case.home_channel
        )
        for case, role in rows
    ]
    waiting: list[WaitingItem] = []
    for provider in WAITING_PROVIDERS:
        waiting.extend(provider(unit))
    waiting.sort(key=lambda item: item.sort_key)
    unit.audit("home.viewed", count=len(cases), waiting=len(waiting), cases=[c.id for c in cases])
    return HomeData(cases=cases, waiting=waiting)
