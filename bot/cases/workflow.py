"""Shared cases: the case, its care team, medications and home thread; App Home.

Who reads a case's home (bot/audience.py, core) hooks in here: it checks the audience when a
case is created and whenever its team changes, rechecks home channels periodically, and
tells `/case show` who reads the thread."""

from __future__ import annotations

from bot import audience
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="cases",
    listeners="handlers.cases",
    sweep_steps=(("audience", audience.sweep),),
    show_sections=(audience.show_section,),
    on_case_created=(audience.on_case_created,),
    on_team_changed=(audience.on_team_changed,),
)
