"""A unit of work: one transaction in which a use-case changes state, records its audit
events and queues the Slack messages that report it.

Nothing is sent before the commit ("state is saved before Slack is told"); if the commit
fails, neither the audit events nor the messages exist. After the commit the relay is
woken to deliver at once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.auditlog import APP_ACTOR, Outcome, PendingEvent, Source
from bot.errors import Duplicate
from storage.core import OutboxMessage, ProcessedRequest
from storage.types import table_of

if TYPE_CHECKING:
    from bot.deps import Deps


@dataclass(frozen=True)
class Actor:
    """Who asked, from where, and the Slack id that ties the request together."""

    user_id: str
    team_id: str | None
    source: Source
    correlation_id: str | None = None

    @classmethod
    def app(cls, source: Source = Source.SCHEDULER, correlation_id: str | None = None) -> Actor:
        return cls(user_id=APP_ACTOR, team_id=None, source=source, correlation_id=correlation_id)


class Unit:
    """A use-case's transaction (bot/deps.py `Deps.unit`).

    A reads-only unit (a view: `/case show`, help) reads in a snapshot that holds no write
    lock; its audit events and its messages are kept here and written after the reads, in a
    short transaction of their own (`write_deferred`). On SQLite, where one writer at a time
    is allowed, a view that held the write lock through its reads (10 ms for `/case show`)
    kept every acknowledgement waiting behind it. It may queue replies and plain messages,
    not threaded ones or updates (they need an outbox id at once), and changes nothing else."""

    def __init__(
        self,
        deps: Deps,
        session: Session,
        actor: Actor,
        *,
        reads_only: bool = False,
        asked_at: datetime | None = None,
    ) -> None:
        self.deps = deps
        self.session = session
        self.actor = actor
        self.reads_only = reads_only
        self.now: datetime = deps.clock.now()
        # When the request this unit answers reached us (its inbox row), if it came that way:
        # its response_url lasts 30 minutes from then.
        self.asked_at: datetime = asked_at or self.now
        self.events: list[PendingEvent] = []
        self.queued: list[tuple[int, str]] = []  # (outbox id, method) of every message queued
        # Replies this thread claimed when it queued them (respond): outbox id -> the lease it wrote.
        self.leased: dict[int, datetime] = {}
        self._deferred: list[OutboxMessage] = []  # a reads-only unit's messages, not yet written

    @property
    def is_admin(self) -> bool:
        return self.actor.user_id in self.deps.settings.admins

    def once(self, key: str) -> None:
        """Claim a Slack delivery id; a retry of the same delivery raises Duplicate.

        Called first in the unit, so the claim commits (or not) together with the work.
        """
        self._must_write("once")
        self.session.add(ProcessedRequest(key=key[:191], created_at=self.now))
        try:
            self.session.flush()
        except IntegrityError:
            raise Duplicate(key) from None

    def audit(
        self,
        action: str,
        *,
        case_id: int | None = None,
        target: str | None = None,
        outcome: Outcome = Outcome.OK,
        **details: Any,
    ) -> None:
        self.events.append(
            PendingEvent(
                at=self.now,
                actor=self.actor.user_id,
                team_id=self.actor.team_id,
                action=action,
                outcome=outcome,
                source=self.actor.source,
                case_id=case_id,
                target=target,
                correlation_id=self.actor.correlation_id,
                details=details,
            )
        )

    def post(
        self,
        *,
        channel: str,
        message: dict[str, Any],
        purpose: str,
        case_id: int | None = None,
        thread_of: int | None = None,
        dedupe_key: str | None = None,
    ) -> OutboxMessage:
        """Queue chat.postMessage; `thread_of` is the outbox id of the thread's root message.
        A message to a user id is a DM: that user is its reader, checked at send time."""
        return self._queue(
            "chat.postMessage",
            channel,
            message,
            purpose,
            case_id,
            thread_of,
            None,
            dedupe_key,
            _dm_reader(channel),
        )

    def post_all(self, posts: Sequence[Post]) -> list[int]:
        """`post` for many messages at once; returns their outbox ids, in order.

        One multi-row INSERT … RETURNING instead of an ORM object and a flush per message:
        a sweep queues hundreds of prompts in one unit. Same rows as `post` writes."""
        if not posts:
            return []
        self._must_write("post_all")
        table = table_of(OutboxMessage)
        rows = [
            self._values(
                "chat.postMessage",
                p.channel,
                p.message,
                p.purpose,
                p.case_id,
                p.thread_of,
                None,
                None,
                _dm_reader(p.channel),
            )
            for p in posts
        ]
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        ids = [row_id for (row_id,) in self.session.execute(statement, rows)]
        self.queued.extend((row_id, "chat.postMessage") for row_id in ids)
        return ids

    def ephemeral(
        self,
        *,
        channel: str,
        user: str,
        message: dict[str, Any],
        purpose: str,
        case_id: int | None = None,
        thread_of: int | None = None,
    ) -> OutboxMessage:
        """Queue chat.postEphemeral: seen by `user` only, in `channel` (in a thread if given)."""
        return self._queue(
            "chat.postEphemeral",
            channel,
            {**message, "user": user},
            purpose,
            case_id,
            thread_of,
            None,
            None,
            user,
        )

    def respond(
        self,
        *,
        url: str,
        user: str,
        message: dict[str, Any],
        purpose: str,
        replace_original: bool = False,
        case_id: int | None = None,
    ) -> OutboxMessage:
        """Queue a reply to the person who asked, through their request's response_url
        (seen by `user` only; by DM to `user` once the URL has expired, bot/delivery.py)."""
        reply = {**message, "response_type": "ephemeral", "replace_original": replace_original}
        payload = {"url": url, "user": user, "message": reply, "asked_at": self.asked_at.isoformat()}
        # Claimed by this thread, which sends it right after the commit (bot/deps.py); if it
        # cannot, the relay takes it once the lease is over. The lease goes in with the
        # INSERT: set after the flush, it cost an UPDATE of the row at commit.
        lease = self.now + self.deps.relay.lease
        row = self._queue("response_url", "", payload, purpose, case_id, None, None, None, user, lease)
        if row.id is not None:  # else a reads-only unit's: leased when written (write_deferred)
            self.leased[row.id] = lease
        return row

    def call(
        self, method: str, *, channel: str, args: dict[str, Any], purpose: str, case_id: int | None = None
    ) -> OutboxMessage:
        """Queue another Web API call on a channel (conversations.invite, kick, archive,
        unarchive): sent after the commit in order with the channel's messages, retried and
        recorded like them (bot/delivery.py)."""
        return self._queue(method, channel, args, purpose, case_id, None, None, None, None)

    def update(
        self, *, of: int, message: dict[str, Any], purpose: str, case_id: int | None = None
    ) -> OutboxMessage:
        """Queue chat.update of the message that outbox row `of` posted (sent in order)."""
        original = self.session.get(OutboxMessage, of)
        reader = original.reader if original is not None else None
        return self._queue("chat.update", "", message, purpose, case_id, None, of, None, reader)

    def _queue(
        self,
        method: str,
        channel: str,
        message: dict[str, Any],
        purpose: str,
        case_id: int | None,
        thread_of: int | None,
        update_of: int | None,
        dedupe_key: str | None,
        reader: str | None,
        lease_until: datetime | None = None,
    ) -> OutboxMessage:
        row = OutboxMessage(
            **self._values(
                method, channel, message, purpose, case_id, thread_of, update_of, dedupe_key, reader
            ),
            lease_until=lease_until,
        )
        if self.reads_only:
            if thread_of is not None or update_of is not None:
                self._must_write(method)  # they name an outbox id, which this unit has not written
            self._deferred.append(row)
            return row
        self.session.add(row)
        self.session.flush()  # assigns the id later messages thread under
        self.queued.append((row.id, method))
        return row

    def write_deferred(self, session: Session) -> None:
        """Write a reads-only unit's messages in `session`, the short transaction after its
        reads: queued and, for replies, leased to this thread, as `_queue` and `respond` do."""
        if not self._deferred:
            return
        session.add_all(self._deferred)
        session.flush()
        for row in self._deferred:
            assert row.id is not None  # the flush assigned it
            self.queued.append((row.id, row.method))
            if row.lease_until is not None:  # only replies are queued leased (respond)
                self.leased[row.id] = row.lease_until
        self._deferred.clear()

    def _must_write(self, what: str) -> None:
        if self.reads_only:
            raise RuntimeError(f"{what} needs a unit that writes; this one only reads (Deps.unit reads_only)")

    def _values(
        self,
        method: str,
        channel: str,
        message: dict[str, Any],
        purpose: str,
        case_id: int | None,
        thread_of: int | None,
        update_of: int | None,
        dedupe_key: str | None,
        reader: str | None,
    ) -> dict[str, Any]:
        """The columns of a queued message; its payload is encrypted at rest."""
        return {
            "created_at": self.now,
            "method": method,
            "channel": channel,
            "payload_enc": self.deps.cipher.encrypt(json.dumps(message, separators=(",", ":"))),
            "purpose": purpose,
            "case_id": case_id,
            "thread_of": thread_of,
            "update_of": update_of,
            "dedupe_key": dedupe_key,
            "reader": reader,
            "next_attempt_at": self.now,
        }


@dataclass(frozen=True)
class Post:
    """One message for Unit.post_all (the arguments of Unit.post)."""

    channel: str
    message: dict[str, Any]
    purpose: str
    case_id: int | None = None
    thread_of: int | None = None


def _dm_reader(channel: str) -> str | None:
    """A message to a user id is a DM: that user is its reader, checked at send time."""
    return channel if channel[:1] in ("U", "W") else None


def refusal_event(actor: Actor, at: datetime, action: str, outcome: Outcome, **details: Any) -> PendingEvent:
    return PendingEvent(
        at=at,
        actor=actor.user_id,
        team_id=actor.team_id,
        action=action,
        outcome=outcome,
        source=actor.source,
        case_id=details.pop("case_id", None),
        correlation_id=actor.correlation_id,
        details=details,
    )
