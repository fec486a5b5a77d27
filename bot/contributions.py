"""What a workflow adds to the app, declared in one value instead of registered by import.

Each workflow package has a `workflow.py` whose `WORKFLOW` says what it contributes; the
one list of them is `bot/workflows.py`. The core reads these declarations (the scheduler
runs the sweep steps, `/case show` asks every workflow for its sections, App Home for its
waiting items, the caseload digest for urgent items, the case card for its lines, case creation calls the
hooks) and
never imports a workflow package itself. A step that is not declared does not run, and a
declared one cannot be forgotten because no module happened to import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.config import EnvSettings

if TYPE_CHECKING:
    from bot.deps import Deps
    from bot.unit import Unit
    from storage.cases import Case
    from storage.core import OutboxMessage


@dataclass(frozen=True)
class WaitingItem:
    """One thing waiting for the user on App Home. `sort_key` holds numbers only, most
    urgent first: (urgency rank: 0 = most urgent, unix time it has waited since or is due,
    id), so items from different workflows sort together without comparing unlike types."""

    case_ref: str
    text: str
    url: str | None = None
    sort_key: tuple[float, ...] = ()
    button: CaseButton | None = None  # e.g. Acknowledge on an urgent item the on-call person covers


@dataclass(frozen=True)
class CaseButton:
    """A button a workflow offers on a case (in `/case show` and on its caseload digest line),
    e.g. Request consultation on a case that is not improving. `action_id` is a bot.ids.Action
    value, `value` what its listener reads (usually the case id)."""

    text: str
    action_id: str
    value: str


SweepStep = Callable[["Deps"], object]
ShowSection = Callable[["Unit", "Case"], list[str]]  # mrkdwn strings, escaped by the provider
# Lines on the case card (the thread's root message): short mrkdwn, escaped by the provider. The
# home channel reads the card: counts and levels, never clinical free text. The card is drawn
# again when the case changes; a workflow whose lines change calls refresh_case.
CardLines = Callable[["Unit", "Case"], list[str]]
HomeItems = Callable[["Unit"], list[WaitingItem]]
# The urgent items of one kind (`side_effect`, `safety`, `item9`, `adherence`: the prefix of a
# cover grant's item, bot/oncall) that the on-call person holds grants for, by id: those still
# waiting for acknowledgement, as App Home lines with their Acknowledge button. Ids and states
# only. App Home asks each kind once with all its ids (bot/oncall `covered_waiting`).
CoverItems = Callable[["Unit", Sequence[int]], list[WaitingItem]]


@dataclass(frozen=True)
class HomeLine:
    """One line of a workflow's App Home section: mrkdwn escaped by the provider, and the
    case button a workflow offers on it (Request consultation on a registry line), if any."""

    text: str
    button: CaseButton | None = None


# A section of App Home below what is waiting (measures: My caseload): lines, the first one its
# heading.
HomeSection = Callable[["Unit"], list[HomeLine]]
UrgentItems = Callable[[Session, Sequence[int]], Mapping[int, int]]  # case id -> open urgent items
# The caseload digest's other open items: case id -> short plain phrases ("1 adherence report open").
DigestNotes = Callable[[Session, Sequence[int]], Mapping[int, list[str]]]
CaseHook = Callable[["Unit", "Case"], None]
# What must not be left behind when a case closes (open urgent items, a high or imminent risk
# level, a pending handoff): one mrkdwn line each, ids and statuses only, escaped by the
# provider. Closing a case with any asks for confirmation first (bot/cases/service.py).
OpenRisks = Callable[[Session, "Case"], list[str]]
TeamHook = Callable[["Unit", "Case", "TeamChange"], None]
# May this message's reader read it though not on the case's team (e.g. a pending handoff's
# receiver)? Given the outbox row (case_id, reader, purpose, created_at).
ReaderHook = Callable[[Session, "OutboxMessage", datetime], bool]  # datetime: the relay's now
# The buttons a workflow offers on an open case now (the case's state decides, e.g. not improving).
CaseButtons = Callable[[Session, "Case", datetime], list[CaseButton]]


@dataclass(frozen=True)
class TeamChange:
    """Someone joined, left or changed role on a case's team (in the same unit)."""

    user_id: str
    role: str | None  # None: removed
    previous_role: str | None  # None: newly added


@dataclass(frozen=True)
class Workflow:
    """A workflow's contributions. `listeners` names its handlers module (`handlers.<name>`),
    whose `register(app, deps)` the factory calls; it is a name, not an import, so that
    imports keep running one way (handlers -> workflow packages -> core -> storage)."""

    name: str
    listeners: str
    sweep_steps: tuple[tuple[str, SweepStep], ...] = ()
    show_sections: tuple[ShowSection, ...] = ()
    card_lines: tuple[CardLines, ...] = ()  # the case card asks these each time it is drawn
    home_items: tuple[HomeItems, ...] = ()
    urgent_items: tuple[UrgentItems, ...] = ()
    digest_notes: tuple[DigestNotes, ...] = ()  # the caseload digest (bot/reviews/caseload.py)
    home_sections: tuple[HomeSection, ...] = ()
    on_case_created: tuple[CaseHook, ...] = ()
    on_case_reopened: tuple[CaseHook, ...] = ()  # in the unit that reopened it (a new episode of care)
    on_team_changed: tuple[TeamHook, ...] = ()
    # Called in the unit that closes a case, after its status changed (handoffs: pending ones
    # are canceled with notice to both people, running coverage ends).
    on_case_closed: tuple[CaseHook, ...] = ()
    open_risks: tuple[OpenRisks, ...] = ()
    readers: tuple[ReaderHook, ...] = ()  # the relay's send-time check asks these (bot/audience.py)
    case_buttons: tuple[CaseButtons, ...] = ()  # `/case show` and the caseload digest show these
    # (item kind, provider): its urgent items still waiting, for the person on call covering them.
    cover_items: tuple[tuple[str, CoverItems], ...] = ()
    # Its settings model (bot/<workflow>/settings.py): load_settings validates it at start-up
    # and nests it in the app's settings, read with `settings.section(<model>)`.
    settings: type[EnvSettings] | None = None


# -- asking every workflow at once (the digest, the registry, App Home) ---------------------------


def urgent_providers(deps: Deps) -> list[UrgentItems]:
    """Every workflow's count of urgent open items per case (urgent side effects, high or
    imminent suicide risk, open item 9 alerts)."""
    return [provider for workflow in deps.workflows for provider in workflow.urgent_items]


def note_providers(deps: Deps) -> list[DigestNotes]:
    """Every workflow's other open items per case (adherence reports, for now)."""
    return [provider for workflow in deps.workflows for provider in workflow.digest_notes]


def button_providers(deps: Deps) -> list[CaseButtons]:
    """Every workflow's buttons on a case (consults: Request consultation when not improving)."""
    return [provider for workflow in deps.workflows for provider in workflow.case_buttons]


def cover_providers(deps: Deps) -> dict[str, CoverItems]:
    """Every workflow's provider of covered urgent items, by item kind (bot/oncall App Home)."""
    return {kind: provider for workflow in deps.workflows for kind, provider in workflow.cover_items}


def first_button(
    providers: Sequence[CaseButtons], session: Session, case: Case, now: datetime
) -> CaseButton | None:
    """The first button any workflow offers on `case`: a caseload line (digest, registry) has
    room for one. Each provider reads the case's own state, so ask only for lines shown."""
    return next((b for offer in providers for b in offer(session, case, now)), None)
