"""The stand-in Slack's channel membership model and its timed outage, through its real HTTP API."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from devtools.standin import BOT_USER


@pytest.fixture
def client(slack) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.api_url, timeout=5)


def test_membership_follows_invite_kick_and_archive(slack, client):
    slack.add_channel("C0TEAM", name="care-team", members=["U0A", BOT_USER])
    info = client.conversations_info(channel="C0TEAM")["channel"]
    assert info["is_private"] is True and info["is_member"] is True and info["num_members"] == 2
    client.conversations_invite(channel="C0TEAM", users="U0B,U0C")
    assert client.conversations_members(channel="C0TEAM")["members"] == sorted(
        ["U0A", "U0B", "U0C", BOT_USER]
    )
    client.conversations_kick(channel="C0TEAM", user="U0B")
    assert "U0B" not in client.conversations_members(channel="C0TEAM")["members"]
    with pytest.raises(SlackApiError) as err:
        client.conversations_kick(channel="C0TEAM", user="U0B")
    assert err.value.response["error"] == "not_in_channel"
    client.conversations_archive(channel="C0TEAM")
    assert client.conversations_info(channel="C0TEAM")["channel"]["is_archived"] is True
    with pytest.raises(SlackApiError) as err:
        client.conversations_invite(channel="C0TEAM", users="U0D")
    assert err.value.response["error"] == "is_archived"


def test_created_channels_and_dms_have_members(slack, client):
    created = client.conversations_create(name="case-c-1", is_private=True)["channel"]
    assert created["is_private"] is True
    assert client.conversations_members(channel=created["id"])["members"] == [BOT_USER]
    with pytest.raises(SlackApiError) as err:
        client.conversations_create(name="case-c-1", is_private=True)
    assert err.value.response["error"] == "name_taken"
    dm = client.conversations_open(users="U0A")["channel"]["id"]
    assert client.conversations_info(channel=dm)["channel"]["is_im"] is True
    assert sorted(client.conversations_members(channel=dm)["members"]) == sorted(["U0A", BOT_USER])
    with pytest.raises(SlackApiError) as err:
        client.conversations_info(channel="C0NOBODY")
    assert err.value.response["error"] == "channel_not_found"


@pytest.mark.parametrize("status", [429, 500])
def test_outage_answers_every_method_until_it_ends(slack, client, status):
    slack.outage(status, seconds=30, retry_after=2)
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C0TEAM", text="hi")
    assert err.value.response.status_code == status
    if status == 429:
        assert err.value.response.headers.get("Retry-After") in ("2", ["2"])
    assert slack.outage_left()[0] == status
    slack.end_outage()
    assert client.chat_postMessage(channel="C0TEAM", text="hi")["ok"] is True
    assert slack.outage_left() is None
    assert [c.args["text"] for c in slack.calls_to("chat.postMessage")] == ["hi"]
