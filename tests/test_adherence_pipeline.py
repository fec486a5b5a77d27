"""The adherence relay end to end, through the real Bolt app and the stand-in Slack:
/adherence -> thread summary and prescriber DMs -> acknowledge -> plan -> reporter told; the
high-priority rule; escalation on the side-effect relay's clock; the counts on the case card,
`/case show` and the digest; bad input, refusals and double clicks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot import auditlog
from bot.ids import Action, BlockId, Callback
from bot.scheduler import run_sweep
from devtools.slackreq import select_value, text_value
from storage.adherence import AdherenceKind, AdherenceRecipient, AdherenceReport, AdherenceStatus
from storage.cases import Case, CaseMember
from storage.core import OutboxMessage
from storage.side_effects import EscalationStep, Severity
from tests.side_effect_helpers import CM, OUTSIDER, P1, P2, TEAM, THERAPIST, action_ids, block, option_values
from tests.support import ADMIN, CHANNEL, care_team, reply_text

MEDS = ("sertraline 50 mg every morning", "quetiapine 100 mg at night")


def open_form(h, user: str, text: str) -> dict[str, Any]:
    before = len(h.slack.calls_to("views.open"))
    h.command(user, text, command="/adherence")
    opened = h.slack.calls_to("views.open")
    assert len(opened) == before + 1, f"no modal opened; reply: {h.replies()[-1:]}"
    return opened[-1].args["view"]


def medication_value(view: dict[str, Any], name: str) -> str:
    for opt in block(view, BlockId.AD_MEDICATION)["element"]["options"]:
        if opt["text"]["text"] == name:
            return opt["value"]
    raise AssertionError(f"{name} not offered")


def submit(
    h,
    user: str,
    case_id: int,
    *,
    kind: str | None = "missing_doses",
    medication: str | None = None,
    other: str = "",
    reason: str = "",
    view_id: str | None = None,
):
    values = {
        BlockId.AD_KIND: select_value(kind),
        BlockId.AD_MEDICATION: select_value(medication),
        BlockId.AD_MEDICATION_OTHER: text_value(other),
        BlockId.AD_REASON: text_value(reason),
    }
    return h.submit(
        user,
        Callback.ADHERENCE_REPORT,
        values,
        private_metadata=json.dumps({"case": case_id}),
        view_id=view_id,
    )


def plan(h, user: str, report_id: int, choice: str | None, note: str = "", view_id: str | None = None):
    values = {BlockId.AD_PLAN: select_value(choice), BlockId.AD_PLAN_NOTE: text_value(note)}
    return h.submit(user, Callback.ADHERENCE_PLAN, values, private_metadata=str(report_id), view_id=view_id)


def _ts(h, outbox_id: int) -> str:
    row = h.get(OutboxMessage, outbox_id)
    assert row.result_ts, "message not delivered"
    return row.result_ts


def _errors(response) -> dict[str, str]:
    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    return body["errors"]


def sweep(h) -> dict[str, object]:
    result = run_sweep(h.deps)
    h.settle()
    return result


def test_report_acknowledge_plan_closes_the_loop(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, f"C-{case_id} ran out on Friday")
    assert view["callback_id"] == Callback.ADHERENCE_REPORT
    assert json.loads(view["private_metadata"]) == {"case": case_id}
    assert option_values(view, BlockId.AD_KIND) == [
        "as_prescribed",
        "missing_doses",
        "stopped",
        "not_picked_up",
    ]
    assert option_values(view, BlockId.AD_MEDICATION)[-1] == "other"
    assert block(view, BlockId.AD_REASON)["element"]["initial_value"] == "ran out on Friday"
    med = medication_value(view, "sertraline")

    response = submit(
        h,
        THERAPIST,
        case_id,
        medication=med,
        reason="Says <!channel> it makes her sleepy; can she take it at night?",
    )
    assert response.status == 200 and response.body in ("", "null")
    [saved] = h.rows(AdherenceReport)
    assert saved.kind == AdherenceKind.MISSING_DOSES and saved.status == AdherenceStatus.OPEN
    assert saved.priority == Severity.MODERATE and not saved.high_risk
    # The side-effect relay's moderate clock: one business day (Monday 15:00 -> Tuesday 15:00).
    assert saved.ack_due_at == h.clock.now() + timedelta(days=1) == saved.next_escalation_at
    # Encrypted at rest.
    assert "sertraline" not in saved.medication_name_enc and "sleepy" not in (saved.reason_enc or "")
    assert h.deps.cipher.decrypt(saved.reason_enc).startswith("Says <!channel>")

    # The thread summary: details in blocks, the case id only in the notification text.
    [summary] = h.posts(CHANNEL, starting="Adherence report on C-")
    assert summary["text"] == f"Adherence report on C-{case_id} (moderate)"
    assert summary["thread_ts"] == h.root_ts(case_id)
    text = reply_text(summary)
    assert "sertraline" in text and "Missing doses" in text and "sleepy" in text
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text
    assert action_ids(summary) == [Action.ADHERENCE_ACK, Action.ADHERENCE_PLAN]
    for prescriber in (P1, P2):
        [dm] = h.posts(prescriber, starting="Adherence")
        assert dm["text"] == f"Adherence report on C-{case_id} (moderate)"
        assert action_ids(dm) == [Action.ADHERENCE_ACK, Action.ADHERENCE_PLAN]
        assert "sertraline" in reply_text(dm)
    [receipt] = h.posts(THERAPIST, starting="Your adherence report")
    assert f"<@{P1}>" in reply_text(receipt) and "Priority: *Moderate*" in reply_text(receipt)
    assert not h.posts(CM, starting="Adherence")
    assert [e.target for e in h.audit_events(action="adherence.notified")] == [f"user:{P1}", f"user:{P2}"]

    # The case card counts the open report (a count, no medication: the home channel reads it).
    card = h.updates(h.root_ts(case_id))[-1]
    assert "Adherence: 1 open report" in reply_text(card) and "sertraline" not in reply_text(card)

    # Acknowledge: summary, DMs and receipt updated in place; the reporter told.
    summary_ts = _ts(h, saved.summary_outbox_id)
    h.action(P1, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC1")
    acked = h.get(AdherenceReport, saved.id)
    assert acked.status == AdherenceStatus.ACKNOWLEDGED and acked.acknowledged_by == P1
    assert acked.next_escalation_at is None
    assert f"Acknowledged by <@{P1}>" in reply_text(h.updates(summary_ts)[-1])
    assert action_ids(h.updates(summary_ts)[-1]) == [Action.ADHERENCE_PLAN]
    assert f"Acknowledged by <@{P1}>" in reply_text(h.updates(_ts(h, saved.receipt_outbox_id))[-1])
    [told] = h.posts(THERAPIST, starting="Update on your adherence report")
    assert f"<@{P1}> acknowledged" in reply_text(told)

    # A double click, and a second prescriber's click, change nothing.
    updates = len(h.slack.calls_to("chat.update"))
    h.action(P1, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC1")
    h.action(P2, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC2")
    assert len(h.slack.calls_to("chat.update")) == updates
    assert len(h.audit_events(action="adherence.acknowledged")) == 1
    assert "already acknowledged" in reply_text(h.ephemerals(P2)[-1])

    # Record plan: the modal, then the loop closes.
    h.action(P2, Action.ADHERENCE_PLAN, str(saved.id), channel="D0PRESC2")
    plan_view = h.last_view()
    assert plan_view["callback_id"] == Callback.ADHERENCE_PLAN and plan_view["private_metadata"] == str(
        saved.id
    )
    assert "contact_patient" in option_values(plan_view, BlockId.AD_PLAN)
    plan(h, P2, saved.id, "contact_patient", note="Calling her today", view_id="VADPLAN1")
    planned = h.get(AdherenceReport, saved.id)
    assert planned.status == AdherenceStatus.PLANNED and planned.plan_by == P2
    assert h.deps.cipher.decrypt(planned.plan_note_enc) == "Calling her today"
    final = h.updates(summary_ts)[-1]
    assert f"Plan recorded by <@{P2}>" in reply_text(final) and "contact the patient" in reply_text(final)
    assert action_ids(final) == []
    for prescriber in (P1, P2):
        dm_id = next(
            r.id for r in h.outbox() if r.channel == prescriber and r.purpose == "adherence_prescriber"
        )
        assert action_ids(h.updates(_ts(h, dm_id))[-1]) == []
    assert "recorded a plan" in reply_text(h.posts(THERAPIST, starting="Update on your adherence report")[-1])
    assert "Adherence:" not in reply_text(h.updates(h.root_ts(case_id))[-1])  # none open on the card

    # Slack retrying the plan submission records nothing new; Record plan again opens nothing.
    sent = len(h.slack.calls)
    plan(h, P2, saved.id, "contact_patient", note="Calling her today", view_id="VADPLAN1")
    assert len(h.slack.calls) == sent
    opened = len(h.slack.calls_to("views.open"))
    h.action(P1, Action.ADHERENCE_PLAN, str(saved.id), channel="D0PRESC1")
    assert len(h.slack.calls_to("views.open")) == opened
    assert "already recorded" in reply_text(h.ephemerals(P1)[-1])
    assert len(h.audit_events(action="adherence.plan_recorded")) == 1

    for expected in (
        "adherence.form_opened",
        "adherence.reported",
        "adherence.acknowledged",
        "adherence.plan_form_opened",
        "adherence.plan_recorded",
    ):
        assert h.audit_events(action=expected), expected
    with h.db() as session:
        assert auditlog.verify(session, h.deps.audit_key).ok
    assert not any("sertraline" in e.details or "sleepy" in e.details for e in h.audit_events())


def test_retried_report_submission_makes_one_report(harness):
    h = harness
    case_id = care_team(h, TEAM)
    for _ in range(2):
        submit(h, THERAPIST, case_id, kind="not_picked_up", other="bupropion", view_id="VADSAME")
    assert len(h.rows(AdherenceReport)) == 1
    assert len(h.posts(P1, starting="Adherence")) == 1 and len(h.posts(P2, starting="Adherence")) == 1
    assert len(h.posts(CHANNEL, starting="Adherence report on")) == 1


def test_taking_as_prescribed_is_recorded_with_nothing_to_acknowledge(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    view = open_form(h, CM, f"C-{case_id}")
    submit(h, CM, case_id, kind="as_prescribed", medication=medication_value(view, "quetiapine"))
    [saved] = h.rows(AdherenceReport)
    assert saved.status == AdherenceStatus.RECORDED and saved.priority is None
    assert saved.ack_due_at is None and saved.next_escalation_at is None
    [note] = h.posts(CHANNEL, starting="Adherence note on")
    assert note["text"] == f"Adherence note on C-{case_id}"
    assert "needs no acknowledgement" in reply_text(note) and action_ids(note) == []
    assert not h.posts(P1, starting="Adherence") and not h.posts(P2, starting="Adherence")  # no DM
    assert "no prescriber was asked" in reply_text(h.posts(CM, starting="Your adherence report")[-1])
    # Not open: not on the card, /case show, the digest; nothing for a sweep; buttons refuse.
    h.command(THERAPIST, f"show C-{case_id}")
    assert "Open adherence reports" not in h.last_reply_text()
    h.clock.advance(timedelta(days=10))
    assert sweep(h)["adherence_escalation"] == 0
    h.action(P1, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC1")
    assert "nothing to act on" in reply_text(h.ephemerals(P1)[-1])


def test_stopped_antipsychotic_or_lithium_is_high_priority(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, f"C-{case_id}")
    quetiapine, sertraline = medication_value(view, "quetiapine"), medication_value(view, "sertraline")
    submit(h, THERAPIST, case_id, kind="stopped", medication=quetiapine, reason="felt flat")
    submit(h, THERAPIST, case_id, kind="stopped", medication="other", other="Lithium Carbonate ER")
    submit(h, THERAPIST, case_id, kind="stopped", medication=sertraline)
    submit(h, THERAPIST, case_id, kind="missing_doses", medication=quetiapine)
    rows = h.rows(AdherenceReport)
    assert [(r.priority, r.high_risk) for r in rows] == [
        ("high", True),
        ("high", True),
        ("moderate", False),
        ("moderate", True),  # missing doses is a concern, not the high-priority rule
    ]
    # The side-effect relay's high clock: 4 hours.
    assert rows[0].ack_due_at == h.clock.now() + timedelta(hours=4)
    high_dm = h.posts(P1, starting="Adherence")[0]
    assert high_dm["text"] == f"Adherence report on C-{case_id} (high)"
    assert "High-priority adherence report" in reply_text(high_dm)
    assert "CARETHREAD_ADHERENCE_HIGH_RISK" in reply_text(high_dm)  # the rule behind the priority
    # /adherence list: high first; /case show: all four open.
    h.command(CM, f"list C-{case_id}", command="/adherence")
    listed = h.last_reply_text()
    assert listed.index(rows[1].ref) < listed.index(rows[2].ref)
    assert f"*{rows[0].ref}* High · Stopped on their own: quetiapine" in listed
    h.command(CM, f"show C-{case_id}")
    assert "*Open adherence reports* (4)" in h.last_reply_text()
    assert "Adherence: 4 open reports" in reply_text(h.updates(h.root_ts(case_id))[-1])


def test_unacknowledged_report_reminds_then_escalates_once_on_the_clock(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit(h, THERAPIST, case_id, kind="stopped", other="clozapine")
    [saved] = h.rows(AdherenceReport)
    assert saved.priority == "high"
    # Escalation half a deadline after the deadline (CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION).
    assert saved.escalate_at == saved.ack_due_at + timedelta(hours=2)

    h.clock.advance(timedelta(hours=3, minutes=59))
    assert sweep(h)["adherence_escalation"] == 0
    h.clock.advance(timedelta(minutes=1))
    assert sweep(h)["adherence_escalation"] == 1
    for prescriber in (P1, P2):
        [reminder] = h.posts(prescriber, starting="Reminder: ")
        assert reminder["text"] == f"Reminder: Adherence report on C-{case_id} (high)"
        assert action_ids(reminder) == [Action.ADHERENCE_ACK, Action.ADHERENCE_PLAN]
    assert h.get(AdherenceReport, saved.id).escalation_step == EscalationStep.REMINDED
    assert not h.posts(CM, starting="Escalation: ")
    summary_ts = _ts(h, saved.summary_outbox_id)
    assert "Reminder sent" in reply_text(h.updates(summary_ts)[-1])

    h.clock.advance(timedelta(hours=2))
    assert sweep(h)["adherence_escalation"] == 1
    [dm] = h.posts(CM, starting="Escalation: ")
    assert dm["text"] == f"Escalation: adherence report on C-{case_id} (high) not acknowledged"
    [in_thread] = h.posts(CHANNEL, starting="Escalation: ")
    assert f"<@{P1}> <@{P2}> <@{CM}>" in reply_text(in_thread)
    assert "clozapine" not in in_thread["text"]
    [told] = h.posts(THERAPIST, starting="Update on your adherence report")
    assert "escalated" in reply_text(told)
    assert h.get(AdherenceReport, saved.id).escalation_step == EscalationStep.ESCALATED

    h.clock.advance(timedelta(days=30))
    assert sweep(h)["adherence_escalation"] == 0
    assert len(h.posts(P1, starting="Reminder: ")) == 1 and len(h.posts(CM, starting="Escalation: ")) == 1
    [event] = h.audit_events(action="adherence.escalated")
    assert event.actor == "app" and event.source == "scheduler"
    # Acknowledging late still closes the clock and is marked late.
    h.action(P1, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC1")
    assert json.loads(h.audit_events(action="adherence.acknowledged")[0].details)["late"] is True


def test_acknowledged_report_is_not_chased(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit(h, THERAPIST, case_id, kind="missing_doses", other="sertraline")
    [saved] = h.rows(AdherenceReport)
    h.action(P2, Action.ADHERENCE_ACK, str(saved.id), channel="D0PRESC2")
    h.clock.advance(timedelta(days=7))
    assert sweep(h)["adherence_escalation"] == 0
    assert not h.posts(P1, starting="Reminder: ")


def test_a_closed_cases_report_is_not_chased(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit(h, THERAPIST, case_id, kind="missing_doses", other="sertraline")
    [saved] = h.rows(AdherenceReport)
    h.command(P1, f"close C-{case_id}")  # a moderate concern does not hold a close
    assert h.get(Case, case_id).status == "closed"
    h.clock.advance(timedelta(days=7))
    assert sweep(h)["adherence_escalation"] == 0
    assert not h.posts(P1, starting="Reminder: ")
    assert h.get(AdherenceReport, saved.id).next_escalation_at is None
    assert len(h.audit_events(action="adherence.chase_stopped")) == 1


def test_a_moderate_reports_reminder_waits_for_working_hours(harness):
    """Missing doses (moderate) due at night: the reminder waits for the clinic's next opening,
    as a non-urgent side-effect report's does (clinic zone UTC, 09-17 Mon-Fri)."""
    h = harness
    case_id = care_team(h, TEAM)
    submit(h, THERAPIST, case_id, kind="missing_doses", other="sertraline")
    [saved] = h.rows(AdherenceReport)
    assert saved.priority == "moderate"
    due = saved.ack_due_at
    night = datetime(due.year, due.month, due.day, 22, 0, tzinfo=UTC)
    h.clock.set(night if night >= due else night + timedelta(days=1))
    assert sweep(h)["adherence_escalation"] == 0
    assert not h.posts(P1, starting="Reminder: ")
    deferred = h.get(AdherenceReport, saved.id)
    assert deferred.next_escalation_at > h.clock.now() and deferred.next_escalation_at.hour == 9
    assert deferred.escalation_step == EscalationStep.NONE
    assert len(h.audit_events(action="adherence.step_deferred")) == 1
    h.clock.set(deferred.next_escalation_at)
    assert sweep(h)["adherence_escalation"] == 1
    assert len(h.posts(P1, starting="Reminder: ")) == 1


