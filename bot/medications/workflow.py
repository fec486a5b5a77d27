"""Medication changes: start, change, switch and stop, told to the team, seen, checked."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.medications import service, sweeps
from bot.medications.settings import MedicationSettings

WORKFLOW = Workflow(
    name="medications",
    listeners="handlers.medications",
    sweep_steps=(("medication_seen_reminders", sweeps.remind_unseen),),
    show_sections=(service.history_section,),
    home_items=(service.waiting_for_me,),
    settings=MedicationSettings,
)
