"""Measurement-based care: dated PHQ-9, GAD-7 and AUDIT-C scores per episode of care, PHQ-9
item 9 alerts on the urgent clock, and the caseload registry (`/registry`, App Home)."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.measures import registry, service, sweeps

WORKFLOW = Workflow(
    name="measures",
    listeners="handlers.measures",
    sweep_steps=(("item9_alerts", sweeps.escalate_item9_alerts),),
    show_sections=(service.scores_section,),
    home_items=(service.alerts_waiting,),
    cover_items=(("item9", service.covered_waiting),),
    home_sections=(registry.caseload_section,),
    urgent_items=(service.urgent_open_alerts,),
    open_risks=(service.open_item9_risks,),
    on_case_created=(service.on_case_created,),
    on_case_reopened=(service.on_case_reopened,),
)
