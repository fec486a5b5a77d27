"""What every test shares: the harness that drives the real Bolt app through its real WSGI
endpoint with signed requests, one way to read back what Slack, the outbox and the audit trail
saw, and one `care_team()` factory that every workflow's tests build their cases with.

Import from here (`from tests.support import ...`); tests/conftest.py only holds fixtures."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.clock import FrozenClock
from bot.config import Settings, load_settings
from bot.deps import Deps
from bot.factory import create_app, deps_of
from bot.web import wsgi_app
from bot.workflows import WORKFLOWS
from devtools import slackreq
from devtools.standin import StandInSlack
from storage.cases import Case, CaseMember
from storage.core import AuditEvent, OutboxMessage
from storage.db import session_scope

SECRET = "test-signing-secret"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
CHANNEL = "C0CARE"
ALICE, BOB, CAROL, DAN, MALLORY = "U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0MALLORY"
ADMIN = "U0ADMIN"  # CARETHREAD_ADMINS in make_settings

#: The default care team: who is on it (user id -> role), the first one creates the case.
TEAM: dict[str, str] = {ALICE: "prescriber", BOB: "therapist", CAROL: "case-manager"}


def make_settings(tmp_path: Path, slack: StandInSlack | None = None, **env: str) -> Settings:
    base = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url if slack else "http://127.0.0.1:9/api/",
        "CARETHREAD_ADMINS": "U0ADMIN",
        "CARETHREAD_DATA_DIR": str(tmp_path / "data"),
    }
    base.update(env)
    return load_settings(base, dotenv_path=tmp_path / "no.env", workflows=WORKFLOWS)


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
        """Stop the inbox workers and the relay; safe to call twice."""
        self.deps.inbox.stop()
        self.deps.relay.stop()

    # -- HTTP ---------------------------------------------------------------------------------

    def http(self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None) -> Response:
        environ = slackreq.wsgi_environ(method, path, body.encode(), headers or {})
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

    def rows(self, model: type, **where: Any) -> list[Any]:
        """Every row of `model` whose columns equal `where`, in primary-key order."""
        with self.db() as session:
            query = select(model).order_by(*model.__table__.primary_key.columns)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return list(session.execute(query).scalars())

    def get(self, model: type, key: Any) -> Any:
        """One row by primary key; it must exist."""
        with self.db() as session:
            row = session.get(model, key)
            assert row is not None, f"no {model.__name__} {key!r}"
            return row

    def audit_events(self, **where: Any) -> list[AuditEvent]:
        """The audit trail in chain order, filtered on its columns (action=, actor=, case_id=,
        outcome=, ...)."""
        return self.rows(AuditEvent, **where)

    def audit_actions(self, **where: Any) -> list[tuple[str, str]]:
        """(action, outcome) of each audit event `audit_events(**where)` returns."""
        return [(e.action, e.outcome) for e in self.audit_events(**where)]

    def outbox(self, *, replies: bool = False, **where: Any) -> list[OutboxMessage]:
        """Queued and sent messages in the order they were queued (purpose=, channel=, status=...):
        to channels and people, and with `replies=True` the replies to response_urls too."""
        rows = self.rows(OutboxMessage, **where)
        return [r for r in rows if replies or r.method != "response_url"]

    def latest_case_id(self) -> int:
        with self.db() as session:
            return session.execute(select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()

    def members(self, case_id: int) -> dict[str, str]:
        """The case's team: user id -> role."""
        return {m.user_id: m.role for m in self.rows(CaseMember, case_id=case_id)}

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

    def last_reply(self) -> dict[str, Any]:
        replies = self.replies()
        assert replies, "no reply was sent"
        return replies[-1]

    def last_reply_text(self) -> str:
        return reply_text(self.last_reply())

    def posts(self, channel: str | None = None, *, starting: str | None = None) -> list[dict[str, Any]]:
        """chat.postMessage calls, to `channel` if given, whose `text` starts with `starting`."""
        return [
            c.args
            for c in self.slack.calls_to("chat.postMessage")
            if (channel is None or c.args.get("channel") == channel)
            and (starting is None or str(c.args.get("text", "")).startswith(starting))
        ]

    def dms(self, user: str) -> list[dict[str, Any]]:
        """Messages the app sent to `user` directly (posted to the user id)."""
        return self.posts(user)

    def ephemerals(self, user: str) -> list[dict[str, Any]]:
        """chat.postEphemeral calls shown to `user`."""
        return [c.args for c in self.slack.calls_to("chat.postEphemeral") if c.args.get("user") == user]

    def updates(self, ts: str | None = None) -> list[dict[str, Any]]:
        """chat.update calls, of the message `ts` if given."""
        return [c.args for c in self.slack.calls_to("chat.update") if ts is None or c.args.get("ts") == ts]

    def last_view(self, method: str = "views.open") -> dict[str, Any]:
        """The view of the latest `method` call (views.open, views.update, views.push, views.publish)."""
        calls = self.slack.calls_to(method)
        assert calls, f"no {method} call"
        view = calls[-1].args["view"]
        return json.loads(view) if isinstance(view, str) else view


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


def care_team(
    h: Harness,
    team: Mapping[str, str] = TEAM,
    *,
    label: str = "Blue Heron",
    channel: str = CHANNEL,
    meds: tuple[str, ...] = (),
) -> int:
    """A case built through the real /case commands, returning its id.

    `team` maps user ids to roles in the order they join: the first creates the case in `channel`
    and adds the others. The first prescriber then adds each of `meds` (prescribers own the list).
    """
    (creator, creator_role), *others = team.items()
    h.command(creator, f"create {label} as {creator_role}", channel=channel)
    case_id = h.latest_case_id()
    assert h.members(case_id) == {creator: creator_role}, h.last_reply_text()
    first_prescriber = creator if creator_role == "prescriber" else None
    for user, role in others:
        # The creator names the first prescriber; only a prescriber adds the next (issue 11).
        by = first_prescriber if role == "prescriber" and first_prescriber else creator
        h.command(by, f"add C-{case_id} <@{user}> {role}", channel=channel)
        if role == "prescriber" and first_prescriber is None:
            first_prescriber = user
    assert h.members(case_id) == dict(team), h.last_reply_text()
    if meds:
        prescriber = next(user for user, role in team.items() if role == "prescriber")
        for med in meds:
            h.command(prescriber, f"med C-{case_id} add {med}", channel=channel)
    return case_id
