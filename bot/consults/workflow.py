"""Psychiatric consultation: request, the consultant's recommendation, the prescriber's answer,
one reminder per stage, and the consultant's minutes per case for billing."""

from __future__ import annotations

from bot.consults import service
from bot.consults.settings import ConsultSettings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="consults",
    listeners="handlers.consults",
    sweep_steps=(("consult_reminders", service.remind_due),),
    show_sections=(service.consult_section,),
    home_items=(service.consults_waiting,),
    readers=(service.consult_reader,),
    case_buttons=(service.consult_buttons,),
    settings=ConsultSettings,
)
