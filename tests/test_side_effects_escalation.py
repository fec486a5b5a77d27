"""Escalation on an injected clock, across a restart, across concurrent sweeps; and delivery
through Slack failures: every message arrives exactly once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

from bot.ids import Action
from bot.scheduler import run_sweep
from bot.side_effects.sweeps import escalate_due
from storage.core import OutboxStatus
from storage.side_effects import EscalationStep, ReportStatus, SideEffectReport
from tests.side_effect_helpers import (
    CM,
    P1,
    P2,
    TEAM,
    THERAPIST,
    action_ids,
    submit_report,
)
from tests.support import CHANNEL, care_team, reply_text


def sweep(h) -> dict[str, object]:
    result = run_sweep(h.deps)
    h.settle()
    return result


def reminders(h, user: str) -> list[dict]:
    return h.posts(user, starting="Reminder: ")


def escalations(h, channel: str) -> list[dict]:
    return h.posts(channel, starting="Escalation: ")


def test_urgent_report_reminds_at_the_deadline_then_escalates_once(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("3",))
    [saved] = h.rows(SideEffectReport)
    assert saved.next_escalation_at == saved.ack_due_at == h.clock.now() + timedelta(minutes=15)
    assert saved.escalate_at == saved.ack_due_at + timedelta(minutes=7, seconds=30)

    h.clock.advance(timedelta(minutes=14, seconds=59))
    assert sweep(h)["side_effect_escalation"] == 0
    assert not reminders(h, P1)

    h.clock.advance(timedelta(seconds=1))
    assert sweep(h)["side_effect_escalation"] == 1
    for prescriber in (P1, P2):
        [reminder] = reminders(h, prescriber)
        assert reminder["text"] == f"Reminder: Urgent side-effect report on C-{case_id}"
        assert action_ids(reminder) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    assert not escalations(h, CM)
    reminded = h.get(SideEffectReport, saved.id)
    assert reminded.escalation_step == EscalationStep.REMINDED
    assert reminded.next_escalation_at == saved.escalate_at
    summary_ts = next(r.result_ts for r in h.outbox() if r.id == saved.summary_outbox_id)
    assert "Reminder sent" in reply_text(h.updates(summary_ts)[-1])

    h.clock.advance(timedelta(minutes=7))
    assert sweep(h)["side_effect_escalation"] == 0
    h.clock.advance(timedelta(seconds=30))
    assert sweep(h)["side_effect_escalation"] == 1
    [dm] = escalations(h, CM)
    assert dm["text"] == f"Escalation: urgent side-effect report on C-{case_id} not acknowledged"
    [in_thread] = escalations(h, CHANNEL)
    assert in_thread["thread_ts"]
    assert f"<@{P1}> <@{P2}> <@{CM}>" in reply_text(in_thread)
    assert "lithium" not in in_thread["text"]
    [told] = h.posts(THERAPIST, starting="Update on your side-effect report")
    assert "escalated" in reply_text(told) and f"<@{CM}>" in reply_text(told)
    assert "Escalated" in reply_text(h.updates(summary_ts)[-1])
    escalated = h.get(SideEffectReport, saved.id)
    assert escalated.escalation_step == EscalationStep.ESCALATED and escalated.next_escalation_at is None

    # Nothing more fires, however long it stays open.
    h.clock.advance(timedelta(days=30))
    assert sweep(h)["side_effect_escalation"] == 0
    assert len(reminders(h, P1)) == 1 and len(escalations(h, CM)) == 1
    [reminded_event] = h.audit_events(action="side_effect.reminded")
    [escalated_event] = h.audit_events(action="side_effect.escalated")
    assert reminded_event.actor == "app" and reminded_event.source == "scheduler"
    assert json.loads(escalated_event.details)["recipients"] == 1

    # A late acknowledgement still closes the escalation and is marked late.
    h.action(P1, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC1")
    assert h.get(SideEffectReport, saved.id).status == ReportStatus.ACKNOWLEDGED
    assert json.loads(h.audit_events(action="side_effect.acknowledged")[0].details)["late"] is True
    # ...and every DM about it is brought up to date in place: no stale Acknowledge button.
    sent = {r.purpose: r for r in h.outbox() if r.channel in (P2, CM)}
    reminder_update = h.updates(sent["side_effect_reminder"].result_ts)[-1]
    assert action_ids(reminder_update) == [Action.SIDE_EFFECT_PLAN]
    assert f"Acknowledged by <@{P1}>" in reply_text(reminder_update)
    escalation_update = h.updates(sent["side_effect_escalation"].result_ts)[-1]
    assert "a prescriber has responded since" in reply_text(escalation_update)


def test_acknowledged_in_time_never_escalates(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="6")  # high: 4 h
    [saved] = h.rows(SideEffectReport)
    h.clock.advance(timedelta(hours=3))
    h.action(P2, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC2")
    h.clock.advance(timedelta(days=5))
    assert sweep(h)["side_effect_escalation"] == 0
    assert not reminders(h, P1) and not escalations(h, CM)
    assert h.audit_events(action="side_effect.reminded") == []


def test_a_sweep_long_after_a_restart_fires_each_step_once(make_harness, clock):
    """The app was down across both times: the next process reminds and escalates once,
    and a second sweep (or a second process) finds nothing left to do."""
    first = make_harness()
    try:
        case_id = care_team(first, TEAM)
        submit_report(first, THERAPIST, case_id, other_medication="lithium", red_flags=("0",))
    finally:
        first.close()

    clock.advance(timedelta(hours=6))
    second = make_harness()
    try:
        assert sweep(second)["side_effect_escalation"] == 2  # both steps, in order
        assert sweep(second)["side_effect_escalation"] == 0
        assert sweep(make_harness())["side_effect_escalation"] == 0
        assert len(reminders(second, P1)) == 1 and len(reminders(second, P2)) == 1
        assert len(escalations(second, CM)) == 1 and len(escalations(second, CHANNEL)) == 1
        assert len(second.audit_events(action="side_effect.reminded")) == 1
        assert len(second.audit_events(action="side_effect.escalated")) == 1
        late = json.loads(second.audit_events(action="side_effect.reminded")[0].details)["late_minutes"]
        assert late == 6 * 60 - 15
        # The reminder went out before the escalation.
        kinds = [r.purpose for r in second.outbox() if r.purpose.startswith("side_effect_")]
        assert kinds.index("side_effect_reminder") < kinds.index("side_effect_escalation")
    finally:
        second.close()


def test_concurrent_sweeps_fire_each_step_once(harness):
    h = harness
    case_id = care_team(h, TEAM)
    for _ in range(3):
        submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("0",))
    h.clock.advance(timedelta(minutes=16))
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(escalate_due(h.deps))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    h.settle()
    assert sum(results) == 3
    assert len(reminders(h, P1)) == 3 and len(reminders(h, P2)) == 3
    assert len(h.audit_events(action="side_effect.reminded")) == 3


def test_moderate_deadline_skips_the_weekend(harness):
    h = harness
    case_id = care_team(h, TEAM)
    friday = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
    h.clock.set(friday)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="3")
    [saved] = h.rows(SideEffectReport)
    assert saved.ack_due_at == datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday
    assert saved.escalate_at == datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # half a business day on
    h.clock.set(datetime(2026, 11, 29, 23, 0, tzinfo=UTC))  # Sunday night
    assert sweep(h)["side_effect_escalation"] == 0
    h.clock.set(datetime(2026, 11, 30, 15, 1, tzinfo=UTC))
    assert sweep(h)["side_effect_escalation"] == 1
    assert len(reminders(h, P1)) == 1


def test_deadlines_come_from_the_environment(make_harness, clock):
    h = make_harness(CARETHREAD_SIDEEFFECT_DEADLINE_LOW="90m", CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION="1")
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="0")
    [saved] = h.rows(SideEffectReport)
    assert saved.ack_due_at == clock.now() + timedelta(minutes=90)
    assert saved.escalate_at == clock.now() + timedelta(minutes=180)


def test_no_prescriber_reminders_go_to_case_managers(harness):
    h = harness
    case_id = care_team(h, {CM: "case-manager", THERAPIST: "therapist"}, label="Grey Owl")
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("0",))
    h.clock.advance(timedelta(hours=1))
    assert sweep(h)["side_effect_escalation"] == 2
    assert len(reminders(h, CM)) == 1 and len(escalations(h, CM)) == 1
    [in_thread] = escalations(h, CHANNEL)
    assert "There is no prescriber on this care team" in reply_text(in_thread)


# -- delivery --------------------------------------------------------------------------------------


def drain(h, *, step: timedelta = timedelta(seconds=61), rounds: int = 40) -> None:
    """Advance the clock and sweep until the outbox has nothing pending."""
    for _ in range(rounds):
        if not [r for r in h.outbox() if r.status == OutboxStatus.PENDING]:
            return
        h.clock.advance(step)
        sweep(h)
    raise AssertionError(f"still pending: {[(r.id, r.purpose, r.last_error) for r in h.outbox()]}")


def test_every_message_arrives_once_through_rate_limits_and_outages(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=30, times=2)
    h.slack.fail("chat.postMessage", status=500, error="internal_error", times=4)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("0",))
    [saved] = h.rows(SideEffectReport)
    assert h.get(SideEffectReport, saved.id).summary_outbox_id  # saved before Slack answered at all
    drain(h)
    assert len(h.posts(P1)) == 1 and len(h.posts(P2)) == 1
    assert len(h.posts(THERAPIST)) == 1
    assert len(h.posts(CHANNEL, starting="Urgent side-effect report")) == 1
    retries = [json.loads(e.details)["error"] for e in h.audit_events(action="message.retry")]
    assert retries.count("ratelimited") == 2 and retries.count("internal_error") == 4

    # The acknowledgement's updates and DM go through an outage too, each exactly once.
    h.slack.fail("chat.update", status=500, error="internal_error", times=3)
    h.slack.fail("chat.postMessage", status=429, error="ratelimited", retry_after=5, times=1)
    h.action(P1, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC1")
    drain(h)
    for row in h.outbox():
        assert row.status == OutboxStatus.SENT, (row.purpose, row.status, row.last_error)
    summary_ts = next(r.result_ts for r in h.outbox() if r.id == saved.summary_outbox_id)
    assert len(h.updates(summary_ts)) == 1
    assert len(h.posts(THERAPIST, starting="Update on your side-effect report")) == 1
    # The escalation clock stopped with the acknowledgement, so the drain fired nothing.
    assert h.audit_events(action="side_effect.reminded") == []


def test_escalation_messages_survive_an_outage(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("0",))
    h.clock.advance(timedelta(hours=1))
    h.slack.fail("chat.postMessage", status=503, error="service_unavailable", times=5)
    sweep(h)
    drain(h)
    assert len(reminders(h, P1)) == 1 and len(reminders(h, P2)) == 1
    assert len(escalations(h, CM)) == 1 and len(escalations(h, CHANNEL)) == 1
    assert len(h.audit_events(action="side_effect.escalated")) == 1


def test_a_non_urgent_reminder_waits_for_working_hours_an_urgent_one_does_not(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))  # Monday, clinic zone UTC, 09-17
    submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="6")  # high: 4 h -> 20:00
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("1",))  # urgent
    high, urgent = h.rows(SideEffectReport)
    h.clock.set(datetime(2026, 11, 23, 20, 30, tzinfo=UTC))
    assert sweep(h)["side_effect_escalation"] == 2  # the urgent one: reminded and escalated
    assert h.get(SideEffectReport, urgent.id).escalation_step == EscalationStep.ESCALATED
    assert h.get(SideEffectReport, high.id).escalation_step == EscalationStep.NONE
    assert h.get(SideEffectReport, high.id).next_escalation_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    [deferred] = h.audit_events(action="side_effect.step_deferred")
    assert deferred.target == f"side_effect:{high.id}"
    assert len(reminders(h, P1)) == 1  # the urgent report's only
    h.clock.set(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    assert sweep(h)["side_effect_escalation"] == 1  # the reminder only: it gets its chance
    assert len(reminders(h, P1)) == 2
    moved = h.get(SideEffectReport, high.id)
    assert moved.escalate_at == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # still 2 h after it
    h.clock.set(datetime(2026, 11, 24, 11, 0, tzinfo=UTC))
    assert sweep(h)["side_effect_escalation"] == 1
    assert h.get(SideEffectReport, high.id).escalation_step == EscalationStep.ESCALATED
