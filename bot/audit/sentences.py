"""The audit timeline in plain sentences: one table of action -> wording.

Reviewers read the trail to learn who did what to a case, not how the app stores it, so
each event becomes "<who> <did what>" with people as mentions and case-level ids only
(C-n, SE-n, AD-n). Internal names (outbox rows, handoff row ids, `previous_role=None`) are never
shown. An action missing from the table, or an event missing a detail its wording needs,
falls back to a readable generic sentence built from the action's own name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.auditlog import APP_ACTOR

# `{case}` is the case's ref; `{target}` the event's target read as a person or case-level
# id; any other field is a detail of the event (user ids in it are shown as mentions).
SENTENCES: dict[str, str] = {
    "case.created": "opened {case}",
    "case.viewed": "viewed {case}",
    "case.closed": "closed {case}",
    "case.reopened": "reopened {case}",
    "case.close_held": "was asked to confirm closing {case} with {open_risks} open items",
    "responsibility.assigned": "made {target} responsible for {duty} on {case}",
    "responsibility.viewed": "viewed who does what on {case}",
    "responsibility.carried": "moved responsibilities on {case} to {target} ({duties})",
    "case.listed": "listed their cases",
    "case.create_form_opened": "opened the new-case form",
    "case.details_viewed": "opened the details of {case}",
    "consent.form_opened": "opened the consent form for {case}",
    "consent.recorded": "recorded consent for {case}, valid until {expires_on}",
    "consent.viewed": "viewed the consent on record for {case}",
    "consent.reminded": "reminded the team that the consent for {case} needs renewing",
    "own_channel.created": "created {target}, the own channel of {case}",
    "channel.checked": "checked it can still reach {target}",
    "home.viewed": "opened their App Home",
    "medication.added": "added a medication to {case}",
    "medication.stopped": "stopped a medication on {case}",
    "member.added": "added {target} to the team as {role}",
    "member.removed": "removed {target} from the team",
    "member.role_changed": "changed {target}'s role from {previous} to {role}",
    "side_effect.form_opened": "opened the side-effect report form",
    "side_effect.reported": "reported side effect {target} · {severity}",
    "side_effect.notified": "told {target} about side effect {report}",
    "side_effect.acknowledged": "acknowledged side effect {target}",
    "side_effect.plan_form_opened": "opened the plan form for side effect {report}",
    "side_effect.plan_recorded": "recorded the plan for side effect {target}: {plan}",
    "side_effect.listed": "listed the side effects of {case}",
    "adherence.form_opened": "opened the adherence report form",
    "adherence.reported": "reported adherence {target} · {kind}",
    "adherence.notified": "told {target} about adherence report {ref}",
    "adherence.acknowledged": "acknowledged adherence report {target}",
    "adherence.plan_form_opened": "opened the plan form for adherence report {ref}",
    "adherence.plan_recorded": "recorded the plan for adherence report {target}: {plan}",
    "adherence.listed": "listed the adherence reports of {case}",
    "adherence.reminded": "reminded the team of adherence report {target}",
    "adherence.escalated": "escalated adherence report {target} to the case managers",
    "adherence.prescriber_joined": "sent {case}'s open adherence reports to {target}, a new prescriber",
    "side_effect.prescriber_joined": "sent {case}'s open side effects to {target}, who joined as prescriber",
    "handoff.started": "started a handoff of {case} to {target}",
    "handoff.requested": "asked {to_user} to take over {case} ({kind}, as {role})",
    "handoff.accepted": "accepted the {kind} handoff of {case} as {role}",
    "handoff.declined": "declined the {kind} handoff of {case}",
    "handoff.voided": "withdrew a handoff of {case}",
    "handoff.canceled": "canceled a handoff of {case}",
    "handoff.reminded": "reminded {to_user} of a waiting handoff of {case}",
    "handoff.sender_told": "told {to_user} how their handoff of {case} ended",
    "handoff.coverage_ended": "ended the coverage of {case}",
    "handoff.listed": "listed their handoffs",
    "review.started": "started a review of {case}",
    "review.fired": "opened the scheduled review of {case}",
    "review.due_while_open": "found a review of {case} due while one was still open",
    "review.update_form_opened": "opened the review update form",
    "review.update_added": "added a review update as {role}",
    "review.decision_form_opened": "opened the review decision form",
    "review.decided": "decided the review of {case}: {decision}",
    "review.cadence_set": "scheduled reviews of {case} every {every} {period}",
    "review.cadence_off": "turned off scheduled reviews of {case}",
    "review.schedule_viewed": "viewed the review schedule of {case}",
    "review.nudged": "nudged the team about the review of {case}",
    "review.nudge_deferred": "held back a review nudge until working hours",
    "review.nudge_cancelled": "canceled a review nudge",
    "review.listed": "listed open reviews",
    "review.digest_scheduled": "scheduled the caseload digest",
    "review.digest_posted": "posted the caseload digest",
    "review.digest_viewed": "viewed the caseload digest",
    "score.recorded": "recorded a {scale} score taken {taken_on} on {case}",
    "score.replaced": "replaced the {scale} score taken {taken_on} on {case}",
    "score.viewed": "viewed the scores of {case}",
    "score.episode_started": "started episode {episode} of care on {case} ({reason})",
    "score.item9_alert": "raised a PHQ-9 item 9 alert on {case} to {recipients} people",
    "score.item9_notified": "sent {target} a PHQ-9 item 9 alert ({kind})",
    "score.safety_prompted": "asked for a safety assessment on {case}",
    "score.item9_acknowledged": "acknowledged the PHQ-9 item 9 alert on {case}",
    "score.item9_reminded": "reminded the prescribers of an unacknowledged PHQ-9 item 9 alert on {case}",
    "score.item9_escalated": "escalated an unacknowledged PHQ-9 item 9 alert on {case}",
    "registry.viewed": "viewed the caseload registry",
    "registry.home_viewed": "saw their caseload on App Home",
    "audit.viewed": "viewed this audit trail (page {page})",
    "audit.exported": "exported this audit trail as {format}",
    "audit.export_delivered": "received the audit export by DM",
    "audit.export_failed": "could not be sent the audit export",
    "audit.verified": "verified the audit trail",
    "audit.verify_failed": "found the audit trail broken",
    "transcript.purge_run": "removed thread messages older than {older_than_days} days",
    "cli.invoked": "ran `{command}` on the server",
    "request.replayed": "sent a request again; it was refused as a replay",
    "transcript.purged": "removed {entries} thread messages older than {older_than_days} days",
    "thread.message_posted": "posted in the case thread",
    "thread.message_edited": "edited a message in the case thread",
    "thread.message_deleted": "deleted a message in the case thread",
    "thread.file_shared": "shared a file in the case thread",
    "help.viewed": "read the help of {command}",
}

# Request-level actions are named `<kind>:<id>` (`command:/audit`, `button:audit_older`).
REQUESTS: dict[str, str] = {
    "command": "used {name}",
    "button": "pressed a button ({name})",
    "view": "submitted a form ({name})",
    "shortcut": "used a shortcut ({name})",
    "event": "sent a Slack event ({name})",
}

OUTCOMES = {"denied": "denied", "bad_input": "not understood", "conflict": "already done", "error": "failed"}

_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_CHANNEL = re.compile(r"^C[A-Z0-9]{2,30}$")
_REF = {"side_effect": "SE-{}", "adherence": "AD-{}", "case": "C-{}", "user": "<@{}>", "channel": "<#{}>"}
_WORD = re.compile(r"[a-z]+(?:[_-][a-z]+)*")  # an enum value: "case-manager", "not_improving"


def who(actor: str) -> str:
    """The actor as a mention, or CareThread for the app's own steps."""
    return "CareThread" if actor == APP_ACTOR else _person(actor)


