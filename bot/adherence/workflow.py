"""Adherence relay: how the patient takes a medication, routed to the prescribers, acknowledged,
planned and escalated on the side-effect relay's clocks."""

from __future__ import annotations

from bot.adherence import service, sweeps
from bot.adherence.settings import AdherenceSettings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="adherence",
    listeners="handlers.adherence",
    sweep_steps=(("adherence_escalation", sweeps.escalate_due),),
    show_sections=(service.open_reports_section,),
    home_items=(service.waiting_for_me,),
    cover_items=(("adherence", service.covered_waiting),),
    digest_notes=(service.digest_notes,),
    card_lines=(service.card_lines,),
    open_risks=(service.open_high_risks,),
    on_team_changed=(service.on_team_changed,),
    settings=AdherenceSettings,
)
