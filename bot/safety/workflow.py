"""Suicide risk and safety plans: `/safety`, urgent alerts for high and imminent risk,
follow-up reminders, and the current risk level on the case."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.safety import service, sweeps

WORKFLOW = Workflow(
    name="safety",
    listeners="handlers.safety",
    sweep_steps=(("safety_alerts", sweeps.chase_alerts), ("safety_follow_ups", sweeps.follow_ups)),
    show_sections=(service.show_section,),
    card_lines=(service.risk_line,),
    home_items=(service.waiting_for_me,),
    cover_items=(("safety", service.covered_waiting),),
    urgent_items=(service.high_risk_cases,),
    open_risks=(service.open_risks,),
)
