"""Settings for scheduled case reviews, read from the CARETHREAD_* environment (Settings.extra).

They are validated when the app is built (handlers/reviews.register), so a typo in
CARETHREAD_WORKING_HOURS stops start-up with a message naming the variable, instead of
surfacing as a nudge that never comes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.config import ConfigError, Settings
from bot.errors import BadInput
from bot.reviews.cadence import Cadence, Period, WorkingHours, zone
from bot.reviews.commands import parse_cadence, parse_clock_time, parse_weekday

KEYS = (
    "CARETHREAD_DEFAULT_REVIEW_EVERY",
    "CARETHREAD_REVIEW_AT",
    "CARETHREAD_FALLBACK_TZ",
    "CARETHREAD_REVIEW_NUDGE_HOURS",
    "CARETHREAD_WORKING_HOURS",
    "CARETHREAD_WORKING_DAYS",
    "CARETHREAD_REVIEW_OVERDUE_DAYS",
    "CARETHREAD_NEW_CASE_DAYS",
    "CARETHREAD_DIGEST_DAY",
    "CARETHREAD_DIGEST_TIME",
    "CARETHREAD_DIGEST_TZ",
    "CARETHREAD_DIGEST_CHANNEL",
)
OFF = ("off", "none", "no", "false", "0")


@dataclass(frozen=True)
class DigestRule:
    """The weekly digest: a weekday and a wall-clock time in one zone."""

    weekday: int
    at: time
    tz: str

    @property
    def cadence(self) -> Cadence:
        return Cadence(every=1, period=Period.WEEKS, weekday=self.weekday, at=self.at)

    def describe(self) -> str:
        return f"{self.cadence.describe()} ({self.tz})"


@dataclass(frozen=True)
class ReviewSettings:
    default_cadence: Cadence | None  # for new cases; None: no reviews until someone sets one
    default_at: time  # when a cadence names no time
    fallback_tz: str  # when a person's Slack time zone is unknown
    nudge_after: timedelta
    working_hours: WorkingHours
    overdue_after: timedelta  # an open review older than this is overdue
    new_case_window: timedelta
    digest: DigestRule | None
    digest_channel: str | None  # None: each care-team channel gets its own cases

    def zone(self, name: str | None) -> ZoneInfo:
        return zone(name, self.fallback_tz)


def review_settings(settings: Settings) -> ReviewSettings:
    env = settings.extra
    return _build(tuple((k, (env.get(k) or "").strip()) for k in KEYS))


@lru_cache(maxsize=16)
def _build(pairs: tuple[tuple[str, str], ...]) -> ReviewSettings:
    env: Mapping[str, str] = dict(pairs)
    fallback_tz = _tz(env, "CARETHREAD_FALLBACK_TZ", "UTC")
    default_at = _time(env, "CARETHREAD_REVIEW_AT", "09:00")
    return ReviewSettings(
        default_cadence=_cadence(env.get("CARETHREAD_DEFAULT_REVIEW_EVERY") or "2 weeks"),
        default_at=default_at,
        fallback_tz=fallback_tz,
        nudge_after=timedelta(hours=_number(env, "CARETHREAD_REVIEW_NUDGE_HOURS", 48, 1, 24 * 30)),
        working_hours=WorkingHours(
            *_hours(env.get("CARETHREAD_WORKING_HOURS") or "09:00-17:00"),
            days=_days(env.get("CARETHREAD_WORKING_DAYS") or "mon-fri"),
        ),
        overdue_after=timedelta(days=_number(env, "CARETHREAD_REVIEW_OVERDUE_DAYS", 7, 1, 365)),
        new_case_window=timedelta(days=_number(env, "CARETHREAD_NEW_CASE_DAYS", 14, 1, 365)),
        digest=_digest(env, fallback_tz),
        digest_channel=_channel(env.get("CARETHREAD_DIGEST_CHANNEL") or ""),
    )


def _cadence(raw: str) -> Cadence | None:
    if raw.lower() in OFF:
        return None
    try:
        return parse_cadence(raw, usage="")
    except BadInput as err:
        raise ConfigError(
            f"CARETHREAD_DEFAULT_REVIEW_EVERY={raw!r}: {err.message} Example: '2 weeks' or "
            "'1 week on monday at 10:00', or 'off'."
        ) from None


def _time(env: Mapping[str, str], name: str, default: str) -> time:
    raw = env.get(name) or default
    try:
        return parse_clock_time(raw, usage="")
    except BadInput:
        raise ConfigError(f"{name} must be a 24-hour time like 09:00, got {raw!r}.") from None


def _tz(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone like America/New_York, got {raw!r}.") from None
    return raw


def _number(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}.")
    return int(raw)


def _hours(raw: str) -> tuple[time, time]:
    start, sep, end = raw.replace("\u2013", "-").partition("-")
    try:
        if not sep:
            raise BadInput("")
        first, last = parse_clock_time(start, usage=""), parse_clock_time(end, usage="")
    except BadInput:
        raise ConfigError(f"CARETHREAD_WORKING_HOURS must look like 09:00-17:00, got {raw!r}.") from None
    if first >= last:
        raise ConfigError(f"CARETHREAD_WORKING_HOURS must start before it ends, got {raw!r}.")
    return first, last


def _days(raw: str) -> frozenset[int]:
    """`mon-fri`, or a comma list `mon,tue,thu`, or both `mon-wed,fri`."""
    days: set[int] = set()
    try:
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
    except BadInput:
        raise ConfigError(
            f"CARETHREAD_WORKING_DAYS must look like mon-fri or mon,tue,thu, got {raw!r}."
        ) from None
    if not days:
        raise ConfigError("CARETHREAD_WORKING_DAYS names no day.")
    return frozenset(days)


def _digest(env: Mapping[str, str], fallback_tz: str) -> DigestRule | None:
    raw_day = env.get("CARETHREAD_DIGEST_DAY") or "mon"
    if raw_day.lower() in OFF:
        return None
    try:
        weekday = parse_weekday(raw_day, usage="")
    except BadInput:
        raise ConfigError(f"CARETHREAD_DIGEST_DAY must be a weekday or 'off', got {raw_day!r}.") from None
    return DigestRule(
        weekday=weekday,
        at=_time(env, "CARETHREAD_DIGEST_TIME", "08:00"),
        tz=_tz(env, "CARETHREAD_DIGEST_TZ", fallback_tz),
    )


def _channel(raw: str) -> str | None:
    if not raw or raw.lower() == "home":
        return None
    if not (raw[:1] in "CG" and raw[1:].isalnum() and raw.upper() == raw and len(raw) >= 3):
        raise ConfigError(
            f"CARETHREAD_DIGEST_CHANNEL must be a channel id like C0123456789 (or 'home'), got {raw!r}."
        )
    return raw
