"""Settings for the audit trail, validated once at start-up (load_settings) and read as
`deps.settings.section(AuditSettings)`. Alerts go to the core's CARETHREAD_ADMIN_CHANNEL."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from bot.config import DEFAULT_DATA_DIR, EnvSettings, whole

ANCHOR_DIR = "CARETHREAD_AUDIT_ANCHOR_DIR"


class AuditSettings(EnvSettings):
    # How often the chain is verified incrementally (full check: python -m bot.audit verify).
    verify_seconds: Annotated[int, whole(60, 7 * 86400)] = Field(
        3600, validation_alias="CARETHREAD_AUDIT_VERIFY_SECONDS"
    )
    # Where signed checkpoints of the chain head are appended (bot/audit/anchor.py). Unset: the
    # chain is anchored only in its own database (a warning at start-up says so).
    anchor_dir: Path | None = Field(None, validation_alias=ANCHOR_DIR)

    @model_validator(mode="before")
    @classmethod
    def _anchor_outside_data(cls, values: Any) -> Any:
        """The anchor must not live with the database it anchors: whoever can rewrite the data
        directory (or restores an old copy of it) would take the checkpoints along."""
        if not isinstance(values, dict) or not values.get(ANCHOR_DIR):
            return values
        anchor = Path(str(values[ANCHOR_DIR])).expanduser().resolve()
        data = Path(str(values.get("CARETHREAD_DATA_DIR") or DEFAULT_DATA_DIR)).expanduser().resolve()
        if anchor == data or data in anchor.parents:
            raise ValueError(
                f"{ANCHOR_DIR} must be outside the data directory ({data}), ideally on another disk "
                f"or host, got {str(values[ANCHOR_DIR])!r}."
            )
        return values
