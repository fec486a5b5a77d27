"""Review cadences: pure date arithmetic in a person's own time zone.

A cadence is kept the way the team means it ("every 2 weeks on Monday at 10:00", in the
time zone of whoever set it). Every due time is computed from that wall-clock rule with
zoneinfo and only then turned into UTC for storage, so across a daylight-saving change the
review still comes due at 10:00 local and it is the UTC instant that moves.

Two edge cases of wall-clock time, resolved the way zoneinfo does with `fold=0`: a time
skipped by a spring-forward change (02:30 on that night) comes due an hour later in local
terms (03:30), and a time that happens twice in the autumn comes due at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

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


def first_due(cadence: Cadence, tz: ZoneInfo, now: datetime, *, default_at: time) -> datetime:
    """When a cadence set now first comes due.

    With a weekday: the next such weekday at the time (possibly later today), then every N
    weeks. Without: N days or weeks from today, at the time.
    """
    at = cadence.at or default_at
    today = now.astimezone(tz).date()
    if cadence.weekday is not None:
        day = today + timedelta(days=(cadence.weekday - today.weekday()) % 7)
        while local_moment(day, at, tz) <= now:
            day += timedelta(days=7)
        return local_moment(day, at, tz)
    return local_moment(today + timedelta(days=cadence.step_days), at, tz)


def next_due_after(
    cadence: Cadence, tz: ZoneInfo, previous: datetime, now: datetime, *, default_at: time
) -> tuple[datetime, int]:
    """The first due time after `now` on the cadence's grid through `previous`, and how many
    grid points were skipped on the way (periods missed while the app was down).

    Advancing in whole periods of local dates (not by adding hours to a UTC instant) is what
    keeps the wall-clock time and the weekday through daylight-saving changes.
    """
    at = cadence.at or default_at
    step = cadence.step_days
    start = previous.astimezone(tz).date()
    today = now.astimezone(tz).date()
    periods = max(1, (today - start).days // step)
    day = start + timedelta(days=periods * step)
    while local_moment(day, at, tz) <= now:
        periods += 1
        day += timedelta(days=step)
    return local_moment(day, at, tz), periods - 1
