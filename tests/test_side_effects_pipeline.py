"""The side-effect relay end to end, through the real Bolt app and the stand-in Slack:
report -> thread summary and prescriber DMs -> acknowledge -> plan -> summary updated."""

from __future__ import annotations

import json
from datetime import timedelta

from bot import auditlog
from bot.ids import Action, BlockId, Callback
from bot.side_effects.settings import SideEffectSettings
from devtools.slackreq import select_value, text_value
from storage.cases import CaseMember
from storage.core import OutboxMessage
from storage.side_effects import ReportStatus, Severity, SideEffectRecipient, SideEffectReport
from tests.side_effect_helpers import (
    CM,
    MEDS,
    OUTSIDER,
    P1,
    P2,
    TEAM,
    THERAPIST,
    action_ids,
    block,
    medication_value,
    open_form,
    option_values,
    submit_report,
)
from tests.support import ADMIN, CHANNEL, care_team, reply_text


def _result_ts(h, outbox_id: int) -> str:
    row = h.get(OutboxMessage, outbox_id)
    assert row.result_ts, "message not delivered"
    return row.result_ts


def test_report_acknowledge_plan_closes_the_loop(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    view = open_form(h, THERAPIST, f"C-{case_id}")
    assert view["callback_id"] == Callback.SIDE_EFFECT_REPORT  # the "side_effect_report" template, validated
    assert json.loads(view["private_metadata"]) == {"case": case_id}
    assert option_values(view, BlockId.SE_MEDICATION)[-1] == "other"
    med = medication_value(view, "sertraline")
    # FIBSER items carry the scale's wording; red flags come from the settings.
    burden = block(view, BlockId.SE_BURDEN)["element"]["options"]
    assert [o["text"]["text"] for o in burden][6] == "6 · Unable to function"
    red_flags = h.settings.section(SideEffectSettings).red_flags
    shown = [option_values(view, BlockId.chunk(BlockId.SE_RED_FLAGS, n)) for n in range(2)]
    assert len(shown[0]) == 10 and sum(map(len, shown)) == len(red_flags)  # 10 a group (Slack's limit)

    response = submit_report(
        h, THERAPIST, case_id, medication=med, symptoms=("nausea", "headache"), notes="Says <!channel> & more"
    )
    assert response.status == 200 and response.body in ("", "null")

    [saved] = h.rows(SideEffectReport)
    assert saved.severity == Severity.MODERATE and saved.status == ReportStatus.OPEN
    assert saved.ack_due_at == h.clock.now() + timedelta(days=1)  # Monday 15:00 -> Tuesday 15:00
    # Clinical text is encrypted at rest.
    assert "sertraline" not in saved.medication_name_enc
    assert h.deps.cipher.decrypt(saved.medication_name_enc) == "sertraline"
    assert "nausea" not in saved.symptoms_enc and "channel" not in (saved.notes_enc or "")

    # The thread summary, in the case thread, with the notification text free of details.
    [summary] = h.posts(CHANNEL, starting="Side-effect report on C-")
    assert summary["text"] == f"Side-effect report on C-{case_id} (priority moderate)"
    assert summary["thread_ts"] == h.root_ts(case_id)
    summary_text = reply_text(summary)
    assert "sertraline" in summary_text and "Nausea or vomiting" in summary_text
    assert "&lt;!channel&gt; &amp; more" in summary_text and "<!channel>" not in summary_text
    assert action_ids(summary) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]

    # One DM per prescriber, with the buttons; the reporter's receipt.
    for prescriber in (P1, P2):
        [dm] = h.posts(prescriber, starting="Side-effect report")  # the medication's start came before
        assert dm["text"] == f"Side-effect report on C-{case_id} (priority moderate)"
        assert "sertraline" not in dm["text"]
        assert action_ids(dm) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    [receipt] = h.posts(THERAPIST, starting="Your side-effect report")
    assert receipt["text"] == f"Your side-effect report on C-{case_id} was saved"
    assert f"<@{P1}>" in reply_text(receipt) and f"<@{P2}>" in reply_text(receipt)
    assert not h.posts(CM, starting="Side-effect")
    assert [e.target for e in h.audit_events(action="side_effect.notified")] == [f"user:{P1}", f"user:{P2}"]

    # Acknowledge: the summary, both DMs and the receipt are updated in place.
    summary_ts = _result_ts(h, saved.summary_outbox_id)
    receipt_ts = _result_ts(h, saved.receipt_outbox_id)
    h.action(P1, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC1")
    acked = h.get(SideEffectReport, saved.id)
    assert acked.status == ReportStatus.ACKNOWLEDGED and acked.acknowledged_by == P1
    assert acked.next_escalation_at is None
    [summary_update] = h.updates(summary_ts)
    assert summary_update["channel"] == CHANNEL
    assert f"Acknowledged by <@{P1}>" in reply_text(summary_update)
    assert action_ids(summary_update) == [Action.SIDE_EFFECT_PLAN]
    assert f"Acknowledged by <@{P1}>" in reply_text(h.updates(receipt_ts)[0])
    [told] = h.posts(THERAPIST, starting="Update on your side-effect report")
    assert f"<@{P1}> acknowledged" in reply_text(told)

    # A double click changes nothing: no second acknowledgement, no second update.
    calls_before = len(h.slack.calls_to("chat.update"))
    h.action(P1, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC1")
    h.action(P2, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC2")
    assert len(h.slack.calls_to("chat.update")) == calls_before
    assert len(h.audit_events(action="side_effect.acknowledged")) == 1
    assert "already acknowledged" in reply_text(h.ephemerals(P2)[-1])
    assert h.get(SideEffectReport, saved.id).acknowledged_by == P1

    # Record plan: a modal, then the loop closes.
    h.action(P2, Action.SIDE_EFFECT_PLAN, str(saved.id), channel="D0PRESC2")
    plan_view = h.last_view()
    assert plan_view["callback_id"] == Callback.SIDE_EFFECT_PLAN
    assert plan_view["private_metadata"] == str(saved.id)
    assert option_values(plan_view, BlockId.SE_PLAN) == [
        "continue",
        "adjust_dose",
        "switch",
        "stop",
        "urgent_evaluation",
    ]
    values = {BlockId.SE_PLAN: select_value("adjust_dose"), BlockId.SE_PLAN_NOTE: text_value("25 mg; <@U0X>")}
    h.submit(P2, Callback.SIDE_EFFECT_PLAN, values, private_metadata=str(saved.id), view_id="VPLAN1")
    planned = h.get(SideEffectReport, saved.id)
    assert planned.status == ReportStatus.PLANNED and planned.plan == "adjust_dose" and planned.plan_by == P2
    assert h.deps.cipher.decrypt(planned.plan_note_enc) == "25 mg; <@U0X>"
    final = h.updates(summary_ts)[-1]
    assert f"Plan recorded by <@{P2}>" in reply_text(final) and "Adjust dose" in reply_text(final)
    assert "&lt;@U0X&gt;" in reply_text(final)
    # A plan to adjust the dose offers to record the change (tests/test_medications_pipeline.py).
    assert action_ids(final) == [Action.MED_RECORD_CHANGE]
    for prescriber in (P1, P2):
        dm_id = next(
            r.id for r in h.outbox() if r.channel == prescriber and r.purpose == "side_effect_prescriber"
        )
        assert action_ids(h.updates(_result_ts(h, dm_id))[-1]) == [Action.MED_RECORD_CHANGE]
    assert "recorded a plan" in reply_text(
        h.posts(THERAPIST, starting="Update on your side-effect report")[-1]
    )

    # Slack retrying the plan submission (same view id) records nothing new.
    sent = len(h.slack.calls)
    h.submit(P2, Callback.SIDE_EFFECT_PLAN, values, private_metadata=str(saved.id), view_id="VPLAN1")
    assert len(h.slack.calls) == sent
    assert len(h.audit_events(action="side_effect.plan_recorded")) == 1

    # Every step is in the audit trail, and the chain verifies.
    actions = [e.action for e in h.audit_events()]
    for expected in (
        "side_effect.form_opened",
        "side_effect.reported",
        "side_effect.acknowledged",
        "side_effect.plan_form_opened",
        "side_effect.plan_recorded",
        "message.delivered",
    ):
        assert expected in actions
    conflicts = [e for e in h.audit_events(action="button:side_effect_ack") if e.outcome == "conflict"]
    assert len(conflicts) == 2
    with h.db() as session:
        assert auditlog.verify(session, h.deps.audit_key).ok
    # No audit detail carries clinical text.
    assert not any("sertraline" in e.details or "nausea" in e.details.lower() for e in h.audit_events())


def test_retried_report_submission_makes_one_report(harness):
    h = harness
    case_id = care_team(h, TEAM)
    for _ in range(2):
        submit_report(h, THERAPIST, case_id, view_id="VSAME1", medication="other", other_medication="lithium")
    assert len(h.rows(SideEffectReport)) == 1
    assert len(h.posts(P1)) == 1 and len(h.posts(P2)) == 1
    assert len(h.posts(THERAPIST)) == 1
    assert len(h.posts(CHANNEL, starting="Side-effect report on")) == 1


def test_plan_without_acknowledgement_acknowledges_too(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="quetiapine")
    [saved] = h.rows(SideEffectReport)
    h.action(P1, Action.SIDE_EFFECT_PLAN, str(saved.id), channel="D0PRESC1")
    h.submit(
        P1,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("continue")},
        private_metadata=str(saved.id),
    )
    planned = h.get(SideEffectReport, saved.id)
    assert planned.status == ReportStatus.PLANNED
    assert planned.acknowledged_by == P1 and planned.plan_note_enc is None
    assert [e.actor for e in h.audit_events(action="side_effect.acknowledged")] == [P1]
    # Acknowledging afterwards is refused as already done.
    h.action(P2, Action.SIDE_EFFECT_ACK, str(saved.id), channel="D0PRESC2")
    assert "already recorded" in reply_text(h.ephemerals(P2)[-1])
    # Record plan on a planned report opens nothing.
    opened = len(h.slack.calls_to("views.open"))
    h.action(P2, Action.SIDE_EFFECT_PLAN, str(saved.id), channel="D0PRESC2")
    assert len(h.slack.calls_to("views.open")) == opened


# -- validation ---------------------------------------------------------------------------------


def _errors(response) -> dict[str, str]:
    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    return body["errors"]


def test_invalid_report_returns_field_errors_and_saves_nothing(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    errors = _errors(
        submit_report(
            h,
            THERAPIST,
            case_id,
            symptoms=(),
            onset=None,
            frequency=None,
            intensity="9",
            burden="x",
            red_flags=("99",),
        )
    )
    assert set(errors) == {
        BlockId.SE_MEDICATION,
        BlockId.chunk(BlockId.SE_SYMPTOMS, 0),
        BlockId.SE_ONSET,
        BlockId.SE_FREQUENCY,
        BlockId.SE_INTENSITY,
        BlockId.SE_BURDEN,
        BlockId.chunk(BlockId.SE_RED_FLAGS, 0),
    }
    assert "medication" in errors[BlockId.SE_MEDICATION].lower()
    assert "0 to 6" in errors[BlockId.SE_INTENSITY]

    tomorrow = (h.clock.now() + timedelta(days=2)).date().isoformat()
    errors = _errors(submit_report(h, THERAPIST, case_id, medication="other", onset=tomorrow))
    assert errors == {
        BlockId.SE_MEDICATION_OTHER: "Type the medication's name.",
        BlockId.SE_ONSET: "The onset date cannot be in the future.",
    }
    errors = _errors(
        submit_report(h, THERAPIST, case_id, other_medication="x\u202ey", symptoms=("not-a-symptom",))
    )
    assert "invisible" in errors[BlockId.SE_MEDICATION_OTHER]
    assert errors[BlockId.chunk(BlockId.SE_SYMPTOMS, 0)] == "Tick symptoms from the list."

    assert h.rows(SideEffectReport) == []
    assert not h.posts(P1)
    bad = h.audit_events(action="modal:side_effect_report")
    assert len(bad) == 3 and {e.outcome for e in bad} == {"bad_input"}
    assert json.loads(bad[-1].details) == {
        "fields": sorted([BlockId.SE_MEDICATION_OTHER, BlockId.chunk(BlockId.SE_SYMPTOMS, 0)])
    }
    assert bad[-1].case_id == case_id

    # Free text alone is enough for symptoms; today is a valid onset.
    today = h.clock.now().date().isoformat()
    submit_report(
        h,
        THERAPIST,
        case_id,
        other_medication="bupropion",
        symptoms=(),
        other_symptoms="jaw clenching",
        onset=today,
    )
    assert len(h.rows(SideEffectReport)) == 1


def test_plan_form_needs_a_plan(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium")
    [saved] = h.rows(SideEffectReport)
    response = h.submit(P1, Callback.SIDE_EFFECT_PLAN, {}, private_metadata=str(saved.id))
    assert _errors(response) == {BlockId.SE_PLAN: "Pick one of the plans."}
    assert h.get(SideEffectReport, saved.id).status == ReportStatus.OPEN


# -- permissions ---------------------------------------------------------------------------------


def test_only_team_prescribers_may_acknowledge_or_plan(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium")
    [saved] = h.rows(SideEffectReport)
    for user in (THERAPIST, CM, ADMIN):
        h.action(user, Action.SIDE_EFFECT_ACK, str(saved.id), channel=CHANNEL)
        assert "Only a prescriber on the care team can acknowledge" in reply_text(h.ephemerals(user)[-1])
    h.action(OUTSIDER, Action.SIDE_EFFECT_ACK, str(saved.id), channel=CHANNEL)
    refusal = reply_text(h.ephemerals(OUTSIDER)[-1])
    assert "don't have access" in refusal and f"C-{case_id}" not in refusal
    # A report id that does not exist reads exactly like a case the clicker cannot see.
    h.action(OUTSIDER, Action.SIDE_EFFECT_ACK, "999", channel=CHANNEL)
    assert reply_text(h.ephemerals(OUTSIDER)[-1]) == refusal

    opened = len(h.slack.calls_to("views.open"))
    h.action(THERAPIST, Action.SIDE_EFFECT_PLAN, str(saved.id), channel=CHANNEL)
    assert len(h.slack.calls_to("views.open")) == opened
    h.submit(
        THERAPIST,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("stop"), BlockId.SE_PLAN_NOTE: text_value("stop it")},
        private_metadata=str(saved.id),
    )
    assert h.get(SideEffectReport, saved.id).status == ReportStatus.OPEN
    assert "Only a prescriber" in reply_text(h.posts(THERAPIST)[-1])

    denied = [e for e in h.audit_events() if e.outcome == "denied"]
    assert {(e.actor, e.action) for e in denied} >= {
        (THERAPIST, "button:side_effect_ack"),
        (CM, "button:side_effect_ack"),
        (ADMIN, "button:side_effect_ack"),
        (OUTSIDER, "button:side_effect_ack"),
        (THERAPIST, "button:side_effect_plan"),
        (THERAPIST, "modal:side_effect_plan"),
    }
    assert h.get(SideEffectReport, saved.id).acknowledged_by is None


def test_people_off_the_team_cannot_report_or_list(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.command(OUTSIDER, f"C-{case_id}", command="/sideeffect")
    assert "don't have access" in h.last_reply_text()
    h.command(OUTSIDER, f"list C-{case_id}", command="/sideeffect")
    assert "don't have access" in h.last_reply_text()
    assert h.slack.calls_to("views.open") == []
    # A forged submission for the case is refused after the modal closed, by DM.
    submit_report(h, OUTSIDER, case_id, other_medication="lithium")
    assert h.rows(SideEffectReport) == []
    assert "don't have access" in reply_text(h.posts(OUTSIDER)[-1])
    assert len([e for e in h.audit_events() if e.actor == OUTSIDER and e.outcome == "denied"]) == 3


def test_closed_case_takes_no_new_reports(harness):
    h = harness
    case_id = care_team(h, TEAM)
    h.command(THERAPIST, f"close C-{case_id}")
    h.command(THERAPIST, f"C-{case_id}", command="/sideeffect")
    assert "closed" in h.last_reply_text()
    assert h.slack.calls_to("views.open") == []


# -- routing -------------------------------------------------------------------------------------


def test_no_prescriber_goes_to_case_managers(harness):
    h = harness
    case_id = care_team(h, {CM: "case-manager", THERAPIST: "therapist"}, label="Grey Owl")
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=())
    [saved] = h.rows(SideEffectReport)
    assert saved.no_prescriber and saved.status == ReportStatus.OPEN
    [dm] = h.posts(CM)
    assert "no prescriber" in reply_text(dm) and action_ids(dm) == []
    [receipt] = h.posts(THERAPIST, starting="Your side-effect report")
    assert "There is no prescriber on" in reply_text(receipt) and f"<@{CM}>" in reply_text(receipt)
    [summary] = h.posts(CHANNEL, starting="Side-effect report on")
    assert "no prescriber" in reply_text(summary)
    # A prescriber added later can act from the thread.
    assert action_ids(summary) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    h.command(CM, f"add C-{case_id} <@{P1}> prescriber")
    # Joining, the prescriber gets the open report by DM, with its buttons (issue 15), and the
    # warnings are updated in place: the thread summary, the receipt, the case manager's DM.
    [joined] = h.posts(P1)
    assert action_ids(joined) == [Action.SIDE_EFFECT_ACK, Action.SIDE_EFFECT_PLAN]
    assert not h.get(SideEffectReport, saved.id).no_prescriber
    [fallback_dm] = h.rows(SideEffectRecipient, report_id=saved.id, kind="fallback")
    for outbox_id in (saved.summary_outbox_id, saved.receipt_outbox_id, fallback_dm.outbox_id):
        update = reply_text(h.updates(_result_ts(h, outbox_id))[-1])
        assert "joined as prescriber since" in update and "nobody can acknowledge" not in update
    h.action(P1, Action.SIDE_EFFECT_ACK, str(saved.id), channel=CHANNEL)
    assert h.get(SideEffectReport, saved.id).acknowledged_by == P1
    assert [
        (e.target, json.loads(e.details)["kind"]) for e in h.audit_events(action="side_effect.notified")
    ] == [(f"user:{CM}", "fallback"), (f"user:{P1}", "prescriber")]


def test_a_prescriber_who_leaves_and_comes_back_gets_no_second_dm(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", red_flags=())
    [saved] = h.rows(SideEffectReport)
    h.command(P2, f"remove C-{case_id} <@{P1}>")
    assert h.rows(CaseMember, case_id=case_id, user_id=P1) == []
    # Back as prescriber: the hook hands the open report over again, but P1 already has its DM
    # (one recipient row per report, person and kind): that DM is updated in place instead.
    h.command(P2, f"add C-{case_id} <@{P1}> prescriber")
    assert h.rows(CaseMember, case_id=case_id, user_id=P1)[0].role == "prescriber"
    assert len(h.posts(P1)) == 1
    [dm] = h.rows(SideEffectRecipient, report_id=saved.id, user_id=P1)
    assert action_ids(h.updates(_result_ts(h, dm.outbox_id))[-1]) == [
        Action.SIDE_EFFECT_ACK,
        Action.SIDE_EFFECT_PLAN,
    ]


def test_no_prescriber_and_no_case_manager_goes_to_the_creator(harness):
    h = harness
    # The creator is on the team as primary care.
    case_id = care_team(h, {P1: "pcp", THERAPIST: "therapist"}, label="Red Fox")
    submit_report(h, THERAPIST, case_id, other_medication="lithium")
    assert len(h.posts(P1)) == 1
    # The reporter being the only one left: saved, and told nobody else could be reached.
    lone = care_team(h, {THERAPIST: "therapist"}, label="Lone Wolf")
    submit_report(h, THERAPIST, lone, other_medication="lithium")
    assert len(h.rows(SideEffectReport)) == 2
    assert "Nobody else on the team could be told" in reply_text(h.posts(THERAPIST)[-1])


def test_urgent_report_mentions_prescribers_and_shows_crisis_text(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lamotrigine", burden="1", red_flags=("2",))
    [saved] = h.rows(SideEffectReport)
    assert saved.severity == Severity.URGENT
    assert saved.ack_due_at == h.clock.now() + timedelta(minutes=15)
    assert json.loads(h.deps.cipher.decrypt(saved.red_flags_enc)) == ["Any rash on lamotrigine"]
    [summary] = h.posts(CHANNEL, starting="Urgent side-effect report")
    assert summary["text"] == f"Urgent side-effect report on C-{case_id}"
    assert f"<@{P1}> <@{P2}> an *urgent*" in reply_text(summary)
    for prescriber in (P1, P2):
        [dm] = h.posts(prescriber)
        assert dm["text"] == f"Urgent side-effect report on C-{case_id}"
        assert dm["blocks"][0]["text"]["text"].startswith("🚨 URGENT")
        assert "lamotrigine" not in dm["text"]
    [receipt] = h.posts(THERAPIST, starting="Your side-effect report")
    assert "This report is urgent" in reply_text(receipt)
    assert "988" in reply_text(receipt)  # the default crisis text
    assert json.loads(h.audit_events(action="side_effect.reported")[0].details)["severity"] == "urgent"


def test_severity_follows_burden(harness):
    h = harness
    case_id = care_team(h, TEAM)
    for burden in ("6", "3", "0"):
        submit_report(h, THERAPIST, case_id, other_medication="lithium", burden=burden)
    assert [r.severity for r in h.rows(SideEffectReport)] == ["high", "moderate", "low"]
    due = [r.ack_due_at - r.created_at for r in h.rows(SideEffectReport)]
    assert due == [timedelta(hours=4), timedelta(days=1), timedelta(days=3)]


# -- picker, list, /case show, App Home, help ----------------------------------------------------


def test_words_after_the_case_prefill_the_notes(harness):
    h = harness
    case_id = care_team(h, TEAM, meds=MEDS)
    plain = open_form(h, THERAPIST, f"C-{case_id}")
    assert "initial_value" not in block(plain, BlockId.SE_NOTES)["element"]
    typed = 'nausea since the increase, "worse" at night\n<!channel> & dizzy'
    view = open_form(h, THERAPIST, f"C-{case_id} {typed}")
    assert block(view, BlockId.SE_NOTES)["element"]["initial_value"] == typed
    assert json.loads(view["private_metadata"]) == {"case": case_id}
    assert [e.outcome for e in h.audit_events(action="side_effect.form_opened")] == ["ok", "ok"]
    assert not h.audit_events(action="side_effect.reported")  # opening the form saves nothing


def test_picker_form_lists_my_cases_then_that_case_medications(harness):
    h = harness
    first = care_team(h, TEAM, meds=MEDS)
    second = care_team(h, TEAM, label="Green Toad", meds=("lithium 300 mg",))
    care_team(h, {P1: "prescriber"}, label="Not Mine")
    view = open_form(h, THERAPIST, "")
    assert view.get("private_metadata", "") == ""
    picker = block(view, BlockId.SE_CASE)
    assert picker["dispatch_action"] is True
    labels = [o["text"]["text"] for o in picker["element"]["options"]]
    assert labels == [f"C-{second} · Green Toad", f"C-{first} · Blue Heron"]
    assert BlockId.SE_MEDICATION not in [b.get("block_id") for b in view["blocks"]]

    h.action(
        THERAPIST,
        "value",
        str(second),
        block_id=BlockId.SE_CASE,
        view={"id": "VPICK1", "hash": "h1", "callback_id": Callback.SIDE_EFFECT_REPORT},
    )
    [update] = h.slack.calls_to("views.update")
    assert update.args["view_id"] == "VPICK1" and update.args["hash"] == "h1"
    rebuilt = update.args["view"]
    assert block(rebuilt, BlockId.SE_CASE)["element"]["initial_option"]["value"] == str(second)
    med = medication_value(rebuilt, "lithium")

    submit_report(h, THERAPIST, None, case=str(second), medication=med)
    [saved] = h.rows(SideEffectReport)
    assert saved.case_id == second and h.deps.cipher.decrypt(saved.medication_name_enc) == "lithium"
    # Without a case picked, the case field is the error.
    errors = _errors(submit_report(h, THERAPIST, None, other_medication="x"))
    assert errors == {BlockId.SE_CASE: "Pick the case this report is about."}


def test_picker_needs_an_open_case(harness):
    harness.command(OUTSIDER, "", command="/sideeffect")
    assert "not on the care team of any open case" in harness.last_reply_text()


def test_list_show_and_home_show_open_reports(harness):
    h = harness
    case_id = care_team(h, TEAM)
    submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="1", notes="first")
    h.clock.advance(timedelta(hours=2))
    submit_report(h, THERAPIST, case_id, other_medication="clozapine", red_flags=("5",))
    low, urgent = h.rows(SideEffectReport)
    h.action(P1, Action.SIDE_EFFECT_ACK, str(low.id), channel="D0PRESC1")

    h.command(CM, f"list C-{case_id}", command="/sideeffect")
    listed = h.last_reply_text()
    assert listed.index(urgent.ref) < listed.index(low.ref)
    assert f"*{urgent.ref}* Urgent · clozapine · reported 0 min ago" in listed
    assert f"*{low.ref}* Low · lithium · reported 2 h ago" in listed
    assert f"acknowledged by <@{P1}>, waiting for the plan" in listed
    assert "clozapine" not in listed.split("\n")[0]

    h.clock.advance(timedelta(minutes=20))
    h.command(THERAPIST, f"show C-{case_id}")
    shown = h.last_reply_text()
    assert "*Open side-effect reports* (2)" in shown
    line = f"*{urgent.ref}* Urgent · reported 20 min ago by <@{THERAPIST}> · waiting for acknowledgement"
    assert line + " (overdue)" in shown

    h.event({"type": "app_home_opened", "user": P2, "tab": "home"})
    home = h.slack.calls_to("views.publish")[-1].args["view"]
    home_text = json.dumps(home)
    assert (
        f"Urgent side-effect report {urgent.ref}: waiting for your acknowledgement, overdue by 5 min"
        in home_text
    )
    assert f"Low side-effect report {low.ref}: acknowledged, waiting for a plan" in home_text
    h.event({"type": "app_home_opened", "user": THERAPIST, "tab": "home"})
    assert "side-effect report" not in json.dumps(h.slack.calls_to("views.publish")[-1].args["view"])
    assert h.audit_events(action="side_effect.listed")[0].outcome == "ok"


def test_list_of_many_reports_shows_forty_and_counts_the_rest(harness):
    """41 open reports: the list used to put them all in one section, over Slack's 3000
    characters, and the command failed; now each has its own section and the rest are counted."""
    h = harness
    case_id = care_team(h, TEAM)
    for _ in range(41):
        submit_report(h, THERAPIST, case_id, other_medication="lithium", burden="1")
    assert len(h.rows(SideEffectReport, case_id=case_id)) == 41

    h.command(CM, f"list C-{case_id}", command="/sideeffect")
    reply = h.last_reply()
    assert reply["text"] == f"Open side-effect reports on C-{case_id}"
    sections = [b for b in reply["blocks"] if b["type"] == "section"]
    assert len(sections) == 41 and "(41)" in sections[0]["text"]["text"]
    assert all(" Low · lithium · reported 0 min ago" in b["text"]["text"] for b in sections[1:])
    assert reply["blocks"][-1]["elements"][0]["text"] == "Showing 40 of 41: 1 more not shown."
    assert h.audit_events(action="side_effect.listed")[0].outcome == "ok"


def test_help_and_bad_commands(harness):
    h = harness
    h.command(THERAPIST, "help", command="/sideeffect")
    text = h.last_reply_text()
    assert "/sideeffect list &lt;case&gt;" in text or "/sideeffect list <case>" in text
    assert "urgent 15 minutes" in text and "moderate 1 business day" in text
    h.command(THERAPIST, "list", command="/sideeffect")
    assert "Name one case" in h.last_reply_text()
    h.command(THERAPIST, "banana", command="/sideeffect")
    assert "is not a case id" in h.last_reply_text()
    assert h.slack.calls_to("views.open") == []
    assert {e.outcome for e in h.audit_events(action="command:/sideeffect")} == {"bad_input"}
