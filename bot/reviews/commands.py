"""Parsing `/review` command text and review cadences. Pure functions, no I/O.

The cadence grammar is small on purpose, so the usage line can say all of it:
`every <N> days|weeks [on <weekday>] [at HH:MM]`. The same parser reads the deployment's
default cadence from the environment (where "every" may be left out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from bot.errors import BadInput
from bot.inputs import Help, bounded_command, parse_case_ref, shown, unescape
from bot.reviews.cadence import MAX_DAYS, MAX_WEEKS, WEEKDAYS, Cadence, Period

REVIEW_USAGE = {
    "help": "`/review help`",
    "every": "`/review <case> every <N> days|weeks [on <weekday>] [at HH:MM]`, "
    "e.g. `/review C-12 every 2 weeks on monday at 10:00` (your time zone)",
    "off": "`/review <case> off`",
    "now": "`/review <case> now`",
    "show": "`/review <case>`",
    "list": "`/review list`",
    "digest": "`/review digest` (admins: `/review digest all`)",
}

_NUMBER = re.compile(r"^[0-9]{1,6}$")
_TIME = re.compile(r"^([0-9]{1,2})(?::([0-9]{2}))?(am|pm)?$")
_PERIODS = {
    "day": Period.DAYS,
    "days": Period.DAYS,
    "d": Period.DAYS,
    "week": Period.WEEKS,
    "weeks": Period.WEEKS,
    "wk": Period.WEEKS,
    "wks": Period.WEEKS,
    "w": Period.WEEKS,
}
_WEEKDAY_NAMES = {
    **{name: index for index, name in enumerate(WEEKDAYS)},
    **{name[:3]: index for index, name in enumerate(WEEKDAYS)},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}


@dataclass(frozen=True)
class ListReviews:
    pass


@dataclass(frozen=True)
class ShowDigest:
    all: bool = False


@dataclass(frozen=True)
class ShowSchedule:
    case_id: int


@dataclass(frozen=True)
class SetCadence:
    case_id: int
    cadence: Cadence


@dataclass(frozen=True)
class TurnOff:
    case_id: int


@dataclass(frozen=True)
class StartNow:
    case_id: int


ReviewCommand = Help | ListReviews | ShowDigest | ShowSchedule | SetCadence | TurnOff | StartNow


def parse_review_command(text: str) -> ReviewCommand:
    parts = unescape(bounded_command(text, usage=REVIEW_USAGE["help"])).split()
    if not parts:
        return Help()
    head, args = parts[0].lower(), parts[1:]
    if head == "help":
        return Help()
    if head == "list":
        if args:
            raise BadInput("`/review list` takes nothing else.", usage=REVIEW_USAGE["list"])
        return ListReviews()
    if head == "digest":
        if not args:
            return ShowDigest()
        if len(args) == 1 and args[0].lower() == "all":
            return ShowDigest(all=True)
        raise BadInput("`/review digest` takes nothing, or `all`.", usage=REVIEW_USAGE["digest"])
    try:
        case_id = parse_case_ref(parts[0], usage=REVIEW_USAGE["help"])
    except BadInput:
        raise BadInput(
            f"`{shown(parts[0])}` is not a /review command or a case id. Case ids look like `C-12`.",
            usage=REVIEW_USAGE["every"],
        ) from None
    if not args:
        return ShowSchedule(case_id)
    verb = args[0].lower()
    if verb in ("off", "now"):
        if len(args) > 1:
            raise BadInput(f"`/review <case> {verb}` takes nothing else.", usage=REVIEW_USAGE[verb])
        return TurnOff(case_id) if verb == "off" else StartNow(case_id)
    if verb == "every":
        return SetCadence(case_id, parse_cadence(" ".join(args), usage=REVIEW_USAGE["every"]))
    raise BadInput(
        f"`{shown(args[0])}` is not something /review does with a case: use `every`, `now` or `off`.",
        usage=REVIEW_USAGE["every"],
    )


def parse_cadence(text: str, *, usage: str) -> Cadence:
    """`[every] [N] days|weeks [on <weekday>] [at HH:MM]`, clauses in either order."""
    words = [w.lower() for w in text.split()]
    if words and words[0] == "every":
        words = words[1:]
    if not words:
        raise BadInput("Say how often, e.g. `every 2 weeks`.", usage=usage)
    every = 1
    if _NUMBER.match(words[0]):
        every = int(words.pop(0))
    elif words[0][:1].isdigit():
        raise BadInput(
            f"`{shown(words[0])}` is not a whole number of days or weeks; "
            "put a space between the number and the unit.",
            usage=usage,
        )
    if not words or words[0] not in _PERIODS:
        got = f"`{shown(words[0])}`" if words else "nothing"
        raise BadInput(f"After the number comes `days` or `weeks`, not {got}.", usage=usage)
    period = _PERIODS[words.pop(0)]
    limit = MAX_DAYS if period == Period.DAYS else MAX_WEEKS
    if not 1 <= every <= limit:
        raise BadInput(f"A review cadence is from 1 to {limit} {period.value}, not {every}.", usage=usage)

    weekday: int | None = None
    at: time | None = None
    seen: set[str] = set()
    while words:
        keyword = words.pop(0)
        if keyword not in ("on", "at"):
            raise BadInput(f"`{shown(keyword)}` is not part of a cadence.", usage=usage)
        if keyword in seen:
            raise BadInput(f"Say `{keyword}` once.", usage=usage)
        seen.add(keyword)
        if not words:
            what = "a weekday, e.g. `on monday`" if keyword == "on" else "a time, e.g. `at 10:00`"
            raise BadInput(f"`{keyword}` needs {what}.", usage=usage)
        value = words.pop(0)
        if keyword == "on":
            weekday = parse_weekday(value, usage=usage)
        else:
            if words and words[0] in ("am", "pm"):
                value += words.pop(0)
            at = parse_clock_time(value, usage=usage)
    if weekday is not None and period != Period.WEEKS:
        raise BadInput(
            "`on <weekday>` goes with weeks, e.g. `every 2 weeks on monday`.",
            usage=usage,
        )
    return Cadence(every=every, period=period, weekday=weekday, at=at)


def parse_weekday(token: str, *, usage: str) -> int:
    index = _WEEKDAY_NAMES.get(token.strip().lower().rstrip(","))
    if index is None:
        raise BadInput(f"`{shown(token)}` is not a weekday. Use monday … sunday (or mon … sun).", usage=usage)
    return index


def parse_clock_time(token: str, *, usage: str) -> time:
    """`HH:MM` (24-hour), or `9am`, `2:30pm`."""
    match = _TIME.match(token.strip().lower())
    if match is None:
        raise BadInput(f"`{shown(token)}` is not a time. Use 24-hour `HH:MM`, e.g. `14:30`.", usage=usage)
    hour, minute, half = int(match.group(1)), int(match.group(2) or 0), match.group(3)
    if half:
        if not 1 <= hour <= 12:
            raise BadInput(f"`{shown(token)}` is not a time: with am/pm the hour is 1 to 12.", usage=usage)
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise BadInput(f"`{shown(token)}` is not a time of day (00:00 to 23:59).", usage=usage)
    return time(hour, minute)
