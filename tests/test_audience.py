"""Who reads what (issue 11): a case's home is a private channel; while the channel has
members off the care team its messages carry ids and statuses only and the team gets the
details by DM or View details; every DM, DM update and ephemeral re-checks its reader when
the relay sends it. End to end through the real app and the stand-in Slack."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from bot.cases.service import ConsentLine
from bot.ids import Action
from bot.render import Renderer
from bot.scheduler import run_sweep
from bot.unit import Actor
from devtools.standin import BOT_USER
from storage.audience import CaseAudience
from storage.cases import Case
from storage.core import OutboxMessage, OutboxStatus
from tests.medication_helpers import open_med_form, submit_med_form
from tests.side_effect_helpers import (
    CM,
    MEDS,
    OUTSIDER,
    P1,
    P2,
    THERAPIST,
    action_ids,
    medication_value,
    open_form,
    submit_report,
)
from tests.side_effect_helpers import TEAM as RELAY_TEAM
from tests.support import CHANNEL, care_team
from tests.support import reply_text as text_of

LABEL = "Blue Heron"
MED = "sertraline"
NOTE = "Vomited twice after the morning dose"
TEAM = [THERAPIST, P1, P2, CM]
# What the thread may never show while the channel has readers off the team.
CLINICAL = (LABEL, MED, "Nausea", "nausea", NOTE, "50 mg")

MED_NOTE = "Medication change on case C-1"  # the note's notification text: the case id only


def report_in(h, case_id: int) -> None:
    view = open_form(h, THERAPIST, f"C-{case_id}")
    submit_report(h, THERAPIST, case_id, medication=medication_value(view, MED), notes=NOTE)


def channel_messages(h) -> list[dict]:
    """Everything posted to or edited in the case's home, as Slack received it."""
    posted = [c.args for c in h.slack.calls_to("chat.postMessage") if c.args.get("channel") == CHANNEL]
    edited = [c.args for c in h.slack.calls_to("chat.update") if c.args.get("channel") == CHANNEL]
    return posted + edited


def dms_to(h, user: str) -> list[dict]:
    return [c.args for c in h.slack.calls_to("chat.postMessage") if c.args.get("channel") == user]


def test_case_help_says_who_reads_what(harness):
    harness.command(THERAPIST, "help")
    shown = harness.last_reply_text()
    assert "Who reads what" in shown and "*private* channel" in shown and "View details" in shown
    assert "checked again when each is sent" in shown


def test_a_public_or_shared_channel_cannot_be_a_case_home(harness):
    h = harness
    h.slack.add_channel("C0PUBLIC", name="public", is_private=False, members=[BOT_USER, THERAPIST])
    h.command(THERAPIST, f"create {LABEL} as therapist", channel="C0PUBLIC")
    reply = h.last_reply_text()
    assert "private channel" in reply and "invite the team and the app" in reply
    h.command(THERAPIST, "create", channel="C0PUBLIC")  # the New case form does not even open
    assert "private channel" in h.last_reply_text() and h.slack.calls_to("views.open") == []
    h.slack.add_channel("C0SHARED", name="shared", members=[BOT_USER]).is_ext_shared = True
    h.command(THERAPIST, f"create {LABEL} as therapist", channel="C0SHARED")
    assert "shared with another organization" in h.last_reply_text()
    h.slack.refuse("conversations.info", "C0NOTIN", "channel_not_found")
    h.command(THERAPIST, f"create {LABEL} as therapist", channel="C0NOTIN")
    assert "/invite @CareThread" in h.last_reply_text()
    with h.db() as session:
        assert session.execute(select(Case)).first() is None
    assert h.slack.calls_to("chat.postMessage") == []


def test_a_channel_with_a_non_member_shows_ids_only_and_the_team_still_gets_details(harness):
    h = harness
    h.slack.add_channel(CHANNEL, name="care", members=[BOT_USER, *TEAM, OUTSIDER])
    case_id = care_team(h, RELAY_TEAM, meds=MEDS)
    report_in(h, case_id)
    h.action(P1, Action.SIDE_EFFECT_ACK, "1", channel="D0PRESC1")

    in_channel = channel_messages(h)
    assert len(in_channel) >= 6  # card, team notes, medication note, summary and their edits
    for message in in_channel:
        shown = text_of(message)
        assert not [word for word in CLINICAL if word in shown], shown
        assert Action.VIEW_DETAILS in action_ids(message)
    summary = [m for m in in_channel if m.get("text", "").startswith("Side-effect report on C-1")]
    assert summary and f"acknowledged by <@{P1}>" in text_of(summary[-1])

    # The prescribers still get the report's details by DM.
    assert MED in text_of(dms_to(h, P1)[-1]) or any(MED in text_of(m) for m in dms_to(h, P1))
    # The team was told who in the channel is not on the team.
    notice = [m for m in dms_to(h, THERAPIST) if "ids and statuses only" in m["text"]]
    assert notice and f"<@{OUTSIDER}>" in text_of(notice[0])

    # View details: a team member gets the details, only them; a non-member gets a refusal.
    summary_row = _summary_row(h)
    h.action(CM, Action.VIEW_DETAILS, str(summary_row), channel=CHANNEL)
    [shown] = [c.args for c in h.slack.calls_to("chat.postEphemeral") if c.args.get("user") == CM]
    assert MED in text_of(shown) and NOTE in text_of(shown) and MED not in shown["text"]
    h.action(OUTSIDER, Action.VIEW_DETAILS, str(summary_row), channel=CHANNEL)
    [refused] = [c.args for c in h.slack.calls_to("chat.postEphemeral") if c.args.get("user") == OUTSIDER]
    assert "don't have access" in text_of(refused)
    assert not [word for word in CLINICAL if word in text_of(refused)]
    assert [e.outcome for e in h.audit_events(action="button:view_details")] == ["denied"]
    assert len(h.audit_events(action="case.details_viewed")) == 1

    # /case show tells the team who reads the thread.
    h.command(CM, "show C-1")
    shown = h.last_reply_text()
    assert "Not on the care team" in shown and f"<@{OUTSIDER}>" in shown


