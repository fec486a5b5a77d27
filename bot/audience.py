"""Who reads what: a case thread is read by its whole channel, a DM by one person.

Every workflow's messages depend on this, so it is core:

- A case's home is a private channel the app is in; creating a case anywhere else is refused.
- The app keeps each home channel's members (conversations.members, kept current by member
  events and rechecked periodically) in the database.
- A case is *open* while every human member of its home channel is on its team or an admin;
  otherwise it is *restricted*: messages in its home carry ids, kinds, statuses and people
  only, with a View details button that shows the rest to team members and admins alone.
  The team is told when that happens and who is not on the team.
- The relay asks `ReaderCheck.screen` about every message at send time: a DM, an update of a
  DM or an ephemeral about a case goes only to someone who may still read about the case;
  the update of a removed member's old DM says they no longer follow the case instead.

A case that turns open again keeps its already-restricted messages as they are: their next
update (if any) shows details again; View details always works for the team.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot.access import open_case
from bot.auditlog import Source
from bot.errors import BadInput, NoAccess
from bot.ids import Action
from bot.render import USER_ID, Renderer
from bot.slack import SlackGateway, SlackUnavailable
from bot.unit import Actor, Unit
from storage import audience as repo
from storage import cases as case_repo
from storage.audience import CaseAudience
from storage.cases import Case, CaseStatus
from storage.core import OutboxMessage
from storage.db import session_scope

if TYPE_CHECKING:
    from bot.contributions import ReaderHook, TeamChange
    from bot.deps import Deps

log = logging.getLogger(__name__)

RECHECK_EVERY = timedelta(hours=1)  # events keep members current; this catches what they miss
RECHECK_BATCH = 20  # home channels rechecked per sweep, so one sweep stays short
SHOW_OUTSIDERS = 100  # named in /case show (a section holds 3,000 characters)


PUBLIC_HOME = (
    "Cases can live only in a private channel: everyone in the workspace can read a public one. "
    "Make a private channel for the care team, invite the team and the app (`/invite @CareThread`), "
    "and run `/case create` there."
)
SHARED_HOME = (
    "This channel is shared with another organization, so it cannot be a case's home. Make a private "
    "channel in your own workspace for the care team, invite the team and the app, and run "
    "`/case create` there."
)
ARCHIVED_HOME = "This channel is archived. Run `/case create` in the care team's private channel."
NOT_IN_HOME = (
    "CareThread cannot see this channel's members. If it is the care team's private channel, invite "
    "the app first (`/invite @CareThread`), then run `/case create` again."
)


@dataclass(frozen=True)
class Audience:
    """Who reads a case's home. `reason` says why it is restricted: "unknown" (not checked
    yet), "unreachable" (the app cannot see the channel), "public", "shared", "outsiders"."""

    restricted: bool
    reason: str | None
    outsiders: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelFacts:
    channel_id: str
    reachable: bool
    is_private: bool = False
    is_ext_shared: bool = False
    is_archived: bool = False
    members: tuple[tuple[str, bool], ...] = ()  # (user id, is a bot)


# -- the rule -----------------------------------------------------------------------------------


def audience_of(session: Session, case: Case, admins: frozenset[str]) -> Audience:
    channel = repo.get_channel(session=session, channel_id=case.home_channel)
    if channel is None or channel.members_checked_at is None:
        return Audience(True, "unknown")
    if not channel.reachable:
        return Audience(True, "unreachable")
    team = repo.team_ids(session=session, case_id=case.id)
    outsiders = tuple(
        u for u in repo.human_members(session=session, channel_id=channel.id) if u not in team | admins
    )
    if not channel.is_private:
        return Audience(True, "public", outsiders)
    if channel.is_ext_shared:
        return Audience(True, "shared", outsiders)
    if outsiders:
        return Audience(True, "outsiders", outsiders)
    return Audience(False, None)


def may_read(
    session: Session,
    message: OutboxMessage,
    admins: frozenset[str],
    hooks: Sequence[ReaderHook] = (),
    *,
    now: datetime,
) -> bool:
    """May the message's reader read it now (the relay's clock at send time, not when the
    message was queued): an admin, on the team, or let in by a workflow."""
    user_id, case_id = message.reader, message.case_id
    if user_id is None or case_id is None or user_id in admins:
        return True
    if case_repo.membership(session=session, case_id=case_id, user_id=user_id) is not None:
        return True
    return any(hook(session, message, now) for hook in hooks)


# -- knowing the channel ------------------------------------------------------------------------


def fetch_channel(gateway: SlackGateway, channel_id: str, *, session: Session | None = None) -> ChannelFacts:
    """Ask Slack about the channel and its members. Raises SlackUnavailable."""
    info = gateway.channel_info(channel_id)
    members: list[tuple[str, bool]] = []
    for user_id in gateway.channel_members(channel_id):
        try:
            is_bot = gateway.user(user_id, session=session).is_bot
        except SlackUnavailable:
            is_bot = False  # unknown counts as a person: fail closed
        members.append((user_id, is_bot))
    return ChannelFacts(
        channel_id=channel_id,
        reachable=True,
        is_private=bool(info.get("is_private")),
        is_ext_shared=bool(info.get("is_ext_shared") or info.get("is_pending_ext_shared")),
        is_archived=bool(info.get("is_archived")),
        members=tuple(members),
    )


def store(unit: Unit, facts: ChannelFacts) -> None:
    repo.save_channel(
        session=unit.session,
        channel_id=facts.channel_id,
        reachable=facts.reachable,
        is_private=facts.is_private,
        is_ext_shared=facts.is_ext_shared,
        is_archived=facts.is_archived,
        members=facts.members,
        now=unit.now,
    )


def require_private_home(unit: Unit, channel: str) -> None:
    """Before a case is created here: the channel must be private, the organization's own,
    and the app must be in it (so it can know who reads the thread)."""
    try:
        facts = fetch_channel(unit.deps.gateway, channel, session=unit.session)
    except SlackUnavailable as exc:
        if exc.error is None:
            raise
        raise BadInput(NOT_IN_HOME) from None
    store(unit, facts)
    if not facts.is_private:
        raise BadInput(PUBLIC_HOME)
    if facts.is_ext_shared:
        raise BadInput(SHARED_HOME)
    if facts.is_archived:
        raise BadInput(ARCHIVED_HOME)


def refuse_public_home(gateway: SlackGateway, channel: str) -> None:
    """A quick look before the New case form opens (creation checks everything again)."""
    try:
        info = gateway.channel_info(channel)
    except SlackUnavailable as exc:
        if exc.error is None:
            raise
        raise BadInput(NOT_IN_HOME) from None
    if not info.get("is_private"):
        raise BadInput(PUBLIC_HOME)


def refresh_channel(deps: Deps, channel_id: str, actor: Actor) -> None:
    """Read the channel from Slack again, store it, and act on every case homed there.
    When Slack does not answer, nothing changes and the periodic recheck tries again."""
    try:
        facts = fetch_channel(deps.gateway, channel_id)
    except SlackUnavailable as exc:
        if exc.error is None:
            return
        log.warning("channel %s cannot be read (%s): its cases are restricted", channel_id, exc.error)
        facts = ChannelFacts(channel_id=channel_id, reachable=False)
    with deps.unit(actor) as unit:
        store(unit, facts)
        unit.audit("channel.checked", target=f"channel:{channel_id}", reachable=facts.reachable)
        for case in repo.cases_in(session=unit.session, channel_id=channel_id):
            recheck(unit, case)


def channel_changed(deps: Deps, channel_id: str, actor: Actor) -> None:
    """A member or sharing event: recheck the channel if a case lives there."""
    with session_scope(deps.engine) as session:
        if not repo.is_home_channel(session=session, channel_id=channel_id):
            return
    refresh_channel(deps, channel_id, actor)


def sweep(deps: Deps) -> int:
    """Recheck home channels not checked for RECHECK_EVERY (a missed event, a channel made
    public, which Slack announces only as a message in it)."""
    now = deps.clock.now()
    with session_scope(deps.engine) as session:
        due = repo.channels_to_recheck(
            session=session, checked_before=now - RECHECK_EVERY, limit=RECHECK_BATCH
        )
    for channel_id in due:
        refresh_channel(deps, channel_id, Actor.app(Source.SCHEDULER))
    return len(due)


# -- acting on a change -------------------------------------------------------------------------


def recheck(unit: Unit, case: Case) -> Audience:
    """Compare the case's audience with what it last was, and act on a change once: replace
    messages that show details when it turns restricted, tell the team."""
    now = audience_of(unit.session, case, unit.deps.settings.admins)
    state = repo.get_audience(session=unit.session, case_id=case.id)
    if state is None:
        state = CaseAudience(case_id=case.id, restricted=False, changed_at=unit.now)
    before = set(state.outsider_ids)
    turned_restricted = now.restricted and not state.restricted
    turned_open = state.restricted and not now.restricted
    newcomers = [u for u in now.outsiders if u not in before]
    if turned_restricted:
        replace_detail_messages(unit, case)
    if case.status == CaseStatus.OPEN and (
        turned_restricted or turned_open or (now.restricted and newcomers)
    ):
        tell_team(unit, case, now)
    if turned_restricted or turned_open or state.reason != now.reason or set(now.outsiders) != before:
        unit.audit(
            "case.audience_restricted" if now.restricted else "case.audience_open",
            case_id=case.id,
            target=case.ref,
            reason=now.reason,
            outsiders=list(now.outsiders),
        )
    state.restricted, state.reason = now.restricted, now.reason
    state.outsiders, state.changed_at = json.dumps(list(now.outsiders)), unit.now
    unit.session.add(state)
    unit.session.flush()
    return now


def replace_detail_messages(unit: Unit, case: Case) -> int:
    """Queue an edit of every message in the case's home still showing details; the relay
    sends each in its restricted form (it decides at send time)."""
    versions = repo.thread_messages_showing_details(session=unit.session, case=case)
    for version in versions:
        unit.update(
            of=version.update_of or version.id,
            message=json.loads(unit.deps.cipher.decrypt(version.payload_enc)),
            purpose="restricted",
            case_id=case.id,
        )
    return len(versions)


def tell_team(unit: Unit, case: Case, audience: Audience) -> None:
    message = unit.deps.renderer.message(
        "core/audience_notice",
        ref=case.ref,
        channel=case.home_channel,
        restricted=audience.restricted,
        reason=audience.reason,
        outsiders=list(audience.outsiders),
    )
    for user_id in sorted(repo.team_ids(session=unit.session, case_id=case.id)):
        unit.post(channel=user_id, message=message, purpose="audience_notice", case_id=case.id)


def on_case_created(unit: Unit, case: Case) -> None:
    recheck(unit, case)


def on_team_changed(unit: Unit, case: Case, change: TeamChange) -> None:
    """Someone left the team: their old DMs about the case say so and stop showing details
    (later updates are withheld at send time). Then the channel's audience may have changed."""
    if change.role is None and change.user_id not in unit.deps.settings.admins:
        message = unfollowed_message(unit.deps.renderer, case.ref)
        for dm in repo.dms_to(session=unit.session, case_id=case.id, user_id=change.user_id):
            if dm.update_of is None and not repo.was_unfollowed(session=unit.session, root_id=dm.id):
                unit.update(of=dm.id, message=message, purpose="unfollowed", case_id=case.id)
    recheck(unit, case)


