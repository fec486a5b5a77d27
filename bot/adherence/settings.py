"""Settings for the adherence relay, validated once at start-up and read as
`deps.settings.section(AdherenceSettings)`.

Only what is the relay's own: which medications make "stopped on their own" high priority.
The acknowledgement deadlines and the escalation fraction are the side-effect relay's
(CARETHREAD_SIDEEFFECT_DEADLINE_*, CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION), on purpose: one
set of clocks for every report a prescriber must acknowledge.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.adherence.policy import DEFAULT_HIGH_RISK
from bot.config import EnvSettings, parsed


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(item.strip() for item in raw.split(";") if item.strip())
    if not names:
        raise ValueError("must name at least one medication or class (separate them with ';')")
    return names


class AdherenceSettings(EnvSettings):
    # Medication names or classes (case-insensitive, whole words) whose stopping is high priority.
    high_risk: Annotated[tuple[str, ...], parsed(_names)] = Field(
        DEFAULT_HIGH_RISK, validation_alias="CARETHREAD_ADHERENCE_HIGH_RISK"
    )
