"""What every use-case needs, built once per process and handed to handlers via Bolt's context."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import auditlog
from bot.audience import ReaderCheck
from bot.auditlog import Outcome
from bot.clock import Clock, SystemClock
from bot.config import ConfigError, Settings
from bot.contributions import Workflow
from bot.crypto import KEY_CHECK_PLAINTEXT, Cipher, KeyMismatchError
from bot.delivery import Relay
from bot.inbox import Inbox, finish_in, received_at
from bot.render import Renderer
from bot.slack import SlackGateway
from bot.unit import Actor, Unit, refusal_event
from storage import migrate
from storage.core import AppMeta
from storage.db import make_engine, session_scope, snapshot_scope

log = logging.getLogger(__name__)
_open_unit: ContextVar[Unit | None] = ContextVar("carethread_open_unit", default=None)


def open_unit() -> Unit | None:
    """The unit open on this thread, if any: a reply queued while it is open joins its
    transaction (sent only if the work commits, and in the same commit)."""
    return _open_unit.get()


@dataclass
class Deps:
    settings: Settings
    engine: Engine
    client: WebClient
    cipher: Cipher
    clock: Clock
    renderer: Renderer
    relay: Relay
    gateway: SlackGateway
    audit_key: bytes
    inbox: Inbox
    workflows: tuple[Workflow, ...] = ()  # bot/workflows.py, handed in by the factory

    @contextmanager
    def unit(self, actor: Actor, *, reads_only: bool = False) -> Iterator[Unit]:
        """One transaction for one use-case; wakes the relay if it queued messages.

        Inside an inbox worker, the unit also marks the request done, in the same commit as
        the state it changed (bot/inbox.py), so a request acts once.

        `reads_only`: a view, which changes nothing but its audit events and replies. It
        reads in a snapshot (no write lock held meanwhile) and writes those, with the done
        mark, in a short transaction after (bot/unit.py `Unit`)."""
        if reads_only:
            with snapshot_scope(self.engine) as snapshot:
                unit = Unit(self, snapshot, actor, reads_only=True, asked_at=received_at())
                with self._opened(unit):
                    yield unit
            with session_scope(self.engine) as session:
                committed = finish_in(session, unit.now)
                unit.write_deferred(session)
                auditlog.append(session, self.audit_key, unit.events)
        else:
            with session_scope(self.engine) as session:
                unit = Unit(self, session, actor, asked_at=received_at())
                committed = finish_in(session, unit.now)
                with self._opened(unit):
                    yield unit
                auditlog.append(session, self.audit_key, unit.events)
        committed()
        # Each reply was queued leased (Unit.respond): its lease is this thread's claim.
        replies = dict(unit.leased)
        if len(replies) < len(unit.queued):
            self.relay.kick()
        if replies:  # the person is waiting: send on this thread, no hand-over to the relay
            self.relay.deliver_claimed(replies)

    @staticmethod
    @contextmanager
    def _opened(unit: Unit) -> Iterator[None]:
        token = _open_unit.set(unit)
        try:
            yield
        finally:
            _open_unit.reset(token)

    def record(self, actor: Actor, action: str, outcome: Outcome, **details: Any) -> None:
        """A standalone audit event, for what left no state behind (a refusal, bad input)."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            committed = finish_in(session, now)
            auditlog.append(session, self.audit_key, [refusal_event(actor, now, action, outcome, **details)])
        committed()


def make_client(settings: Settings) -> WebClient:
    return WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)


def build_deps(
    settings: Settings,
    *,
    client: WebClient | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    workflows: Sequence[Workflow] = (),
) -> Deps:
    """Wire the process's parts and bring the database up to date (migrations, key check).

    `bot.factory.build_deps` is the one to call: it hands in every workflow."""
    for workflow in workflows:
        if workflow.settings is not None:
            settings.section(workflow.settings)  # loaded with its workflow, or stop here
    engine = engine or make_engine(settings.database_url)
    client = client or make_client(settings)
    clock = clock or SystemClock()
    cipher = Cipher(settings.encryption_keys)
    audit_key = settings.audit_key.encode("utf-8")
    migrate.upgrade(engine)
    check_keys(engine, cipher, audit_key)
    renderer = Renderer()
    readers = tuple(hook for workflow in workflows for hook in workflow.readers)
    check = ReaderCheck(renderer, settings.admins, readers)
    return Deps(
        settings=settings,
        engine=engine,
        client=client,
        cipher=cipher,
        clock=clock,
        renderer=renderer,
        relay=Relay(
            engine=engine,
            client=client,
            cipher=cipher,
            clock=clock,
            audit_key=audit_key,
            lease_seconds=settings.lease_seconds,
            check=check,
        ),
        gateway=SlackGateway(client, engine, clock),
        audit_key=audit_key,
        inbox=Inbox(
            engine=engine,
            cipher=cipher,
            clock=clock,
            workers=settings.work_threads,
            lease_seconds=settings.lease_seconds,
            queue_limit=settings.inbox_queue,
        ),
        workflows=tuple(workflows),
    )


AUDIT_KEY_CHECK = "carethread-audit-key-check"


def check_keys(engine: Engine, cipher: Cipher, audit_key: bytes) -> None:
    """Refuse to start with keys that cannot read this database: silent garbage is worse."""
    fingerprint = hmac.new(audit_key, AUDIT_KEY_CHECK.encode(), hashlib.sha256).hexdigest()
    try:
        with session_scope(engine) as session:
            if session.get(AppMeta, "key_check") is None:
                session.add(AppMeta(key="key_check", value=cipher.encrypt(KEY_CHECK_PLAINTEXT)))
                session.add(AppMeta(key="audit_key_check", value=fingerprint))
                return
    except IntegrityError:
        pass  # another replica starting at the same moment wrote them first: check against theirs
    with session_scope(engine) as session:
        stored = session.get(AppMeta, "key_check")
        try:
            ok = stored is not None and cipher.decrypt(stored.value) == KEY_CHECK_PLAINTEXT
        except KeyMismatchError:
            ok = False
        if not ok:
            raise ConfigError(
                "CARETHREAD_ENCRYPTION_KEYS cannot decrypt this database's data. Restore the key "
                "file from backup or set the keys this database was created with (newest first)."
            )
        audit_check = session.get(AppMeta, "audit_key_check")
        if audit_check is not None and not hmac.compare_digest(audit_check.value, fingerprint):
            raise ConfigError(
                "CARETHREAD_AUDIT_KEY is not the key this database's audit chain was written with."
            )
