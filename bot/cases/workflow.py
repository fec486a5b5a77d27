"""Shared cases: the case, its care team, medications and home thread; consent on record
(and its expiry reminder); App Home."""

from __future__ import annotations

from bot.cases import consent
from bot.cases.settings import case_settings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="cases",
    listeners="handlers.cases",
    sweep_steps=(("consent_reminders", consent.remind_before_expiry),),
    check_settings=case_settings,
)
