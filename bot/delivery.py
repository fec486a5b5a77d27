"""The outbox relay: sends queued Slack messages, retries what failed, records every result.

Rows are claimed with a lease (a conditional UPDATE; `FOR UPDATE SKIP LOCKED` on
PostgreSQL) so several threads or replicas never send the same row at once. A claim is
known by the lease time it wrote (a later claim of the row can only follow an expired one,
so it writes a later time): before sending, the sender renews the lease only if the row
still carries its own (compare-and-set). A claim that ran out and was taken by another
sender, in this process or another, sends nothing. The HTTP call to Slack happens outside
any database transaction. Delivery is at-least-once only in one narrow case: a process that
dies after Slack accepted a message and before the result was committed sends it again when
the lease expires; Slack offers no idempotency key to close it.

Each message's reader is checked at send time (`check`, bot/audience.py): a message about a
case may be sent in its restricted form, edited to say its reader no longer follows the
case, or withheld.

Replies to a person through a request's `response_url` are outbox rows too (method
`response_url`, the URL encrypted in the payload), retried like the rest for the URL's
30 minutes; after that, or when Slack says the URL is used up, the reply goes to the
person by DM instead (the same reader), so it is never silently dropped.

Order is kept per channel: a message is sent only when no earlier message to the same
channel is still pending, so when one has to wait (429, 5xx) the ones behind it wait with
it and a thread never reads out of order.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient
from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import auditlog
from bot.auditlog import APP_ACTOR, Outcome, PendingEvent, Source
from bot.clock import Clock
from bot.crypto import Cipher
from bot.doorbell import Doorbell
from storage.core import OutboxMessage, OutboxStatus
from storage.db import is_postgres, session_scope

log = logging.getLogger(__name__)

RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Answers that mean a membership call's work is already done (a retry after a lost answer,
# or a person who joined or left by hand): recorded as sent, not as a failure.
ALREADY_DONE = {
    "conversations.invite": frozenset({"already_in_channel"}),
    "conversations.kick": frozenset({"not_in_channel"}),
    "conversations.archive": frozenset({"already_archived"}),
    "conversations.unarchive": frozenset({"not_archived"}),
}
MAX_BACKOFF_SECONDS = 600
MIN_IDLE_WAIT = 0.2  # seconds
MAX_IDLE_WAIT = 30.0
RESPONSE_URL = "response_url"  # the outbox method of a reply through a request's response_url
RESPONSE_URL_LIFETIME = timedelta(minutes=30)  # Slack's; after that the reply goes by DM


class Screen(Protocol):
    """The send-time reader check: returns what to send, or None args to withhold it. `now` is
    the relay's clock as it sends, so grants are judged then, not when the row was queued."""

    def screen(self, session: Any, row: OutboxMessage, args: dict[str, Any], *, now: datetime) -> Any: ...


@dataclass(eq=False)
class _Claim:
    """One sender's hold on one row: the lease time it wrote, its mark on the row (renewed
    before the send). Compared by identity, so two threads' claims of a row stay apart."""

    row_id: int
    lease: datetime


@dataclass(frozen=True)
class _Result:
    kind: str  # "sent" | "retry" | "failed" | "gone" (a response_url that no longer works)
    data: dict[str, Any] | None = None
    error: str | None = None
    retry_after: float | None = None


