"""The side-effect recheck end to end: a plan that changes a medication -> after
CARETHREAD_SIDEEFFECT_RECHECK_DAYS the reporter is asked once -> the same form, prefilled ->
the answer on the report and in the thread; worse reopens the report for the prescribers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block

from bot.ids import Action, BlockId, Callback
from bot.render import Renderer
from bot.scheduler import run_sweep
from devtools.slackreq import select_value, text_value
from storage.core import OutboxMessage
from storage.side_effects import (
    EscalationStep,
    ReportStatus,
    SideEffectRecheck,
    SideEffectRecipient,
    SideEffectReport,
)
from tests.side_effect_helpers import (
    MEDS,
    P1,
    TEAM,
    THERAPIST,
    action_ids,
    medication_value,
    open_form,
    report_values,
    submit_report,
)
from tests.support import CHANNEL, care_team, reply_text
from tests.test_side_effects_units import NOW, card


def _planned(h, plan: str = "adjust_dose") -> SideEffectReport:
    care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, "C-1")
    submit_report(h, THERAPIST, 1, medication=medication_value(view, "sertraline"), burden="4")
    [report] = h.rows(SideEffectReport)
    h.submit(
        P1,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value(plan), BlockId.SE_PLAN_NOTE: text_value("lower the dose")},
        private_metadata=str(report.id),
    )
    return h.get(SideEffectReport, report.id)


def _asked(h) -> tuple[SideEffectRecheck, dict]:
    [recheck] = h.rows(SideEffectRecheck)
    h.clock.advance(timedelta(days=14, hours=1))
    run_sweep(h.deps)
    h.settle()
    asks = [m for m in h.dms(THERAPIST) if m["text"] == "Side-effect recheck due on C-1"]
    assert len(asks) == 1
    return h.get(SideEffectRecheck, recheck.id), asks[0]


def _recheck_form(h, recheck: SideEffectRecheck) -> dict:
    h.action(THERAPIST, Action.SIDE_EFFECT_RECHECK, str(recheck.id), channel="D0THERA")
    view = h.last_view()
    assert json.loads(view["private_metadata"]) == {"case": 1, "recheck": recheck.id}
    return view


def test_a_plan_that_changes_a_medication_is_rechecked_once(harness):
    h = harness
    report = _planned(h)
    [recheck] = h.rows(SideEffectRecheck)
    assert recheck.report_id == report.id and recheck.asked_at is None
    assert recheck.due_at >= report.plan_at + timedelta(days=14)
    run_sweep(h.deps)  # not due yet
    assert h.get(SideEffectRecheck, recheck.id).asked_at is None

    recheck, ask = _asked(h)
    assert action_ids(ask) == [Action.SIDE_EFFECT_RECHECK] and "sertraline" not in ask["text"]
    run_sweep(h.deps)
    h.settle()
    assert len([m for m in h.dms(THERAPIST) if m["text"] == "Side-effect recheck due on C-1"]) == 1

    # The same form, prefilled with the report's answers, asking how it compares.
    view = _recheck_form(h, recheck)
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert view["title"]["text"] == "Recheck a side effect"
    assert blocks[BlockId.SE_BURDEN]["element"]["initial_option"]["value"] == "4"
    assert blocks[BlockId.SE_ONSET]["element"]["initial_date"] == "2026-11-20"
    assert blocks[BlockId.SE_MEDICATION]["element"]["initial_option"]["text"]["text"] == "sertraline"
    assert BlockId.SE_RECHECK_OUTCOME in blocks

    # Without the comparison the form says so and nothing is saved.
    missing = h.submit(
        THERAPIST,
        Callback.SIDE_EFFECT_REPORT,
        report_values(medication=medication_value(view, "sertraline"), burden="1"),
        private_metadata=view["private_metadata"],
    )
    assert BlockId.SE_RECHECK_OUTCOME in json.loads(missing.body)["errors"]
    values = report_values(medication=medication_value(view, "sertraline"), burden="1")
    values[BlockId.SE_RECHECK_OUTCOME] = select_value("better")
    h.submit(THERAPIST, Callback.SIDE_EFFECT_REPORT, values, private_metadata=view["private_metadata"])
    answered = h.get(SideEffectRecheck, recheck.id)
    assert answered.outcome == "better" and answered.burden == 1 and answered.answered_by == THERAPIST
    assert len(h.rows(SideEffectReport)) == 1  # a recheck, not a new report
    assert h.get(SideEffectReport, report.id).status == ReportStatus.PLANNED

    summary = h.updates(h.get(OutboxMessage, report.summary_outbox_id).result_ts)[-1]
    assert "Rechecked" in reply_text(summary) and "*Better* (FIBSER burden 1/6)" in reply_text(summary)
    [note] = [p for p in h.posts(CHANNEL) if p["text"] == "Side-effect recheck on C-1"]
    assert note["thread_ts"] == h.root_ts(1) and "*Better*" in reply_text(note)
    assert "was 4/6" in reply_text(note) and "sertraline" not in note["text"]
    # A second answer changes nothing.
    h.action(THERAPIST, Action.SIDE_EFFECT_RECHECK, str(recheck.id), channel="D0THERA")
    assert "already answered" in reply_text(h.ephemerals(THERAPIST)[-1])


def test_worse_reopens_the_report_for_the_prescribers(harness):
    h = harness
    report = _planned(h, plan="switch")
    recheck, _ = _asked(h)
    view = _recheck_form(h, recheck)
    values = report_values(medication=medication_value(view, "sertraline"), burden="5")
    values[BlockId.SE_RECHECK_OUTCOME] = select_value("worse")
    h.submit(THERAPIST, Callback.SIDE_EFFECT_REPORT, values, private_metadata=view["private_metadata"])
    reopened = h.get(SideEffectReport, report.id)
    assert reopened.status == ReportStatus.OPEN and reopened.severity == "high"
    assert reopened.next_escalation_at == reopened.ack_due_at > h.clock.now()
    told = [m for m in h.dms(P1) if m["text"] == "Side-effect report SE-1 on C-1 reopened"]
    assert told and action_ids(told[-1]) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    assert "*Worse*" in reply_text(told[-1]) and "sertraline" not in told[-1]["text"]
    # The prescriber can acknowledge it again.
    h.action(P1, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0PRESC1")
    assert h.get(SideEffectReport, report.id).status == ReportStatus.ACKNOWLEDGED
    assert ("side_effect.reopened", "ok") in h.audit_actions(case_id=1)


def test_a_plan_that_keeps_the_medication_has_no_recheck(harness):
    h = harness
    care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, "C-1")
    submit_report(h, THERAPIST, 1, medication=medication_value(view, "sertraline"))
    [report] = h.rows(SideEffectReport)
    h.submit(
        P1,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("continue")},
        private_metadata=str(report.id),
    )
    assert h.get(SideEffectReport, report.id).status == ReportStatus.PLANNED
    assert h.rows(SideEffectRecheck) == []


@pytest.mark.parametrize("step", ["ask", "thread", "reopened"])
def test_the_recheck_message_renders_safely(step):
    r = card(
        status="open" if step == "reopened" else "planned",
        plan_label="Adjust dose",
        plan_by="U0PRESC2",
        plan_at=NOW,
        recheck_outcome="worse" if step == "reopened" else "better",
        recheck_at=NOW,
        recheck_burden=5,
    )
    message = Renderer().message(
        "side_effects/side_effect_recheck", r=r, action=Action, block=BlockId, recheck_id=3, step=step
    )
    for block in message["blocks"]:
        assert Block.parse(block).to_dict() == block
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "quote" not in message["text"] and "C-12" in message["text"]
    assert "quote" not in message["restricted"]


def test_a_reopened_report_is_reminded_again_and_other_cases_still_escalate(harness):
    """Regression: the reopened report's second reminder reused the (report, user, kind) row
    instead of colliding with it, which rolled back every sweep batch for every case."""
    h = harness
    care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, "C-1")
    submit_report(h, THERAPIST, 1, medication=medication_value(view, "sertraline"), burden="4")
    [report] = h.rows(SideEffectReport)
    h.clock.advance(report.ack_due_at - h.clock.now() + timedelta(seconds=1))
    run_sweep(h.deps)
    h.settle()
    assert len(h.posts(P1, starting="Reminder: ")) == 1
    h.submit(
        P1,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("switch"), BlockId.SE_PLAN_NOTE: text_value("switch it")},
        private_metadata=str(report.id),
    )
    recheck, _ = _asked(h)
    form = _recheck_form(h, recheck)
    values = report_values(medication=medication_value(form, "sertraline"), burden="5")
    values[BlockId.SE_RECHECK_OUTCOME] = select_value("worse")
    h.submit(THERAPIST, Callback.SIDE_EFFECT_REPORT, values, private_metadata=form["private_metadata"])
    reopened = h.get(SideEffectReport, report.id)
    assert reopened.status == ReportStatus.OPEN

    # Another case's urgent report, due after the reopened one.
    other = care_team(h, TEAM, label="Grey Owl", channel="C0OTHER")
    submit_report(h, THERAPIST, other, other_medication="lithium", red_flags=("3",))
    urgent = next(r for r in h.rows(SideEffectReport) if r.case_id == other)
    h.clock.advance(max(reopened.ack_due_at, urgent.ack_due_at) - h.clock.now() + timedelta(seconds=1))
    run_sweep(h.deps)
    h.settle()
    # Not urgent: the reminder may wait for working hours; it fires when they open.
    deferred = h.get(SideEffectReport, report.id).next_escalation_at
    if deferred is not None and deferred > h.clock.now():
        h.clock.advance(deferred - h.clock.now() + timedelta(seconds=1))
    run_sweep(h.deps)
    h.settle()
    reminders = [m["text"] for m in h.posts(P1, starting="Reminder: ")]
    assert reminders.count("Reminder: Side-effect report on C-1 (priority high)") == 1, reminders
    assert f"Reminder: Urgent side-effect report on C-{other}" in reminders
    assert h.get(SideEffectReport, report.id).escalation_step == EscalationStep.REMINDED
    assert h.get(SideEffectReport, urgent.id).escalation_step != EscalationStep.NONE


def test_an_urgent_reopen_at_night_reaches_the_person_on_call_and_its_dms_are_refreshed(harness):
    h = harness
    report = _planned(h, plan="switch")
    recheck, _ = _asked(h)
    h.command(P1, "<@U0DAN|dan> from 2026-12-07 17:00 to 2026-12-08 09:00", command="/oncall")
    h.clock.set(datetime(2026, 12, 7, 20, 0, tzinfo=UTC))  # Monday night; clinic hours 09-17 UTC
    view = _recheck_form(h, recheck)
    values = report_values(medication=medication_value(view, "sertraline"), burden="5", red_flags=("3",))
    values[BlockId.SE_RECHECK_OUTCOME] = select_value("worse")
    h.submit(THERAPIST, Callback.SIDE_EFFECT_REPORT, values, private_metadata=view["private_metadata"])
    reopened = h.get(SideEffectReport, report.id)
    assert reopened.status == ReportStatus.OPEN and reopened.severity == "urgent"
    [on_call] = h.dms("U0DAN")
    assert on_call["text"] == "Urgent side-effect report on C-1" and "sertraline" not in on_call["text"]
    kinds = {(r.user_id, r.kind) for r in h.rows(SideEffectRecipient)}
    assert ("U0DAN", "on_call") in kinds and (P1, "reopened") in kinds
    [told] = [m for m in h.dms(P1) if m["text"] == "Side-effect report SE-1 on C-1 reopened"]
    assert action_ids(told) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    # Acknowledged by the person on call: the prescriber's reopened DM loses Acknowledge.
    h.action("U0DAN", Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    assert h.get(SideEffectReport, report.id).status == ReportStatus.ACKNOWLEDGED
    [row] = [r for r in h.rows(SideEffectRecipient) if (r.user_id, r.kind) == (P1, "reopened")]
    assert action_ids(h.updates(h.get(OutboxMessage, row.outbox_id).result_ts)[-1]) == [
        Action.SIDE_EFFECT_PLAN
    ]


def test_a_worse_recheck_with_severe_intensity_reopens_at_least_high(harness):
    """The reopen applies the report's rule: FIBSER intensity 5-6 raises it to at least high."""
    h = harness
    report = _planned(h, plan="switch")
    recheck, _ = _asked(h)
    view = _recheck_form(h, recheck)
    values = report_values(medication=medication_value(view, "sertraline"), burden="2", intensity="5")
    values[BlockId.SE_RECHECK_OUTCOME] = select_value("worse")
    h.submit(THERAPIST, Callback.SIDE_EFFECT_REPORT, values, private_metadata=view["private_metadata"])
    assert h.get(SideEffectReport, report.id).severity == "high"
