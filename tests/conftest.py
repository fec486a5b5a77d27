"""Fixtures: a stand-in Slack Web API, a fresh database per test (SQLite always, PostgreSQL
too when TEST_DATABASE_URL is set), and a harness that drives the real Bolt app through its
real WSGI endpoint with signed requests."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.deps import Deps
from bot.factory import create_app, deps_of
from bot.web import wsgi_app
from devtools import slackreq
from devtools.standin import StandInSlack
from storage.cases import Case
from storage.core import OutboxMessage
from storage.db import make_engine, session_scope

SECRET = "test-signing-secret"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
BACKENDS = ["sqlite", *(["postgres"] if TEST_DATABASE_URL else [])]


@pytest.fixture(scope="session")
def standin_server() -> Iterator[StandInSlack]:
    server = StandInSlack().serve()
    yield server
    server.close()


# Labels, medication names, symptoms and notes the tests type in. None may reach the `text` of
# any message (what phones show in notifications), ephemeral ones and replies included.
CLINICAL_TEST_STRINGS = tuple(
    s.casefold()
    for s in (
        *("Blue Heron", "Grey Owl", "Red Fox", "Persistent Pelican", "Lone Wolf", "Gunicorn Gull"),
        *("Very Private", "Secret Heron", "Green Toad", "Red Kite", "Secret Label"),
        *("sertraline", "lithium", "lamotrigine", "quetiapine", "clozapine", "bupropion"),
        *("nausea", "jaw clenching", "Vomited twice", "Mid-thirties", "Read back: watcher"),
    )
)
NOTIFYING_CALLS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "response_url"})


@pytest.fixture(autouse=True)
def no_clinical_detail_in_notification_text(request) -> Iterator[None]:
    """After every test that talked to the stand-in Slack: no message's top-level `text`
    carried a label, medication name, symptom or note."""
    yield
    if "slack" not in request.fixturenames:
        return
    server: StandInSlack = request.getfixturevalue("standin_server")
    leaks = [
        (call.method, text)
        for call in list(server.calls)
        if call.method in NOTIFYING_CALLS
        and (text := str(call.args.get("text") or ""))
        and any(word in text.casefold() for word in CLINICAL_TEST_STRINGS)
    ]
    if leaks:
        pytest.fail(f"clinical detail in notification text: {leaks[:5]}")


@pytest.fixture
def slack(standin_server: StandInSlack) -> StandInSlack:
    standin_server.reset()
    standin_server.users.clear()
    standin_server.rate_limit_per_channel = None
    return standin_server


def _postgres_engine(schema: str) -> Engine:
    url = TEST_DATABASE_URL
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return make_engine(url, connect_args={"options": f"-csearch_path={schema}"})


@pytest.fixture(params=BACKENDS)
def db_url_and_engine(request, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database nobody else uses: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'carethread.db'}"
        engine = make_engine(url)
        yield url, engine
        engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = _postgres_engine("public")
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = _postgres_engine(schema)
    yield f"{TEST_DATABASE_URL}?options=-csearch_path%3D{schema}", engine
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def engine(db_url_and_engine) -> Engine:
    return db_url_and_engine[1]


def make_settings(tmp_path: Path, slack: StandInSlack | None = None, **env: str) -> Settings:
    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url if slack else "http://127.0.0.1:9/api/",
        "CARETHREAD_ADMINS": "U0ADMIN",
        "CARETHREAD_DATA_DIR": str(tmp_path / "data"),
    }
    base.update(env)
    return load_settings(base, dotenv_path=tmp_path / "no.env")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str]


class Harness:
    """The real app, its WSGI endpoint and the stand-in Slack it talks to."""

    def __init__(self, settings: Settings, engine: Engine, slack: StandInSlack, clock: FrozenClock) -> None:
        self.settings, self.engine, self.slack, self.clock = settings, engine, slack, clock
        client = WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=5)
        self.app = create_app(settings, client=client, engine=engine, clock=clock)
        self.deps: Deps = deps_of(self.app)
        self.deps.inbox.start(self.deps)
        self.deps.relay.start()
        self.wsgi = wsgi_app(self.app)

    def close(self) -> None:
        self.deps.inbox.stop()
        self.deps.relay.stop()

    # -- HTTP ---------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> Response:
        raw = body.encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "3000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(raw),
            "CONTENT_LENGTH": str(len(raw)),
        }
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            else:
                environ[f"HTTP_{key}"] = value
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            captured["status"] = int(status.split()[0])
            captured["headers"] = dict(response_headers)

        chunks = self.wsgi(environ, start_response)
        return Response(captured["status"], b"".join(chunks).decode(), captured["headers"])

    def send(self, request: slackreq.SignedRequest, *, settle: bool = True) -> Response:
        response = self.http("POST", "/slack/events", request.body, request.headers)
        if settle:
            self.settle()
        return response

    def settle(self) -> None:
        """Wait for the inbox workers to finish the saved requests and the relay to attempt
        what they queued."""
        assert self.deps.inbox.wait_idle(30), "inbox workers still busy"
        assert self.deps.relay.wait_idle(10), "relay still busy"

    # -- Slack-shaped requests ----------------------------------------------------------------

    def command(
        self, user: str, text: str, *, command: str = "/case", channel: str = "C0CARE", settle: bool = True
    ) -> Response:
        request = slackreq.slash_command(
            SECRET,
            command=command,
            text=text,
            user=user,
            channel=channel,
            response_url=f"{self.slack.url}respond/{uuid.uuid4().hex[:8]}",
        )
        return self.send(request, settle=settle)

    def action(self, user: str, action_id: str, value: str = "", **kwargs: Any) -> Response:
        return self.send(slackreq.block_action(SECRET, user=user, action_id=action_id, value=value, **kwargs))

    def submit(
        self, user: str, callback_id: str, values: dict[str, dict[str, Any]], **kwargs: Any
    ) -> Response:
        return self.send(
            slackreq.view_submission(SECRET, user=user, callback_id=callback_id, values=values, **kwargs)
        )

    def event(self, event: dict[str, Any], **kwargs: Any) -> Response:
        return self.send(slackreq.event_callback(SECRET, event, **kwargs))

    # -- the database --------------------------------------------------------------------------

    def db(self):
        """A session for assertions (committed and closed on exit)."""
        return session_scope(self.engine)

    def root_ts(self, case_id: int) -> str | None:
        """The ts of the case card: every message in the case thread replies to it."""
        with self.db() as session:
            case = session.get(Case, case_id)
            root = session.get(OutboxMessage, case.card_outbox_id)
            return root.result_ts

    # -- what Slack saw -----------------------------------------------------------------------

    def replies(self) -> list[dict[str, Any]]:
        """Ephemeral replies sent to commands' response_urls, oldest first."""
        return [c.args for c in self.slack.calls_to("response_url")]

    def last_reply_text(self) -> str:
        replies = self.replies()
        assert replies, "no reply was sent"
        return reply_text(replies[-1])

    def posts(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            c.args
            for c in self.slack.calls_to("chat.postMessage")
            if channel is None or c.args.get("channel") == channel
        ]


def reply_text(args: dict[str, Any]) -> str:
    """Everything a person would read in a message: its text and all block text."""
    parts = [str(args.get("text") or "")]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(args.get("blocks") or [])
    return "\n".join(parts)


@pytest.fixture
def harness(tmp_path: Path, engine: Engine, slack: StandInSlack, clock: FrozenClock) -> Iterator[Harness]:
    h = Harness(make_settings(tmp_path, slack), engine, slack, clock)
    yield h
    h.close()
