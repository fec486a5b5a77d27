"""Every action_id, callback_id, block_id and command name, in one place.

Handlers and templates refer to these names; a typo becomes an AttributeError at import
time instead of a button that silently does nothing.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    CASE = "/case"
    SIDE_EFFECT = "/sideeffect"
    REVIEW = "/review"
    HANDOFF = "/handoff"
    AUDIT = "/audit"


class Callback(StrEnum):
    """Modal callback_ids."""

    CASE_CREATE = "case_create"


class Action(StrEnum):
    """Interactive element action_ids."""

    HOME_NEW_CASE_HELP = "home_new_case_help"
    OPEN_THREAD = "open_thread"
    AUDIT_OLDER = "audit_older"  # value "<case id>:<page>"
    AUDIT_NEWER = "audit_newer"


class BlockId(StrEnum):
    """Input block_ids: a modal's field errors are keyed by these."""

    LABEL = "label"
    MY_ROLE = "my_role"
    MEDICATIONS = "medications"

    @classmethod
    def members_for(cls, role: str) -> str:
        return f"members_{role}"