def sentence(
    action: str, *, actor: str, case_ref: str, target: str | None, details: Mapping[str, Any]
) -> str:
    """One readable sentence for one audit event (mrkdwn with `<@U…>` mentions only)."""
    subject = who(actor)
    if ":" in action and "." not in action.split(":", 1)[0]:
        kind, name = action.split(":", 1)
        wording = REQUESTS.get(kind)
        if wording:
            return f"{subject} {wording.format(name=_words(name) if kind != 'command' else name)}"
    wording = SENTENCES.get(action)
    if wording is not None:
        fields = {k: _value(k, v) for k, v in details.items() if v is not None}
        fields["case"] = case_ref
        if target is not None and (shown := _target(target)) is not None:
            fields["target"] = shown
        try:
            return f"{subject} {wording.format_map(fields)}"
        except (KeyError, IndexError, ValueError):
            pass  # a detail the wording needs is missing: say it generically
    return f"{subject} · {_words(action)} · {case_ref}"


def _target(target: str) -> str | None:
    """`side_effect:4` -> SE-4, `user:U1` -> a mention, C-3 stays; row ids are not shown."""
    if ":" not in target:
        return target
    kind, _, ident = target.partition(":")
    form = _REF.get(kind)
    if form is None or not ident:
        return None
    if kind == "user":
        return _person(ident)
    if kind == "channel":
        return f"<#{ident}>" if _CHANNEL.match(ident) else None
    return form.format(ident)


def _value(key: str, value: Any) -> str:
    if key == "report":
        return f"SE-{value}"
    if isinstance(value, str) and _USER.match(value):
        return _person(value)
    if isinstance(value, list):
        return str(len(value))
    if isinstance(value, str) and _WORD.fullmatch(value):
        return value.replace("_", " ").replace("-", " ")
    return str(value)


def _person(user_id: str) -> str:
    return f"<@{user_id}>" if _USER.match(user_id or "") else user_id


def _words(name: str) -> str:
    """`side_effect.plan_recorded` -> "side effect: plan recorded"."""
    return name.replace(".", ": ").replace("_", " ").replace("-", " ")


def delivery_summary(actions: list[str]) -> str:
    """The messages a step queued, as one clause: "2 messages delivered · 1 failed"."""
    counts = {"message.delivered": 0, "message.retry": 0, "message.failed": 0}
    other = 0
    for action in actions:
        if action in counts:
            counts[action] += 1
        else:
            other += 1
    parts = []
    if n := counts["message.delivered"]:
        parts.append(f"{n} message{'s' if n != 1 else ''} delivered")
    if n := counts["message.retry"]:
        parts.append(f"{n} retr{'ies' if n != 1 else 'y'}")
    if n := counts["message.failed"]:
        parts.append(f"{n} failed")
    if other:
        parts.append(f"{other} replaced or sent by DM")
    return " · ".join(parts)
