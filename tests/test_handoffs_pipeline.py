"""Handoffs through the whole pipeline: signed requests into the real Bolt app, the stand-in
Slack recording what the app sent, the database and the audit log checked afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot import auditlog
from bot.factory import build_deps
from bot.ids import Action, BlockId, Callback
from bot.scheduler import run_sweep
from devtools.slackreq import date_value, select_value, text_value
from storage.handoffs import Handoff, HandoffStatus
from tests.support import ADMIN, CHANNEL, care_team, reply_text

PRESCRIBER = "UPRES0001"
THERAPIST = "UTHER0001"
NEWDOC = "UNEWDOC01"
OUTSIDER = "UOUTSIDE1"

SUMMARY = "Mid-thirties, MDD recurrent; sertraline 100 mg since Sept, PHQ-9 14 -> 9"
ACTIONS = "Recheck PHQ-9 in 2 weeks; titrate to 150 mg if < 50% response"
AWARENESS = "If passive SI returns, same-day safety plan review & call crisis line <!channel>"
SYNTHESIS = "Read back: watcher; recheck PHQ-9 in 2 wks, titrate if needed; SI -> same-day review"
REASON = "On leave from Friday; ask Dr Lee instead"
CLINICAL = (SUMMARY, ACTIONS, AWARENESS, SYNTHESIS, REASON, "sertraline", "PHQ-9", "Blue Heron")


# -- helpers -----------------------------------------------------------------------------------


def mention(user: str) -> str:
    return f"<@{user}|{user.lower()}>"


@pytest.fixture
def team(harness) -> Any:
    """Case C-1 in C0CARE: a prescriber and a therapist."""
    assert care_team(harness, {PRESCRIBER: "prescriber", THERAPIST: "therapist"}, label="Blue Heron 42") == 1
    return harness


def text_of(blocks: Any) -> str:
    """Every text a person would read in these blocks."""
    return reply_text({"blocks": blocks})


def thread_posts(harness) -> list[dict[str, Any]]:
    return [p for p in harness.posts(CHANNEL) if p.get("thread_ts")]


def form_values(
    *,
    severity: str | None = "watcher",
    summary: str = SUMMARY,
    actions: str = ACTIONS,
    awareness: str = AWARENESS,
    kind: str | None = "transfer",
    until: str | None = None,
) -> dict[str, dict[str, Any]]:
    return {
        BlockId.SEVERITY: select_value(severity),
        BlockId.SUMMARY: text_value(summary),
        BlockId.ACTIONS: text_value(actions),
        BlockId.AWARENESS: text_value(awareness),
        BlockId.HANDOFF_KIND: select_value(kind),
        BlockId.COVERAGE_END: date_value(until),
    }


def start_handoff(harness, sender: str, args: str) -> dict[str, Any]:
    opened = len(harness.slack.calls_to("views.open"))
    harness.command(sender, args, command="/handoff")
    assert len(harness.slack.calls_to("views.open")) == opened + 1, harness.last_reply_text()
    view = harness.last_view()
    assert view["callback_id"] == Callback.HANDOFF_FORM
    return view


def send_handoff(harness, sender: str = PRESCRIBER, receiver: str = NEWDOC, extra: str = "", **values):
    view = start_handoff(harness, sender, f"C-1 {mention(receiver)} {extra}".strip())
    response = harness.submit(
        sender, Callback.HANDOFF_FORM, form_values(**values), private_metadata=view["private_metadata"]
    )
    assert response.status == 200
    return response


def click(harness, user: str, action: str, handoff_id: int) -> None:
    harness.action(user, action, str(handoff_id), channel="D0DM", message_ts="1700000099.000100")


def answer(
    harness, user: str, handoff_id: int, *, accept: bool = True, text: str | None = None, view_id=None
):
    callback = Callback.HANDOFF_ACCEPT if accept else Callback.HANDOFF_DECLINE
    block = BlockId.SYNTHESIS if accept else BlockId.DECLINE_REASON
    note = text if text is not None else (SYNTHESIS if accept else REASON)
    return harness.submit(
        user, callback, {block: text_value(note)}, private_metadata=str(handoff_id), view_id=view_id
    )


# -- transfer ------------------------------------------------------------------------------------


def test_transfer_moves_the_role_only_on_acceptance(team):
    h = team
    view = start_handoff(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")
    assert "Handoff C-1" in view["title"]["text"]
    meta = json.loads(view["private_metadata"])
    assert meta["case"] == 1 and meta["to"] == NEWDOC and meta["role"] == "prescriber"

    h.submit(PRESCRIBER, Callback.HANDOFF_FORM, form_values(), private_metadata=view["private_metadata"])

    # Saved, encrypted, nothing about the team changed yet.
    [handoff] = h.rows(Handoff)
    assert handoff.status == HandoffStatus.PENDING and handoff.kind == "transfer"
    assert handoff.role == "prescriber" and handoff.severity == "watcher"
    assert SUMMARY not in handoff.summary_enc and "sertraline" not in handoff.summary_enc
    assert h.deps.cipher.decrypt(handoff.awareness_enc) == AWARENESS
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}

    # Posted in the case thread, under the case card.
    card = h.posts(CHANNEL)[0]
    [posted] = [p for p in thread_posts(h) if "Handoff on case C-1" in p["text"]]
    assert posted["text"] == "Handoff on case C-1"
    body = text_of(posted["blocks"])
    assert f"<@{PRESCRIBER}>" in body and f"<@{NEWDOC}>" in body and "transfer" in body and "watcher" in body
    assert "sertraline 100 mg" in body and "&lt;!channel&gt;" in body and "<!channel>" not in body
    assert posted["thread_ts"] == h.root_ts(1) and card["text"] == "Case C-1 care-team thread"

    # The receiver's DM: Accept and Decline carrying the handoff id.
    [request] = h.dms(NEWDOC)
    assert request["text"] == "Handoff request on case C-1"
    buttons = [e for b in request["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert {(b["action_id"], b["value"]) for b in buttons} == {
        (Action.HANDOFF_ACCEPT, str(handoff.id)),
        (Action.HANDOFF_DECLINE, str(handoff.id)),
    }
    assert [p["text"] for p in h.dms(PRESCRIBER)] == ["Handoff on case C-1 sent"]

    # Accept opens the synthesis modal with the I-PASS to read.
    click(h, NEWDOC, Action.HANDOFF_ACCEPT, handoff.id)
    accept_view = h.last_view()
    assert accept_view["callback_id"] == Callback.HANDOFF_ACCEPT
    assert accept_view["private_metadata"] == str(handoff.id)
    assert "Recheck PHQ-9" in text_of(accept_view["blocks"])
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}

    answer(h, NEWDOC, handoff.id)

    # The receiver joined as prescriber, the sender left; the card shows the new team.
    assert h.members(1) == {NEWDOC: "prescriber", THERAPIST: "therapist"}
    [accepted] = h.rows(Handoff)
    assert accepted.status == HandoffStatus.ACCEPTED and accepted.decided_at is not None
    assert SYNTHESIS not in (accepted.synthesis_enc or "")
    assert h.deps.cipher.decrypt(accepted.synthesis_enc) == SYNTHESIS
    [recorded] = [p for p in thread_posts(h) if p["text"] == "Handoff on case C-1 accepted"]
    assert "Synthesis (read-back)" in text_of(recorded["blocks"]) and "Read back: watcher" in text_of(
        recorded["blocks"]
    )
    card_update = h.slack.calls_to("chat.update")
    card_texts = [
        text_of(c.args["blocks"]) for c in card_update if c.args.get("text") == "Case C-1 care-team thread"
    ]
    assert card_texts and f"<@{NEWDOC}> (Prescriber)" in card_texts[-1]
    assert f"<@{PRESCRIBER}> (Prescriber)" not in card_texts[-1]
    settled = [c.args for c in card_update if c.args.get("text") == "Handoff on case C-1 accepted"]
    assert settled and not any(b["type"] == "actions" for b in settled[-1]["blocks"])
    told = h.dms(PRESCRIBER)[-1]
    assert told["text"] == "Handoff on case C-1 accepted"
    assert "you have left it" in text_of(told["blocks"]) and "Read back" in text_of(told["blocks"])

    # Audited, step by step, and the chain holds.
    actions = [e.action for e in h.audit_events()]
    for expected in ("handoff.started", "handoff.requested", "handoff.accept_opened", "handoff.accepted"):
        assert expected in actions
    added = h.audit_events(action="member.added")[-1]
    removed = h.audit_events(action="member.removed")[-1]
    assert added.target == f"user:{NEWDOC}" and f"handoff:{handoff.id}" in added.details
    assert removed.target == f"user:{PRESCRIBER}" and removed.actor == NEWDOC
    with h.db() as session:
        assert auditlog.verify(session, h.deps.audit_key).ok


# -- coverage ------------------------------------------------------------------------------------


def test_coverage_keeps_the_sender_and_ends_by_itself(team):
    h = team
    # The clock reads 2026-11-23 15:00 UTC; the sender is in New York (the stand-in's default).
    send_handoff(h, kind="coverage", until="2026-11-26")
    [handoff] = h.rows(Handoff)
    assert handoff.kind == "coverage"
    assert handoff.coverage_until.isoformat() == "2026-11-26T05:00:00+00:00"  # midnight in New York
    # Shown as people mean it: the last day covered, with its weekday (noon of it, in New York).
    last_day = int(datetime(2026, 11, 25, 17, tzinfo=UTC).timestamp())
    through = f"cover as prescriber through <!date^{last_day}^{{date_long_pretty}}|Wednesday Nov 25>"
    sent = h.slack.calls_to("chat.postMessage")
    assert any(through in text_of(c.args.get("blocks")) for c in sent), through
    assert not any("until <!date" in text_of(c.args.get("blocks")) for c in sent)
    answer(h, NEWDOC, handoff.id)
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist", NEWDOC: "prescriber"}
    assert "you stay on it" in text_of(h.dms(PRESCRIBER)[-1]["blocks"])

    h.clock.advance(timedelta(days=2))  # 2026-11-25 15:00 UTC: still covering
    assert run_sweep(h.deps)["handoffs"]["coverage_ended"] == 0
    assert NEWDOC in h.members(1)

    h.clock.set(handoff.coverage_until + timedelta(minutes=1))
    assert run_sweep(h.deps)["handoffs"]["coverage_ended"] == 1
    h.settle()
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}
    [ended] = h.rows(Handoff)
    assert ended.status == HandoffStatus.ENDED and ended.end_outcome == "removed"
    [note] = [p for p in thread_posts(h) if p["text"] == "Coverage on case C-1 ended"]
    assert "has left the care team" in text_of(note["blocks"])
    assert h.dms(NEWDOC)[-1]["text"] == "Coverage on case C-1 ended"
    [event] = h.audit_events(action="handoff.coverage_ended")
    assert event.actor == "app" and event.source == "scheduler" and '"removed"' in event.details
    assert h.audit_events(action="member.removed")[-1].target == f"user:{NEWDOC}"

    # Once only: another sweep, and a restarted process, find nothing more to do.
    posts_before = len(h.slack.calls_to("chat.postMessage"))
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}
    restarted = build_deps(h.settings, client=h.deps.client, engine=h.engine, clock=h.clock)
    assert run_sweep(restarted)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}
    h.settle()
    assert len(h.slack.calls_to("chat.postMessage")) == posts_before
    assert len(h.audit_events(action="handoff.coverage_ended")) == 1


def test_coverage_by_a_team_member_gives_their_role_back(team):
    h = team
    send_handoff(h, receiver=THERAPIST, kind="coverage", until="2026-11-30")  # covers the prescriber
    [handoff] = h.rows(Handoff)
    answer(h, THERAPIST, handoff.id)
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "prescriber"}

    h.clock.set(handoff.coverage_until)
    run_sweep(h.deps)
    h.settle()
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}
    assert h.rows(Handoff)[0].end_outcome == "restored"
    [note] = [p for p in thread_posts(h) if p["text"] == "Coverage on case C-1 ended"]
    assert "back in their earlier role, therapist" in text_of(note["blocks"])


def test_a_transfer_to_the_covering_member_makes_the_cover_permanent(team):
    h = team
    send_handoff(h, kind="coverage", until="2026-11-30")
    [cover] = h.rows(Handoff)
    answer(h, NEWDOC, cover.id)
    # They already hold the role, but only as cover: a transfer is allowed, a second cover is not.
    send_handoff(h, kind="coverage", until="2026-12-05")
    assert "already covers C-1" in text_of(h.dms(PRESCRIBER)[-1]["blocks"])
    assert len(h.rows(Handoff)) == 1
    send_handoff(h, kind="transfer")
    transfer = h.rows(Handoff)[-1]
    answer(h, NEWDOC, transfer.id)
    assert h.members(1) == {THERAPIST: "therapist", NEWDOC: "prescriber"}
    first = h.rows(Handoff)[0]
    assert first.status == HandoffStatus.ENDED and first.end_outcome == "superseded"

    h.clock.set(cover.coverage_until + timedelta(days=1))
    assert run_sweep(h.deps)["handoffs"]["coverage_ended"] == 0
    assert h.members(1) == {THERAPIST: "therapist", NEWDOC: "prescriber"}


# -- decline -------------------------------------------------------------------------------------


def test_decline_asks_for_a_reason_and_tells_sender_and_thread(team):
    h = team
    send_handoff(h)
    [handoff] = h.rows(Handoff)
    click(h, NEWDOC, Action.HANDOFF_DECLINE, handoff.id)
    view = h.last_view()
    assert view["callback_id"] == Callback.HANDOFF_DECLINE and view["private_metadata"] == str(handoff.id)

    # The reason is required: an empty one keeps the modal open with a field error.
    response = answer(h, NEWDOC, handoff.id, accept=False, text="   ")
    assert json.loads(response.body)["response_action"] == "errors"
    assert BlockId.DECLINE_REASON in json.loads(response.body)["errors"]
    assert h.rows(Handoff)[0].status == HandoffStatus.PENDING

    answer(h, NEWDOC, handoff.id, accept=False)
    [declined] = h.rows(Handoff)
    assert declined.status == HandoffStatus.DECLINED
    assert h.deps.cipher.decrypt(declined.decline_reason_enc) == REASON
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}
    told = h.dms(PRESCRIBER)[-1]
    assert told["text"] == "Handoff on case C-1 declined" and REASON in text_of(told["blocks"])
    [note] = [p for p in thread_posts(h) if p["text"] == "Handoff on case C-1 declined"]
    assert REASON in text_of(note["blocks"]) and "Nothing about the care team changed" in text_of(
        note["blocks"]
    )
    settled = [
        c.args for c in h.slack.calls_to("chat.update") if c.args["text"] == "Handoff on case C-1 declined"
    ]
    assert settled and not any(b["type"] == "actions" for b in settled[-1]["blocks"])
    assert [e.outcome for e in h.audit_events(action="handoff.declined")] == ["ok"]
    assert h.audit_events(action="handoff.decline_opened")

    # Declined is final: accepting it now changes nothing.
    answer(h, NEWDOC, handoff.id)
    assert "already declined" in text_of(h.dms(NEWDOC)[-1]["blocks"])
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}


# -- reminders -----------------------------------------------------------------------------------


def test_a_pending_handoff_reminds_the_receiver_once_then_tells_the_sender_once(team):
    h = team  # default delays: remind after 4 h, tell the sender after 24 h
    send_handoff(h)
    [handoff] = h.rows(Handoff)
    h.clock.advance(timedelta(hours=3, minutes=59))
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}

    h.clock.advance(timedelta(minutes=2))
    assert run_sweep(h.deps)["handoffs"]["reminded"] == 1
    h.settle()
    reminder = h.dms(NEWDOC)[-1]
    assert reminder["text"] == "Reminder: a handoff on case C-1 is waiting for your answer"
    assert any(b["type"] == "actions" for b in reminder["blocks"])
    assert SUMMARY not in text_of(reminder["blocks"])  # the I-PASS stays in the first DM
    assert run_sweep(h.deps)["handoffs"]["reminded"] == 0

    h.clock.advance(timedelta(hours=20))
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 1, "coverage_ended": 0}
    h.settle()
    nudge = h.dms(PRESCRIBER)[-1]
    assert nudge["text"] == "Handoff on case C-1 still waiting for an answer"
    h.clock.advance(timedelta(days=3))
    restarted = build_deps(h.settings, client=h.deps.client, engine=h.engine, clock=h.clock)
    assert run_sweep(restarted)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}

    reminded = h.audit_events(action="handoff.reminded")
    told = h.audit_events(action="handoff.sender_told")
    assert len(reminded) == 1 and len(told) == 1
    assert reminded[0].source == "scheduler" and reminded[0].case_id == 1
    assert len([p for p in h.dms(NEWDOC) if p["text"].startswith("Reminder")]) == 1

    # Answering settles both DMs (the request and the reminder): their buttons go.
    answer(h, NEWDOC, handoff.id)
    settled = [
        c.args for c in h.slack.calls_to("chat.update") if c.args["text"] == "Handoff on case C-1 accepted"
    ]
    assert len(settled) == 2


def test_the_reminder_waits_for_the_receivers_working_hours_in_their_zone(team):
    """Like review nudges: the clinic's working hours (09:00-17:00, Mon-Fri by default), in
    the receiver's own Slack time zone."""
    h = team
    h.slack.add_user(NEWDOC, tz="Asia/Tokyo")
    send_handoff(h)  # Monday 15:00 UTC = Tuesday 00:00 in Tokyo
    [handoff] = h.rows(Handoff)
    h.clock.advance(timedelta(hours=4, minutes=1))  # due: Tuesday 04:01 in Tokyo
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}
    tuesday_nine_tokyo = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    assert h.rows(Handoff)[0].remind_at == tuesday_nine_tokyo
    [deferred] = h.audit_events(action="handoff.reminder_deferred")
    assert json.loads(deferred.details) == {"until": tuesday_nine_tokyo.isoformat(), "tz": "Asia/Tokyo"}
    assert deferred.target == f"handoff:{handoff.id}" and deferred.case_id == 1
    h.settle()
    assert not [p for p in h.dms(NEWDOC) if p["text"].startswith("Reminder")]

    h.clock.set(tuesday_nine_tokyo - timedelta(minutes=1))
    assert run_sweep(h.deps)["handoffs"]["reminded"] == 0
    h.clock.set(tuesday_nine_tokyo)
    assert run_sweep(h.deps)["handoffs"]["reminded"] == 1
    assert run_sweep(h.deps)["handoffs"]["reminded"] == 0
    h.settle()
    assert len([p for p in h.dms(NEWDOC) if p["text"].startswith("Reminder")]) == 1
    assert (
        len(h.audit_events(action="handoff.reminded")) == 1
        and len(h.audit_events(action="handoff.reminder_deferred")) == 1
    )


