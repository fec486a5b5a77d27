"""Parsing `/score` and `/registry` command text into typed commands. Pure functions, no I/O.

A `/score` line can be wrong in several ways at once (an unknown instrument, a total out of
range, item 9 on GAD-7, a bad date): every problem is collected and reported together, so
the clinician fixes the line in one go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref, parse_month, shown
from bot.measures.scales import ALIASES, ITEM9_MAX, SCALES
from storage.measures import Instrument

SCORE_USAGE = {
    "phq9": "`/score <case> phq9 <0-27> [item9 <0-3>] [on YYYY-MM-DD]`",
    "gad7": "`/score <case> gad7 <0-21> [on YYYY-MM-DD]`",
    "auditc": "`/score <case> auditc <0-12> [on YYYY-MM-DD]`",
    "show": "`/score <case>` for the case's scores this episode of care",
    "help": "`/score help`",
}
ALL_SCORE_USAGE = "; ".join(SCORE_USAGE.values())
REGISTRY_USAGE = {
    "mine": "`/registry` for your caseload",
    "all": "`/registry all` for every open case (admins)",
    "minutes": "`/registry minutes <YYYY-MM>` for consultant review minutes per case that month (billing)",
    "help": "`/registry help`",
}
ALL_REGISTRY_USAGE = "; ".join(REGISTRY_USAGE.values())

_NUMBER = re.compile(r"^[0-9]{1,3}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class RecordScore:
    case_id: int
    instrument: Instrument
    value: int
    item9: int | None = None
    taken_on: date | None = None  # None: today in the person's time zone


@dataclass(frozen=True)
class ShowScores:
    case_id: int


@dataclass(frozen=True)
class ShowRegistry:
    everything: bool = False


@dataclass(frozen=True)
class RegistryMinutes:
    """The psychiatric consultant's review minutes per case in a month (bot/consults keeps them)."""

    year: int
    month: int


ScoreCommand = Help | RecordScore | ShowScores


def parse_score_command(text: str) -> ScoreCommand:
    parts = bounded_command(text, usage=ALL_SCORE_USAGE).split()
    if not parts or (parts[0].lower() == "help" and len(parts) == 1):
        return Help()
    case_id = parse_case_ref(parts[0], usage=ALL_SCORE_USAGE)
    args = [p.lower() for p in parts[1:]]
    if not args:
        return ShowScores(case_id)
    problems: list[str] = []
    instrument = ALIASES.get(args[0])
    if instrument is None:
        problems.append(f"`{shown(parts[1])}` is not an instrument: use `phq9`, `gad7` or `auditc`.")
    scale = SCALES[instrument] if instrument else None
    value: int | None = None
    if len(args) < 2:
        problems.append("Give the total score after the instrument.")
    else:
        value = _number(args[1])
        if value is None or (scale is not None and value > scale.maximum):
            limit = f"from 0 to {scale.maximum}" if scale else "a whole number"
            what = f"The {scale.name} total" if scale else "The total"
            problems.append(f"{what} must be a whole number {limit}; `{shown(parts[2])}` is not.")
    item9: int | None = None
    taken_on: date | None = None
    rest = args[2:]
    seen: set[str] = set()
    while rest:
        word, rest = rest[0], rest[1:]
        if word in seen:
            problems.append(f"`{word}` is given twice.")
        seen.add(word)
        if word in ("item9", "item-9"):
            raw = rest[0] if rest else ""
            rest = rest[1:]
            item9 = _number(raw)
            if instrument is not None and instrument != Instrument.PHQ9:
                problems.append("Item 9 belongs to the PHQ-9 only.")
            if item9 is None or item9 > ITEM9_MAX:
                problems.append(f"PHQ-9 item 9 is scored 0 to {ITEM9_MAX}; `{shown(raw)}` is not.")
                item9 = None
        elif word == "on":
            raw = rest[0] if rest else ""
            rest = rest[1:]
            taken_on = _date(raw)
            if taken_on is None:
                problems.append(
                    f"The date must be YYYY-MM-DD (for example 2026-03-05); `{shown(raw)}` is not."
                )
        else:
            problems.append(f"`{shown(word)}` is not understood here: add `item9 <0-3>` or `on YYYY-MM-DD`.")
    if problems:
        usage = SCORE_USAGE.get(instrument.value if instrument else "", ALL_SCORE_USAGE)
        raise BadInput(" ".join(problems), usage=usage)
    assert instrument is not None and value is not None
    return RecordScore(case_id, instrument, value, item9=item9, taken_on=taken_on)


def parse_registry_command(text: str) -> Help | ShowRegistry | RegistryMinutes:
    parts = bounded_command(text, usage=ALL_REGISTRY_USAGE).lower().split()
    if not parts:
        return ShowRegistry()
    if parts == ["help"]:
        return Help()
    if parts == ["all"]:
        return ShowRegistry(everything=True)
    if parts[0] == "minutes":
        usage = REGISTRY_USAGE["minutes"]
        if len(parts) != 2:
            raise BadInput("Say which one month, e.g. `/registry minutes 2026-11`.", usage=usage)
        return RegistryMinutes(*parse_month(parts[1], usage=usage))
    raise BadInput(
        f"`/registry {shown(' '.join(parts))}` is not a registry command.", usage=ALL_REGISTRY_USAGE
    )


def _number(raw: str) -> int | None:
    return int(raw) if _NUMBER.match(raw or "") else None


def _date(raw: str) -> date | None:
    if not _DATE.match(raw or ""):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