def test_no_prescriber_goes_to_the_case_manager(harness):
    h = harness
    case_id = care_team(h, {THERAPIST: "therapist", CM: "case-manager"})
    submit(h, THERAPIST, case_id, kind="not_picked_up", other="sertraline")
    [saved] = h.rows(AdherenceReport)
    assert saved.no_prescriber
    [dm] = h.posts(CM, starting="Adherence")
    assert "no prescriber" in reply_text(dm) and action_ids(dm) == []
    assert "no prescriber" in reply_text(h.posts(THERAPIST, starting="Your adherence report")[-1])


def test_a_prescriber_joining_gets_the_open_reports_and_the_warnings_are_updated(harness):
    h = harness
    case_id = care_team(h, {THERAPIST: "therapist", CM: "case-manager"})
    submit(h, THERAPIST, case_id, kind="stopped", other="lithium", reason="felt slowed down")
    submit(h, THERAPIST, case_id, kind="as_prescribed", other="sertraline")  # nothing to hand over
    concern, noted = h.rows(AdherenceReport)
    assert concern.no_prescriber and concern.priority == "high" and noted.status == "recorded"
    [summary] = h.posts(CHANNEL, starting=f"Adherence report on C-{case_id}")
    assert "no prescriber" in reply_text(summary)

    # A team member being added in another role hands nothing over.
    h.command(CM, f"add C-{case_id} <@{P2}> pharmacist")
    assert h.posts(P2) == []

    h.command(CM, f"add C-{case_id} <@{P1}> prescriber")
    # The prescriber gets the open concern by DM, with its buttons; not the "as prescribed" note.
    [joined] = h.posts(P1)
    assert joined["text"] == f"Adherence report on C-{case_id} (high)"  # ids and priority only
    assert action_ids(joined) == [Action.ADHERENCE_ACK, Action.ADHERENCE_PLAN]
    assert "You are a prescriber on its care team" in reply_text(joined)
    assert "lithium" in reply_text(joined) and "felt slowed down" in reply_text(joined)
    assert not h.get(AdherenceReport, concern.id).no_prescriber
    # The warnings are updated in place: the thread summary, the receipt, the case manager's DM.
    [fallback_dm] = h.rows(AdherenceRecipient, report_id=concern.id, kind="fallback")
    for outbox_id in (concern.summary_outbox_id, concern.receipt_outbox_id, fallback_dm.outbox_id):
        update = reply_text(h.updates(_ts(h, outbox_id))[-1])
        assert "joined as prescriber since" in update and f"<@{P1}>" in update
        assert "nobody can acknowledge" not in update and "there is no prescriber on its" not in update
    assert h.updates(_ts(h, noted.summary_outbox_id)) == []
    [event] = h.audit_events(action="adherence.prescriber_joined")
    assert event.target == f"user:{P1}" and json.loads(event.details)["reports"] == [concern.ref]
    assert [
        (e.target, json.loads(e.details)["kind"]) for e in h.audit_events(action="adherence.notified")
    ] == [(f"user:{CM}", "fallback"), (f"user:{P1}", "prescriber")]

    # The loop closes from the new DM.
    h.action(P1, Action.ADHERENCE_ACK, str(concern.id), channel="D0PRESC1")
    assert h.get(AdherenceReport, concern.id).acknowledged_by == P1

    # Leaving and coming back (or a second prescriber): no second DM row for the same person;
    # their DM is updated in place instead (the recipients' unique row would refuse a second).
    # Only a prescriber grants the role once there is one (bot/cases/policy.py).
    h.command(P1, f"add C-{case_id} <@{P2}> prescriber")  # pharmacist -> prescriber
    assert len(h.posts(P2)) == 1
    assert action_ids(h.posts(P2)[0]) == [Action.ADHERENCE_PLAN]  # acknowledged: the plan is left
    h.command(P2, f"remove C-{case_id} <@{P1}>")
    assert h.rows(CaseMember, case_id=case_id, user_id=P1) == []
    h.command(P2, f"add C-{case_id} <@{P1}> prescriber")
    assert h.rows(CaseMember, case_id=case_id, user_id=P1)[0].role == "prescriber"
    assert len(h.posts(P1)) == 1
    [again] = h.rows(AdherenceRecipient, report_id=concern.id, user_id=P1)
    assert "acknowledged and waits for a plan" in reply_text(h.updates(_ts(h, again.outbox_id))[-1])