def show_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: who reads the thread."""
    audience = audience_of(unit.session, case, unit.deps.settings.admins)
    channel = f"<#{case.home_channel}>"
    if not audience.restricted:
        return [
            f"*Who reads the thread*\nOnly the care team (and admins) are in {channel}: "
            "the thread shows details."
        ]
    why = {
        "unknown": f"CareThread has not checked {channel}'s members yet.",
        "unreachable": f"CareThread cannot see {channel}'s members (is the app still in it?).",
        "public": f"{channel} is public: anyone in the workspace can read it.",
        "shared": f"{channel} is shared with another organization.",
        "outsiders": f"{channel} has members who are not on the care team.",
    }[audience.reason or "unknown"]
    lines = [f"*Who reads the thread*\n:lock: {why}"]
    if audience.outsiders:
        shown = [f"<@{u}>" for u in audience.outsiders if USER_ID.match(u)][:SHOW_OUTSIDERS]
        more = len(audience.outsiders) - len(shown)
        lines.append(
            f"Not on the care team, in {channel}: {', '.join(shown)}"
            + (f" and {more} more" if more > 0 else "")
        )
    lines.append(
        "The thread shows case ids and statuses only; details come to the team by DM "
        "or behind *View details*."
    )
    return ["\n".join(lines)]


# -- View details -------------------------------------------------------------------------------


def show_details(unit: Unit, *, message_id: int) -> None:
    """A team member (or admin) clicked View details on a restricted message: send them,
    and only them, the message as it would read with details (ephemeral, reader-checked)."""
    root = unit.session.get(OutboxMessage, message_id)
    if root is None or root.case_id is None or root.reader is not None:
        raise NoAccess(None, reason="not_a_case_message")
    case = open_case(unit, root.case_id).case
    if root.channel != case.home_channel:
        raise NoAccess(case.ref, reason="not_a_case_message", case_id=case.id)
    version = repo.latest_version(session=unit.session, root_id=root.id) or root
    message = json.loads(unit.deps.cipher.decrypt(version.payload_enc))
    message.pop("restricted", None)
    unit.ephemeral(
        channel=case.home_channel,
        user=unit.actor.user_id,
        message=message,
        purpose="details",
        case_id=case.id,
        thread_of=case.card_outbox_id if root.id != case.card_outbox_id else None,
    )
    unit.audit("case.details_viewed", case_id=case.id, target=f"outbox:{root.id}")


# -- the relay's send-time check ----------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    args: dict[str, Any] | None  # None: do not send
    mark: str | None = None  # "restricted" | "unfollowed" | "withheld"


ROUTING = ("channel", "ts", "thread_ts", "user")


class ReaderCheck:
    """What the relay asks before each Slack call. Reads the database only (no Slack)."""

    def __init__(self, renderer: Renderer, admins: frozenset[str], hooks: Sequence[ReaderHook] = ()) -> None:
        self.renderer = renderer
        self.admins = admins
        self.hooks = tuple(hooks)

    def screen(self, session: Session, row: OutboxMessage, args: dict[str, Any], *, now: datetime) -> Verdict:
        line = args.pop("restricted", None)  # a template's ids-and-status line, never sent as is
        if row.case_id is None or row.method.startswith("conversations."):
            return Verdict(args)  # not a message (a channel invite, kick, archive): nothing to read
        case = case_repo.get_case(session=session, case_id=row.case_id)
        if case is None:
            return Verdict(args)
        if row.reader is not None:
            if may_read(session, row, self.admins, self.hooks, now=now):
                return Verdict(args)
            if row.update_of is None or repo.was_unfollowed(session=session, root_id=row.update_of):
                return Verdict(None, "withheld")
            return Verdict(self._routed(args, unfollowed_message(self.renderer, case.ref)), "unfollowed")
        if args.get("channel") != case.home_channel:
            return Verdict(args)
        if not audience_of(session, case, self.admins).restricted:
            return Verdict(args)
        restricted = self.renderer.message(
            "core/restricted",
            text=args.get("text") or case.ref,
            line=line or args.get("text") or case.ref,
            message_id=row.update_of or row.id,
            action=Action,
        )
        return Verdict(self._routed(args, restricted), "restricted")

    @staticmethod
    def _routed(args: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        return {**{k: args[k] for k in ROUTING if k in args}, **message}


def unfollowed_message(renderer: Renderer, ref: str) -> dict[str, Any]:
    return renderer.message("core/unfollowed", ref=ref)
