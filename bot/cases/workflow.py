"""Shared cases: the case, its care team, medications and home thread; consent on record
(and its expiry reminder); a case's own private channel, kept equal to its team; App Home.

Who reads a case's home (bot/audience.py, core) hooks in here: it checks the audience when a
case is created and whenever its team changes, rechecks home channels periodically, and
tells `/case show` who reads the thread."""

from __future__ import annotations

from bot import audience
from bot.cases import consent, own_channel
from bot.cases.settings import case_settings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="cases",
    listeners="handlers.cases",
    sweep_steps=(("audience", audience.sweep), ("consent_reminders", consent.remind_before_expiry)),
    show_sections=(audience.show_section,),
    on_case_created=(audience.on_case_created,),
    # The own channel first: a kick drops the person from the stored members before the
    # audience is rechecked, so the case is never briefly "restricted".
    on_team_changed=(own_channel.on_team_changed, audience.on_team_changed),
    check_settings=case_settings,
)
