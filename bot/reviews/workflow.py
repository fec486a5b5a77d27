"""Scheduled case reviews: cadence, prompts, updates, nudges, decisions, the caseload digest."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.reviews import service, sweeps
from bot.reviews.settings import ReviewSettings

WORKFLOW = Workflow(
    name="reviews",
    listeners="handlers.reviews",
    sweep_steps=(
        ("reviews", sweeps.fire_due_reviews),
        ("review_nudges", sweeps.send_due_nudges),
        ("review_digest", sweeps.post_weekly_digest),
    ),
    show_sections=(service.review_section,),
    home_items=(service.reviews_waiting,),
    on_case_created=(service.default_schedule,),
    settings=ReviewSettings,
)