def test_a_member_joining_turns_an_open_case_restricted_and_replaces_what_was_posted(harness):
    h = harness
    facts = h.slack.add_channel(
        CHANNEL, name="care", members=[BOT_USER, THERAPIST]
    )  # the creator, and the app
    case_id = care_team(h, RELAY_TEAM, meds=MEDS)
    report_in(h, case_id)
    assert any(MED in text_of(m) for m in channel_messages(h))  # open: the thread has details
    with h.db() as session:
        assert session.get(CaseAudience, case_id).restricted is False
    posted_ts = {m["ts"] for m in _sent_in_channel(h)}

    facts.members = {BOT_USER, *TEAM, OUTSIDER}
    h.slack.calls.clear()
    h.event({"type": "member_joined_channel", "user": OUTSIDER, "channel": CHANNEL, "channel_type": "G"})

    edits = [c.args for c in h.slack.calls_to("chat.update") if c.args.get("channel") == CHANNEL]
    assert {e["ts"] for e in edits} == posted_ts  # every message that showed details was replaced
    for edit in edits:
        assert not [word for word in CLINICAL if word in text_of(edit)], text_of(edit)
    told = [m for m in dms_to(h, P2) if "ids and statuses only" in m["text"]]
    assert told and f"<@{OUTSIDER}>" in text_of(told[0])
    with h.db() as session:
        state = session.get(CaseAudience, case_id)
        assert state.restricted and state.reason == "outsiders" and state.outsider_ids == [OUTSIDER]
    assert [e.target for e in h.audit_events(action="case.audience_restricted")] == ["C-1"]

    # From now on new thread messages are restricted too.
    h.command(P1, "med C-1 add lithium 300 mg")
    note = [m for m in channel_messages(h) if m.get("thread_ts") and m["text"] == MED_NOTE]
    assert note and "lithium" not in text_of(note[-1]) and "changed the medication list" in text_of(note[-1])

    # The outsider leaves: the case is open again and the team is told; new messages show details.
    facts.members.discard(OUTSIDER)
    h.event({"type": "member_left_channel", "user": OUTSIDER, "channel": CHANNEL, "channel_type": "G"})
    assert any("shows details again" in m["text"] for m in dms_to(h, P2))
    submit_med_form(h, P1, open_med_form(h, P1, "med C-1 stop lithium"), taper="none")
    note = [m for m in channel_messages(h) if m.get("thread_ts") and m["text"] == MED_NOTE]
    assert "lithium" in text_of(note[-1])


def test_a_channel_made_public_is_caught_by_its_message_or_by_the_periodic_recheck(harness):
    h = harness
    facts = h.slack.add_channel(CHANNEL, name="care", members=[BOT_USER, THERAPIST])
    care_team(h, {THERAPIST: "therapist", P1: "prescriber"})
    facts.is_private = False
    assert run_sweep(h.deps)["audience"] == 0  # checked at creation: not due yet
    h.clock.advance(timedelta(hours=2))
    assert run_sweep(h.deps)["audience"] == 1
    h.settle()
    with h.db() as session:
        assert session.execute(select(CaseAudience)).scalar_one().reason == "public"
    told = [m for m in dms_to(h, P1) if "ids and statuses only" in m["text"]]
    assert told and "the channel is public" in text_of(told[-1])

    # Made private again: Slack posts a message in the channel, which rechecks it at once.
    facts.is_private = True
    h.event({"type": "message", "subtype": "channel_convert_to_private", "channel": CHANNEL, "user": P1})
    with h.db() as session:
        assert session.execute(select(CaseAudience)).scalar_one().restricted is False
    assert any("shows details again" in m["text"] for m in dms_to(h, P1))


def test_removing_a_member_who_stays_in_the_channel_restricts_the_case(harness):
    h = harness
    h.slack.add_channel(CHANNEL, name="care", members=[BOT_USER, *TEAM])
    care_team(h, RELAY_TEAM, meds=MEDS)
    h.command(THERAPIST, f"remove C-1 <@{CM}>")
    with h.db() as session:
        state = session.execute(select(CaseAudience)).scalar_one()
        assert state.restricted and state.outsider_ids == [CM]


