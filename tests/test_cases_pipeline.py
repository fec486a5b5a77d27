"""Shared cases, end to end: signed requests into the real app, assertions on what the
stand-in Slack received and on what the database holds."""

from __future__ import annotations

import json
import time

from sqlalchemy import select

from bot.ids import BlockId, Callback
from devtools import slackreq
from storage.cases import Case, CaseMember, Medication
from storage.core import OutboxMessage, OutboxStatus
from tests.medication_helpers import open_med_form, submit_med_form
from tests.support import ADMIN, ALICE, BOB, CAROL, MALLORY, SECRET, care_team, reply_text


def test_bad_or_stale_signature_is_rejected_with_401(harness):
    url = harness.slack.url + "respond/sig"
    good = slackreq.slash_command(SECRET, command="/case", text="list", user=ALICE, response_url=url)
    forged = slackreq.slash_command(
        "not-the-secret", command="/case", text="list", user=ALICE, response_url=url
    )
    stale = slackreq.slash_command(
        SECRET,
        command="/case",
        text="list",
        user=ALICE,
        response_url=url,
        timestamp=int(time.time()) - 60 * 10,
    )
    assert harness.send(forged).status == 401
    assert harness.send(stale).status == 401
    tampered = slackreq.SignedRequest(good.body.replace("list", "help"), good.headers)
    assert harness.send(tampered).status == 401
    assert harness.send(good).status == 200
    assert harness.replies()  # only the genuine request was answered
    assert len(harness.replies()) == 1


def test_health_check(harness):
    response = harness.http("GET", "/healthz")
    assert response.status == 200 and response.body == "ok\n"
    assert harness.http("GET", "/nope").status == 404


def test_create_posts_card_replies_with_id_and_saves_encrypted_label(harness):
    case = harness.get(Case, care_team(harness, {ALICE: "prescriber"}, label="Blue Heron 42"))
    assert case.id == 1 and case.home_channel == "C0CARE" and case.status == "open"
    assert "Blue Heron" not in case.label_enc  # encrypted at rest
    assert harness.deps.cipher.decrypt(case.label_enc) == "Blue Heron 42"

    card = harness.posts("C0CARE")[0]
    assert card["text"] == "Case C-1 care-team thread"  # notification text: the id only
    assert "Blue Heron 42" in reply_text(card)  # the label lives in the blocks
    assert "<@U0ALICE> (Prescriber)" in reply_text(card)
    assert "C-1" in harness.last_reply_text()

    with harness.db() as session:
        members = session.execute(select(CaseMember)).scalars().all()
        outbox = session.get(OutboxMessage, case.card_outbox_id)
    assert [(m.user_id, m.role) for m in members] == [(ALICE, "prescriber")]
    assert outbox.status == OutboxStatus.SENT and outbox.result_ts
    assert ("case.created", "ok") in harness.audit_actions(case_id=1)


def test_default_role_is_case_manager_and_ids_increase(harness):
    care_team(harness, {ALICE: "case-manager"}, label="One")
    harness.command(BOB, "create Two")
    with harness.db() as session:
        roles = session.execute(select(CaseMember.case_id, CaseMember.role).order_by(CaseMember.id)).all()
    assert [tuple(r) for r in roles] == [(1, "case-manager"), (2, "case-manager")]
    assert "C-2" in harness.last_reply_text()


def test_team_changes_are_threaded_under_the_card_and_update_it(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ALICE, "add C-1 <@U0BOB|bob> therapist")
    harness.command(ALICE, "add C-1 <@U0CAROL> case_manager")
    harness.command(BOB, "remove C-1 <@U0CAROL>")

    notes = [p for p in harness.posts("C0CARE") if p.get("thread_ts")]
    root_ts = harness.root_ts(1)
    assert [n["thread_ts"] for n in notes] == [root_ts] * 3
    assert [n["text"] for n in notes] == ["Update on case C-1"] * 3
    texts = [reply_text(n) for n in notes]
    assert "added <@U0BOB> to the care team as Therapist" in texts[0]
    assert "added <@U0CAROL> to the care team as Case manager" in texts[1]
    assert "removed <@U0CAROL> (Case manager)" in texts[2]

    updates = harness.slack.calls_to("chat.update")
    assert updates and all(u.args["ts"] == root_ts for u in updates)
    assert "<@U0BOB> (Therapist)" in reply_text(updates[-1].args)
    assert "U0CAROL" not in reply_text(updates[-1].args)


