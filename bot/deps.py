"""What every use-case needs, built once per process and handed to handlers via Bolt's context."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import auditlog
from bot.auditlog import Outcome
from bot.clock import Clock, SystemClock
from bot.config import ConfigError, Settings
from bot.contributions import Workflow
from bot.crypto import KEY_CHECK_PLAINTEXT, Cipher, KeyMismatchError
from bot.delivery import Relay
from bot.render import Renderer
from bot.slack import SlackGateway
from bot.unit import Actor, Unit, refusal_event
from storage import migrate
from storage.core import AppMeta
from storage.db import make_engine, session_scope

log = logging.getLogger(__name__)


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
    work: Executor
    workflows: tuple[Workflow, ...] = ()  # bot/workflows.py, handed in by the factory

    def later(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Run a listener's real work after its ack(), on the bounded work pool.

        Bolt acknowledges only once a listener has started, and listeners share a small
        pool: if they did their work there, a burst would make new requests' acks wait
        behind old requests' database work. So listeners ack, hand the work here, and
        return at once; Slack gets its 200 whatever the backlog.
        """
        self.work.submit(_logged, fn, *args, **kwargs)

    @contextmanager
    def unit(self, actor: Actor) -> Iterator[Unit]:
        """One transaction for one use-case; wakes the relay if it queued messages."""
        with session_scope(self.engine) as session:
            unit = Unit(self, session, actor)
            yield unit
            auditlog.append(session, self.audit_key, unit.events)
        if unit.queued:
            self.relay.kick()

    def record(self, actor: Actor, action: str, outcome: Outcome, **details: Any) -> None:
        """A standalone audit event, for what left no state behind (a refusal, bad input)."""
        with session_scope(self.engine) as session:
            auditlog.append(
                session, self.audit_key, [refusal_event(actor, self.clock.now(), action, outcome, **details)]
            )


def _logged(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:  # the work wraps itself in replying(); this is the last net
        log.exception("background work failed")


def make_client(settings: Settings) -> WebClient:
    return WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)


def build_deps(
    settings: Settings,
    *,
    client: WebClient | None = None,
    engine: Engine | None = None,
    clock: Clock | None = None,
    work: Executor | None = None,
    workflows: Sequence[Workflow] = (),
) -> Deps:
    """Wire the process's parts and bring the database up to date (migrations, key check).

    `bot.factory.build_deps` is the one to call: it hands in every workflow."""
    engine = engine or make_engine(settings.database_url)
    client = client or make_client(settings)
    clock = clock or SystemClock()
    cipher = Cipher(settings.encryption_keys)
    audit_key = settings.audit_key.encode("utf-8")
    migrate.upgrade(engine)
    check_keys(engine, cipher, audit_key)
    return Deps(
        settings=settings,
        engine=engine,
        client=client,
        cipher=cipher,
        clock=clock,
        renderer=Renderer(),
        relay=Relay(engine=engine, client=client, cipher=cipher, clock=clock, audit_key=audit_key),
        gateway=SlackGateway(client, engine, clock),
        audit_key=audit_key,
        work=work or ThreadPoolExecutor(max_workers=settings.work_threads, thread_name_prefix="work"),
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
