"""The durable inbox: a request is saved before Slack gets its 200, then worked off.

Listeners run in the request (Bolt's `process_before_response=True`) and do one thing:
`Inbox.accept` writes the request as received (encrypted, with a hash of its signature) and
acknowledges. A small pool of worker threads then looks up the processing function
registered under the row's listener key and runs it with the stored body. In HTTP mode the
workers run in a work process of their own (bot/processes.py): the web process that saved a
request rings the doorbell (bot/doorbell.py) and the work process claims it from the
database. In Socket Mode and in tests they run in the same process and take each request
from an in-memory queue. The
first unit that commits during that work marks the row done in its own transaction
(`finish_in`), so the state change and "this request is handled" are one commit: a worker
killed before it is claimed again after its lease, one killed after it is not run twice.

- Replays: the signature hash is unique, so the same signed request sent again within its
  five minutes collides and is refused (401) and audited, whatever its headers (a retry
  header is not signed). Slack signs each retry afresh, with its own timestamp, so a real
  retry does not collide; its event_id de-duplicates it.
- Failure to save: the person is told at once (see `_not_saved`), and the request is not
  acknowledged as accepted: nothing acknowledged is lost.
- Backpressure: each process keeps at most `queue_limit` requests in its local queue.
  Beyond that the request is still saved, unleased, and the person is told the reply may
  be late (a command in its ack, a button through its response_url; a modal just closes,
  as it always does); whichever process has room claims it from the database. A web process, which
  cannot see the work process's queue, counts the requests still pending instead (at most
  every BEHIND_CHECK_SECONDS).
- Forms first: a request that opens a modal (its trigger_id lasts 3 s) jumps the queue, and
  is saved with priority FORM_FIRST so that a work process claims it before older requests.
- Shutdown: `stop()` finishes the rows being worked on and releases every lease this
  process holds, so another replica takes them at once.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, BoltRequest, BoltResponse
from slack_bolt.request.internals import parse_body
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from bot.auditlog import Outcome, Source
from bot.clock import Clock
from bot.crypto import Cipher
from bot.doorbell import Doorbell
from bot.errors import Duplicate
from bot.group_insert import GroupInsert, Replayed
from bot.unit import Actor
from storage import inbox as rows
from storage.db import session_scope, snapshot_scope
from storage.inbox import FORM_FIRST, NORMAL, InboxKind, InboxRequest, InboxStatus

if TYPE_CHECKING:
    from bot.deps import Deps

log = logging.getLogger(__name__)

Processor = Callable[["Deps", dict[str, Any]], None]
OpensForm = Callable[[dict[str, Any]], bool]

NOT_SAVED = "CareThread couldn't save this just now, so nothing was recorded. Please try again in a minute."
SAVED_LATE = "Saved. CareThread is busy right now, so the reply may take a little longer than usual."
POLL_SECONDS = 2.0  # idle workers look for unclaimed rows (other replicas', retries) this often
MAX_RETRY_SECONDS = 300
MAX_ATTEMPTS = 50
KEEP_DONE = timedelta(hours=1)  # long past the five minutes in which a replay could come back
BEHIND_CHECK_SECONDS = 0.5  # a web process recounts the pending requests at most this often
CLAIM_PER_WORKER = 4  # a work process claims a few rows at a time, so forms wait little
NOTICE_THREADS = 2  # send the notices to buttons' response_urls, off the ack's path
NOTICE_QUEUE = 200  # notices waiting beyond this are dropped (logged): the request is saved anyway

_processing: ContextVar[_Processing | None] = ContextVar("carethread_inbox_row", default=None)


@dataclass
class _Processing:
    row_id: int
    received_at: datetime
    finished: bool = False


@dataclass(frozen=True)
class Route:
    key: str
    process: Processor
    opens_form: OpensForm | None = None


@dataclass(order=True)
class _Item:
    priority: int
    seq: int
    row_id: int = field(compare=False)


def finish_in(session: Session, now: Any) -> Callable[[], None]:
    """Mark the request being worked on (if any) done in `session`'s transaction.

    Called by every unit (bot/deps.py) before its work: the first commit during the
    processing of an inbox row carries "done" with it. Raises Duplicate when another
    worker finished the row meanwhile (its lease ran out here), so the work rolls back.
    Returns what to call once the transaction has committed."""
    current = _processing.get()
    if current is None or current.finished:
        return _nothing
    if not rows.mark_done(session, row_id=current.row_id, now=now):
        raise Duplicate(f"inbox:{current.row_id}")

    def committed() -> None:
        current.finished = True

    return committed


def in_worker() -> bool:
    """True while an inbox row is being processed on this thread."""
    return _processing.get() is not None


def received_at() -> datetime | None:
    """When the request being worked on on this thread reached us (its inbox row's time):
    a reply's response_url lasts 30 minutes from then, not from when the reply was queued."""
    current = _processing.get()
    return current.received_at if current is not None else None


def _nothing() -> None:
    return None


def kind_of(body: dict[str, Any]) -> InboxKind:
    kinds = {
        "block_actions": InboxKind.ACTION,
        "view_submission": InboxKind.VIEW,
        "event_callback": InboxKind.EVENT,
        "block_suggestion": InboxKind.OPTIONS,
    }
    return kinds.get(
        str(body.get("type") or ""), InboxKind.COMMAND if "command" in body else InboxKind.ACTION
    )


class _Notices:
    """Ephemeral notices through a request's response_url (Bolt's `respond`), sent by a few
    background threads: a button's ack can carry no message, and the ack must not wait on
    Slack. Started on first use, so a process forked after import starts its own."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[..., Any], str]] = queue.Queue(NOTICE_QUEUE)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def send(self, request: BoltRequest, text: str) -> bool:
        """Queue `text` for the person; False when nobody can be told this way: the request
        has no response_url (a button in a modal), or too many notices wait already."""
        respond = request.context.respond  # Bolt builds one even without a response_url
        if respond is None or not request.context.response_url:
            return False
        try:
            self._queue.put_nowait((respond, text))
        except queue.Full:
            log.warning("inbox: too many notices waiting; one was not sent")
            return False
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < NOTICE_THREADS:
                thread = threading.Thread(target=self._run, name="inbox-notice", daemon=True)
                thread.start()
                self._threads.append(thread)
        return True

    def _run(self) -> None:
        while True:
            respond, text = self._queue.get()
            try:
                respond(text=text, response_type="ephemeral", replace_original=False)
            except Exception as exc:
                log.error("could not send a notice through a response_url: %s", type(exc).__name__)
            finally:
                self._queue.task_done()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Tests: until every queued notice has been sent (or failed)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks


def signature_hash(request: BoltRequest) -> str | None:
    """What identifies one signed delivery: its timestamp and signature (Socket Mode has none)."""
    headers = request.headers or {}
    timestamp = (headers.get("x-slack-request-timestamp") or [""])[0]
    signature = (headers.get("x-slack-signature") or [""])[0]
    if not signature:
        return None
    return hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest()


class Inbox:
    def __init__(
        self,
        *,
        engine: Engine,
        cipher: Cipher,
        clock: Clock,
        workers: int = 4,
        lease_seconds: int = 60,
        queue_limit: int = 200,
    ) -> None:
        self.engine = engine
        self._saver = GroupInsert(engine)
        self.cipher = cipher
        self.clock = clock
        self.workers = workers
        self.lease = timedelta(seconds=lease_seconds)
        self.queue_limit = queue_limit
        self.owner = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.routes: dict[str, Route] = {}
        self._queue: list[_Item] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._backlog = True  # rows in the database nobody here has claimed: look at start-up
        self._refilling = False
        self._next_poll = 0.0
        self._running = False
        self._threads: list[threading.Thread] = []
        self._deps: Deps | None = None
        # A web process (bot/processes.py): requests are worked on by the work process(es),
        # which this bell wakes; `_behind` is the last count of what they have still to do.
        self._remote: Doorbell | None = None
        self._behind = False
        self._behind_checked = float("-inf")
        self.notices = _Notices()

    # -- registry: filled by each handlers module's register() --------------------------------

    def route(self, key: str, process: Processor, *, opens_form: OpensForm | None = None) -> None:
        if key in self.routes:
            raise ValueError(f"inbox listener key {key!r} registered twice")
        self.routes[key] = Route(key, process, opens_form)

    def listener(self, key: str, process: Processor, *, opens_form: OpensForm | None = None) -> Callable:
        """Register `process` under `key` and return the Bolt listener that stores the request
        for it: the whole of a listener that has nothing to check before its ack."""
        self.route(key, process, opens_form=opens_form)

        def store(ack: Ack, request: BoltRequest) -> BoltResponse | None:
            return self.accept(key, request, ack)

        store.__name__ = f"store_{key.replace('.', '_')}"
        return store

    # -- the request path ---------------------------------------------------------------------

    def accept(self, key: str, request: BoltRequest, ack: Ack) -> BoltResponse | None:
        """Save the request for `key`'s processor, then acknowledge it; what to answer when
        it cannot be saved (the person is told) or is a replay (401)."""
        route = self.routes[key]
        body = request.body
        kind = kind_of(body)
        raw, content_type = request.raw_body, (request.headers.get("content-type") or [""])[0]
        if not raw:  # Socket Mode hands over the parsed payload
            raw, content_type = json.dumps(body), "application/json"
        urgent = bool(route.opens_form and _safe(route.opens_form, body))
        now = self.clock.now()
        with self._cond:
            local = self._running and (urgent or len(self._queue) < self.queue_limit)
        # Plain values and a Core insert, not a model instance and the ORM: this is on every
        # ack's path, and building a validated SQLModel object cost as much as the insert.
        row = {
            "priority": FORM_FIRST if urgent else NORMAL,
            "received_at": now,
            "kind": str(kind),
            "listener": key,
            "content_type": content_type[:100],
            "body_enc": self.cipher.encrypt(raw),
            "signature_hash": signature_hash(request),
            "status": str(InboxStatus.PENDING),
            "owner": self.owner if local else None,
            "lease_until": now + self.lease if local else None,
            "attempts": 0,
        }
        try:
            row_id = self._saver.save(row)  # with whatever other acks wait: one transaction
        except Replayed:  # whatever its headers: X-Slack-Retry-Num is not signed
            return self._replayed(key, body, kind)
        except SQLAlchemyError as exc:
            log.error("could not save a %s request (%s) to the inbox: %s", kind, key, _reason(exc))
            return self._not_saved(kind, body, ack, request)
        if local:
            self._push(row_id, urgent)
            ack()
            return None
        if self._remote is not None:
            self._remote.ring()
            late = self._far_behind()
        else:
            with self._cond:
                self._backlog = True
                self._cond.notify_all()
            late = True
        if late and kind == InboxKind.COMMAND:
            ack(text=SAVED_LATE, response_type="ephemeral")
            return None
        if late and body.get("type") == "block_actions":
            self.notices.send(request, SAVED_LATE)  # a button's ack carries no message
        ack()  # a modal closes, as it always does on submit; an event has nobody to tell
        return None

    def _not_saved(
        self, kind: InboxKind, body: dict[str, Any], ack: Ack, request: BoltRequest
    ) -> BoltResponse | None:
        """The request could not be saved: say so where the person is looking, and keep the
        form (a modal stays open with the message on its first field). A button is told
        through its response_url; one without (a button in a modal), a modal with no input
        block to carry the message, and events get a 503: Slack shows an error on the
        button or the modal, and sends an event again."""
        if kind == InboxKind.COMMAND:
            ack(text=NOT_SAVED, response_type="ephemeral")
            return None
        if kind == InboxKind.VIEW:
            block = _first_input_block(body)
            if block:
                ack(response_action="errors", errors={block: NOT_SAVED})
                return None
            return BoltResponse(status=503, body="")
        if kind != InboxKind.EVENT and self.notices.send(request, NOT_SAVED):
            ack()
            return None
        return BoltResponse(status=503, body="")

    def _replayed(self, key: str, body: dict[str, Any], kind: InboxKind) -> BoltResponse:
        """A signature already seen: Slack never sends one twice, so someone replayed it."""
        log.warning("refused a replayed %s request (%s)", kind, key)
        try:
            assert self._deps is not None
            self._deps.record(
                _actor_of(body, kind), "request.replayed", Outcome.DENIED, kind=str(kind), listener=key
            )
        except Exception as exc:  # the refusal stands even if it cannot be audited
            log.error("could not audit a replayed request: %s", _reason(exc))
        return BoltResponse(status=401, body="")

    def hand_over(self, doorbell: Doorbell) -> None:
        """This process only saves requests (a web process): the work process(es) waiting on
        `doorbell` do the work."""
        self._remote = doorbell

    def _far_behind(self) -> bool:
        """Whether more requests are pending than a work queue holds, recounted at most every
        BEHIND_CHECK_SECONDS (one indexed count, off the path of most acks)."""
        now = time.monotonic()
        if now - self._behind_checked >= BEHIND_CHECK_SECONDS:
            self._behind_checked = now
            try:
                with snapshot_scope(self.engine) as session:
                    self._behind = rows.pending_count(session) > self.queue_limit
            except SQLAlchemyError as exc:  # saved all the same; only the wording is at stake
                log.error("inbox: could not count pending requests: %s", _reason(exc))
        return self._behind

    # -- workers ------------------------------------------------------------------------------

    def start(self, deps: Deps, *, doorbell: Doorbell | None = None) -> None:
        """Start the workers; they first work off whatever is pending (a restart, a crash).
        With `doorbell` (a work process), a ring means new rows, or new outbox messages, were
        saved by a web process: claim them now instead of at the next poll."""
        self._deps = deps
        with self._cond:
            if self._running:
                return
            self._running, self._backlog = True, True
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"inbox-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if doorbell is not None:
            thread = threading.Thread(
                target=self._answer, args=(doorbell, deps), name="inbox-bell", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _answer(self, doorbell: Doorbell, deps: Deps) -> None:
        while self._running:
            if doorbell.wait(0.5):  # short, so that stop() is not kept waiting
                with self._cond:
                    self._backlog = True
                    self._cond.notify_all()
                deps.relay.kick()

    def bind(self, deps: Deps) -> None:
        """Know the app's parts without starting workers (the replay audit needs them)."""
        self._deps = deps

    def stop(self, timeout: float = 5.0) -> int:
        """Finish the rows in hand, then release every lease this process holds. Returns
        how many were released for another process to take at once."""
        with self._cond:
            self._running = False
            self._queue.clear()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []
        try:
            with session_scope(self.engine) as session:
                return rows.release(session, owner=self.owner)
        except SQLAlchemyError as exc:  # the leases run out by themselves
            log.error("could not release inbox claims at shutdown: %s", _reason(exc))
            return 0

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no worker is busy and, while the workers run, the queue is empty and
        nothing is left unclaimed (stopped workers have nothing more to do)."""
        with self._cond:
            self._cond.notify_all()
            return self._cond.wait_for(
                lambda: (
                    not self._busy
                    and not self._refilling
                    and (not self._running or (not self._queue and not self._backlog))
                ),
                timeout,
            )

    def _push(self, row_id: int, urgent: bool) -> None:
        with self._cond:
            heapq.heappush(self._queue, _Item(0 if urgent else 1, next(self._seq), row_id))
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._running and not self._queue:
                    if time.monotonic() >= self._next_poll:
                        self._backlog = True  # now and then, look for other processes' leftovers
                    if self._backlog and not self._refilling:
                        self._refilling = True
                        self._next_poll = time.monotonic() + POLL_SECONDS
                        break
                    self._cond.wait(POLL_SECONDS)
                if not self._running:
                    return
                item = heapq.heappop(self._queue) if self._queue else None
                self._busy += item is not None
            if item is None:
                self._refill()
                continue
            try:
                self._process(item.row_id)
            except Exception:
                log.exception("inbox worker failed on row %s", item.row_id)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _refill(self) -> None:
        """Claim unleased or abandoned rows, as many as the queue has room for."""
        claimed: list[int] = []
        room = 0
        try:
            with self._cond:
                room = max(1, min(self.queue_limit - len(self._queue), CLAIM_PER_WORKER * self.workers))
            now = self.clock.now()
            with session_scope(self.engine) as session:
                claimed = rows.claim(session, owner=self.owner, now=now, until=now + self.lease, limit=room)
        except SQLAlchemyError as exc:
            log.error("inbox: could not claim pending requests: %s", _reason(exc))
        finally:
            with self._cond:
                for row_id in claimed:  # claimed forms first: their order is kept
                    heapq.heappush(self._queue, _Item(1, next(self._seq), row_id))
                self._backlog = len(claimed) >= room  # a full batch: there may be more
                self._refilling = False
                self._cond.notify_all()

    def process_pending(self, deps: Deps) -> int:
        """Claim and process pending rows on the calling thread until none is left (the
        command line, and tests that run without workers)."""
        self._deps = deps
        total = 0
        while True:
            now = self.clock.now()
            with session_scope(self.engine) as session:
                claimed = rows.claim(session, owner=self.owner, now=now, until=now + self.lease, limit=50)
            if not claimed:
                return total
            for row_id in claimed:
                self._process(row_id)
            total += len(claimed)

    def _process(self, row_id: int) -> None:
        deps = self._deps
        assert deps is not None
        with snapshot_scope(self.engine) as session:  # a read: SQLite's write lock stays free
            row = session.get(InboxRequest, row_id)
            if row is None or row.status != rows.InboxStatus.PENDING or row.body_enc is None:
                return
            key, body_enc, content_type, attempts = row.listener, row.body_enc, row.content_type, row.attempts
            received = row.received_at
        route = self.routes.get(key)
        try:
            if route is None:
                raise LookupError(f"no listener registered as {key!r}")
            body = parse_body(self.cipher.decrypt(body_enc), content_type)
        except Exception as exc:  # cannot be worked on, now or later
            log.error("inbox row %s cannot be processed: %s", row_id, type(exc).__name__)
            with session_scope(self.engine) as session:
                rows.mark_failed(session, row_id=row_id, now=self.clock.now(), error=type(exc).__name__)
            return
        current = _Processing(row_id, received)
        token = _processing.set(current)
        error: Exception | None = None
        try:
            route.process(deps, body)
        except Exception as exc:  # replying() handles the person's errors; this is the database
            error = exc
        finally:
            _processing.reset(token)
        if current.finished:
            return
        now = self.clock.now()
        with session_scope(self.engine) as session:
            if error is None:
                rows.mark_done(session, row_id=row_id, now=now)  # the work committed nothing
            elif attempts + 1 >= MAX_ATTEMPTS:
                log.error("inbox row %s failed %s times; giving up", row_id, attempts + 1)
                rows.mark_failed(session, row_id=row_id, now=now, error=_reason(error))
            else:
                delay = min(MAX_RETRY_SECONDS, 2 ** min(attempts + 1, 10))
                log.warning("inbox row %s will be retried in %s s: %s", row_id, delay, _reason(error))
                rows.retry_later(
                    session, row_id=row_id, at=now + timedelta(seconds=delay), error=_reason(error)
                )

    def forget_old(self) -> int:
        """The sweep's step: finished rows past the replay window go."""
        with session_scope(self.engine) as session:
            return rows.purge(session, before=self.clock.now() - KEEP_DONE)


def _safe(fn: OpensForm, body: dict[str, Any]) -> bool:
    try:
        return fn(body)
    except Exception:
        return False


def _reason(exc: BaseException) -> str:
    """An error's kind, never its message: SQL errors can quote the statement's values."""
    orig = getattr(exc, "orig", None)
    return type(orig or exc).__name__


def _first_input_block(body: dict[str, Any]) -> str | None:
    view = body.get("view") or {}
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and block.get("block_id"):
            return str(block["block_id"])
    values = ((view.get("state") or {}).get("values")) or {}
    return next(iter(values), None)


def _actor_of(body: dict[str, Any], kind: InboxKind) -> Actor:
    """Whoever the (replayed) request claims to come from; the audit says it was refused."""
    user = body.get("user")
    raw_event = body.get("event")
    event = raw_event if isinstance(raw_event, dict) else {}
    user_id = body.get("user_id") or (user.get("id") if isinstance(user, dict) else user) or event.get("user")
    team = body.get("team")
    team_id = body.get("team_id") or (team.get("id") if isinstance(team, dict) else None)
    sources = {
        InboxKind.COMMAND: Source.COMMAND,
        InboxKind.VIEW: Source.MODAL,
        InboxKind.EVENT: Source.THREAD,
    }
    return Actor(user_id=str(user_id or "?")[:32], team_id=team_id, source=sources.get(kind, Source.BUTTON))