def test_the_clinics_working_days_decide_when_a_receiver_is_reminded(tmp_path, engine, slack, clock):
    """A clinic open Sunday to Thursday: a reminder due on Friday waits for Sunday 09:00."""
    from tests.support import Harness, make_settings

    h = Harness(make_settings(tmp_path, slack, CARETHREAD_WORKING_DAYS="sun-thu"), engine, slack, clock)
    try:
        h.command(PRESCRIBER, "create Blue Heron 42 as prescriber")
        slack.add_user(NEWDOC, tz="UTC")
        clock.set(datetime(2026, 11, 27, 9, tzinfo=UTC))  # Friday
        send_handoff(h)
        clock.advance(timedelta(hours=5))
        assert run_sweep(h.deps)["handoffs"]["reminded"] == 0
        assert h.rows(Handoff)[0].remind_at == datetime(2026, 11, 29, 9, tzinfo=UTC)
    finally:
        h.close()


def test_an_answered_handoff_is_never_reminded(team):
    h = team
    send_handoff(h)
    answer(h, NEWDOC, h.rows(Handoff)[0].id, accept=False)
    h.clock.advance(timedelta(days=5))
    assert run_sweep(h.deps)["handoffs"] == {"reminded": 0, "senders_told": 0, "coverage_ended": 0}