def test_closing_with_an_open_high_priority_report_asks_for_confirmation(harness):
    h = harness
    # A moderate concern (missing doses) does not hold a close.
    quiet = care_team(h, TEAM, label="Quiet")
    submit(h, THERAPIST, quiet, kind="missing_doses", other="sertraline")
    h.command(P1, f"close C-{quiet}")
    assert h.get(Case, quiet).status == "closed" and f"Closed C-{quiet}" in h.last_reply_text()

    case_id = care_team(h, TEAM, label="Busy")
    submit(h, THERAPIST, case_id, kind="stopped", other="clozapine", reason="worried about blood tests")
    high = h.rows(AdherenceReport)[-1]
    assert high.priority == "high"

    h.command(P1, f"close C-{case_id} moved away")
    held = h.last_reply()
    body = reply_text(held)
    assert held["text"] == f"C-{case_id} was not closed: it has open items"
    assert f"High-priority adherence report *{high.ref}*: not acknowledged" in body
    assert "clozapine" not in body and "blood tests" not in body  # ids and statuses only
    assert h.get(Case, case_id).status == "open"
    # Acknowledged but not planned: still listed, with how far the loop got.
    h.action(P2, Action.ADHERENCE_ACK, str(high.id), channel="D0PRESC2")
    h.command(P1, f"close C-{case_id}")
    held = h.last_reply()
    assert f"High-priority adherence report *{high.ref}*: acknowledged, waiting for a plan" in reply_text(
        held
    )
    [close] = [e for b in held["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert close["action_id"] == Action.CASE_CLOSE_CONFIRM
    h.action(P1, Action.CASE_CLOSE_CONFIRM, close["value"], response_url=f"{h.slack.url}respond/close")
    assert h.get(Case, case_id).status == "closed"
    closed = json.loads(h.audit_events(action="case.closed")[-1].details)
    assert closed["confirmed"] is True and closed["open_risks"] == 1


def test_digest_counts_open_adherence_reports(harness):
    h = harness
    quiet = care_team(h, TEAM, label="Quiet")
    busy = care_team(h, TEAM, label="Busy")
    submit(h, THERAPIST, busy, kind="missing_doses", other="sertraline")
    submit(h, THERAPIST, busy, kind="as_prescribed", other="sertraline")
    h.command(THERAPIST, "digest", command="/review")
    text = h.last_reply_text()
    busy_line = next(line for line in text.splitlines() if f"*C-{busy}*" in line)
    quiet_line = next(line for line in text.splitlines() if f"*C-{quiet}*" in line)
    assert "1 adherence report open" in busy_line and "adherence" not in quiet_line
    # The weekly digest in the care-team channel counts it too (Monday 08:00 in the clinic's zone).
    sweep(h)
    h.clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=UTC))
    assert sweep(h)["review_digest"] == 1
    [weekly] = [p for p in h.posts(CHANNEL) if p["text"].startswith("Caseload digest")]
    assert f"*C-{busy}* · new case · 1 adherence report open" in reply_text(weekly)
    [report, _] = h.rows(AdherenceReport)
    plan(h, P1, report.id, "pharmacy")
    h.command(THERAPIST, "digest", command="/review")
    assert "adherence report open" not in h.last_reply_text()


