"""A case's own private channel (issue 11), end to end against the stand-in Slack, which
keeps members per channel: its membership stays equal to the team through add, remove,
handoff and close; a failed Slack call is retried and nothing is done twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.ids import BlockId, Callback
from devtools.slackreq import checkboxes_value, select_value, text_value
from devtools.standin import BOT_USER
from storage.cases import Case, CaseMember, OwnChannel
from storage.core import OutboxMessage
from storage.handoffs import Handoff
from tests.support import reply_text
from tests.test_handoffs_pipeline import answer, send_handoff

PRESC, THER, NEWDOC, BOB = "UPRES0001", "UTHER0001", "UNEWDOC01", "U0BOB0001"


def m(user: str) -> str:
    return f"<@{user}|{user.lower()}>"


def own(h) -> tuple[str, set[str], bool, str]:
    """The case's own channel in the stand-in: (id, members, archived, name)."""
    with h.db() as session:
        row = session.execute(select(OwnChannel)).scalar_one()
    channel = h.slack.channels[row.channel_id]
    return row.channel_id, set(channel.members), channel.archived, channel.name


def team(h) -> set[str]:
    with h.db() as session:
        return set(session.execute(select(CaseMember.user_id).where(CaseMember.case_id == 1)).scalars())


@pytest.fixture
def case(harness):
    harness.command(PRESC, "create Blue Heron as prescriber own-channel")
    harness.command(PRESC, f"add C-1 {m(THER)} therapist")
    return harness


def test_created_private_named_by_id_with_the_team_and_the_card(case):
    h = case
    channel_id, members, archived, name = own(h)
    [created] = h.slack.calls_to("conversations.create")
    assert created.args["name"] == "case-c-1" and str(created.args["is_private"]).lower() in ("true", "1")
    assert "heron" not in name.lower()
    assert members == {BOT_USER, PRESC, THER} and not archived
    with h.db() as session:
        assert session.get(Case, 1).home_channel == channel_id
    [card] = [p for p in h.posts(channel_id) if not p.get("thread_ts")]
    assert card["text"] == "Case C-1 care-team thread"
    assert f"<#{channel_id}>" in reply_text(h.replies()[0])  # the creator is told where it lives


def test_membership_follows_the_team_through_add_remove_handoff_and_close(case):
    h = case
    h.command(PRESC, f"add C-1 {m(BOB)} case-manager")
    assert own(h)[1] == {BOT_USER} | team(h) == {BOT_USER, PRESC, THER, BOB}
    h.command(PRESC, f"add C-1 {m(BOB)} pcp")  # a role change: nobody invited or kicked
    h.command(PRESC, f"remove C-1 {m(BOB)}")
    assert own(h)[1] == {BOT_USER} | team(h) == {BOT_USER, PRESC, THER}

    send_handoff(h, sender=PRESC, receiver=NEWDOC)  # a transfer: the sender leaves on acceptance
    assert NEWDOC not in own(h)[1]  # nothing changes before acceptance
    with h.db() as session:
        handoff_id = session.execute(select(Handoff.id)).scalar_one()
    answer(h, NEWDOC, handoff_id)
    assert team(h) == {THER, NEWDOC}
    assert own(h)[1] == {BOT_USER, THER, NEWDOC}

    h.command(NEWDOC, "close C-1 discharged")
    assert own(h)[2] is True
    h.command(NEWDOC, "reopen C-1")
    assert own(h)[2] is False
    # The reopening note reached the channel: unarchive went first.
    channel_id = own(h)[0]
    assert any("reopened the case" in reply_text(p) for p in h.posts(channel_id))
    kinds = [
        c.method
        for c in h.slack.calls
        if c.method.startswith("conversations.") and c.method != "conversations.create"
    ]
    assert kinds.count("conversations.archive") == 1 and kinds.count("conversations.unarchive") == 1


def test_the_new_case_form_can_ask_for_its_own_channel(harness):
    h = harness
    values = {
        BlockId.LABEL: text_value("Grey Owl"),
        BlockId.MY_ROLE: select_value("prescriber"),
        BlockId.members_for("therapist"): {"type": "multi_users_select", "selected_users": [THER]},
        BlockId.OWN_CHANNEL: checkboxes_value(["yes"]),
    }
    assert h.submit(PRESC, Callback.CASE_CREATE, values, private_metadata="C0CARE").status == 200
    h.settle()
    assert own(h)[1] == {BOT_USER, PRESC, THER}
    assert not h.posts("C0CARE")  # the card went to the case's own channel


def test_a_failed_invite_is_retried_until_slack_takes_it_and_sent_once(case):
    h = case
    h.slack.fail("conversations.invite", status=500, times=1)
    h.command(PRESC, f"add C-1 {m(BOB)} case-manager")
    assert BOB not in own(h)[1]
    with h.db() as session:
        row = (
            session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.purpose == "own_channel:invite")
                .order_by(OutboxMessage.id.desc())
            )
            .scalars()
            .first()
        )
        assert row.status == "pending" and row.attempts == 1
    h.clock.advance(timedelta(minutes=5))
    h.deps.relay.deliver_due()
    h.deps.relay.deliver_due()
    assert BOB in own(h)[1]
    invites = [c for c in h.slack.calls_to("conversations.invite") if c.args.get("users") == BOB]
    assert len(invites) == 1  # the failed attempt never reached the channel model


def test_someone_who_left_by_hand_is_not_an_error(case):
    h = case
    channel_id = own(h)[0]
    h.slack.channels[channel_id].members.discard(THER)  # left by hand
    h.command(PRESC, f"remove C-1 {m(THER)}")
    with h.db() as session:
        row = session.execute(
            select(OutboxMessage).where(OutboxMessage.purpose == "own_channel:kick")
        ).scalar_one()
        assert row.status == "sent"  # not_in_channel: the work was already done