# -- refusals ------------------------------------------------------------------------------------


def refused(h, user: str, text: str) -> str:
    opened = len(h.slack.calls_to("views.open"))
    h.command(user, text, command="/handoff")
    assert len(h.slack.calls_to("views.open")) == opened, "a modal opened for a refused request"
    return h.last_reply_text()


def test_only_team_members_can_hand_off(team):
    h = team
    reply = refused(h, OUTSIDER, f"C-1 {mention(NEWDOC)}")
    assert "don't have access to case C-1" in reply
    # A case that does not exist gets the same words: nothing is revealed.
    assert refused(h, OUTSIDER, f"C-99 {mention(NEWDOC)}") == reply.replace("C-1", "C-99")
    reply = refused(h, ADMIN, f"C-1 {mention(NEWDOC)}")
    assert "Only a member of C-1's care team can hand it off" in reply
    denied = h.audit_events(action="command:/handoff")
    assert [e.outcome for e in denied] == ["denied", "denied", "denied"]
    assert '"not_on_team"' in denied[0].details and denied[0].case_id == 1
    assert h.rows(Handoff) == []


def test_only_to_a_person_who_is_not_a_bot_deactivated_or_yourself(team):
    h = team
    h.slack.add_user("UBOTUSER1", is_bot=True)
    h.slack.add_user("UGONEUSR1", deleted=True)
    assert "is a bot or a deactivated account" in refused(h, PRESCRIBER, f"C-1 {mention('UBOTUSER1')}")
    assert "is a bot or a deactivated account" in refused(h, PRESCRIBER, f"C-1 {mention('UGONEUSR1')}")
    assert "to yourself" in refused(h, PRESCRIBER, f"C-1 {mention(PRESCRIBER)}")
    assert "already on C-1's care team as therapist" in refused(
        h, PRESCRIBER, f"C-1 {mention(THERAPIST)} therapist"
    )
    assert h.rows(Handoff) == []
    assert [e.outcome for e in h.audit_events(action="command:/handoff")] == [
        "bad_input",
        "bad_input",
        "bad_input",
        "conflict",
    ]


