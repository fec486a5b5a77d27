"""Shared cases: the case, its care team, medications and home thread; consent on record
(and its expiry reminder); a case's own private channel, kept equal to its team; App Home."""

from __future__ import annotations

from bot.cases import consent, own_channel
from bot.cases.settings import case_settings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="cases",
    listeners="handlers.cases",
    sweep_steps=(("consent_reminders", consent.remind_before_expiry),),
    on_team_changed=(own_channel.on_team_changed,),
    check_settings=case_settings,
)
