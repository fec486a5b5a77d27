"""Settings for shared cases, validated once at start-up (load_settings) and read as
`deps.settings.section(CaseSettings)`, so a typo stops the app with the name of the variable
instead of turning into a role rule that silently lets everyone through."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import Field

from bot.config import EnvSettings, Settings, parsed, whole

SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")


def _prescribers(raw: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    bad = [item for item in items if not SLACK_ID.match(item)]
    if bad:
        raise ValueError(
            "takes Slack user ids (U…, W…) and user group ids (S…), comma-separated; "
            f"these are neither: {', '.join(bad)}"
        )
    return items


class CaseSettings(EnvSettings):
    # CARETHREAD_PRESCRIBERS: who may hold the prescriber role at all. Empty: anyone.
    prescribers: Annotated[tuple[str, ...], parsed(_prescribers)] = Field(
        (), validation_alias="CARETHREAD_PRESCRIBERS"
    )
    consent_remind_days: Annotated[int, whole(1, 365)] = Field(
        14, validation_alias="CARETHREAD_CONSENT_REMIND_DAYS"
    )

    @property
    def prescriber_users(self) -> frozenset[str] | None:
        """Users listed by id; None when the setting is empty (anyone may prescribe)."""
        if not self.prescribers:
            return None
        return frozenset(item for item in self.prescribers if not item.startswith("S"))

    @property
    def prescriber_groups(self) -> tuple[str, ...]:
        """User groups (S…), resolved with usergroups.users.list."""
        return tuple(item for item in self.prescribers if item.startswith("S"))

    @property
    def limits_prescribers(self) -> bool:
        return bool(self.prescribers)

    @property
    def consent_remind_before(self) -> timedelta:
        return timedelta(days=self.consent_remind_days)


def case_settings(settings: Settings) -> CaseSettings:
    return settings.section(CaseSettings)