def test_bad_input_changes_nothing(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    errors = _errors(submit(h, THERAPIST, case_id, kind=None, medication=None))
    assert errors == {
        BlockId.AD_KIND: "Pick how the patient is taking the medication.",
        BlockId.AD_MEDICATION: "Pick the medication, or Other and type its name below.",
    }
    errors = _errors(submit(h, THERAPIST, case_id, kind="sometimes", medication="other", reason="x\u202ey"))
    assert set(errors) == {BlockId.AD_KIND, BlockId.AD_MEDICATION_OTHER, BlockId.AD_REASON}
    assert "invisible" in errors[BlockId.AD_REASON]
    # A medication id from another case is refused after the modal closed, by DM.
    other_case = care_team(h, TEAM, label="Green Toad", meds=("lithium 300 mg",))
    foreign = medication_value(open_form(h, THERAPIST, f"C-{other_case}"), "lithium")
    submit(h, THERAPIST, case_id, medication=foreign)
    assert "not on" in reply_text(h.posts(THERAPIST)[-1])
    assert h.rows(AdherenceReport) == []
    assert not h.posts(P1, starting="Adherence")

    h.command(THERAPIST, "", command="/adherence")
    assert "Name the case" in h.last_reply_text()
    h.command(THERAPIST, "list", command="/adherence")
    assert "Name one case" in h.last_reply_text()
    h.command(THERAPIST, "banana", command="/adherence")
    assert "is not a case id" in h.last_reply_text()
    assert {e.outcome for e in h.audit_events(action="command:/adherence")} == {"bad_input"}
    h.command(THERAPIST, "help", command="/adherence")
    assert "high 4 hours" in h.last_reply_text() and "moderate 1 business day" in h.last_reply_text()

    submit(h, THERAPIST, case_id, other="bupropion")
    [saved] = h.rows(AdherenceReport)
    assert _errors(plan(h, P1, saved.id, None)) == {BlockId.AD_PLAN: "Pick one of the plans."}
    assert h.get(AdherenceReport, saved.id).status == AdherenceStatus.OPEN


def test_people_off_the_team_and_non_prescribers_are_refused(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.command(OUTSIDER, f"C-{case_id}", command="/adherence")
    assert "don't have access" in h.last_reply_text()
    h.command(OUTSIDER, f"list C-{case_id}", command="/adherence")
    assert "don't have access" in h.last_reply_text()
    assert h.slack.calls_to("views.open") == []
    submit(h, OUTSIDER, case_id, other="lithium")
    assert h.rows(AdherenceReport) == []
    assert "don't have access" in reply_text(h.posts(OUTSIDER)[-1])

    submit(h, THERAPIST, case_id, other="lithium", kind="stopped")
    [saved] = h.rows(AdherenceReport)
    for user in (THERAPIST, CM, ADMIN):
        h.action(user, Action.ADHERENCE_ACK, str(saved.id), channel=CHANNEL)
        assert "Only a prescriber on the care team" in reply_text(h.ephemerals(user)[-1])
    h.action(OUTSIDER, Action.ADHERENCE_ACK, str(saved.id), channel=CHANNEL)
    refusal = reply_text(h.ephemerals(OUTSIDER)[-1])
    assert "don't have access" in refusal and f"C-{case_id}" not in refusal
    h.action(OUTSIDER, Action.ADHERENCE_ACK, "999", channel=CHANNEL)
    assert reply_text(h.ephemerals(OUTSIDER)[-1]) == refusal
    plan(h, THERAPIST, saved.id, "stop")
    assert h.get(AdherenceReport, saved.id).status == AdherenceStatus.OPEN
    denied = {(e.actor, e.action) for e in h.audit_events() if e.outcome == "denied"}
    assert {
        (OUTSIDER, "command:/adherence"),
        (OUTSIDER, "modal:adherence_report"),
        (THERAPIST, "button:adherence_ack"),
        (OUTSIDER, "button:adherence_ack"),
        (THERAPIST, "modal:adherence_plan"),
    } <= denied


def test_app_home_shows_what_waits_for_the_prescriber(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit(h, THERAPIST, case_id, kind="stopped", other="olanzapine")
    [saved] = h.rows(AdherenceReport)
    h.event({"type": "app_home_opened", "user": P2, "tab": "home"})
    home = json.dumps(h.slack.calls_to("views.publish")[-1].args["view"])
    assert f"High adherence report {saved.ref}: waiting for your acknowledgement" in home
    assert "olanzapine" not in home
