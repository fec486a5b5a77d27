"""The one list of workflows. Adding a workflow is a package under bot/ with a `workflow.py`,
a handlers module, and one line here; nothing registers itself by being imported.

This module and bot/factory.py are the composition root: the only core modules that know
the workflows by name.
"""

from __future__ import annotations

from bot.adherence.workflow import WORKFLOW as ADHERENCE
from bot.audit.workflow import WORKFLOW as AUDIT
from bot.cases.workflow import WORKFLOW as CASES
from bot.consults.workflow import WORKFLOW as CONSULTS
from bot.contributions import Workflow
from bot.handoffs.workflow import WORKFLOW as HANDOFFS
from bot.measures.workflow import WORKFLOW as MEASURES
from bot.medications.workflow import WORKFLOW as MEDICATIONS
from bot.oncall.workflow import WORKFLOW as ONCALL
from bot.reviews.workflow import WORKFLOW as REVIEWS
from bot.safety.workflow import WORKFLOW as SAFETY
from bot.side_effects.workflow import WORKFLOW as SIDE_EFFECTS

WORKFLOWS: tuple[Workflow, ...] = (
    CASES,
    MEDICATIONS,
    SIDE_EFFECTS,
    MEASURES,
    REVIEWS,
    HANDOFFS,
    AUDIT,
    ADHERENCE,
    CONSULTS,
    ONCALL,
    SAFETY,
)
