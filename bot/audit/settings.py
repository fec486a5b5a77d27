"""Settings for the audit trail, validated once at start-up (load_settings) and read as
`deps.settings.section(AuditSettings)`. Alerts go to the core's CARETHREAD_ADMIN_CHANNEL."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from bot.config import EnvSettings, whole


class AuditSettings(EnvSettings):
    # How often the chain is verified incrementally (full check: python -m bot.audit verify).
    verify_seconds: Annotated[int, whole(60, 7 * 86400)] = Field(
        3600, validation_alias="CARETHREAD_AUDIT_VERIFY_SECONDS"
    )
