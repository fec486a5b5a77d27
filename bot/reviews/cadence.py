"""Review cadences: pure date arithmetic in a person's own time zone.

A cadence is kept the way the team means it ("every 2 weeks on Monday at 10:00", in the
time zone of whoever set it). Its grid of local dates and times is a dateutil.rrule over naive
wall-clock moments; each occurrence is placed in the zone with zoneinfo and only then turned
into UTC for storage, so across a daylight-saving change the review still comes due at 10:00
local and it is the UTC instant that moves. (tests/test_reviews_cadence.py keeps the
hand-written arithmetic this replaced as an oracle and checks both agree across DST changes.)

Two edge cases of wall-clock time, resolved the way zoneinfo does with `fold=0`: a time
skipped by a spring-forward change (02:30 on that night) comes due an hour later in local
terms (03:30), and a time that happens twice in the autumn comes due at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, WEEKLY, rrule

from bot.clinic import local_moment
from bot.inputs import WEEKDAYS

MAX_DAYS = 365
MAX_WEEKS = 52


class Period(StrEnum):
    DAYS = "days"
    WEEKS = "weeks"


@dataclass(frozen=True)
class Cadence:
    """Every `every` days or weeks; optionally on a weekday (weeks only) and at a local time."""

    every: int
    period: Period
    weekday: int | None = None  # 0 = Monday, as datetime.weekday()
    at: time | None = None  # local wall-clock time; None: the deployment's default

    @property
    def step_days(self) -> int:
        return self.every * (7 if self.period == Period.WEEKS else 1)

    def describe(self) -> str:
        """For people: "every 2 weeks on Monday at 10:00", "every day"."""
        unit = "day" if self.period == Period.DAYS else "week"
        text = f"every {unit}" if self.every == 1 else f"every {self.every} {unit}s"
        if self.weekday is not None:
            text += f" on {WEEKDAYS[self.weekday].capitalize()}"
        if self.at is not None:
            text += f" at {self.at:%H:%M}"
        return text

    def as_text(self) -> str:
        """The canonical command text; parse_cadence(c.as_text()) == c."""
        text = f"every {self.every} {self.period.value}"
        if self.weekday is not None:
            text += f" on {WEEKDAYS[self.weekday]}"
        if self.at is not None:
            text += f" at {self.at:%H:%M}"
        return text


def _grid(cadence: Cadence, start: date, at: time) -> rrule:
    """Every N days or weeks from `start`, at `at`, as naive local wall-clock moments: the zone
    is applied to each occurrence by local_moment, never to the arithmetic."""
    return rrule(DAILY, interval=cadence.step_days, dtstart=datetime.combine(start, at))


def _first_after(occurrences: Iterator[datetime], at: time, tz: ZoneInfo, now: datetime) -> date:
    """The date of the first occurrence whose UTC instant is after `now` (compared as instants,
    so a time skipped or repeated by a daylight-saving change is judged by when it happens)."""
    for occurrence in occurrences:
        if local_moment(occurrence.date(), at, tz) > now:
            return occurrence.date()
    raise ValueError("a cadence never ends")  # pragma: no cover - the rules have no UNTIL/COUNT


def first_due(cadence: Cadence, tz: ZoneInfo, now: datetime, *, default_at: time) -> datetime:
    """When a cadence set now first comes due.

    With a weekday: the next such weekday at the time (possibly later today), then every N
    weeks. Without: N days or weeks from today, at the time.
    """
    at = cadence.at or default_at
    today = now.astimezone(tz).date()
    if cadence.weekday is not None:
        # Weekly on that weekday from today: the first one still ahead is the first due.
        weekly = rrule(WEEKLY, byweekday=cadence.weekday, dtstart=datetime.combine(today, at))
        return local_moment(_first_after(iter(weekly), at, tz, now), at, tz)
    one_period_on = _grid(cadence, today, at)[1]
    return local_moment(one_period_on.date(), at, tz)


def next_due_after(
    cadence: Cadence, tz: ZoneInfo, previous: datetime, now: datetime, *, default_at: time
) -> tuple[datetime, int]:
    """The first due time after `now` on the cadence's grid through `previous`, and how many
    grid points were skipped on the way (periods missed while the app was down).

    The grid is an rrule of local dates every N days or weeks from `previous`'s local date:
    stepping through local dates (not adding hours to a UTC instant) is what keeps the
    wall-clock time and the weekday through daylight-saving changes.
    """
    at = cadence.at or default_at
    start = previous.astimezone(tz).date()
    grid = _grid(cadence, start, at)
    # Occurrences before today's date cannot be after now; start looking at the first grid
    # point after `previous` itself, or today's, whichever is later.
    today = now.astimezone(tz).date()
    search_from = max(datetime.combine(start, time.max), datetime.combine(today, time.min))
    day = _first_after(grid.xafter(search_from, inc=True), at, tz, now)
    periods = (day - start).days // cadence.step_days
    return local_moment(day, at, tz), periods - 1