def test_a_removed_member_gets_no_new_detail(harness):
    h = harness
    case_id = care_team(h, RELAY_TEAM, meds=MEDS)
    report_in(h, case_id)
    dms = [m for m in dms_to(h, P2) if m["text"].startswith("Side-effect report")]
    assert len(dms) == 1, [m["text"] for m in dms]
    first_dm = dms[0]
    assert MED in text_of(first_dm)
    dm_ts = _ts_of_dm(h, P2)

    h.command(THERAPIST, f"remove C-1 <@{P2}>")
    edits = [c.args for c in h.slack.calls_to("chat.update") if c.args.get("ts") == dm_ts]
    assert edits and edits[-1]["text"] == "You no longer follow case C-1"
    assert MED not in text_of(edits[-1])

    # The report moves on: P1 acknowledges; every recipient's DM is refreshed, but P2's is not.
    h.action(P1, Action.SIDE_EFFECT_ACK, "1", channel="D0PRESC1")
    after = [c.args for c in h.slack.calls_to("chat.update") if c.args.get("ts") == dm_ts]
    assert after == edits
    with h.db() as session:
        withheld = session.execute(
            select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.WITHHELD)
        ).scalars()
        assert {row.reader for row in withheld} == {P2}
    assert h.audit_events(action="message.withheld")


def test_a_dm_queued_before_its_reader_left_is_withheld_at_send_time(harness):
    h = harness
    care_team(h, RELAY_TEAM)
    from bot.cases import service as cases

    with h.deps.unit(Actor.app()) as unit:
        case = unit.session.get(Case, 1)
        unit.post(channel=CM, message={"text": "Case C-1", "blocks": []}, purpose="test", case_id=1)
        cases.leave_team(unit, case, user_id=CM)
    h.settle()
    assert dms_to(h, CM) == []
    [event] = h.audit_events(action="message.withheld")
    assert json.loads(event.details)["reader"] == CM


def test_restricted_lines_and_notices_render_without_clinical_detail():
    renderer = Renderer()
    restricted = renderer.message(
        "core/restricted",
        text="Update on case C-1",
        line="Case C-1 · <@U0A> closed the case",
        message_id=7,
        action=Action,
    )
    assert (
        action_ids(restricted) == [Action.VIEW_DETAILS]
        and restricted["blocks"][-1]["elements"][0]["value"] == "7"
    )
    assert renderer.message("core/unfollowed", ref="C-1")["text"] == "You no longer follow case C-1"
    notice = renderer.message(
        "core/audience_notice",
        ref="C-1",
        channel="C0CARE",
        restricted=True,
        reason="public",
        outsiders=["U0EVE"],
    )
    assert "<@U0EVE>" in text_of(notice) and "public" in text_of(notice)
    card = renderer.message(
        "cases/case_card",
        ref="C-1",
        label=LABEL,
        status="open",
        members=[],
        created_by="U0A",
        created_at=_now(),
        consent=ConsentLine(recorded=False),
    )
    assert LABEL not in card["restricted"]


def _now():
    from datetime import UTC, datetime

    return datetime(2026, 11, 23, tzinfo=UTC)


def _summary_row(h) -> int:
    with h.db() as session:
        return session.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.purpose == "side_effect_summary", OutboxMessage.update_of.is_(None)
            )
        ).scalar_one()


def _sent_in_channel(h) -> list[dict]:
    with h.db() as session:
        rows = session.execute(
            select(OutboxMessage).where(
                OutboxMessage.channel == CHANNEL, OutboxMessage.method == "chat.postMessage"
            )
        ).scalars()
        return [{"ts": row.result_ts} for row in rows]


def _ts_of_dm(h, user: str) -> str:
    with h.db() as session:
        row = (
            session.execute(
                select(OutboxMessage).where(
                    OutboxMessage.reader == user,
                    OutboxMessage.method == "chat.postMessage",
                    OutboxMessage.case_id.is_not(None),
                    OutboxMessage.purpose.startswith("side_effect"),
                )
            )
            .scalars()
            .first()
        )
        return row.result_ts


def test_members_are_read_page_by_page(harness):
    h = harness
    crowd = [f"U0P{i:04d}" for i in range(230)]
    h.slack.add_channel(CHANNEL, name="care", members=[BOT_USER, THERAPIST, *crowd])
    h.command(THERAPIST, f"create {LABEL} as therapist")
    assert len(h.slack.calls_to("conversations.members")) == 2  # 232 members, 200 a page
    with h.db() as session:
        assert sorted(session.execute(select(CaseAudience)).scalar_one().outsider_ids) == crowd
    [notice] = [m for m in dms_to(h, THERAPIST) if "ids and statuses only" in m["text"]]
    assert "and 200 more" in text_of(notice)
    h.command(THERAPIST, "show C-1")
    assert "and 130 more" in h.last_reply_text()
