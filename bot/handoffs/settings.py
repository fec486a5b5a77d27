"""Settings for threaded handoffs, validated once at start-up (load_settings) and read as
`deps.settings.section(HandoffSettings)`: when a handoff still waiting for its receiver
reminds the receiver (inside the receiver's working hours, `settings.clinic`) and tells the
sender. Both count from when the handoff was sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import Field, model_validator

from bot.config import EnvSettings, whole

REMIND_SETTING = "CARETHREAD_HANDOFF_REMIND_MINUTES"
TELL_SENDER_SETTING = "CARETHREAD_HANDOFF_TELL_SENDER_MINUTES"
MAX_DELAY_MINUTES = 60 * 24 * 30
Minutes = Annotated[int, whole(1, MAX_DELAY_MINUTES)]


class HandoffSettings(EnvSettings):
    remind_minutes: Minutes = Field(240, validation_alias=REMIND_SETTING)  # 4 hours
    tell_sender_minutes: Minutes = Field(1440, validation_alias=TELL_SENDER_SETTING)  # 1 day

    @model_validator(mode="after")
    def _remind_first(self) -> Self:
        if self.tell_sender_minutes < self.remind_minutes:
            raise ValueError(
                f"{TELL_SENDER_SETTING} ({self.tell_sender_minutes} min) must not be shorter than "
                f"{REMIND_SETTING} ({self.remind_minutes} min): the receiver is reminded first, the "
                "sender told later."
            )
        return self

    @property
    def remind_after(self) -> timedelta:
        """From sending: remind the receiver once (at the next working hour from then)."""
        return timedelta(minutes=self.remind_minutes)

    @property
    def tell_sender_after(self) -> timedelta:
        """From sending: tell the sender once that it is still pending."""
        return timedelta(minutes=self.tell_sender_minutes)
