"""Side-effect relay: report, route to prescribers, acknowledge, plan, escalate."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.side_effects import recheck, service, sweeps
from bot.side_effects.settings import SideEffectSettings

WORKFLOW = Workflow(
    name="side_effects",
    listeners="handlers.side_effects",
    sweep_steps=(("side_effect_escalation", sweeps.escalate_due), ("side_effect_recheck", recheck.ask_due)),
    show_sections=(service.open_reports_section,),
    home_items=(service.waiting_for_me,),
    cover_items=(("side_effect", service.covered_waiting),),
    urgent_items=(service.urgent_open_reports,),
    open_risks=(service.open_urgent_risks,),
    on_team_changed=(service.on_team_changed,),
    settings=SideEffectSettings,
)
