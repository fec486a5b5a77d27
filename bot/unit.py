"""A unit of work: one transaction in which a use-case changes state, records its audit
events and queues the Slack messages that report it.

Nothing is sent before the commit ("state is saved before Slack is told"); if the commit
fails, neither the audit events nor the messages exist. After the commit the relay is
woken to deliver at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.auditlog import APP_ACTOR, Outcome, PendingEvent, Source
from bot.errors import Duplicate
from storage.core import OutboxMessage, ProcessedRequest

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
    def __init__(self, deps: Deps, session: Session, actor: Actor) -> None:
        self.deps = deps
        self.session = session
        self.actor = actor
        self.now: datetime = deps.clock.now()
        self.events: list[PendingEvent] = []
        self.queued: list[OutboxMessage] = []

    @property
    def is_admin(self) -> bool:
        return self.actor.user_id in self.deps.settings.admins

    def once(self, key: str) -> None:
        """Claim a Slack delivery id; a retry of the same delivery raises Duplicate.

        Called first in the unit, so the claim commits (or not) together with the work.
        """
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
        """Queue chat.postMessage; `thread_of` is the outbox id of the thread's root message."""
        return self._queue(
            "chat.postMessage", channel, message, purpose, case_id, thread_of, None, dedupe_key
        )

    def ephemeral(
        self, *, channel: str, user: str, message: dict[str, Any], purpose: str, case_id: int | None = None
    ) -> OutboxMessage:
        """Queue chat.postEphemeral: seen by `user` only, in `channel`."""
        return self._queue(
            "chat.postEphemeral", channel, {**message, "user": user}, purpose, case_id, None, None, None
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
        payload = {"url": url, "user": user, "message": reply}
        row = self._queue("response_url", "", payload, purpose, case_id, None, None, None)
        # Claimed by this thread, which sends it right after the commit (bot/deps.py); if it
        # cannot, the relay takes it once the lease is over.
        row.lease_until = self.now + self.deps.relay.lease
        return row

    def update(
        self, *, of: int, message: dict[str, Any], purpose: str, case_id: int | None = None
    ) -> OutboxMessage:
        """Queue chat.update of the message that outbox row `of` posted (sent in order)."""
        return self._queue("chat.update", "", message, purpose, case_id, None, of, None)

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
    ) -> OutboxMessage:
        row = OutboxMessage(
            created_at=self.now,
            method=method,
            channel=channel,
            payload_enc=self.deps.cipher.encrypt(json.dumps(message, separators=(",", ":"))),
            purpose=purpose,
            case_id=case_id,
            thread_of=thread_of,
            update_of=update_of,
            dedupe_key=dedupe_key,
            next_attempt_at=self.now,
        )
        self.session.add(row)
        self.session.flush()  # assigns the id later messages thread under
        self.queued.append(row)
        return row


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
