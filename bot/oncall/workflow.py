"""After hours: the on-call rota (`/oncall`) and the routing of urgent items to it."""

from __future__ import annotations

from bot.contributions import Workflow
from bot.oncall import service

WORKFLOW = Workflow(
    name="oncall",
    listeners="handlers.oncall",
    readers=(service.cover_reader,),
    home_items=(service.covered_waiting,),
)
