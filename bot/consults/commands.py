"""Parsing `/consult` command text. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from bot.errors import BadInput
from bot.inputs import (
    Help,
    bounded_command,
    clean_text,
    parse_case_ref,
    parse_month,
    shown,
    unescape,
    whole_number,
)

MAX_REASON = 500
MAX_MINUTES = 600  # one entry: a working day at most

CONSULT_USAGE = {
    "help": "`/consult help`",
    "request": "`/consult <case> request [reason]`, e.g. `/consult C-12 request PHQ-9 unchanged at 12 weeks`",
    "minutes": "`/consult <case> minutes <N> [on YYYY-MM-DD]`, e.g. `/consult C-12 minutes 25 on 2026-11-20`",
    "report": "`/consult minutes <YYYY-MM>`, e.g. `/consult minutes 2026-11`",
}

_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")


@dataclass(frozen=True)
class RequestConsult:
    case_id: int
    reason: str | None


@dataclass(frozen=True)
class LogMinutes:
    case_id: int
    minutes: int
    on: date | None  # None: today in the consultant's time zone


@dataclass(frozen=True)
class MinutesReport:
    year: int
    month: int


ConsultCommand = Help | RequestConsult | LogMinutes | MinutesReport


def parse_consult_command(text: str) -> ConsultCommand:
    raw = unescape(bounded_command(text, usage=CONSULT_USAGE["help"]))
    parts = raw.split()
    if not parts or parts[0].lower() == "help":
        return Help()
    if parts[0].lower() == "minutes":
        if len(parts) != 2:
            raise BadInput("Say which month, e.g. `/consult minutes 2026-11`.", usage=CONSULT_USAGE["report"])
        year, month = parse_month(parts[1], usage=CONSULT_USAGE["report"])
        return MinutesReport(year, month)
    try:
        case_id = parse_case_ref(parts[0], usage=CONSULT_USAGE["help"])
    except BadInput:
        raise BadInput(
            f"`{shown(parts[0])}` is not a /consult command or a case id. Case ids look like `C-12`.",
            usage=CONSULT_USAGE["request"],
        ) from None
    verb = parts[1].lower() if len(parts) > 1 else ""
    if verb == "request":
        reason_text = raw.split(None, 2)[2] if len(parts) > 2 else ""
        reason = clean_text(reason_text, what="reason", limit=MAX_REASON, usage=CONSULT_USAGE["request"])
        return RequestConsult(case_id, reason or None)
    if verb == "minutes":
        return _log_minutes(case_id, parts[2:])
    raise BadInput(
        "Say what to do with the case: `request` a consultation, or log `minutes` of review time.",
        usage=f"{CONSULT_USAGE['request']} · {CONSULT_USAGE['minutes']}",
    )


def _log_minutes(case_id: int, args: list[str]) -> LogMinutes:
    usage = CONSULT_USAGE["minutes"]
    if not args:
        raise BadInput("Say how many minutes, e.g. `minutes 25`.", usage=usage)
    minutes = whole_number(args[0])
    if minutes is None or not 1 <= minutes <= MAX_MINUTES:
        raise BadInput(
            f"Minutes are a whole number from 1 to {MAX_MINUTES}, not `{shown(args[0])}`.", usage=usage
        )
    rest = [a.lower() for a in args[1:]]
    if not rest:
        return LogMinutes(case_id, minutes, None)
    if len(rest) != 2 or rest[0] != "on":
        raise BadInput("After the minutes comes nothing, or `on YYYY-MM-DD`.", usage=usage)
    return LogMinutes(case_id, minutes, parse_day(rest[1], usage=usage))


def parse_day(token: str, *, usage: str) -> date:
    """A calendar date written YYYY-MM-DD (the one unambiguous form)."""
    match = _DATE.match(token.strip())
    try:
        if match is None:
            raise ValueError
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise BadInput(
            f"`{shown(token)}` is not a date written YYYY-MM-DD, e.g. 2026-11-20.", usage=usage
        ) from None
