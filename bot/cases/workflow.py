"""Shared cases: the case, its care team, medications and home thread; App Home."""

from __future__ import annotations

from bot.cases.settings import case_settings
from bot.contributions import Workflow

WORKFLOW = Workflow(name="cases", listeners="handlers.cases", check_settings=case_settings)
