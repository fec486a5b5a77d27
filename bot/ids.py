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
    SCORE = "/score"
    REGISTRY = "/registry"


class Callback(StrEnum):
    """Modal callback_ids."""

    CASE_CREATE = "case_create"
    CASE_CONSENT = "case_consent"
    # Handoffs: the I-PASS form, the receiver's synthesis (accept) and decline reason.
    HANDOFF_FORM = "handoff_form"
    HANDOFF_ACCEPT = "handoff_accept"
    HANDOFF_DECLINE = "handoff_decline"
    SIDE_EFFECT_REPORT = "side_effect_report"
    SIDE_EFFECT_PLAN = "side_effect_plan"
    REVIEW_UPDATE = "review_update"
    REVIEW_DECISION = "review_decision"


class Action(StrEnum):
    """Interactive element action_ids."""

    HOME_NEW_CASE_HELP = "home_new_case_help"
    OPEN_THREAD = "open_thread"
    VIEW_DETAILS = "view_details"  # on a restricted message (value: its outbox id)
    # Handoffs: the receiver's buttons (value: the handoff id).
    HANDOFF_ACCEPT = "handoff_accept"
    HANDOFF_DECLINE = "handoff_decline"
    SIDE_EFFECT_ACK = "side_effect_ack"
    SIDE_EFFECT_PLAN = "side_effect_plan"
    REVIEW_ADD_UPDATE = "review_add_update"
    REVIEW_DECIDE = "review_decide"
    AUDIT_OLDER = "audit_older"  # value "<case id>:<page>"
    AUDIT_NEWER = "audit_newer"
    SCORE_ITEM9_ACK = "score_item9_ack"  # value: the item 9 alert's id
    # Starts the safety workflow's assessment (bot/safety, built separately; value: the case id).
    # The measures workflow offers it after a PHQ-9 item 9 of 1 or more.
    SAFETY_START = "safety_start"


class BlockId(StrEnum):
    """Input block_ids: a modal's field errors are keyed by these."""

    LABEL = "label"
    MY_ROLE = "my_role"
    MEDICATIONS = "medications"
    # Handoffs (I-PASS).
    SEVERITY = "severity"
    SUMMARY = "summary"
    ACTIONS = "actions"
    AWARENESS = "awareness"
    HANDOFF_KIND = "handoff_kind"
    COVERAGE_END = "coverage_end"
    SYNTHESIS = "synthesis"
    DECLINE_REASON = "decline_reason"
    # Side-effect report and plan modals.
    SE_CASE = "se_case"
    SE_MEDICATION = "se_medication"
    SE_MEDICATION_OTHER = "se_medication_other"
    SE_SYMPTOMS = "se_symptoms"  # one checkbox group per chunk: se_symptoms_0, se_symptoms_1
    SE_SYMPTOMS_OTHER = "se_symptoms_other"
    SE_ONSET = "se_onset"
    SE_FREQUENCY = "se_frequency"
    SE_INTENSITY = "se_intensity"
    SE_BURDEN = "se_burden"
    SE_RED_FLAGS = "se_red_flags"  # chunked like SE_SYMPTOMS (Slack allows 10 checkboxes a group)
    SE_NOTES = "se_notes"
    SE_PLAN = "se_plan"
    SE_PLAN_NOTE = "se_plan_note"
    SE_ACTIONS = "se_actions"
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
    REVIEW_ITEM9 = "review_item9"  # PHQ-9 item 9, 0-3
    REVIEW_SCORES_TAKEN = "review_scores_taken"  # the date the scores were taken
    # Case review decision modal.
    REVIEW_DECISION = "review_decision"
    REVIEW_DECISION_NOTE = "review_decision_note"
    # New case form: its own private channel. Consent form (/case consent).
    OWN_CHANNEL = "own_channel"
    CONSENT_GIVEN = "consent_given"
    CONSENT_EXPIRES = "consent_expires"
    CONSENT_ROLES = "consent_roles"
    CONSENT_ORGANISATIONS = "consent_organisations"
    CONSENT_PART2 = "consent_part2"
    CONSENT_NOTE = "consent_note"

    @classmethod
    def members_for(cls, role: str) -> str:
        return f"members_{role}"

    @classmethod
    def chunk(cls, base: str, index: int) -> str:
        """The block_id of the index-th checkbox group of a list split in groups of 10."""
        return f"{base}_{index}"
