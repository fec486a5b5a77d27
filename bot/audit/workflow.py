"""Audit trail: the thread transcript, `/audit`, exports and periodic verification."""

from __future__ import annotations

from bot.audit import verify
from bot.audit.settings import AuditSettings
from bot.contributions import Workflow

WORKFLOW = Workflow(
    name="audit",
    listeners="handlers.audit",
    sweep_steps=(("audit_verify", verify.periodic_verification),),
    settings=AuditSettings,
)
