"""Settings for scheduled case reviews, validated once at start-up (load_settings) and read
as `deps.settings.section(ReviewSettings)`.

A typo in CARETHREAD_REVIEW_NUDGE_HOURS stops start-up with a message naming the variable,
instead of surfacing as a nudge that never comes. When nudges may be sent (working hours and
days) and the zone for people Slack gives none for are the clinic's (`settings.clinic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from typing import Annotated

from pydantic import Field

from bot.config import ClockTime, EnvSettings, parsed, whole
from bot.errors import BadInput
from bot.inputs import parse_weekday
from bot.reviews.cadence import Cadence, Period
from bot.reviews.commands import parse_cadence

OFF = ("off", "none", "no", "false", "0")


@dataclass(frozen=True)
class DigestRule:
    """The weekly digest: a weekday and a wall-clock time in the clinic's zone."""

    weekday: int
    at: time

    @property
    def cadence(self) -> Cadence:
        return Cadence(every=1, period=Period.WEEKS, weekday=self.weekday, at=self.at)

    def describe(self, tz: str) -> str:
        return f"{self.cadence.describe()} ({tz})"


def _cadence(raw: str) -> Cadence | None:
    if raw.lower() in OFF:
        return None
    try:
        return parse_cadence(raw, usage="")
    except BadInput as err:
        raise ValueError(
            f"must be a cadence like '2 weeks' or '1 week on monday at 10:00', or 'off' ({err.message})"
        ) from None


def _weekday_or_off(raw: str) -> int | None:
    if raw.lower() in OFF:
        return None
    try:
        return parse_weekday(raw, usage="")
    except BadInput:
        raise ValueError("must be a weekday or 'off'") from None


def _channel(raw: str) -> str | None:
    if raw.lower() == "home":
        return None
    if not (raw[:1] in "CG" and raw[1:].isalnum() and raw.upper() == raw and len(raw) >= 3):
        raise ValueError("must be a channel id like C0123456789 (or 'home')")
    return raw


class ReviewSettings(EnvSettings):
    # For new cases; None: no reviews until someone sets a cadence.
    default_cadence: Annotated[Cadence | None, parsed(_cadence)] = Field(
        Cadence(2, Period.WEEKS), validation_alias="CARETHREAD_DEFAULT_REVIEW_EVERY"
    )
    default_at: ClockTime = Field(time(9), validation_alias="CARETHREAD_REVIEW_AT")  # a cadence names no time
    nudge_hours: Annotated[int, whole(1, 24 * 30)] = Field(
        48, validation_alias="CARETHREAD_REVIEW_NUDGE_HOURS"
    )
    overdue_days: Annotated[int, whole(1, 365)] = Field(7, validation_alias="CARETHREAD_REVIEW_OVERDUE_DAYS")
    digest_day: Annotated[int | None, parsed(_weekday_or_off)] = Field(
        0, validation_alias="CARETHREAD_DIGEST_DAY"
    )
    digest_at: ClockTime = Field(time(8), validation_alias="CARETHREAD_DIGEST_TIME")
    # None: each care-team channel gets the digest of its own cases.
    digest_channel: Annotated[str | None, parsed(_channel)] = Field(
        None, validation_alias="CARETHREAD_DIGEST_CHANNEL"
    )

    @property
    def nudge_after(self) -> timedelta:
        return timedelta(hours=self.nudge_hours)

    @property
    def overdue_after(self) -> timedelta:
        """An open review older than this is overdue."""
        return timedelta(days=self.overdue_days)

    @property
    def digest(self) -> DigestRule | None:
        return None if self.digest_day is None else DigestRule(self.digest_day, self.digest_at)
