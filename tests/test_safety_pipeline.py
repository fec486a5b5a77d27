"""Safety records through the whole pipeline: the /safety form in, the record (encrypted) in the
database, the alerts, receipt, thread summary and case card out; acknowledgement; the urgent
clock's reminder and escalation; the follow-up reminder and overdue notice; the Start button a
side-effect confirmation carries for the suicidality red flag."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from bot.ids import Action, BlockId, Callback
from bot.safety.service import high_risk_cases
from bot.scheduler import run_sweep
from devtools.slackreq import text_value
from storage.cases import Case
from storage.core import SlackUser
from storage.safety import RiskLevel, SafetyRecord
from tests.safety_helpers import open_safety_form, safety_values, submit_safety
from tests.side_effect_helpers import action_ids, submit_report
from tests.support import ALICE, BOB, CAROL, CHANNEL, MALLORY, care_team, reply_text

# support.TEAM: ALICE prescriber (creates the case), BOB therapist, CAROL case manager.


def sweep(h) -> dict[str, object]:
    result = run_sweep(h.deps)
    h.settle()
    return result


def starts_safety(block: dict) -> bool:
    return block.get("accessory", {}).get("action_id") == Action.SAFETY_START


def alerts(h, user: str, starting: str = "Urgent safety alert") -> list[dict]:
    return h.posts(user, starting=starting)


def test_a_high_risk_record_is_saved_encrypted_and_alerts_prescribers_and_the_owner(harness):
    h = harness
    case_id = care_team(h)
    view = open_safety_form(h, BOB, case_id)
    assert view["callback_id"] == Callback.SAFETY_FORM and view["private_metadata"] == str(case_id)

    assert submit_safety(h, BOB, case_id, owner=BOB).status == 200
    [record] = h.rows(SafetyRecord)
    assert (record.risk_level, record.method, record.follow_up_owner) == ("high", "clinical", BOB)
    assert "Vomited twice" not in record.plan_enc and "Walks with the dog" not in record.plan_enc
    assert record.ack_due_at == h.clock.now() + timedelta(minutes=15)  # the urgent side-effect clock
    assert record.next_escalation_at == record.ack_due_at

    for user in (ALICE, BOB):  # every prescriber and the follow-up owner
        [alert] = alerts(h, user)
        assert alert["text"] == f"Urgent safety alert on C-{case_id}"
        assert action_ids(alert) == [Action.SAFETY_ACK]
        assert "*High*" in reply_text(alert) and "Clinical judgment" in reply_text(alert)
    assert alerts(h, CAROL) == []
    [summary] = [p for p in h.posts(CHANNEL) if p.get("thread_ts") and "safety" in p["text"]]
    assert summary["text"] == f"Urgent safety alert on C-{case_id}"
    [receipt] = h.posts(BOB, starting="Your safety record")
    assert "Imminent risk" not in reply_text(receipt)
    card = h.updates(h.root_ts(case_id))[-1]
    assert "Suicide risk" in reply_text(card) and "*High*" in reply_text(card)
    assert "Vomited" not in reply_text(card)  # the plan stays out of the channel thread
    actions = [a for a, _ in h.audit_actions(case_id=case_id) if a.startswith("safety.")]
    assert actions[:3] == ["safety.form_opened", "safety.recorded", "safety.notified"]

    # /case show: the level, and the plan, escaped.
    h.command(BOB, f"show C-{case_id}")
    shown = h.last_reply_text()
    assert "Suicide risk" in shown and "Vomited twice" in shown
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown
    with h.db() as session:
        assert high_risk_cases(session, [case_id]) == {case_id: 1}


def test_case_show_keeps_every_section_of_a_full_safety_plan(harness):
    """Six sections at the form's limit are far more than one block holds: each section is its
    own block, so the last ones are not silently cut from /case show."""
    h = harness
    case_id = care_team(h)
    values = safety_values(owner=BOB)
    for n, block in enumerate(
        (
            BlockId.SAFETY_WARNING_SIGNS,
            BlockId.SAFETY_COPING,
            BlockId.SAFETY_DISTRACTION,
            BlockId.SAFETY_HELP,
            BlockId.SAFETY_PROFESSIONALS,
            BlockId.SAFETY_ENVIRONMENT,
        )
    ):
        values[block] = text_value("plan words " * 90 + f"END{n}")
    assert h.submit(BOB, Callback.SAFETY_FORM, values, private_metadata=str(case_id)).status == 200
    h.command(BOB, f"show C-{case_id}")
    shown = h.last_reply_text()
    assert "Suicide risk" in shown and "Safety plan" in shown
    assert all(f"END{n}" in shown for n in range(6))
    assert "…" not in shown


def test_imminent_risk_shows_the_recorder_the_crisis_instructions_at_once(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, level="imminent", owner=ALICE)
    [receipt] = h.posts(BOB, starting="Your safety record")
    assert "Imminent risk" in reply_text(receipt) and "988" in reply_text(receipt)
    assert len(alerts(h, ALICE)) == 1


def test_a_low_risk_record_alerts_nobody_and_ranks_no_case_first(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, CAROL, case_id, level="low", owner=BOB)
    [record] = h.rows(SafetyRecord)
    assert record.next_escalation_at is None and record.ack_due_at is None
    assert alerts(h, ALICE) == [] and alerts(h, BOB) == []
    with h.db() as session:
        assert high_risk_cases(session, [case_id]) == {}
    assert "*Low*" in reply_text(h.updates(h.root_ts(case_id))[-1])


def test_acknowledge_stops_the_clock_once_and_only_for_who_may(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=BOB)
    [record] = h.rows(SafetyRecord)

    h.action(CAROL, Action.SAFETY_ACK, str(record.id), channel="D0CAROL")  # a case manager: not theirs
    assert h.get(SafetyRecord, record.id).acknowledged_by is None
    h.action(MALLORY, Action.SAFETY_ACK, str(record.id), channel="D0MAL")  # not on the team
    assert h.get(SafetyRecord, record.id).acknowledged_by is None
    assert ("button:safety_ack", "denied") in h.audit_actions(actor=MALLORY)

    h.action(ALICE, Action.SAFETY_ACK, str(record.id), channel="D0ALICE")
    acked = h.get(SafetyRecord, record.id)
    assert acked.acknowledged_by == ALICE and acked.next_escalation_at is None
    h.action(BOB, Action.SAFETY_ACK, str(record.id), channel="D0BOB")  # a double click elsewhere
    assert len(h.audit_events(action="safety.acknowledged")) == 1
    assert ("button:safety_ack", "conflict") in h.audit_actions(actor=BOB)
    # Every alert is brought up to date in place: no stale Acknowledge button.
    [bob_alert] = [r for r in h.outbox(channel=BOB) if r.purpose == "safety_alert"]
    update = h.updates(bob_alert.result_ts)[-1]
    assert action_ids(update) == [] and f"Acknowledged by <@{ALICE}>" in reply_text(update)

    h.clock.advance(timedelta(days=1))
    assert sweep(h)["safety_alerts"] == 0


def test_an_unacknowledged_alert_is_reminded_then_escalated_once(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=BOB)
    [record] = h.rows(SafetyRecord)
    h.clock.advance(timedelta(minutes=14))
    assert sweep(h)["safety_alerts"] == 0
    h.clock.advance(timedelta(minutes=1))
    assert sweep(h)["safety_alerts"] == 1
    for user in (ALICE, BOB):
        [reminder] = alerts(h, user, "Reminder: urgent safety alert")
        assert action_ids(reminder) == [Action.SAFETY_ACK]
    h.clock.advance(timedelta(minutes=7, seconds=30))
    assert sweep(h)["safety_alerts"] == 1
    [escalation] = alerts(h, CAROL, "Escalation: urgent safety alert")
    assert "needs a prescriber *now*" in reply_text(escalation)
    [in_thread] = h.posts(CHANNEL, starting="Escalation: urgent safety alert")
    assert in_thread["thread_ts"] and f"<@{ALICE}>" in reply_text(in_thread)
    assert h.get(SafetyRecord, record.id).escalation_step == 2
    h.clock.advance(timedelta(days=3))
    assert sweep(h)["safety_alerts"] == 0
    assert (
        len(h.audit_events(action="safety.reminded")) == len(h.audit_events(action="safety.escalated")) == 1
    )


def test_the_follow_up_reminds_the_owner_in_working_hours_then_tells_the_case_managers(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, ALICE, case_id, level="moderate", owner=BOB, follow_up="2026-11-25")
    [record] = h.rows(SafetyRecord)
    with h.db() as session:
        person = session.get(SlackUser, BOB)
        tz = person.tz if person else "UTC"
    from zoneinfo import ZoneInfo

    nine = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    assert record.follow_up_due_at == nine
    h.clock.set(nine - timedelta(minutes=1))
    assert sweep(h)["safety_follow_ups"] == 0
    h.clock.set(nine)
    assert sweep(h)["safety_follow_ups"] == 1
    [reminder] = h.posts(BOB, starting="Safety follow-up due")
    assert reminder["text"] == f"Safety follow-up due on C-{case_id}"
    assert sweep(h)["safety_follow_ups"] == 0
    # No reassessment by the next working day (Thursday 09:00 in the clinic's zone, UTC).
    h.clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    assert sweep(h)["safety_follow_ups"] == 1
    [overdue] = h.posts(CAROL, starting="Safety follow-up overdue")
    assert f"<@{BOB}>" in reply_text(overdue)
    assert sweep(h)["safety_follow_ups"] == 0


def test_a_follow_up_reminder_due_during_downtime_waits_for_the_owners_working_hours(harness):
    """The sweep comes back at night after the reminder was due: it waits for the owner's next
    opening instead of reminding at night."""
    from zoneinfo import ZoneInfo

    h = harness
    case_id = care_team(h)
    submit_safety(h, ALICE, case_id, level="moderate", owner=BOB, follow_up="2026-11-25")
    [record] = h.rows(SafetyRecord)
    with h.db() as session:
        person = session.get(SlackUser, BOB)
        zone = ZoneInfo(person.tz if person else "UTC")
    h.clock.set(datetime(2026, 11, 25, 22, 0, tzinfo=zone).astimezone(UTC))  # down all day
    assert sweep(h)["safety_follow_ups"] == 0
    assert not h.posts(BOB, starting="Safety follow-up due")
    thursday_nine = datetime(2026, 11, 26, 9, 0, tzinfo=zone).astimezone(UTC)
    assert h.get(SafetyRecord, record.id).follow_up_due_at == thursday_nine
    assert ("safety.follow_up_deferred", "ok") in h.audit_actions(case_id=case_id)
    h.clock.set(thursday_nine)
    sweep(h)
    assert len(h.posts(BOB, starting="Safety follow-up due")) == 1


def test_a_reassessment_completes_the_follow_up_and_replaces_the_level(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=BOB)  # high
    submit_safety(h, BOB, case_id, level="low", owner=BOB, follow_up="2026-12-01")
    first, second = h.rows(SafetyRecord)
    assert first.superseded_at is not None and first.follow_up_due_at is None
    # A later record does not acknowledge the urgent alert: it stays open and chased.
    assert first.next_escalation_at == first.ack_due_at and first.acknowledged_by is None
    [old_alert] = [r for r in h.outbox(channel=ALICE) if r.purpose == "safety_alert"]
    replaced = h.updates(old_alert.result_ts)[-1]
    assert action_ids(replaced) == [Action.SAFETY_ACK]
    assert "A newer assessment replaced this one" in reply_text(replaced)
    assert second.risk_level == RiskLevel.LOW
    with h.db() as session:
        assert high_risk_cases(session, [case_id]) == {}
    h.clock.advance(timedelta(minutes=15))
    assert sweep(h)["safety_alerts"] == 1
    [reminder] = alerts(h, ALICE, "Reminder: urgent safety alert")
    assert action_ids(reminder) == [Action.SAFETY_ACK]
    h.action(ALICE, Action.SAFETY_ACK, str(first.id), channel="D0ALICE")
    assert h.get(SafetyRecord, first.id).acknowledged_by == ALICE
    h.clock.set(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert sweep(h)["safety_follow_ups"] == 0 and sweep(h)["safety_alerts"] == 0


def test_bad_input_changes_nothing_and_says_what_to_fix(harness):
    h = harness
    case_id = care_team(h)
    response = submit_safety(h, BOB, case_id, level=None, owner=None, follow_up="2026-11-01")
    errors = json.loads(response.body)["errors"]
    assert set(errors) == {"safety_risk", "safety_owner", "safety_follow_up"}
    assert "past" in errors["safety_follow_up"]
    # An owner who is not on the team: refused after the modal closed, by DM; nothing saved.
    submit_safety(h, BOB, case_id, owner=MALLORY)
    assert h.rows(SafetyRecord) == []
    assert "is not on" in reply_text(h.dms(BOB)[-1])
    h.command(BOB, "C-1 now", command="/safety")
    assert "Give only the case id" in h.last_reply_text()


def test_someone_off_the_team_can_neither_open_nor_save_a_record(harness):
    h = harness
    case_id = care_team(h)
    opened = len(h.slack.calls_to("views.open"))
    h.command(MALLORY, f"C-{case_id}", command="/safety")
    assert len(h.slack.calls_to("views.open")) == opened
    submit_safety(h, MALLORY, case_id, owner=BOB)
    assert h.rows(SafetyRecord) == []
    assert ("modal:safety_form", "denied") in h.audit_actions(actor=MALLORY)


def test_the_suicidality_red_flag_offers_the_safety_form_in_the_confirmation(harness):
    h = harness
    case_id = care_team(h)
    submit_report(h, BOB, case_id, other_medication="lithium", red_flags=("0",))  # suicidal thoughts
    [receipt] = h.posts(BOB, starting="Your side-effect report")
    start = [
        b["accessory"]
        for b in receipt["blocks"]
        if b.get("accessory", {}).get("action_id") == Action.SAFETY_START
    ]
    assert start and start[0]["value"] == str(case_id)
    h.action(BOB, Action.SAFETY_START, start[0]["value"], channel="D0BOB")
    assert h.last_view()["callback_id"] == Callback.SAFETY_FORM
    # A report without that red flag carries no such button.
    submit_report(h, BOB, case_id, other_medication="lithium", red_flags=("1",))
    later = h.posts(BOB, starting="Your side-effect report")[-1]
    assert not [b for b in later["blocks"] if starts_safety(b)]


def test_high_or_imminent_risk_ranks_its_case_first_in_the_digest(harness):
    h = harness
    quiet = care_team(h, label="Red Fox")
    risky = care_team(h, label="Grey Owl")
    submit_safety(h, BOB, risky, level="imminent", owner=BOB)
    h.command(BOB, "digest", command="/review")
    text = h.last_reply_text()
    ranked = re.findall(r"^\d+\. \*(C-\d+)\*", text, flags=re.MULTILINE)
    assert ranked[0] == f"C-{risky}" and f"C-{quiet}" in ranked
    assert "1 urgent item open" in text and "high or imminent suicide risk" in text
    submit_safety(h, BOB, risky, level="moderate", owner=BOB)  # the reassessment lowers it
    h.command(BOB, "digest", command="/review")
    assert "*0* with urgent items" in h.last_reply_text()


def test_app_home_shows_alerts_to_acknowledge_and_follow_ups_i_own(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=CAROL)  # high: ALICE (prescriber) and CAROL (owner)

    def home(user: str) -> str:
        h.event({"type": "app_home_opened", "user": user, "tab": "home"})
        return json.dumps(h.slack.calls_to("views.publish")[-1].args["view"])

    [record] = h.rows(SafetyRecord)
    assert f"Urgent safety alert {record.ref}: waiting for acknowledgement" in home(ALICE)
    carol = home(CAROL)
    assert f"Urgent safety alert {record.ref}" in carol and f"Safety follow-up {record.ref}: yours" in carol
    assert "Safety" not in home(BOB)
    h.action(ALICE, Action.SAFETY_ACK, str(record.id), channel="D0ALICE")
    assert "Urgent safety alert" not in home(ALICE)
    assert f"Safety follow-up {record.ref}: yours, due 2026-11-25" in home(CAROL)


def test_a_follow_up_for_today_recorded_after_hours_waits_for_the_next_working_morning(harness):
    h = harness
    case_id = care_team(h)
    h.clock.set(datetime(2026, 11, 24, 23, 30, tzinfo=UTC))  # Tuesday evening, in UTC and New York
    submit_safety(h, ALICE, case_id, level="low", owner=ALICE, follow_up="2026-11-24")
    [record] = h.rows(SafetyRecord)
    with h.db() as session:
        person = session.get(SlackUser, ALICE)
        tz = person.tz if person else "UTC"
    from zoneinfo import ZoneInfo

    wednesday_nine = datetime(2026, 11, 25, 9, 0, tzinfo=ZoneInfo(tz)).astimezone(UTC)
    assert record.follow_up_due_at == wednesday_nine
    assert sweep(h)["safety_follow_ups"] == 0


def test_with_no_prescriber_a_high_risk_alert_also_reaches_the_case_managers(harness):
    h = harness
    case_id = care_team(h, {BOB: "therapist", CAROL: "case-manager"}, label="Grey Owl")
    submit_safety(h, BOB, case_id, owner=BOB)
    assert len(alerts(h, CAROL)) == 1 and len(alerts(h, BOB)) == 1
    [receipt] = h.posts(BOB, starting="Your safety record")
    assert "no prescriber" in reply_text(receipt)
    # The case manager is told why it came to them, with no on-call banner and no Acknowledge
    # button they could not use (as item 9's and adherence's fallback DMs).
    [for_cm] = alerts(h, CAROL)
    assert "you are on call" not in reply_text(for_cm) and action_ids(for_cm) == []
    assert "no prescriber on this care team" in reply_text(for_cm)
    [for_owner] = alerts(h, BOB)  # the follow-up owner may acknowledge
    assert action_ids(for_owner) == [Action.SAFETY_ACK] and "you are on call" not in reply_text(for_owner)


def test_high_or_imminent_risk_lists_its_case_first_in_case_list(harness):
    h = harness
    risky = care_team(h, label="Red Fox")
    newer = care_team(h, label="Grey Owl")
    h.command(BOB, "list")
    assert h.last_reply_text().index(f"C-{newer}") < h.last_reply_text().index(f"C-{risky}")
    submit_safety(h, BOB, risky, level="high", owner=BOB)
    h.command(BOB, "list")
    text = h.last_reply_text()
    assert text.index(f"C-{risky}") < text.index(f"C-{newer}")
    assert "1 urgent item open" in text


def close_held(h, user: str, case_id: int) -> dict:
    """`/case close` on a case with open risk: the reply lists it and offers Close anyway."""
    h.command(user, f"close C-{case_id} moved away")
    held = h.last_reply()
    assert held["text"] == f"C-{case_id} was not closed: it has open items", held["text"]
    assert h.get(Case, case_id).status == "open"
    return held


def close_anyway(h, user: str, held: dict) -> None:
    [close] = [e for b in held["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert close["action_id"] == Action.CASE_CLOSE_CONFIRM
    h.action(user, Action.CASE_CLOSE_CONFIRM, close["value"], response_url=f"{h.slack.url}respond/close")


def test_closing_with_a_high_or_imminent_current_risk_asks_for_confirmation(harness):
    h = harness
    quiet = care_team(h, label="Quiet")
    submit_safety(h, BOB, quiet, level="moderate", owner=BOB)
    h.command(ALICE, f"close C-{quiet}")
    assert h.get(Case, quiet).status == "closed"  # a moderate level holds nothing

    case_id = care_team(h, label="Busy")
    submit_safety(h, BOB, case_id, level="imminent", owner=BOB)
    record = h.rows(SafetyRecord, case_id=case_id)[-1]
    body = reply_text(close_held(h, ALICE, case_id))
    line = f"Current suicide risk *Imminent* (safety record *{record.ref}*, follow-up 2026-11-25)"
    assert f"{line}: not acknowledged" in body
    assert "Vomited" not in body and "dog" not in body  # the level and ids only, no plan text
    h.action(ALICE, Action.SAFETY_ACK, str(record.id), channel="D0ALICE")
    held = close_held(h, ALICE, case_id)  # acknowledged, the level is still imminent
    assert f"acknowledged by <@{ALICE}>" in reply_text(held)
    close_anyway(h, ALICE, held)
    assert h.get(Case, case_id).status == "closed"
    closed = json.loads(h.audit_events(action="case.closed")[-1].details)
    assert closed["confirmed"] is True and closed["open_risks"] == 1


def test_a_reassessment_to_a_lower_level_lets_the_case_close(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=BOB)  # high
    close_held(h, ALICE, case_id)
    submit_safety(h, BOB, case_id, level="moderate", owner=BOB)
    h.command(ALICE, f"close C-{case_id}")
    assert h.get(Case, case_id).status == "closed"


def test_a_closed_case_is_not_chased(harness):
    h = harness
    case_id = care_team(h)
    submit_safety(h, BOB, case_id, owner=BOB)  # high, follow-up 2026-11-25
    close_anyway(h, ALICE, close_held(h, ALICE, case_id))
    assert h.get(Case, case_id).status == "closed"
    h.clock.set(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))
    assert sweep(h)["safety_alerts"] == 0 and sweep(h)["safety_follow_ups"] == 0
    [record] = h.rows(SafetyRecord)
    assert record.next_escalation_at is None and record.follow_up_due_at is None
    assert not [p for p in h.posts(CAROL) if "safety" in p["text"].lower()]
