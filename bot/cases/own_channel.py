"""A case's own private channel (issue 11), as incident bots do: the app creates it, its
members are kept equal to the care team, and it is archived while the case is closed.

Creating it is the one synchronous call (conversations.create), made inside the unit that
creates the case because the case's home must be known before anything is posted there; if
that unit then fails, an empty private channel with only the app in it is left behind (the
next attempt gets a suffixed name). Everything after is queued in the outbox in the same
transaction as the change it follows: invites when someone joins the team (also by an
accepted handoff), a kick when someone leaves (a transfer's sender too), archive on close,
unarchive on reopen. The relay sends them in order with the channel's messages, retries
429s, 5xx and lost connections with backoff across restarts, counts "already done" answers
(already_in_channel, not_in_channel, already_archived, not_archived) as done, and records a
refusal (say, a guest account Slack will not invite) as a failed delivery in the audit trail.
Because the channel keeps its order, nothing queued after a kick is posted before it lands.
"""

from __future__ import annotations

from bot import audience
from bot.contributions import TeamChange
from bot.unit import Unit
from storage import cases as repo
from storage.cases import Case, OwnChannel

PREFIX = "case-"


def channel_name(case: Case) -> str:
    """`case-c-12`: the case id only, never the label (a channel name is seen workspace-wide
    in some admin tools and in every member's sidebar)."""
    return f"{PREFIX}{case.ref.lower()}"


def create(unit: Unit, case: Case) -> str:
    """Make the channel and record it as the case's home; the team is invited by
    `invite_team` once its members are saved. Raises SlackUnavailable."""
    channel_id, name = unit.deps.gateway.create_private_channel(channel_name(case))
    unit.session.add(OwnChannel(case_id=case.id, channel_id=channel_id, name=name, created_at=unit.now))
    case.home_channel = channel_id
    unit.session.add(case)
    unit.session.flush()
    unit.audit("own_channel.created", case_id=case.id, target=f"channel:{channel_id}", name=name)
    return channel_id


def invite_team(unit: Unit, case: Case) -> None:
    for member in repo.members(session=unit.session, case_id=case.id):
        _invite(unit, case, member.user_id)
    _remember_members(unit, case)


def _remember_members(unit: Unit, case: Case) -> None:
    """The channel's members are the team by construction (the invites and kicks are
    queued in this unit): tell the audience so, instead of waiting for Slack's events, so the
    case is never briefly "restricted" by its own channel."""
    team = tuple((m.user_id, False) for m in repo.members(session=unit.session, case_id=case.id))
    audience.store(
        unit,
        audience.ChannelFacts(channel_id=case.home_channel, reachable=True, is_private=True, members=team),
    )


def on_team_changed(unit: Unit, case: Case, change: TeamChange) -> None:
    """Hook (cases WORKFLOW.on_team_changed): the channel follows the team."""
    if repo.own_channel(session=unit.session, case_id=case.id) is None:
        return
    if change.previous_role is None and change.role is not None:
        _invite(unit, case, change.user_id)
        _remember_members(unit, case)
    elif change.role is None:
        unit.call(
            "conversations.kick",
            channel=case.home_channel,
            args={"user": change.user_id},
            purpose="own_channel:kick",
            case_id=case.id,
        )
    _remember_members(unit, case)


def closed(unit: Unit, case: Case) -> None:
    """After the case's closing note is queued: archive (sent after it, in order)."""
    if repo.own_channel(session=unit.session, case_id=case.id) is not None:
        unit.call(
            "conversations.archive",
            channel=case.home_channel,
            args={},
            purpose="own_channel:archive",
            case_id=case.id,
        )


def reopened(unit: Unit, case: Case) -> None:
    """Before the reopening note is queued: unarchive, so the note can be posted."""
    if repo.own_channel(session=unit.session, case_id=case.id) is not None:
        unit.call(
            "conversations.unarchive",
            channel=case.home_channel,
            args={},
            purpose="own_channel:unarchive",
            case_id=case.id,
        )


def _invite(unit: Unit, case: Case, user_id: str) -> None:
    unit.call(
        "conversations.invite",
        channel=case.home_channel,
        args={"users": user_id},
        purpose="own_channel:invite",
        case_id=case.id,
    )