def test_show_lists_team_meds_and_thread_link_for_members_only(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ALICE, "add C-1 <@U0BOB|bob> therapist")
    harness.command(ALICE, "med C-1 add sertraline 50 mg every morning")
    harness.command(BOB, "show C-1")
    shown = harness.last_reply_text()
    assert "Blue Heron" in shown and "sertraline" in shown and "50 mg every morning" in shown
    assert "<@U0BOB> (Therapist)" in shown
    assert "https://slack.com/archives/C0CARE/p" in shown
    assert harness.replies()[-1]["response_type"] == "ephemeral"
    assert ("case.viewed", "ok") in harness.audit_actions(actor=BOB)


def test_refusal_reveals_nothing_and_is_audited(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(MALLORY, "show C-1")
    existing = harness.last_reply_text()
    harness.command(MALLORY, "show C-99")
    missing = harness.last_reply_text()
    assert existing.replace("C-1", "C-N") == missing.replace("C-99", "C-N")
    assert "Blue Heron" not in existing
    denied = harness.audit_actions(actor=MALLORY)
    assert denied == [("command:/case", "denied"), ("command:/case", "denied")]
    for verb in ("add C-1 <@U0MALLORY> therapist", "close C-1", "med C-1 add x", "remove C-1 <@U0ALICE>"):
        harness.command(MALLORY, verb)
        assert "don't have access to case C-1" in harness.last_reply_text()
    with harness.db() as session:
        assert session.execute(select(CaseMember).where(CaseMember.user_id == MALLORY)).first() is None
        assert session.get(Case, 1).status == "open"


def test_admin_sees_any_case_and_lists_all(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ADMIN, "show C-1")
    assert "not on the team (admin view)" in harness.last_reply_text()
    harness.command(ADMIN, "list all")
    assert "C-1" in harness.last_reply_text()
    harness.command(ALICE, "list all")
    assert "Only CareThread admins" in harness.last_reply_text()


def test_list_shows_my_open_cases_only(harness):
    care_team(harness, {ALICE: "prescriber"}, label="Mine")
    harness.command(BOB, "create Theirs")
    harness.command(ALICE, "list")
    listed = harness.last_reply_text()
    assert "C-1" in listed and "Mine" in listed and "C-2" not in listed
    harness.command(ALICE, "close C-1 moved away")
    harness.command(ALICE, "list")
    assert "No open cases" in harness.last_reply_text()


def test_close_and_reopen(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ALICE, "close C-1 discharged to primary care")
    with harness.db() as session:
        case = session.get(Case, 1)
    assert case.status == "closed" and case.closed_at is not None
    assert harness.deps.cipher.decrypt(case.close_reason_enc) == "discharged to primary care"
    harness.command(ALICE, "close C-1")
    assert "already closed" in harness.last_reply_text()
    harness.command(ALICE, "add C-1 <@U0BOB> therapist")
    assert "is closed" in harness.last_reply_text()
    harness.command(ALICE, "reopen C-1")
    with harness.db() as session:
        assert session.get(Case, 1).status == "open"
    notes = [reply_text(p) for p in harness.posts("C0CARE") if p.get("thread_ts")]
    assert any("closed the case" in n and "discharged to primary care" in n for n in notes)
    assert any("reopened the case" in n for n in notes)


def test_only_prescribers_change_medications(harness):
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ALICE, "add C-1 <@U0BOB> therapist")
    harness.command(BOB, "med C-1 add lithium 300 mg twice daily")
    assert "Only a prescriber" in harness.last_reply_text()
    harness.command(ALICE, "med C-1 add lithium 300 mg twice daily")
    harness.command(ALICE, "med C-1 add Lithium 600 mg")
    assert "already on" in harness.last_reply_text()
    harness.command(ALICE, "med C-1 stop quetiapine")
    assert "No active medication by that name on C-1" in harness.last_reply_text()
    # The names reach the prescriber in the blocks only: the notification text has none.
    assert "quetiapine" in harness.last_reply_text() and "lithium" in harness.last_reply_text()
    notification = harness.replies()[-1]["text"]
    assert "quetiapine" not in notification and "lithium" not in notification
    # A stop needs a taper plan: the command opens the form with the medication picked.
    view = open_med_form(harness, ALICE, "med C-1 stop LITHIUM")
    submit_med_form(harness, ALICE, view, taper="none")
    with harness.db() as session:
        meds = session.execute(select(Medication)).scalars().all()
    assert len(meds) == 1 and meds[0].active is False and meds[0].stopped_by == ALICE
    assert "lithium" not in meds[0].name_enc
    thread = [p for p in harness.posts("C0CARE") if p.get("thread_ts")]
    assert all("lithium" not in p["text"].lower() for p in thread)  # not in notifications
    assert any("lithium" in reply_text(p) for p in thread)


