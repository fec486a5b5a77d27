"""Threaded handoffs: I-PASS, accept with read-back or decline, coverage that ends by itself."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.handoffs import service

WORKFLOW = Workflow(
    name="handoffs",
    listeners="handlers.handoffs",
    sweep_steps=(("handoffs", service.sweep),),
    show_sections=(service.handoff_section,),
    home_items=(service.waiting_handoffs,),
    readers=(service.handoff_reader,),
)
