"""Parsing `/oncall` command text. Pure: no I/O; times are read in the clinic's time zone.

/oncall @person from 2026-11-28 17:00 to 2026-11-30 09:00
/oncall list
/oncall remove OC-3
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.clinic import local_moment
from bot.errors import BadInput
from bot.inputs import MAX_YEAR, MIN_YEAR, Help, bounded_command, parse_clock_time, parse_mention, shown

ONCALL_USAGE = {
    "add": "`/oncall @person from <YYYY-MM-DD HH:MM> to <YYYY-MM-DD HH:MM>` (the clinic's time zone)",
    "list": "`/oncall list` shows who is on call now and next",
    "remove": "`/oncall remove OC-<n>` takes a shift off the rota",
    "help": "`/oncall help`",
}
USAGE_ALL = " · ".join(ONCALL_USAGE.values())
MAX_SHIFT = timedelta(days=31)

_TOKEN = re.compile(r"<[^>]*>|\S+")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SHIFT_REF = re.compile(r"^(?:OC-)?(\d{1,9})$", re.IGNORECASE)


@dataclass(frozen=True)
class AddShift:
    user_id: str
    starts_at: datetime  # UTC
    ends_at: datetime  # UTC


@dataclass(frozen=True)
class ListShifts:
    pass


@dataclass(frozen=True)
class RemoveShift:
    shift_id: int


OnCallCommand = AddShift | ListShifts | RemoveShift | Help


def parse_oncall_command(text: str, *, zone: ZoneInfo) -> OnCallCommand:
    """The command, with times read as wall-clock times in `zone` (the clinic's)."""
    tokens = _TOKEN.findall(bounded_command(text, usage=USAGE_ALL))
    if not tokens or tokens[0].lower() == "help":
        return Help()
    head = tokens[0].lower()
    if head == "list":
        return ListShifts()
    if head == "remove":
        if len(tokens) != 2:
            raise BadInput(
                "Name the shift to remove, as `/oncall list` shows it.", usage=ONCALL_USAGE["remove"]
            )
        match = _SHIFT_REF.match(tokens[1])
        if not match:
            raise BadInput(
                f"`{shown(tokens[1])}` is not a shift id. Shift ids look like `OC-3`.",
                usage=ONCALL_USAGE["remove"],
            )
        return RemoveShift(int(match.group(1)))
    usage = ONCALL_USAGE["add"]
    user_id = parse_mention(tokens[0], usage=usage)
    words = [t.lower() for t in tokens[1:]]
    if len(words) != 6 or words[0] != "from" or words[3] != "to":
        raise BadInput(
            "Give the shift's start and end after the person: `from` a date and time `to` a date and time.",
            usage=usage,
        )
    starts_at = _moment(tokens[2], tokens[3], zone, usage)
    ends_at = _moment(tokens[5], tokens[6], zone, usage)
    if ends_at <= starts_at:
        raise BadInput("The shift must end after it starts.", usage=usage)
    if ends_at - starts_at > MAX_SHIFT:
        raise BadInput("A shift can last at most 31 days; add the next one separately.", usage=usage)
    return AddShift(user_id, starts_at, ends_at)


def _moment(day: str, at: str, zone: ZoneInfo, usage: str) -> datetime:
    match = _DATE.match(day)
    parsed = None
    if match:
        try:
            parsed = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            parsed = None
    if parsed is None:
        raise BadInput(
            f"`{shown(day)}` is not a date. Write dates as `YYYY-MM-DD`, e.g. `2026-11-28`.", usage=usage
        )
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        # Bounded so converting an edge date (9999-12-31) between zones cannot overflow.
        raise BadInput(
            f"`{shown(day)}` is outside the years CareThread keeps {MIN_YEAR} to {MAX_YEAR}.", usage=usage
        )
    return local_moment(parsed, parse_clock_time(at, usage=usage), zone).astimezone(UTC)