BAD_INPUTS = [
    ("frobnicate", "is not a /case command"),
    ("add C-1", "Something is missing"),
    ("add C-1 bob therapist", "@-mention"),
    ("add C-1 <@U0BOB> surgeon", "is not a care-team role"),
    ("add case1 <@U0BOB> therapist", "is not a case id"),
    ("show", "Something is missing"),
    ("list everything", "takes nothing, or `all`"),
    ("create " + "x" * 200, "the limit is 80"),
    ("create <!channel> hello", "cannot contain mentions"),
    ("med C-1 pause lithium", "not a medication action"),
    ("remove C-1 <@U0ALICE>", "last member"),
    ("remove C-1 <@U0BOB>", "is not on the care team"),
]


def test_bad_input_gets_a_clear_reply_with_usage_and_changes_nothing(harness):
    care_team(harness, {ALICE: "prescriber"})
    with harness.db() as session:
        before = session.execute(select(OutboxMessage.id).where(OutboxMessage.method != "response_url")).all()
    for text, expected in BAD_INPUTS:
        harness.command(ALICE, text)
        reply = harness.last_reply_text()
        assert expected in reply, (text, reply)
    with harness.db() as session:
        assert (
            session.execute(select(OutboxMessage.id).where(OutboxMessage.method != "response_url")).all()
            == before
        )
        assert len(session.execute(select(CaseMember)).all()) == 1
        assert len(session.execute(select(Case)).all()) == 1
    outcomes = [o for a, o in harness.audit_actions(actor=ALICE) if a == "command:/case"]
    assert len(outcomes) == len(BAD_INPUTS) and set(outcomes) <= {"bad_input", "conflict", "denied"}


def test_help_and_empty_text(harness):
    harness.command(ALICE, "")
    assert "/case create" in harness.last_reply_text()
    harness.command(ALICE, "help")
    assert "/case med" in harness.last_reply_text()


def test_create_in_a_dm_is_refused(harness):
    harness.command(ALICE, "create Blue Heron", channel="D0ALICE")
    assert "care-team channel" in harness.last_reply_text()
    harness.command(ALICE, "create", channel="D0ALICE")
    assert "not in a DM" in harness.last_reply_text()
    assert not harness.slack.calls_to("views.open")


def test_label_with_markup_is_escaped_everywhere(harness):
    harness.command(ALICE, 'create Fox &lt;b&gt; "quoted" \\ & co as therapist')
    with harness.db() as session:
        label = harness.deps.cipher.decrypt(session.get(Case, 1).label_enc)
    assert label == 'Fox <b> "quoted" \\ & co'
    card = reply_text(harness.posts("C0CARE")[0])
    assert 'Fox &lt;b&gt; "quoted" \\ &amp; co' in card


