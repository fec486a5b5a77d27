"""The after-hours rota and the routing of urgent items, on an injected clock: /oncall in, shifts in
the database; an urgent side-effect report or safety alert at night or at the weekend reaches the
person on call, who can acknowledge it while covering; in working hours it does not; with nobody
on call the admin channel is told. The same for PHQ-9 item 9 alerts and high-priority adherence
reports, at the first alert and at each step of their chase."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.ids import Action, BlockId, Callback, Command
from bot.scheduler import run_sweep
from bot.unit import Actor
from devtools.slackreq import select_value, text_value
from storage.adherence import AdherenceReport, AdherenceStatus
from storage.cases import Case
from storage.measures import AlertStatus, Item9Alert
from storage.oncall import CoverGrant, OnCallShift
from storage.safety import SafetyRecord
from storage.side_effects import ReportStatus, Severity, SideEffectReport
from tests.safety_helpers import submit_safety
from tests.side_effect_helpers import CM, OUTSIDER, P1, TEAM, THERAPIST, submit_report
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


# -- PHQ-9 item 9 alerts and high-priority adherence reports after hours ------------------------------


def item9(h, case_id: int, value: int = 2) -> Item9Alert:
    h.command(THERAPIST, f"C-{case_id} phq9 14 item9 {value}", command=Command.SCORE)
    assert "item 9" in h.last_reply_text(), h.last_reply_text()
    return h.rows(Item9Alert, case_id=case_id)[-1]


def stopped_lithium(h, case_id: int) -> AdherenceReport:
    values = {
        BlockId.AD_KIND: select_value("stopped"),
        BlockId.AD_MEDICATION: select_value("other"),
        BlockId.AD_MEDICATION_OTHER: text_value("lithium carbonate"),
        BlockId.AD_REASON: text_value(""),
    }
    h.submit(THERAPIST, Callback.ADHERENCE_REPORT, values, private_metadata=json.dumps({"case": case_id}))
    report = h.rows(AdherenceReport, case_id=case_id)[-1]
    assert report.priority == Severity.HIGH
    return report


def test_at_night_an_item9_alert_reaches_the_person_on_call_who_may_acknowledge_it(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    alert = item9(h, case_id)
    [dm] = h.posts(ON_CALL)
    assert dm["text"] == f"Urgent alert on C-{case_id}: please acknowledge"
    assert "you are on call" in reply_text(dm) and f"<@{P1}>" in reply_text(dm)
    assert [e["action_id"] for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        Action.SCORE_ITEM9_ACK
    ]
    [grant] = h.rows(CoverGrant)
    assert (grant.user_id, grant.item, grant.case_id) == (ON_CALL, f"item9:{alert.id}", case_id)
    [prompt] = h.posts(THERAPIST, starting="Action needed")
    assert f"also the person on call: <@{ON_CALL}>" in reply_text(prompt)
    assert len(h.posts(P1, starting="Urgent alert")) == 1  # the prescribers still hear

    h.action(OUTSIDER, Action.SCORE_ITEM9_ACK, str(alert.id), channel="D0OUT")  # no grant: refused
    assert h.get(Item9Alert, alert.id).status == AlertStatus.OPEN
    h.action(ON_CALL, Action.SCORE_ITEM9_ACK, str(alert.id), channel="D0DAN")
    acked = h.get(Item9Alert, alert.id)
    assert (acked.status, acked.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, ON_CALL)
    assert [e.target for e in h.audit_events(action="oncall.cover_used")] == [f"item9:{alert.id}"]
    assert h.posts(THERAPIST)[-1]["text"] == f"Urgent alert acknowledged on C-{case_id}"


def test_a_message_queued_in_the_shift_but_sent_after_it_is_withheld(harness):
    """Each message re-checks its reader when it is sent: a cover grant valid when the DM was
    queued no longer lets the person on call read it once their shift has ended."""
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 17:00", "2026-11-23 21:00")
    h.clock.set(MONDAY_NIGHT)
    item9(h, case_id)
    assert len(h.posts(ON_CALL)) == 1 and h.rows(CoverGrant)
    h.clock.set(datetime(2026, 11, 23, 20, 59, tzinfo=UTC))
    with h.deps.unit(Actor.app()) as unit:
        unit.post(
            channel=ON_CALL,
            message={"text": f"Case C-{case_id}", "blocks": []},
            purpose="test",
            case_id=case_id,
        )
        h.clock.set(datetime(2026, 11, 23, 21, 1, tzinfo=UTC))  # the shift ends before the relay sends
    h.settle()
    assert len(h.posts(ON_CALL)) == 1
    [event] = h.audit_events(action="message.withheld")
    assert json.loads(event.details)["reader"] == ON_CALL


def test_in_working_hours_an_item9_alert_does_not_reach_the_person_on_call(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 14:00", "2026-11-23 18:00")  # covers 15:00 Monday, inside working hours
    alert = item9(h, case_id)
    assert h.posts(ON_CALL) == [] and h.rows(CoverGrant) == []
    h.action(ON_CALL, Action.SCORE_ITEM9_ACK, str(alert.id), channel="D0DAN")
    assert h.get(Item9Alert, alert.id).status == AlertStatus.OPEN
    assert ("button:score_item9_ack", "denied") in h.audit_actions(actor=ON_CALL)


def test_an_item9_alert_chased_after_hours_reaches_whoever_is_on_call_then(make_harness, clock):
    h = make_harness(CARETHREAD_ADMIN_CHANNEL="C0ADMINS")
    case_id = care_team(h, TEAM)
    clock.set(datetime(2026, 11, 23, 16, 50, tzinfo=UTC))  # entered in working hours
    alert = item9(h, case_id, 1)
    assert h.posts("C0ADMINS") == []
    clock.set(datetime(2026, 11, 23, 17, 5, tzinfo=UTC))  # the deadline passed after hours, nobody on call
    run_sweep(h.deps)
    h.settle()
    [told] = h.posts("C0ADMINS")
    assert told["text"] == f"Urgent item A-{alert.id} on C-{case_id}: nobody is on call"
    rota(h, "2026-11-23 17:10", "2026-11-24 09:00")
    clock.set(datetime(2026, 11, 23, 17, 15, tzinfo=UTC))  # escalation: the night shift has begun
    run_sweep(h.deps)
    h.settle()
    [dm] = h.posts(ON_CALL)
    assert dm["text"] == f"Urgent alert on C-{case_id}: please acknowledge"
    assert h.get(Item9Alert, alert.id).escalation_step == 2
    h.action(ON_CALL, Action.SCORE_ITEM9_ACK, str(alert.id), channel="D0DAN")
    assert h.get(Item9Alert, alert.id).acknowledged_by == ON_CALL


def test_at_night_a_high_priority_adherence_report_reaches_the_person_on_call(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = stopped_lithium(h, case_id)
    [dm] = h.posts(ON_CALL)
    assert dm["text"] == f"Adherence report on C-{case_id} (high)"
    assert "you are on call" in reply_text(dm) and "lithium carbonate" in reply_text(dm)
    [grant] = h.rows(CoverGrant)
    assert (grant.user_id, grant.item) == (ON_CALL, f"adherence:{report.id}")
    [receipt] = h.posts(THERAPIST, starting="Your adherence report")
    assert f"<@{ON_CALL}>" in reply_text(receipt)
    assert len(h.posts(P1, starting="Adherence report")) == 1

    h.action(ON_CALL, Action.ADHERENCE_PLAN, str(report.id), channel="D0DAN")  # plans stay with prescribers
    assert ("button:adherence_plan", "denied") in h.audit_actions(actor=ON_CALL)
    h.action(ON_CALL, Action.ADHERENCE_ACK, str(report.id), channel="D0DAN")
    acked = h.get(AdherenceReport, report.id)
    assert (acked.status, acked.acknowledged_by) == (AdherenceStatus.ACKNOWLEDGED, ON_CALL)
    assert [e.target for e in h.audit_events(action="oncall.cover_used")] == [f"adherence:{report.id}"]


def test_a_moderate_adherence_report_at_night_and_a_high_one_in_working_hours_skip_the_rota(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 14:00", "2026-11-24 09:00")
    report = stopped_lithium(h, case_id)  # Monday 15:00: working hours
    assert h.posts(ON_CALL) == [] and h.rows(CoverGrant) == []
    h.action(ON_CALL, Action.ADHERENCE_ACK, str(report.id), channel="D0DAN")
    assert h.get(AdherenceReport, report.id).status == AdherenceStatus.OPEN
    assert ("button:adherence_ack", "denied") in h.audit_actions(actor=ON_CALL)
    h.clock.set(MONDAY_NIGHT)
    values = {
        BlockId.AD_KIND: select_value("missing_doses"),
        BlockId.AD_MEDICATION: select_value("other"),
        BlockId.AD_MEDICATION_OTHER: text_value("sertraline"),
        BlockId.AD_REASON: text_value(""),
    }
    h.submit(THERAPIST, Callback.ADHERENCE_REPORT, values, private_metadata=json.dumps({"case": case_id}))
    assert h.rows(AdherenceReport)[-1].priority == Severity.MODERATE
    assert h.posts(ON_CALL) == []


def test_a_high_priority_adherence_report_chased_at_night_reaches_the_person_on_call(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.clock.set(datetime(2026, 11, 23, 13, 0, tzinfo=UTC))
    report = stopped_lithium(h, case_id)  # high: 4 hours to acknowledge, due 17:00
    rota(h)
    assert h.posts(ON_CALL) == []
    h.clock.set(datetime(2026, 11, 23, 17, 1, tzinfo=UTC))
    run_sweep(h.deps)
    h.settle()
    [first] = h.posts(ON_CALL)
    assert first["text"] == f"Adherence report on C-{case_id} (high)" and "you are on call" in reply_text(
        first
    )
    h.clock.set(report.escalate_at + timedelta(minutes=1))
    run_sweep(h.deps)
    h.settle()
    assert len(h.posts(ON_CALL)) == 2  # the escalation too, while the first DM keeps its button
    h.action(ON_CALL, Action.ADHERENCE_ACK, str(report.id), channel="D0DAN")
    assert h.get(AdherenceReport, report.id).acknowledged_by == ON_CALL


def test_the_person_on_call_is_reminded_without_the_record_plan_button(harness):
    """Plans stay with the prescribers: the on-call person's reminder (and every refresh of it)
    offers Acknowledge only, never Record plan, which would be refused."""
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = stopped_lithium(h, case_id)
    h.clock.set(report.ack_due_at + timedelta(minutes=1))
    run_sweep(h.deps)
    h.settle()
    first, reminder = h.posts(ON_CALL)
    refreshed = [u for u in h.updates() if u["channel"] == "D" + ON_CALL[1:]]  # the stand-in's DM id
    assert refreshed  # the sweep updated the on-call person's DMs in place too
    for dm in (first, reminder, *refreshed):
        buttons = [e["action_id"] for b in dm["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert buttons == [Action.ADHERENCE_ACK]
        assert "You are a prescriber" not in reply_text(dm)
    assert len(h.posts(P1, starting="Reminder")) == 1  # the prescriber's reminder keeps both


# -- App Home for the person on call ----------------------------------------------------------------


def home_of(h, user: str) -> dict:
    h.event({"type": "app_home_opened", "user": user, "tab": "home"})
    return h.slack.calls_to("views.publish")[-1].args["view"]


def home_buttons(view: dict) -> list[tuple[str, str]]:
    return [
        (b["accessory"]["action_id"], b["accessory"]["value"])
        for b in view["blocks"]
        if b.get("accessory", {}).get("type") == "button"
    ]


def test_the_person_on_call_acknowledges_an_urgent_report_from_app_home(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    home = home_of(h, ON_CALL)
    text = json.dumps(home)
    assert f"side-effect report {report.ref}: you are on call, waiting for your acknowledgement" in text
    assert f"C-{case_id}" in text and "lithium" not in text
    assert home_buttons(home) == [(Action.SIDE_EFFECT_ACK, str(report.id))]
    [listed] = h.audit_events(action="oncall.home_listed")
    assert json.loads(listed.details)["covered"] == [f"side_effect:{report.id}"]
    # The prescriber sees it once, as before (their own line, no on-call wording).
    assert "you are on call" not in json.dumps(home_of(h, P1))

    published = len(h.slack.calls_to("views.publish"))
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel=None, view=home)
    acked = h.get(SideEffectReport, report.id)
    assert (acked.status, acked.acknowledged_by) == (ReportStatus.ACKNOWLEDGED, ON_CALL)
    assert [e.target for e in h.audit_events(action="oncall.cover_used")] == [f"side_effect:{report.id}"]
    # Home is drawn again at once: the Acknowledge button is not offered for what is done.
    [refreshed] = h.slack.calls_to("views.publish")[published:]
    assert refreshed.args["user_id"] == ON_CALL
    assert home_buttons(refreshed.args["view"]) == [] and report.ref not in json.dumps(refreshed.args["view"])
    assert report.ref not in json.dumps(home_of(h, ON_CALL))
    # A click on a DM's button does not redraw Home.
    published = len(h.slack.calls_to("views.publish"))
    h.action(ON_CALL, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0DAN")
    assert len(h.slack.calls_to("views.publish")) == published


def test_app_home_drops_a_covered_item_when_the_shift_ends(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h, "2026-11-23 17:00", "2026-11-23 21:00")
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    assert home_buttons(home_of(h, ON_CALL)) == [(Action.SIDE_EFFECT_ACK, str(report.id))]
    h.clock.set(datetime(2026, 11, 23, 21, 1, tzinfo=UTC))
    assert report.ref not in json.dumps(home_of(h, ON_CALL))
    assert h.get(SideEffectReport, report.id).status == ReportStatus.OPEN  # still the prescribers' to do
    assert len(h.audit_events(action="oncall.home_listed")) == 1  # only the listing during the shift


def test_a_removed_shift_takes_its_items_off_app_home(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    assert "Removed *OC-1*" in oncall(h, P1, "remove OC-1")
    assert report.ref not in json.dumps(home_of(h, ON_CALL))


def test_app_home_lists_every_kind_of_covered_urgent_item_with_acknowledge(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    alert = item9(h, case_id)
    adherence = stopped_lithium(h, case_id)
    submit_safety(h, THERAPIST, case_id, owner=CM)
    [record] = h.rows(SafetyRecord)
    home = home_of(h, ON_CALL)
    assert sorted(home_buttons(home)) == sorted(
        [
            (Action.SCORE_ITEM9_ACK, str(alert.id)),
            (Action.ADHERENCE_ACK, str(adherence.id)),
            (Action.SAFETY_ACK, str(record.id)),
        ]
    )
    text = json.dumps(home)
    assert f"PHQ-9 item 9 alert {alert.ref}: you are on call" in text
    assert f"adherence report {adherence.ref}: you are on call" in text
    assert f"Urgent safety alert {record.ref} (" in text
    assert "lithium" not in text

    h.action(ON_CALL, Action.SCORE_ITEM9_ACK, str(alert.id), channel=None, view=home)
    h.action(ON_CALL, Action.ADHERENCE_ACK, str(adherence.id), channel=None, view=home)
    h.action(ON_CALL, Action.SAFETY_ACK, str(record.id), channel=None, view=home)
    assert h.get(Item9Alert, alert.id).acknowledged_by == ON_CALL
    assert h.get(AdherenceReport, adherence.id).status == AdherenceStatus.ACKNOWLEDGED
    assert h.get(SafetyRecord, record.id).acknowledged_by == ON_CALL
    assert home_buttons(home_of(h, ON_CALL)) == []


def test_an_item_a_prescriber_acknowledged_leaves_the_on_call_home(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    report = urgent_report(h, case_id)
    h.action(P1, Action.SIDE_EFFECT_ACK, str(report.id), channel="D0P1")
    assert h.get(SideEffectReport, report.id).acknowledged_by == P1
    assert home_buttons(home_of(h, ON_CALL)) == []
    assert h.audit_events(action="oncall.home_listed") == []


def test_closing_the_case_takes_its_covered_items_off_the_on_call_home(harness):
    h = harness
    case_id = care_team(h, TEAM)
    rota(h)
    h.clock.set(MONDAY_NIGHT)
    urgent_report(h, case_id)
    assert len(home_buttons(home_of(h, ON_CALL))) == 1
    h.command(P1, f"close C-{case_id}")
    held = h.last_reply()
    [close] = [e for b in held["blocks"] if b["type"] == "actions" for e in b["elements"]]
    h.action(P1, Action.CASE_CLOSE_CONFIRM, close["value"], response_url=f"{h.slack.url}respond/close")
    assert h.get(Case, case_id).status == "closed"
    assert home_buttons(home_of(h, ON_CALL)) == []
