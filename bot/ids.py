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
    REVIEW_UPDATE = "review_update"
    REVIEW_DECISION = "review_decision"


class Action(StrEnum):
    """Interactive element action_ids."""

    HOME_NEW_CASE_HELP = "home_new_case_help"
    OPEN_THREAD = "open_thread"
    REVIEW_ADD_UPDATE = "review_add_update"
    REVIEW_DECIDE = "review_decide"


class BlockId(StrEnum):
    """Input block_ids: a modal's field errors are keyed by these."""

    LABEL = "label"
    MY_ROLE = "my_role"
    MEDICATIONS = "medications"
    # Case review update modal (role-specific fields, then the optional scores).
    REVIEW_SESSIONS = "review_sessions"
    REVIEW_PROGRESS = "review_progress"
    REVIEW_CONCERNS = "review_concerns"
    REVIEW_REGIMEN = "review_regimen"
    REVIEW_ADHERENCE = "review_adherence"
    REVIEW_CHANGES = "review_changes"
    REVIEW_SOCIAL_NEEDS = "review_social_needs"
    REVIEW_BARRIERS = "review_barriers"
    REVIEW_GENERAL = "review_general"
    REVIEW_PHQ9 = "review_phq9"
    REVIEW_GAD7 = "review_gad7"
    # Case review decision modal.
    REVIEW_DECISION = "review_decision"
    REVIEW_DECISION_NOTE = "review_decision_note"

    @classmethod
    def members_for(cls, role: str) -> str:
        return f"members_{role}"