def test_create_modal_opens_and_submission_creates_the_team(harness):
    harness.command(ALICE, "create")
    opened = harness.slack.wait_for("views.open")[0].args
    view = opened["view"]
    assert view["callback_id"] == Callback.CASE_CREATE and view["private_metadata"] == "C0CARE"
    values = {
        BlockId.LABEL: slackreq.text_value("Green Finch"),
        BlockId.MY_ROLE: slackreq.select_value("prescriber"),  # only a prescriber enters medications
        BlockId.members_for("therapist"): slackreq.users_value([BOB]),
        BlockId.members_for("case-manager"): slackreq.users_value([CAROL]),
        BlockId.MEDICATIONS: slackreq.text_value("sertraline 50 mg daily\n\nquetiapine 25 mg at night"),
    }
    response = harness.submit(ALICE, Callback.CASE_CREATE, values, private_metadata="C0CARE", view_id="VNEW1")
    assert response.status == 200 and response.body == ""
    with harness.db() as session:
        members = session.execute(select(CaseMember.user_id, CaseMember.role).order_by(CaseMember.id)).all()
        meds = session.execute(select(Medication)).scalars().all()
    assert [tuple(m) for m in members] == [(ALICE, "prescriber"), (BOB, "therapist"), (CAROL, "case-manager")]
    names = sorted(harness.deps.cipher.decrypt(m.name_enc) for m in meds)
    assert names == ["quetiapine", "sertraline"]
    assert harness.slack.calls_to("chat.postEphemeral")[0].args["user"] == ALICE

    # A second delivery of the same submission creates nothing more.
    harness.submit(ALICE, Callback.CASE_CREATE, values, private_metadata="C0CARE", view_id="VNEW1")
    with harness.db() as session:
        assert len(session.execute(select(Case)).all()) == 1


def test_create_modal_field_errors(harness):
    values = {
        BlockId.LABEL: slackreq.text_value("Green Finch"),
        BlockId.MY_ROLE: slackreq.select_value("therapist"),
        BlockId.members_for("prescriber"): slackreq.users_value([BOB]),
        BlockId.members_for("pcp"): slackreq.users_value([BOB]),
    }
    response = harness.submit(ALICE, Callback.CASE_CREATE, values, private_metadata="C0CARE")
    body = json.loads(response.body)
    assert body["response_action"] == "errors"
    assert body["errors"] == {BlockId.members_for("pcp"): "Pick each person once, under one role."}
    values[BlockId.members_for("pcp")] = slackreq.users_value([])
    values[BlockId.LABEL] = slackreq.text_value("   ")
    body = json.loads(harness.submit(ALICE, Callback.CASE_CREATE, values, private_metadata="C0CARE").body)
    assert set(body["errors"]) == {BlockId.LABEL}
    with harness.db() as session:
        assert session.execute(select(Case)).first() is None


def _new_case(**blocks):
    """The New case form's values: a valid form unless `blocks` say otherwise."""
    values = {
        BlockId.LABEL: slackreq.text_value("Green Finch"),
        BlockId.MY_ROLE: slackreq.select_value("prescriber"),
        BlockId.MEDICATIONS: slackreq.text_value(""),
    }
    values.update(blocks)
    return values


def _create_refused(harness, values) -> dict[str, str]:
    """Submit the New case form; it must answer field errors in the ack and create nothing."""
    response = harness.submit(ALICE, Callback.CASE_CREATE, values, private_metadata="C0CARE")
    body = json.loads(response.body)
    assert response.status == 200 and body["response_action"] == "errors", body
    with harness.db() as session:
        assert session.execute(select(Case)).first() is None
        assert session.execute(select(OutboxMessage)).first() is None
    assert not harness.slack.calls_to("chat.postMessage")  # no DM: the modal stays open instead
    return body["errors"]


