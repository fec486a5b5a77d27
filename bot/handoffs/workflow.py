"""Threaded handoffs: I-PASS, accept with read-back or decline, coverage that ends by itself."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.handoffs import service
from bot.handoffs.settings import HandoffSettings

WORKFLOW = Workflow(
    name="handoffs",
    listeners="handlers.handoffs",
    sweep_steps=(("handoffs", service.sweep),),
    show_sections=(service.handoff_section,),
    home_items=(service.waiting_handoffs,),
    readers=(service.handoff_reader,),
    on_case_closed=(service.on_case_closed,),
    open_risks=(service.open_risks,),
    settings=HandoffSettings,
)