def test_the_form_is_checked_again_on_submit(team):
    """A crafted or stale submission naming a bot, or sent by a non-member, changes nothing."""
    h = team
    view = start_handoff(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")
    meta = json.loads(view["private_metadata"])
    h.slack.add_user("UBOTUSER1", is_bot=True)
    crafted = json.dumps({**meta, "to": "UBOTUSER1"})
    h.submit(PRESCRIBER, Callback.HANDOFF_FORM, form_values(), private_metadata=crafted)
    assert "is a bot" in text_of(h.dms(PRESCRIBER)[-1]["blocks"])
    h.submit(OUTSIDER, Callback.HANDOFF_FORM, form_values(), private_metadata=view["private_metadata"])
    assert "don't have access" in text_of(h.dms(OUTSIDER)[-1]["blocks"])
    assert h.rows(Handoff) == []
    assert [e.outcome for e in h.audit_events(action="modal:handoff_form")] == ["bad_input", "denied"]


def test_only_the_named_receiver_can_answer(team):
    h = team
    send_handoff(h)
    [handoff] = h.rows(Handoff)
    opened = len(h.slack.calls_to("views.open"))
    click(h, THERAPIST, Action.HANDOFF_ACCEPT, handoff.id)
    click(h, OUTSIDER, Action.HANDOFF_DECLINE, handoff.id)
    click(h, OUTSIDER, Action.HANDOFF_ACCEPT, 999)
    assert len(h.slack.calls_to("views.open")) == opened
    assert "not sent to you" in text_of(h.dms(THERAPIST)[-1]["blocks"])
    # A crafted submission of the accept modal by someone else: refused the same way.
    answer(h, OUTSIDER, handoff.id)
    assert "not sent to you" in text_of(h.dms(OUTSIDER)[-1]["blocks"])
    assert h.rows(Handoff)[0].status == HandoffStatus.PENDING
    assert h.members(1) == {PRESCRIBER: "prescriber", THERAPIST: "therapist"}
    refusals = h.audit_events(action="button:handoff_accept") + h.audit_events(action="modal:handoff_accept")
    assert {e.outcome for e in refusals} == {"denied"}
    assert any('"not_receiver"' in e.details for e in refusals)
    assert any('"not_found"' in e.details for e in refusals)


def test_a_second_accept_or_a_retried_submission_changes_nothing(team):
    h = team
    view = start_handoff(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")
    for _ in range(2):  # Slack retrying the same submission (same view id)
        h.submit(
            PRESCRIBER,
            Callback.HANDOFF_FORM,
            form_values(),
            private_metadata=view["private_metadata"],
            view_id="VFORM0001",
        )
    [handoff] = h.rows(Handoff)
    assert len([p for p in thread_posts(h) if p["text"] == "Handoff on case C-1"]) == 1
    assert len(h.dms(NEWDOC)) == 1

    answer(h, NEWDOC, handoff.id, view_id="VACCEPT01")
    answer(h, NEWDOC, handoff.id, view_id="VACCEPT01")  # retried: dropped quietly
    assert len([p for p in thread_posts(h) if p["text"] == "Handoff on case C-1 accepted"]) == 1
    click(h, NEWDOC, Action.HANDOFF_ACCEPT, handoff.id)  # a second click
    answer(h, NEWDOC, handoff.id, view_id="VACCEPT02")  # a second accept
    assert "already accepted" in text_of(h.dms(NEWDOC)[-1]["blocks"])
    assert h.members(1) == {NEWDOC: "prescriber", THERAPIST: "therapist"}
    assert (
        len(h.audit_events(action="handoff.accepted")) == 1
        and len(h.audit_events(action="member.added")) == 2
    )  # therapist + new
    assert [e.outcome for e in h.audit_events(action="button:handoff_accept")] == ["conflict"]
    assert [e.outcome for e in h.audit_events(action="modal:handoff_accept")] == ["conflict"]


def test_a_second_pending_handoff_to_the_same_person_is_refused(team):
    h = team
    send_handoff(h)
    assert "already have a handoff of C-1" in refused(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")


def test_accepting_on_a_closed_case_or_after_the_sender_left(team):
    h = team
    send_handoff(h)
    [first] = h.rows(Handoff)
    h.command(PRESCRIBER, "close C-1")  # a pending handoff: held until confirmed (issue 15)
    [button] = [e for b in h.last_reply()["blocks"] if b["type"] == "actions" for e in b["elements"]]
    h.action(PRESCRIBER, Action.CASE_CLOSE_CONFIRM, button["value"])
    answer(h, NEWDOC, first.id)
    assert "was canceled" in text_of(h.dms(NEWDOC)[-1]["blocks"])
    assert h.rows(Handoff)[0].status == HandoffStatus.CANCELED
    h.command(PRESCRIBER, "reopen C-1")
    send_handoff(h, receiver=OUTSIDER)
    second = h.rows(Handoff)[1]
    h.command(ADMIN, f"remove C-1 {mention(PRESCRIBER)}")  # the last prescriber: an admin's hand

    answer(h, OUTSIDER, second.id)
    voided = h.rows(Handoff)[1]
    assert voided.status == HandoffStatus.VOID
    assert h.members(1) == {THERAPIST: "therapist"}
    [note] = [p for p in thread_posts(h) if p["text"] == "Handoff on case C-1 withdrawn"]
    assert "left the care team before it was accepted" in text_of(note["blocks"])
    assert h.audit_events(action="handoff.voided")[0].case_id == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C-1", "Name the colleague"),
        ("C-1 bob", "@-mention"),
        (f"C-1 {mention(NEWDOC)} wizard", "not a care-team role"),
        (f"C-1 {mention(NEWDOC)} prescriber extra", "Too many words"),
        (f"X-1 {mention(NEWDOC)}", "not a case id"),
        ("list mine", "takes nothing else"),
    ],
)
def test_bad_command_text_says_what_was_wrong_and_how(team, text, expected):
    h = team
    reply = refused(h, PRESCRIBER, text)
    assert expected in reply and "Usage:" in reply and "/handoff" in reply
    assert h.rows(Handoff) == []
    assert h.audit_events(action="command:/handoff")[-1].outcome == "bad_input"


@pytest.mark.parametrize(
    ("values", "field", "expected"),
    [
        ({"severity": None}, BlockId.SEVERITY, "illness severity"),
        ({"summary": "  "}, BlockId.SUMMARY, "Fill in the patient summary"),
        ({"actions": ""}, BlockId.ACTIONS, "Fill in the action list"),
        ({"awareness": "ok\u200b"}, BlockId.AWARENESS, "invisible characters"),
        ({"kind": "coverage"}, BlockId.COVERAGE_END, "needs an end date"),
        ({"kind": "coverage", "until": "2026-11-23"}, BlockId.COVERAGE_END, "must be in the future"),
        ({"kind": "coverage", "until": "2028-01-01"}, BlockId.COVERAGE_END, "at most 366 days"),
        ({"kind": "transfer", "until": "2026-12-01"}, BlockId.COVERAGE_END, "no end date"),
        ({"kind": None}, BlockId.HANDOFF_KIND, "transfer (permanent) or coverage"),
    ],
)
def test_form_mistakes_are_field_errors_and_save_nothing(team, values, field, expected):
    h = team
    view = start_handoff(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")
    response = h.submit(
        PRESCRIBER, Callback.HANDOFF_FORM, form_values(**values), private_metadata=view["private_metadata"]
    )
    body = json.loads(response.body)
    assert body["response_action"] == "errors" and expected in body["errors"][field]
    assert h.rows(Handoff) == []
    assert h.audit_events(action="modal:handoff_form")[-1].outcome == "bad_input"


def test_every_form_mistake_comes_back_in_one_answer(team):
    h = team
    view = start_handoff(h, PRESCRIBER, f"C-1 {mention(NEWDOC)}")
    values = form_values(severity=None, summary=" ", awareness="ok\u200b", kind="coverage")
    response = h.submit(PRESCRIBER, Callback.HANDOFF_FORM, values, private_metadata=view["private_metadata"])
    errors = json.loads(response.body)["errors"]
    expected = {BlockId.SEVERITY, BlockId.SUMMARY, BlockId.AWARENESS, BlockId.COVERAGE_END}
    assert set(errors) == expected
    assert h.rows(Handoff) == []
    event = h.audit_events(action="modal:handoff_form")[-1]
    assert event.outcome == "bad_input" and event.case_id == 1
    assert json.loads(event.details) == {"fields": sorted(expected)}


def test_synthesis_is_required(team):
    h = team
    send_handoff(h)
    response = answer(h, NEWDOC, h.rows(Handoff)[0].id, text="")
    assert json.loads(response.body)["errors"][BlockId.SYNTHESIS] == "Fill in the synthesis (read-back)."
    assert h.rows(Handoff)[0].status == HandoffStatus.PENDING


# -- list, help, App Home, /case show ------------------------------------------------------------


def test_list_shows_pending_handoffs_given_and_received(team):
    h = team
    send_handoff(h)
    h.command(NEWDOC, "list", command="/handoff")
    received = h.replies()[-1]
    assert received["text"] == "Your handoffs"
    body = text_of(received["blocks"])
    assert "*Waiting for your answer* (1)" in body and f"from <@{PRESCRIBER}>" in body
    buttons = [e["action_id"] for b in received["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == [Action.HANDOFF_ACCEPT, Action.HANDOFF_DECLINE]

    h.command(PRESCRIBER, "list", command="/handoff")
    body = text_of(h.replies()[-1]["blocks"])
    assert "*Sent by you, waiting for an answer* (1)" in body and f"to <@{NEWDOC}>" in body
    assert "*Waiting for your answer* (0)" in body
    assert [e.details for e in h.audit_events(action="handoff.listed")][
        -1
    ] == '{"coverage":0,"given":1,"received":0}'

    h.command(PRESCRIBER, "help", command="/handoff")
    assert "Handoffs (I-PASS)" in text_of(h.replies()[-1]["blocks"])
    h.command(PRESCRIBER, "", command="/handoff")
    assert h.replies()[-1]["text"] == "CareThread handoffs"


def test_app_home_shows_received_handoffs_waiting(team):
    h = team
    send_handoff(h)
    h.event({"type": "app_home_opened", "user": NEWDOC, "tab": "home"})
    [published] = h.slack.calls_to("views.publish")
    view = published.args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    body = text_of(view["blocks"])
    assert "Handoff (transfer, as prescriber) waiting for your answer" in body and "C-1" in body
    h.event({"type": "app_home_opened", "user": PRESCRIBER, "tab": "home"})
    view = h.slack.calls_to("views.publish")[-1].args["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert "waiting for your answer" not in text_of(view["blocks"])


def test_case_show_lists_pending_handoffs_and_cover(team):
    h = team
    send_handoff(h, kind="coverage", until="2026-12-01")
    h.command(THERAPIST, "show C-1")
    body = h.last_reply_text()
    assert f"<@{PRESCRIBER}> → <@{NEWDOC}>: cover as prescriber, waiting for an answer" in body
    answer(h, NEWDOC, h.rows(Handoff)[0].id)
    h.command(THERAPIST, "show C-1")
    last_day = int(datetime(2026, 11, 30, 17, tzinfo=UTC).timestamp())  # Monday, noon in New York
    covers = f"<@{NEWDOC}> covers for <@{PRESCRIBER}> as prescriber through <!date^{last_day}^"
    assert covers + "{date_long_pretty}|Monday Nov 30>" in h.last_reply_text()


# -- privacy -------------------------------------------------------------------------------------


def test_notification_text_never_carries_clinical_detail(team):
    h = team
    send_handoff(h, kind="coverage", until="2026-11-27", severity="unstable")
    [first] = h.rows(Handoff)
    h.clock.advance(timedelta(days=2))
    run_sweep(h.deps)
    answer(h, NEWDOC, first.id)
    send_handoff(h, receiver=OUTSIDER)
    answer(h, OUTSIDER, h.rows(Handoff)[-1].id, accept=False)
    h.clock.advance(timedelta(days=3))
    run_sweep(h.deps)
    h.settle()
    sent = h.slack.calls_to("chat.postMessage") + h.slack.calls_to("chat.update")
    texts = [c.args["text"] for c in sent]
    assert len(texts) > 10
    for text in texts:
        for word in (*CLINICAL, "unstable", "watcher", "stable", "Read back", "leave"):
            assert word not in text, (word, text)
    # ...while the blocks do carry the I-PASS where it belongs (the thread).
    assert any(SUMMARY.split(";")[0] in text_of(c.args.get("blocks")) for c in sent)


def test_a_user_slack_does_not_know_is_bad_input_not_an_outage(team):
    h = team
    h.slack.fail("users.info", status=200, error="user_not_found")
    reply = refused(h, PRESCRIBER, f"C-1 {mention('UNOBODY01')}")
    assert "is not a member of this Slack workspace" in reply and "Usage:" in reply
    h.slack.fail("users.info", status=503, error="service_unavailable")
    assert "Slack did not answer" in refused(h, PRESCRIBER, f"C-1 {mention('UNOBODY02')}")
    assert [e.outcome for e in h.audit_events(action="command:/handoff")] == ["bad_input", "error"]


def test_the_senders_still_pending_notice_waits_for_the_senders_working_hours(team):
    """A non-urgent nudge waits for its reader's working hours: the sender's notice due on a
    Saturday goes on Monday at 09:00 (the clinic's hours, in the sender's own Slack zone)."""
    from zoneinfo import ZoneInfo

    h = team
    h.clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))  # Friday
    send_handoff(h)
    [handoff] = h.rows(Handoff)
    h.clock.set(datetime(2026, 11, 28, 15, 1, tzinfo=UTC))  # Saturday: the notice is due
    assert run_sweep(h.deps)["handoffs"]["senders_told"] == 0
    [deferred] = h.audit_events(action="handoff.sender_notice_deferred")
    zone = ZoneInfo(json.loads(deferred.details)["tz"])
    monday_nine = datetime(2026, 11, 30, 9, 0, tzinfo=zone).astimezone(UTC)
    assert h.get(Handoff, handoff.id).tell_sender_at == monday_nine
    assert json.loads(deferred.details)["until"] == monday_nine.isoformat()
    h.settle()
    assert not [p for p in h.dms(PRESCRIBER) if "still" in reply_text(p).lower()]
    h.clock.set(monday_nine)
    assert run_sweep(h.deps)["handoffs"]["senders_told"] == 1
    assert run_sweep(h.deps)["handoffs"]["senders_told"] == 0
    h.settle()
    assert len(h.audit_events(action="handoff.sender_told")) == 1
