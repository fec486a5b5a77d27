"""Parsing `/handoff` command text and the I-PASS form's values. Pure functions, no I/O.

Like bot/parsing.py, anything we cannot read becomes a BadInput that says what was wrong
and carries the right usage (and, for modal fields, the block id the error belongs to).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from bot.clinic import zone
from bot.errors import BadInput
from bot.inputs import ROLE_HELP, Help, bounded_command, parse_case_ref, parse_mention, parse_role
from storage.cases import Role
from storage.handoffs import HandoffKind, Severity

MAX_NOTE = 2000  # each I-PASS field, the synthesis and a decline reason
MAX_COVERAGE_DAYS = 366

HANDOFF_USAGE = {
    "start": "`/handoff <case> @person [role]` opens the I-PASS form; the role defaults to yours",
    "list": "`/handoff list` shows your pending handoffs, given and received",
    "cancel": "`/handoff cancel <case>` withdraws the handoffs of the case you sent that wait for an answer",
    "help": "`/handoff help`",
}
USAGE_ALL = " · ".join(HANDOFF_USAGE.values())

_TOKEN = re.compile(r"<[^>]*>|\S+")


@dataclass(frozen=True)
class ListHandoffs:
    pass


@dataclass(frozen=True)
class StartHandoff:
    case_id: int
    user_id: str
    role: Role | None  # None: the sender's own role on the case


@dataclass(frozen=True)
class CancelHandoff:
    case_id: int


HandoffCommand = Help | ListHandoffs | StartHandoff | CancelHandoff


def parse_handoff_command(text: str) -> HandoffCommand:
    """`help` | `list` | `cancel <case>` | `<case> @person [role]`."""
    tokens = _TOKEN.findall(bounded_command(text, usage=USAGE_ALL).strip())
    if not tokens or tokens[0].lower() == "help":
        if len(tokens) > 1:
            raise BadInput("`/handoff help` takes nothing else.", usage=HANDOFF_USAGE["help"])
        return Help()
    if tokens[0].lower() == "list":
        if len(tokens) > 1:
            raise BadInput("`/handoff list` takes nothing else.", usage=HANDOFF_USAGE["list"])
        return ListHandoffs()
    if tokens[0].lower() == "cancel":
        usage = HANDOFF_USAGE["cancel"]
        if len(tokens) != 2:
            raise BadInput("`/handoff cancel` takes one case id, e.g. `/handoff cancel C-12`.", usage=usage)
        return CancelHandoff(parse_case_ref(tokens[1], usage=usage))
    usage = HANDOFF_USAGE["start"]
    case_id = parse_case_ref(tokens[0], usage=usage)
    if len(tokens) < 2:
        raise BadInput("Name the colleague you are handing off to with an @-mention.", usage=usage)
    if len(tokens) > 3:
        raise BadInput(
            "Too many words: hand off to one person, with at most one role.", usage=f"{usage}. {ROLE_HELP}"
        )
    user_id = parse_mention(tokens[1], usage=usage)
    role = parse_role(tokens[2], usage=usage) if len(tokens) == 3 else None
    return StartHandoff(case_id, user_id, role)


def parse_severity(value: str | None, *, field: str) -> Severity:
    try:
        return Severity(value or "")
    except ValueError:
        raise BadInput("Choose the illness severity: stable, watcher or unstable.", field=field) from None


def parse_kind(value: str | None, *, field: str) -> HandoffKind:
    try:
        return HandoffKind(value or "")
    except ValueError:
        raise BadInput("Choose transfer (permanent) or coverage (until a date).", field=field) from None


def parse_coverage_end(
    raw: str | None, *, tz_name: str | None, now: datetime, field: str, fallback: str = "UTC"
) -> datetime:
    """The moment coverage ends: the start of the chosen day in the sender's time zone (the
    clinic's, `fallback`, when Slack gave none we know, as everywhere else).

    The day must be after today (in that zone), so coverage always lasts a while, and at
    most MAX_COVERAGE_DAYS ahead, so a typo in the year does not hand a case over for good.
    """
    if not raw:
        raise BadInput("Coverage needs an end date: pick the day the coverage ends.", field=field)
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise BadInput("That is not a date; pick the day the coverage ends.", field=field) from None
    tz = zone(tz_name, fallback)
    today = now.astimezone(tz).date()
    if day <= today:
        raise BadInput("The coverage end date must be in the future (tomorrow or later).", field=field)
    if day > today + timedelta(days=MAX_COVERAGE_DAYS):
        raise BadInput(
            f"Coverage can last at most {MAX_COVERAGE_DAYS} days; for longer, hand the case over "
            "as a transfer.",
            field=field,
        )
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)