def test_create_form_reports_every_mistake_at_once_and_creates_nothing(harness):
    errors = _create_refused(
        harness,
        _new_case(
            **{
                BlockId.LABEL: slackreq.text_value("<@U0BOB> follow-up"),
                BlockId.MY_ROLE: slackreq.select_value("therapist"),
                BlockId.members_for("case-manager"): slackreq.users_value([ALICE]),
                BlockId.MEDICATIONS: slackreq.text_value("sertraline 50 mg"),
            }
        ),
    )
    assert set(errors) == {BlockId.LABEL, BlockId.members_for("case-manager"), BlockId.MEDICATIONS}
    assert "cannot contain mentions" in errors[BlockId.LABEL]
    assert "You are on the team already" in errors[BlockId.members_for("case-manager")]
    assert "Only a prescriber enters medications" in errors[BlockId.MEDICATIONS]
    [event] = harness.audit_events(action="modal:case_create")
    assert event.outcome == "bad_input"
    assert json.loads(event.details) == {"fields": sorted(errors)}


def test_create_form_refuses_what_the_command_refuses(harness):
    for label in ("@Bob Smith", "<!channel>", "see https://example.com", "x" * 81):
        errors = _create_refused(harness, _new_case(**{BlockId.LABEL: slackreq.text_value(label)}))
        assert list(errors) == [BlockId.LABEL], label
    meds = slackreq.text_value("sertraline 50 mg\nquetiapine 25 mg\nSertraline 100 mg")
    errors = _create_refused(harness, _new_case(**{BlockId.MEDICATIONS: meds}))
    assert errors == {
        BlockId.MEDICATIONS: "Sertraline is listed twice; list each medication once, on one line."
    }
    long_name = slackreq.text_value("x" * 81 + " 5 mg")
    errors = _create_refused(harness, _new_case(**{BlockId.MEDICATIONS: long_name}))
    assert "the limit is 80" in errors[BlockId.MEDICATIONS]
    # The same line through /case med add gets the same answer.
    care_team(harness, {ALICE: "prescriber"})
    harness.command(ALICE, "med C-1 add " + "x" * 81 + " 5 mg")
    assert "The medication name is 81 characters long; the limit is 80." in harness.last_reply_text()


def test_create_with_as_but_no_label_or_no_role_is_refused(harness):
    harness.command(ALICE, "create as therapist")
    assert "label before `as`" in harness.last_reply_text()
    harness.command(ALICE, "create Blue Heron as")
    assert "role after `as`" in harness.last_reply_text()
    harness.command(ALICE, "create <@U0BOB|bob> as therapist")
    assert "cannot contain mentions" in harness.last_reply_text()
    with harness.db() as session:
        assert session.execute(select(Case)).first() is None
    assert [o for a, o in harness.audit_actions(actor=ALICE) if a == "command:/case"] == ["bad_input"] * 3


def test_app_home_shows_my_cases(harness):
    care_team(harness, {ALICE: "prescriber"}, label="Home Case")
    harness.event({"type": "app_home_opened", "user": ALICE, "tab": "home", "channel": "D0ALICE"})
    published = harness.slack.wait_for("views.publish")[-1].args
    assert published["user_id"] == ALICE
    text = reply_text(published["view"])
    assert "C-1" in text and "Home Case" in text and "Nothing is waiting for you" in text
    harness.event({"type": "app_home_opened", "user": BOB, "tab": "home", "channel": "D0BOB"})
    text = reply_text(harness.slack.wait_for("views.publish", 2)[-1].args["view"])
    assert "You are not on any open case" in text and "C-1" not in text


def test_notification_text_never_carries_the_label(harness):
    care_team(harness, {ALICE: "prescriber"}, label="Secret Label")
    harness.command(ALICE, "add C-1 <@U0BOB> therapist")
    harness.command(ALICE, "close C-1 reason here")
    for call in harness.slack.calls:
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            assert "Secret Label" not in call.args.get("text", "")