class Relay:
    def __init__(
        self,
        *,
        engine: Engine,
        client: WebClient,
        cipher: Cipher,
        clock: Clock,
        audit_key: bytes,
        lease_seconds: int = 60,
        batch_size: int = 50,
        check: Screen | None = None,
    ) -> None:
        self.engine = engine
        self.check = check
        self.client = client
        self.cipher = cipher
        self.clock = clock
        self.audit_key = audit_key
        self.lease = timedelta(seconds=lease_seconds)
        self.batch_size = batch_size
        self._wake = threading.Event()
        self._idle = threading.Condition()
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._held: set[_Claim] = set()  # claims this process holds and has not finished
        self._held_lock = threading.Lock()
        self._remote: Doorbell | None = None  # a web process: the work process sends

    # -- background worker: woken after each commit that queued messages -------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> int:
        """Finish the message in hand, then give up the leases still held, so another
        replica sends them at once instead of after the lease. Returns how many."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        return self.release_held()

    def release_held(self) -> int:
        """Give up this process's claims; a row another sender claimed since is left alone."""
        with self._held_lock:
            held, self._held = sorted(self._held, key=lambda c: c.row_id), set()
        if not held:
            return 0
        try:
            released = 0
            with session_scope(self.engine) as session:
                for claim in held:
                    result = session.exec(
                        update(OutboxMessage)
                        .where(
                            col(OutboxMessage.id) == claim.row_id,
                            col(OutboxMessage.status) == OutboxStatus.PENDING,
                            col(OutboxMessage.lease_until) == claim.lease,
                        )
                        .values(lease_until=None)
                    )
                    released += result.rowcount or 0
            return released
        except Exception:
            log.exception("could not release outbox claims; their leases run out by themselves")
            return 0

    def hand_over(self, doorbell: Doorbell) -> None:
        """This process sends nothing itself (a web process, bot/processes.py): a commit that
        queued messages rings the work process, whose relay sends them."""
        self._remote = doorbell

    def kick(self) -> None:
        if self._remote is not None:
            self._remote.ring()
            return
        with self._idle:
            self._busy = True
        self._wake.set()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything due has been attempted (tests, graceful shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._busy, timeout)

    def _run(self) -> None:
        timeout: float | None = None
        while not self._stopping:
            self._wake.wait(timeout)
            self._wake.clear()
            try:
                while not self._stopping and self.deliver_due(until_stopped=True):
                    pass
                timeout = self._until_next_due()
            except Exception:  # keep the worker alive; the sweep retries what is left
                log.exception("outbox relay pass failed")
                timeout = MAX_IDLE_WAIT
            finally:
                with self._idle:
                    if not self._wake.is_set():
                        self._busy = False
                        self._idle.notify_all()

    def _until_next_due(self) -> float | None:
        """Seconds until the earliest pending retry, so a rate-limited channel resumes on
        time instead of at the next sweep. None when nothing is pending."""
        with session_scope(self.engine) as session:
            next_due = session.execute(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.status == OutboxStatus.PENDING
                )
            ).scalar()
        if next_due is None:
            return None
        wait = (next_due - self.clock.now()).total_seconds()
        # Due but not sendable yet (waiting behind another message, or leased elsewhere): look again soon.
        return MAX_IDLE_WAIT if wait > MAX_IDLE_WAIT else max(wait, MIN_IDLE_WAIT)

    # -- one pass ---------------------------------------------------------------------------

    def deliver_due(self, *, until_stopped: bool = False) -> int:
        """Claim what is due now and attempt it; returns how many Slack calls were made.

        Rows that must wait for a message ahead of them are put back, not counted, so a
        caller looping "until nothing was attempted" stops instead of spinning on them.
        """
        return self.deliver_claimed(self.claim(), until_stopped=until_stopped)

    def deliver_claimed(self, claims: Mapping[int, datetime], *, until_stopped: bool = False) -> int:
        """Attempt rows this process holds the lease of (row id -> the lease it wrote):
        claimed by `claim`, or queued already leased (a reply to a waiting person, sent by
        the thread that committed it). A row whose lease is no longer the one written is
        skipped. A failure is retried later like any message. Returns how many Slack calls
        were made."""
        attempted = 0
        held = [_Claim(row_id, lease) for row_id, lease in sorted(claims.items())]
        with self._held_lock:
            self._held.update(held)
        for claim in held:
            if until_stopped and self._stopping:
                break  # the relay thread is stopping: stop() releases the rest
            try:
                attempted += self._deliver(claim)
            except Exception:
                log.exception("delivering outbox message %s failed unexpectedly", claim.row_id)
                self._release(claim, delay=timedelta(seconds=30), error="internal error")
            finally:
                with self._held_lock:
                    self._held.discard(claim)
        return attempted

    def claim(self) -> dict[int, datetime]:
        """Lease what is due now, oldest first: row id -> the lease written, which
        `deliver_claimed` checks is still the row's before sending."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            query = (
                select(OutboxMessage.id)
                .where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.next_attempt_at <= now,
                    or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now),
                )
                .order_by(col(OutboxMessage.id))
                .limit(self.batch_size)
            )
            if is_postgres(self.engine):
                query = query.with_for_update(skip_locked=True)
            ids = list(session.execute(query).scalars())
            lease = now + self.lease
            if ids:
                session.execute(
                    update(OutboxMessage).where(col(OutboxMessage.id).in_(ids)).values(lease_until=lease)
                )
        return dict.fromkeys(ids, lease)

    def _renew(self, session, claim: _Claim, now: datetime) -> OutboxMessage | None:
        """Renew the claim's lease for the send, only if the row is pending and still carries
        the lease this claim wrote, unexpired (one conditional UPDATE, so on PostgreSQL a
        concurrent claim waits for it or is seen by it). None when the claim ran out before
        its turn came (a long batch, a busy database): another sender may hold the row now,
        and sending could send it twice, so the row is left to whoever claims it. Otherwise
        the row, read by the same statement (UPDATE … RETURNING: no SELECT of it after)."""
        if claim.lease < now:
            return None
        renewed = now + self.lease
        row = session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id) == claim.row_id,
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.lease_until) == claim.lease,
            )
            .values(lease_until=renewed)
            .returning(OutboxMessage)
        ).scalar_one_or_none()
        if row is None:
            return None
        claim.lease = renewed
        return row

    def _deliver(self, claim: _Claim) -> int:
        now = self.clock.now()
        with session_scope(self.engine) as session:
            row = self._renew(session, claim, now)
            if row is None:
                return 0
            depends_on = row.update_of or row.thread_of
            parent = session.get(OutboxMessage, depends_on) if depends_on else None
            if parent is not None and parent.status == OutboxStatus.WITHHELD:
                self._withhold(session, row)
                return 1
            if parent is not None and parent.status in (OutboxStatus.FAILED, OutboxStatus.SUPERSEDED):
                self._finish(session, row, _Result("failed", error=f"depends on failed message {parent.id}"))
                return 1
            ahead = parent if parent is not None and parent.status == OutboxStatus.PENDING else None
            ahead = ahead or self._earlier_pending(session, row)
            if ahead is not None:
                # A reply needs its root, and a channel keeps its order: go right after the
                # message ahead (same due time, higher id).
                row.lease_until, row.next_attempt_at = None, max(ahead.next_attempt_at, now)
                return 0
            if row.update_of is not None and self._has_newer_update(session, row):
                row.status, row.lease_until = OutboxStatus.SUPERSEDED, None
                self._audit(session, row, "message.superseded", Outcome.OK, {"method": row.method})
                return 0
            args = json.loads(self.cipher.decrypt(row.payload_enc))
            if row.method == RESPONSE_URL and now - _asked_at(row, args) > RESPONSE_URL_LIFETIME:
                self._reply_by_dm(session, row, "expired")
                return 1
            channel = parent.result_channel if row.update_of and parent else row.channel
            args["channel"] = channel
            if row.thread_of and parent:
                args["thread_ts"] = parent.result_ts
            if row.update_of and parent:
                args["ts"] = parent.result_ts
            args = self._screen(session, row, args)
            if args is None:
                return 1
            method = row.method

        result = self._respond(args) if method == RESPONSE_URL else self._call(method, args)

        with session_scope(self.engine) as session:
            # The row as the renewal read it (loaded, not expired at that commit): while the
            # lease is ours no other sender changes it, so it is recorded against without
            # being read again; the UPDATE writes only the columns the result changes.
            session.add(row)
            if result.kind == "gone":
                self._reply_by_dm(session, row, result.error or "gone")
            else:
                self._finish(session, row, result, channel=channel)
        if result.kind == "gone":
            # The DM is a new send, due now. The thread that committed the reply may be the
            # one delivering it, and nothing else would wake the relay before the next sweep.
            self.kick()
        return 1

    def _screen(self, session, row: OutboxMessage, args: dict[str, Any]) -> dict[str, Any] | None:
        """Ask the reader check what this message may say now; None: withheld (recorded)."""
        if self.check is None:
            args.pop("restricted", None)  # a template's restricted line is never sent as a field
            return args
        verdict = self.check.screen(session, row, args, now=self.clock.now())
        if verdict.args is None:
            self._withhold(session, row)
            return None
        row.screened = verdict.mark
        return verdict.args

    def _withhold(self, session, row: OutboxMessage) -> None:
        row.status, row.lease_until, row.screened = OutboxStatus.WITHHELD, None, "withheld"
        session.add(row)
        self._audit(
            session, row, "message.withheld", Outcome.DENIED, {"method": row.method, "reader": row.reader}
        )

    def _respond(self, args: dict[str, Any]) -> _Result:
        """POST a reply to a response_url (not a Web API method: no token, plain JSON)."""
        try:
            response = WebhookClient(str(args["url"]), timeout=10).send_dict(args["message"])
        except (URLError, OSError, TimeoutError) as exc:
            return _Result("retry", error=f"connection: {type(exc).__name__}")
        status, said = response.status_code, str(response.body or "")[:100]
        if status == 200:
            return _Result("sent", data={})
        if status == 429:
            return _Result("retry", error="ratelimited", retry_after=_retry_after(response.headers))
        if status >= 500:
            return _Result("retry", error=f"http_{status}")
        if status in (404, 410) or said in ("expired_url", "used_url"):
            return _Result("gone", error=said or f"http_{status}")
        return _Result("failed", error=said or f"http_{status}")

    def _reply_by_dm(self, session, row: OutboxMessage, why: str) -> None:
        """The response_url can no longer be used: send the same reply to the same person
        by DM, in the same row (retried and recorded like any message)."""
        payload = json.loads(self.cipher.decrypt(row.payload_enc))
        message = {
            k: v for k, v in payload["message"].items() if k not in ("response_type", "replace_original")
        }
        row.method, row.channel = "chat.postMessage", str(payload["user"])
        row.payload_enc = self.cipher.encrypt(json.dumps(message, separators=(",", ":")))
        row.lease_until, row.next_attempt_at = None, self.clock.now()
        session.add(row)
        self._audit(session, row, "message.reply_by_dm", Outcome.OK, {"method": RESPONSE_URL, "why": why})

    @staticmethod
    def _earlier_pending(session, row: OutboxMessage) -> OutboxMessage | None:
        if not row.channel:
            return None
        return session.execute(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == row.channel,
                OutboxMessage.status == OutboxStatus.PENDING,
                col(OutboxMessage.id) < row.id,
            )
            .order_by(col(OutboxMessage.id))
            .limit(1)
        ).scalar_one_or_none()

    @staticmethod
    def _has_newer_update(session, row: OutboxMessage) -> bool:
        newer = session.execute(
            select(OutboxMessage.id)
            .where(
                OutboxMessage.update_of == row.update_of,
                col(OutboxMessage.id) > row.id,
                col(OutboxMessage.status).in_((OutboxStatus.PENDING, OutboxStatus.SENT)),
            )
            .limit(1)
        ).first()
        return newer is not None

    def _call(self, method: str, args: dict[str, Any]) -> _Result:
        joined = False
        while True:
            try:
                response = self.client.api_call(method, json=args)
                return _Result("sent", data=dict(response.data) if isinstance(response.data, dict) else {})
            except SlackApiError as exc:
                status = exc.response.status_code
                error = str(exc.response.get("error") or f"http_{status}")
                if status == 429:
                    return _Result(
                        "retry", error="ratelimited", retry_after=_retry_after(exc.response.headers)
                    )
                if status >= 500 or error in RETRYABLE_ERRORS:
                    return _Result("retry", error=error)
                if error in ALREADY_DONE.get(method, ()):
                    return _Result("sent", data={"already": error})
                if (
                    method.startswith("chat.")
                    and error == "not_in_channel"
                    and not joined
                    and str(args.get("channel", "")).startswith("C")
                ):
                    joined = self._join(args["channel"])
                    if joined:
                        continue
                return _Result("failed", error=error)
            except (SlackClientError, URLError, OSError, TimeoutError) as exc:
                return _Result("retry", error=f"connection: {type(exc).__name__}")

    def _join(self, channel: str) -> bool:
        """Public channels can be joined (channels:join); private ones need an /invite."""
        try:
            self.client.conversations_join(channel=channel)
            return True
        except (SlackApiError, SlackClientError, URLError, OSError):
            return False

    def _finish(self, session, row: OutboxMessage, result: _Result, *, channel: str | None = None) -> None:
        now = self.clock.now()
        row.attempts += 1
        row.lease_until = None
        if result.kind == "sent":
            data = result.data or {}
            row.status, row.sent_at, row.last_error = OutboxStatus.SENT, now, None
            answered = data.get("channel")  # a channel id, or (conversations.*) a channel object
            row.result_channel = str(
                answered if isinstance(answered, str) and answered else channel or row.channel
            )
            row.result_ts = str(data.get("ts") or "") or None
            action, outcome = "message.delivered", Outcome.OK
        elif result.kind == "retry":
            delay = result.retry_after if result.retry_after is not None else _backoff(row.attempts)
            row.next_attempt_at = now + timedelta(seconds=delay)
            row.last_error = (result.error or "")[:500]
            action, outcome = "message.retry", Outcome.ERROR
        else:
            row.status, row.last_error = OutboxStatus.FAILED, (result.error or "")[:500]
            action, outcome = "message.failed", Outcome.ERROR
        session.add(row)
        details: dict[str, Any] = {"method": row.method, "purpose": row.purpose, "attempt": row.attempts}
        if result.error:
            details["error"] = result.error
        self._audit(session, row, action, outcome, details)

    def _audit(
        self, session, row: OutboxMessage, action: str, outcome: Outcome, details: dict[str, Any]
    ) -> None:
        """Every queued message ends in an audit event: delivered, failed or superseded."""
        auditlog.append(
            session,
            self.audit_key,
            [
                PendingEvent(
                    at=self.clock.now(),
                    actor=APP_ACTOR,
                    action=action,
                    outcome=outcome,
                    source=Source.DELIVERY,
                    case_id=row.case_id,
                    target=f"outbox:{row.id}",
                    details={"purpose": row.purpose, **details},
                )
            ],
        )

    def _release(self, claim: _Claim, *, delay: timedelta, error: str) -> None:
        with session_scope(self.engine) as session:
            row = session.get(OutboxMessage, claim.row_id)
            if row is not None and row.status == OutboxStatus.PENDING and row.lease_until == claim.lease:
                row.lease_until, row.last_error = None, error
                row.next_attempt_at = self.clock.now() + delay


def _asked_at(row: OutboxMessage, payload: dict[str, Any]) -> datetime:
    """When the request a reply answers reached us (Unit.respond), from which its response_url
    lasts RESPONSE_URL_LIFETIME; for a reply queued before that was recorded, when it was queued."""
    asked = payload.get("asked_at")
    return datetime.fromisoformat(asked) if isinstance(asked, str) else row.created_at


def _retry_after(headers: Any) -> float:
    for name, value in dict(headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def _backoff(attempts: int) -> float:
    return float(min(MAX_BACKOFF_SECONDS, 2 ** min(attempts, 10)))
