"""Settings for shared cases, read from the CARETHREAD_* environment (Settings.extra) and
validated at start-up (WORKFLOW.check_settings), so a typo stops the app with the name of
the variable instead of turning into a role rule that silently lets everyone through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache

from bot.config import ConfigError, Settings, int_setting

SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class CaseSettings:
    # CARETHREAD_PRESCRIBERS: who may hold the prescriber role at all. None: anyone.
    prescriber_users: frozenset[str] | None
    prescriber_groups: tuple[str, ...]  # user groups (S...), resolved with usergroups.users.list
    consent_remind_before: timedelta  # CARETHREAD_CONSENT_REMIND_DAYS

    @property
    def limits_prescribers(self) -> bool:
        return self.prescriber_users is not None or bool(self.prescriber_groups)


def case_settings(settings: Settings) -> CaseSettings:
    env = settings.extra
    return _build(
        (env.get("CARETHREAD_PRESCRIBERS") or "").strip(),
        (env.get("CARETHREAD_CONSENT_REMIND_DAYS") or "").strip(),
    )


@lru_cache(maxsize=16)
def _build(prescribers: str, remind_days: str) -> CaseSettings:
    items = [item.strip() for item in prescribers.split(",") if item.strip()]
    bad = [item for item in items if not SLACK_ID.match(item)]
    if bad:
        raise ConfigError(
            "CARETHREAD_PRESCRIBERS takes Slack user ids (U…, W…) and user group ids (S…), "
            f"comma-separated; these are neither: {', '.join(bad)}."
        )
    users = frozenset(item for item in items if not item.startswith("S"))
    groups = tuple(item for item in items if item.startswith("S"))
    days = int_setting(
        {"CARETHREAD_CONSENT_REMIND_DAYS": remind_days}, "CARETHREAD_CONSENT_REMIND_DAYS", 14, low=1, high=365
    )
    return CaseSettings(
        prescriber_users=users if items else None,
        prescriber_groups=groups,
        consent_remind_before=timedelta(days=days),
    )
