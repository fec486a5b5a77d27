"""Who can read a case's home: the channels cases live in, their members, and each case's
last known audience (open or restricted). Tables and keyword-only queries (session first).

Channel facts come from Slack (conversations.info / conversations.members) and are kept
current by member events and a periodic recheck; the relay reads them at send time, so
they live in the database, not in a process's memory. Nothing here is clinical.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Text, delete, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from storage import cases as cases_repo
from storage.cases import Case, CaseStatus
from storage.core import OutboxMessage, OutboxStatus
from storage.types import utc_column


class KnownChannel(SQLModel, table=True):
    """A channel a case lives in (or was asked to), as Slack last described it."""

    __tablename__ = "channels"

    id: str = Field(primary_key=True, max_length=32)
    reachable: bool = Field(default=True)  # False: Slack refused to describe it (app not in it)
    is_private: bool = Field(default=False)
    is_ext_shared: bool = Field(default=False)  # shared with another organization (Slack Connect)
    is_archived: bool = Field(default=False)
    members_checked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class ChannelMember(SQLModel, table=True):
    __tablename__ = "channel_members"

    channel_id: str = Field(primary_key=True, max_length=32, foreign_key="channels.id")
    user_id: str = Field(primary_key=True, max_length=32)
    is_bot: bool = Field(default=False)


class CaseAudience(SQLModel, table=True):
    """What the case's thread was last told it may carry, to notice changes (open <->
    restricted, a new outsider) and act on them once."""

    __tablename__ = "case_audience"

    case_id: int = Field(primary_key=True, foreign_key="cases.id")
    restricted: bool = Field(default=False)
    reason: str | None = Field(default=None, max_length=16)
    outsiders: str = Field(default="[]", sa_type=Text)  # JSON list of Slack user ids
    changed_at: datetime = Field(sa_column=utc_column())

    @property
    def outsider_ids(self) -> list[str]:
        return list(json.loads(self.outsiders or "[]"))


def get_channel(*, session: Session, channel_id: str) -> KnownChannel | None:
    return session.get(KnownChannel, channel_id)


def save_channel(
    *,
    session: Session,
    channel_id: str,
    reachable: bool,
    is_private: bool,
    is_ext_shared: bool,
    is_archived: bool,
    members: Iterable[tuple[str, bool]],
    now: datetime,
) -> KnownChannel:
    """Record what Slack said; `members` (user id, is_bot) replaces the list.

    The channel's row is locked first, so two units recording the same channel (cases
    created at the same moment, an event racing the recheck) take turns instead of
    colliding on the member rows."""
    row = _locked_channel(session, channel_id)
    row.reachable, row.is_private = reachable, is_private
    row.is_ext_shared, row.is_archived = is_ext_shared, is_archived
    session.add(row)
    session.flush()
    session.execute(delete(ChannelMember).where(col(ChannelMember.channel_id) == channel_id))
    for user_id, is_bot in dict(members).items():
        session.add(ChannelMember(channel_id=channel_id, user_id=user_id, is_bot=is_bot))
    row.members_checked_at = now
    session.add(row)
    session.flush()
    return row


def _locked_channel(session: Session, channel_id: str) -> KnownChannel:
    query = select(KnownChannel).where(KnownChannel.id == channel_id).with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is not None:
        return row
    try:
        with session.begin_nested():  # a savepoint: losing the race must not spoil the caller
            session.add(KnownChannel(id=channel_id))
    except IntegrityError:  # another transaction recorded it first: wait for it, then take turns
        pass
    return session.execute(query.execution_options(populate_existing=True)).scalar_one()


def human_members(*, session: Session, channel_id: str) -> list[str]:
    return list(
        session.execute(
            select(ChannelMember.user_id)
            .where(col(ChannelMember.channel_id) == channel_id, col(ChannelMember.is_bot).is_(False))
            .order_by(ChannelMember.user_id)
        ).scalars()
    )


def team_ids(*, session: Session, case_id: int) -> set[str]:
    """From the team as `cases.members` remembers it for the transaction (storage/reads.py)."""
    return {m.user_id for m in cases_repo.members(session=session, case_id=case_id)}


def cases_in(*, session: Session, channel_id: str) -> list[Case]:
    """Every case homed in the channel, closed ones too (their threads are still read)."""
    return list(
        session.execute(
            select(Case).where(col(Case.home_channel) == channel_id).order_by(col(Case.id))
        ).scalars()
    )


def is_home_channel(*, session: Session, channel_id: str) -> bool:
    found = session.execute(select(Case.id).where(Case.home_channel == channel_id).limit(1)).first()
    return found is not None


def channels_to_recheck(*, session: Session, checked_before: datetime, limit: int) -> list[str]:
    """Home channels of open cases not checked since `checked_before` (or never)."""
    query = (
        select(Case.home_channel)
        .outerjoin(KnownChannel, col(KnownChannel.id) == col(Case.home_channel))
        .where(
            Case.status == CaseStatus.OPEN,
            or_(
                col(KnownChannel.id).is_(None),
                col(KnownChannel.members_checked_at).is_(None),
                col(KnownChannel.members_checked_at) < checked_before,
            ),
        )
        .group_by(Case.home_channel)
        .order_by(Case.home_channel)
        .limit(limit)
    )
    return list(session.execute(query).scalars())


def get_audience(*, session: Session, case_id: int) -> CaseAudience | None:
    return session.get(CaseAudience, case_id)


def thread_messages_showing_details(*, session: Session, case: Case) -> list[OutboxMessage]:
    """The newest sent version of each message in the case's home (card and thread replies)
    that went out with its details, and has no newer version waiting to be sent."""
    roots = list(
        session.execute(
            select(OutboxMessage.id).where(
                OutboxMessage.case_id == case.id,
                OutboxMessage.method == "chat.postMessage",
                OutboxMessage.channel == case.home_channel,
                OutboxMessage.status == OutboxStatus.SENT,
            )
        ).scalars()
    )
    latest = [latest_version(session=session, root_id=root_id) for root_id in roots]
    return [v for v in latest if v is not None and v.status == OutboxStatus.SENT and v.screened is None]


def latest_version(*, session: Session, root_id: int) -> OutboxMessage | None:
    """The newest queued or sent version of a message (its last update, or itself)."""
    return session.execute(
        select(OutboxMessage)
        .where(
            or_(col(OutboxMessage.id) == root_id, col(OutboxMessage.update_of) == root_id),
            col(OutboxMessage.status).in_((OutboxStatus.SENT, OutboxStatus.PENDING)),
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(1)
    ).scalar_one_or_none()


def dms_to(*, session: Session, case_id: int, user_id: str) -> list[OutboxMessage]:
    """Messages about the case sent to `user_id` directly (their DMs), oldest first."""
    return list(
        session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.case_id == case_id,
                OutboxMessage.reader == user_id,
                OutboxMessage.method == "chat.postMessage",
                OutboxMessage.status == OutboxStatus.SENT,
            )
            .order_by(col(OutboxMessage.id))
        ).scalars()
    )


def was_unfollowed(*, session: Session, root_id: int) -> bool:
    """Has the message already been edited to say its reader no longer follows the case?"""
    found = session.execute(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.update_of == root_id,
            OutboxMessage.screened == "unfollowed",
            OutboxMessage.status == OutboxStatus.SENT,
        )
        .limit(1)
    ).first()
    return found is not None
