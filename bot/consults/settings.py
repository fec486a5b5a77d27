"""Settings for psychiatric consultation, validated once at start-up and read as
`deps.settings.section(ConsultSettings)`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field

from bot.config import EnvSettings, parsed, whole

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")


def _consultants(raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    bad = [item for item in items if not SLACK_USER.match(item)]
    if bad:
        raise ValueError(f"takes Slack user ids (U…, W…), comma-separated; these are not: {', '.join(bad)}")
    return items


class ConsultSettings(EnvSettings):
    # CARETHREAD_CONSULTANTS: who is asked when a case's team has no consultant of its own.
    consultants: Annotated[tuple[str, ...], parsed(_consultants)] = Field(
        (), validation_alias="CARETHREAD_CONSULTANTS"
    )
    # CARETHREAD_CONSULT_REMIND_DAYS: how long a consultation waits for the recommendation, and
    # then for the prescriber's answer, before the one reminder of that stage.
    remind_days: Annotated[int, whole(1, 60)] = Field(3, validation_alias="CARETHREAD_CONSULT_REMIND_DAYS")

    @property
    def remind_after(self) -> timedelta:
        return timedelta(days=self.remind_days)
