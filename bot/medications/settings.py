"""Settings for medication changes, validated once at start-up (load_settings) and read as
`deps.settings.section(MedicationSettings)`: how long the team has to mark a change seen
before those who have not are reminded, once. The hours count on the clinic's working days
(`settings.clinic`), so a change made on Friday afternoon does not chase people over the
weekend, and the sweep then waits for each person's working hours in their own zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field

from bot.config import ClinicSettings, EnvSettings, whole

SEEN_HOURS_SETTING = "CARETHREAD_MEDCHANGE_SEEN_HOURS"
MAX_SEEN_HOURS = 24 * 30


class MedicationSettings(EnvSettings):
    seen_hours: Annotated[int, whole(1, MAX_SEEN_HOURS)] = Field(24, validation_alias=SEEN_HOURS_SETTING)

    def remind_at(self, changed_at: datetime, clinic: ClinicSettings) -> datetime:
        """When to remind those who have not seen a change: `seen_hours` later, counting
        the clinic's working days only (bot/clinic.py add_business_time)."""
        return clinic.working_hours.add_business_time(
            changed_at, timedelta(hours=self.seen_hours), clinic.zone
        )
