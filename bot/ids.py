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
    SAFETY = "/safety"
    ONCALL = "/oncall"


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
    SAFETY_FORM = "safety_form"


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
    # Safety: a public button that opens the /safety form for a case (value: the case id), for
    # any workflow that asks the person to complete one (side-effect suicidality red flag,
    # PHQ-9 item 9); and Acknowledge on an urgent safety alert (value: the record id).
    SAFETY_START = "safety_start"
    SAFETY_ACK = "safety_ack"


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
    # Safety form (/safety): how risk was assessed, the level, the Stanley-Brown plan, follow-up.
    SAFETY_METHOD = "safety_method"
    SAFETY_RISK = "safety_risk"
    SAFETY_WARNING_SIGNS = "safety_warning_signs"
    SAFETY_COPING = "safety_coping"
    SAFETY_DISTRACTION = "safety_distraction"
    SAFETY_HELP = "safety_help"
    SAFETY_PROFESSIONALS = "safety_professionals"
    SAFETY_ENVIRONMENT = "safety_environment"
    SAFETY_OWNER = "safety_owner"
    SAFETY_FOLLOW_UP = "safety_follow_up"

    @classmethod
    def members_for(cls, role: str) -> str:
        return f"members_{role}"

    @classmethod
    def chunk(cls, base: str, index: int) -> str:
        """The block_id of the index-th checkbox group of a list split in groups of 10."""
        return f"{base}_{index}"
