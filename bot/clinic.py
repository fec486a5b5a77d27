"""Clinic time: wall-clock arithmetic in a time zone, and the one definition of working hours
and working days that every workflow uses (review nudges, side-effect business days, handoff
reminders).

Pure: no settings and no I/O here. The clinic's zone, hours and days are configured once
(bot/config.py, `settings.clinic`); this module says what they mean. Two edge cases of
wall-clock time are resolved the way zoneinfo does with `fold=0`: a time skipped by a
spring-forward change (02:30 on that night) lands an hour later in local terms (03:30), and a
time that happens twice in the autumn is its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import BadInput
from bot.inputs import WEEKDAYS, parse_weekday


def parse_days(raw: str) -> frozenset[int]:
    """`mon-fri`, or a comma list `mon,tue,thu`, or both `mon-wed,fri`; a range may wrap
    (`sun-thu`). Raises BadInput when a part is not a weekday or nothing is named."""
    days: set[int] = set()
    for part in raw.lower().replace(" ", "").split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        start = parse_weekday(first, usage="")
        stop = parse_weekday(last, usage="") if sep else start
        day = start
        days.add(day)
        while day != stop:
            day = (day + 1) % 7
            days.add(day)
    if not days:
        raise BadInput("No day is named.")
    return frozenset(days)


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The named IANA zone; the fallback when Slack gave none or one we do not know."""
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")  # pragma: no cover - UTC always exists (tzdata is pinned)


def local_moment(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant at which the wall clock in `tz` shows `day` `at`."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class WorkingHours:
    """When people work, in a given time zone (default 09:00 to 17:00, Monday to Friday).

    Hours decide when a person may be nudged or reminded (in their own zone); days also
    decide what a business day is (in the clinic's zone)."""

    start: time
    end: time
    days: frozenset[int]

    def contains(self, moment: datetime, tz: ZoneInfo) -> bool:
        local = moment.astimezone(tz)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, now: datetime, tz: ZoneInfo) -> datetime:
        """`now` if inside working hours, else the next moment they begin."""
        if self.contains(now, tz):
            return now
        today = now.astimezone(tz).date()
        for offset in range(8):
            day = today + timedelta(days=offset)
            if day.weekday() in self.days:
                opening = local_moment(day, self.start, tz)
                if opening > now:
                    return opening
        raise ValueError("working hours have no working day")  # pragma: no cover - config forbids

    def add_business_time(self, start: datetime, length: timedelta, tz: ZoneInfo) -> datetime:
        """`start + length`, with only working days' time counted (whole days, midnight to
        midnight in `tz`): a day's worth that starts on Friday afternoon ends on Monday
        afternoon when the working days are Monday to Friday."""
        remaining = length
        local = start.astimezone(tz)
        while True:
            if local.weekday() not in self.days:  # the clock resumes at the next working day's 00:00
                day = local.date() + timedelta(days=1)
                while day.weekday() not in self.days:
                    day += timedelta(days=1)
                local = datetime.combine(day, time(0), tzinfo=tz)
                continue
            midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=tz)
            left_today = midnight.astimezone(UTC) - local.astimezone(UTC)
            if remaining <= left_today:
                return (local.astimezone(UTC) + remaining).astimezone(start.tzinfo or UTC)
            remaining -= left_today
            local = midnight

    def describe(self) -> str:
        names = [WEEKDAYS[d][:3].capitalize() for d in sorted(self.days)]
        return f"{self.start:%H:%M}-{self.end:%H:%M}, {', '.join(names)}"
