"""The after-hours rota and the routing of urgent items, on an injected clock: /oncall in, shifts in
the database; an urgent side-effect report or safety alert at night or at the weekend reaches the
person on call, who can acknowledge it while covering; in working hours it does not; with nobody
on call the admin channel is told."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ids import Action
from bot.scheduler import run_sweep
from storage.oncall import CoverGrant, OnCallShift
from storage.safety import SafetyRecord
from storage.side_effects import ReportStatus, SideEffectReport
from tests.safety_helpers import submit_safety
from tests.side_effect_helpers import CM, P1, TEAM, THERAPIST, submit_report
from tests.support import ADMIN, DAN, care_team, reply_text

ON_CALL = DAN  # not on the case's team
MONDAY_NIGHT = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # clinic zone UTC, hours 09-17 Mon-Fri
SATURDAY_NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def oncall(h, user: str, text: str) -> str:
    h.command(user, text, command="/oncall")
    return h.last_reply_text()


def rota(h, start: str = "2026-11-23 17:00", end: str = "2026-11-30 09:00") -> None:
    reply = oncall(h, P1, f"<@{ON_CALL}|dan> from {start} to {end}")
    assert "Added *OC-" in reply, reply


def urgent_report(h, case_id: int) -> SideEffectReport:
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=("3",))
    return h.rows(SideEffectReport)[-1]


def test_prescribers_and_admins_edit_the_rota_everyone_reads_it(harness):
    h = harness
    care_team(h, TEAM)
    rota(h)
    [shift] = h.rows(OnCallShift)
    assert shift.user_id == ON_CALL and shift.created_by == P1
    assert shift.starts_at == datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert "Only prescribers" in oncall(
        h, THERAPIST, f"<@{ON_CALL}> from 2026-11-24 17:00 to 2026-11-25 09:00"
    )
    assert len(h.rows(OnCallShift)) == 1
    assert ("command:/oncall", "denied") in h.audit_actions(actor=THERAPIST)
    listing = oncall(h, THERAPIST, "list")
    assert "OC-1" in listing and f"<@{ON_CALL}>" in listing
    assert "must end after" in oncall(h, ADMIN, f"<@{ON_CALL}> from 2026-11-25 09:00 to 2026-11-24 09:00")
    assert "not a date" in oncall(h, ADMIN, f"<@{ON_CALL}> from 25/11 09:00 to 2026-11-26 09:00")
    assert "Removed *OC-1*" in oncall(h, ADMIN, "remove OC-1")
    assert "already removed" in oncall(h, P1, "remove OC-1")
    assert "Nobody is on the rota" in oncall(h, P1, "list")
    assert [a for a, _ in h.audit_actions() if a.startswith("oncall.")] == [
        "oncall.added",
        "oncall.listed",
        "oncall.removed",
        "oncall.listed",
    ]


def test_at_night_an_urgent_report_reaches_the_person_on_call_who_may_acknowledge_it(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    [dm] = h.posts(ON_CALL)
    assert dm["text"] == f"Urgent side-effect report on C-{case_id}"
    assert "you are on call" in reply_text(dm) and "lithium" in reply_text(dm)
    [grant] = h.rows(CoverGrant)
    assert (grant.user_id, grant.item, grant.case_id) == (ON_CALL, f"side_effect:{report.id}", case_id)
    [receipt] = h.posts(THERAPIST, starting="Your side-effect report")
    assert f"<@{ON_CALL}>" in reply_text(receipt)

    h.action(ON_CALL, Action.SIDE_EFFECT_PLAN, str(report.id), channel="D0DAN")  # plans stay with prescribers
    assert ("button:side_effect_plan", "denied") in h.audit_actions(actor=ON_CALL)
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    acked = h.get(SideEffectReport, report.id)
    assert acked.status == ReportStatus.ACKNOWLEDGED and acked.acknowledged_by == ON_CALL
    assert [e.target for e in h.audit_events(action="oncall.cover_used")] == [f"side_effect:{report.id}"]


def test_at_the_weekend_the_person_on_call_hears_too(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(SATURDAY_NOON)
    urgent_report(h, case_id)
    assert len(h.posts(ON_CALL)) == 1


def test_in_working_hours_the_person_on_call_is_not_told(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 14:00", "2026-11-23 18:00")  # covers 15:00 Monday, inside working hours
    report = urgent_report(h, case_id)
    assert h.posts(ON_CALL) == [] and h.rows(CoverGrant) == []
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    assert h.get(SideEffectReport, report.id).status == ReportStatus.OPEN
    assert ("button:side_effect_ack", "denied") in h.audit_actions(actor=ON_CALL)


def test_with_nobody_on_call_the_admin_channel_is_told(make_harness, clock):
    h = make_harness(CARETHREAD_ADMIN_CHANNEL="C0ADMINS")
    case_id = care_team(h, TEAM)
    clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    [told] = h.posts("C0ADMINS")
    assert told["text"] == f"Urgent item SE-{report.id} on C-{case_id}: nobody is on call"
    assert "lithium" not in reply_text(told)
    assert len(h.audit_events(action="oncall.nobody_on_call")) == 1
    assert len(h.posts(P1, starting="Urgent")) == 1  # the prescribers still hear


def test_a_high_risk_safety_record_at_night_reaches_the_person_on_call(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    submit_safety(h, THERAPIST, case_id, owner=CM)
    [record] = h.rows(SafetyRecord)
    [alert] = h.posts(ON_CALL, starting="Urgent safety alert")
    assert alert["text"] == f"Urgent safety alert on C-{case_id}"
    assert "you are on call" in reply_text(alert)
    h.action(ON_CALL, Action.SAFETY_ACK, str(record.id), channel="D0DAN")
    assert h.get(SafetyRecord, record.id).acknowledged_by == ON_CALL
    assert [e.target for e in h.audit_events(action="oncall.cover_used")] == [f"safety:{record.id}"]


def test_cover_ends_with_the_shift(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 17:00", "2026-11-23 21:00")
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    h.clock.set(datetime(2026, 11, 23, 21, 1, tzinfo=UTC))
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    assert h.get(SideEffectReport, report.id).status == ReportStatus.OPEN
    assert ("button:side_effect_ack", "denied") in h.audit_actions(actor=ON_CALL)


def test_at_night_the_reminder_and_escalation_reach_whoever_is_on_call_then(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.clock.set(datetime(2026, 11, 23, 16, 50, tzinfo=UTC))  # reported in working hours
    report = urgent_report(h, case_id)
    rota(h)  # the night shift starts at 17:00
    assert h.posts(ON_CALL) == []
    h.clock.set(datetime(2026, 11, 23, 17, 5, tzinfo=UTC))  # the deadline passed after hours
    run_sweep(h.deps)
    h.settle()
    [first] = h.posts(ON_CALL)
    assert first["text"] == f"Urgent side-effect report on C-{case_id}"
    h.clock.set(datetime(2026, 11, 23, 17, 15, tzinfo=UTC))
    run_sweep(h.deps)
    h.settle()
    assert [p["text"] for p in h.posts(ON_CALL)][1:] == [
        f"Escalation: urgent side-effect report on C-{case_id} not acknowledged"
    ]
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    assert h.get(SideEffectReport, report.id).acknowledged_by == ON_CALL
