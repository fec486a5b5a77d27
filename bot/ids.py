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
    ADHERENCE = "/adherence"
    CONSULT = "/consult"
    SCORE = "/score"
    REGISTRY = "/registry"
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
    ADHERENCE_REPORT = "adherence_report"
    ADHERENCE_PLAN = "adherence_plan"
    CONSULT_RECOMMEND = "consult_recommend"
    CONSULT_RESPOND = "consult_respond"  # private_metadata "<consult id>:<modify|decline>"
    # Medication changes: add / change / stop (private_metadata: JSON of case, verb, report),
    # and the pharmacist's concern note (private_metadata: the change id).
    MEDICATION_FORM = "medication_form"
    MEDICATION_CONCERN = "medication_concern"
    SAFETY_FORM = "safety_form"


class Action(StrEnum):
    """Interactive element action_ids."""

    HOME_NEW_CASE_HELP = "home_new_case_help"
    OPEN_THREAD = "open_thread"
    VIEW_DETAILS = "view_details"  # on a restricted message (value: its outbox id)
    CASE_CLOSE_CONFIRM = "case_close_confirm"  # close despite open risks (value: {"case", "reason"})
    # Handoffs: the receiver's buttons (value: the handoff id).
    HANDOFF_ACCEPT = "handoff_accept"
    HANDOFF_DECLINE = "handoff_decline"
    SIDE_EFFECT_ACK = "side_effect_ack"
    SIDE_EFFECT_PLAN = "side_effect_plan"
    SIDE_EFFECT_RECHECK = "side_effect_recheck"  # value: the recheck id; opens the report form again
    REVIEW_ADD_UPDATE = "review_add_update"
    REVIEW_DECIDE = "review_decide"
    # Consultation (value: the case id for a request, the consult id otherwise).
    CONSULT_REQUEST = "consult_request"
    CONSULT_RECOMMEND = "consult_recommend"
    CONSULT_ACCEPT = "consult_accept"
    CONSULT_MODIFY = "consult_modify"
    CONSULT_DECLINE = "consult_decline"
    AUDIT_OLDER = "audit_older"  # value "<case id>:<page>"
    AUDIT_NEWER = "audit_newer"
    # Adherence reports: the prescriber's buttons (value: the report id).
    ADHERENCE_ACK = "adherence_ack"
    ADHERENCE_PLAN = "adherence_plan"
    # Medication changes (value: the change id): Seen, and the pharmacist's interaction check.
    MED_SEEN = "med_seen"
    MED_NO_CONCERN = "med_no_concern"
    MED_CONCERN = "med_concern"
    # On a side-effect plan of adjust dose / switch / stop (value: the report id).
    MED_RECORD_CHANGE = "med_record_change"
    SCORE_ITEM9_ACK = "score_item9_ack"  # value: the item 9 alert's id
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
    SE_NOT_RED_FLAG = "se_not_red_flag"  # "none of these is a red flag", after the free-text check
    SE_PLAN = "se_plan"
    SE_PLAN_NOTE = "se_plan_note"
    SE_ACTIONS = "se_actions"
    SE_RECHECK_OUTCOME = "se_recheck_outcome"  # the recheck form: resolved / better / same / worse
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
    # Discharge / close: the relapse-prevention plan (required with that decision).
    REVIEW_PLAN_WARNING_SIGNS = "review_plan_warning_signs"
    REVIEW_PLAN_MEDICATION = "review_plan_medication"
    REVIEW_PLAN_CONTACTS = "review_plan_contacts"
    # Consultation: the consultant's recommendation and review time, the prescriber's note.
    CONSULT_RECOMMENDATION = "consult_recommendation"
    CONSULT_MINUTES = "consult_minutes"
    CONSULT_RESPONSE_NOTE = "consult_response_note"
    # New case form: its own private channel. Consent form (/case consent).
    OWN_CHANNEL = "own_channel"
    CONSENT_GIVEN = "consent_given"
    CONSENT_EXPIRES = "consent_expires"
    CONSENT_ROLES = "consent_roles"
    CONSENT_ORGANIZATIONS = "consent_organizations"
    CONSENT_PART2 = "consent_part2"
    CONSENT_NOTE = "consent_note"
    # Adherence report and plan modals.
    AD_KIND = "ad_kind"
    AD_MEDICATION = "ad_medication"
    AD_MEDICATION_OTHER = "ad_medication_other"
    AD_REASON = "ad_reason"
    AD_PLAN = "ad_plan"
    AD_PLAN_NOTE = "ad_plan_note"
    AD_ACTIONS = "ad_actions"
    # Medication form (add / change / stop) and the pharmacist's concern note.
    MED_PICK = "med_pick"
    MED_NAME = "med_name"
    MED_KIND = "med_kind"
    MED_DETAIL = "med_detail"
    MED_SWITCH_TO = "med_switch_to"
    MED_REASON = "med_reason"
    MED_TARGETS = "med_targets"
    MED_WATCH = "med_watch"
    MED_TAPER = "med_taper"
    MED_REMEASURE = "med_remeasure"
    MED_CONCERN_NOTE = "med_concern_note"
    MED_ACTIONS = "med_actions"
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
