"""What a person does in the demo page, turned into the requests Slack would send the app.

Slash commands, buttons and selects (block_actions), form submissions (view_submission, whose
response_action the workspace applies), closing a form (view_closed, when the view asks),
thread messages (message events) and opening the Home tab (app_home_opened): each is signed
with the app's signing secret and POSTed to /slack/events over HTTP. Timestamps are the app's
clock, which may have been moved ahead, so the signature check sees a fresh request.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devtools import slackreq
from devtools.demo import team
from devtools.demo.appproc import ROOT, AppProcess
from devtools.demo.clock import DemoClock
from devtools.demo.workspace import Message, Responder, Workspace
from devtools.standin import BOT_USER

SLACKBOT = "USLACKBOT"
MENTION = re.compile(r"(?<![\w<|])@([a-z][a-z0-9._-]*)", re.IGNORECASE)
CHANNEL_REF = re.compile(r"(?<![\w<|])#([a-z0-9][a-z0-9_-]*)", re.IGNORECASE)
APP_ID = "A0CARE"


class DemoError(Exception):
    """Something the page asked for that cannot be done; the message is shown to the person."""


class Sandbox:
    def __init__(self, *, workdir: Path, secret: str, clock: DemoClock, workspace: Workspace) -> None:
        self.secret = secret
        self.clock = clock
        self.workspace = workspace
        self.manifest = json.loads((ROOT / "manifest.json").read_text())
        self.commands = {c["command"]: c for c in self.manifest["features"].get("slash_commands", [])}
        self.bot_events = set(self.manifest["settings"]["event_subscriptions"].get("bot_events", []))
        self.app = AppProcess(
            workdir=workdir,
            env={
                "SLACK_BOT_TOKEN": "xoxb-demo",
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_API_URL": workspace.api_url,
                "CARETHREAD_ADMINS": ",".join(team.ADMINS),
                "CARETHREAD_ADMIN_CHANNEL": team.ADMIN_CHANNEL,
                "CARETHREAD_SWEEP_SECONDS": "2",
                **clock.env(),
            },
        )
        self.status = "starting"
        self._lifecycle = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.app.start()
        self.status = "running"
        self.workspace.bump()

    def stop(self) -> None:
        self.status = "stopped"
        self.app.stop()

    def reset(self) -> None:
        """Stop the app, wipe its data and the workspace, start again at the real time."""
        with self._lifecycle:
            self.status = "restarting"
            self.workspace.bump()
            self.app.stop()
            self.app.wipe()
            self.clock.reset()
            self.workspace.clear()
            self.app.start()
            self.status = "running"
            self.workspace.bump()

    # -- sending --------------------------------------------------------------------------

    def _ts(self) -> int:
        return int(self.clock.now())

    def _post(self, request: slackreq.SignedRequest) -> tuple[int, str]:
        http = urllib.request.Request(
            self.app.events_url, data=request.body.encode(), headers=request.headers
        )
        try:
            with urllib.request.urlopen(http, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")
        except OSError as err:
            return 0, str(err)

    def _slackbot_says(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> None:
        self.workspace.add_message(
            Message(
                channel, self.workspace.new_ts(), SLACKBOT, text=text, thread_ts=thread_ts, ephemeral_to=user
            )
        )

    def _check_user(self, user: str) -> team.Person:
        person = team.person(user)
        if person is None:
            raise DemoError(f"unknown person {user}")
        return person

    def _check_channel(self, user: str, channel: str) -> None:
        with self.workspace._lock:
            found = self.workspace.channels.get(channel)
            if found is None or user not in found.members:
                raise DemoError("you are not in that conversation")

    @staticmethod
    def typed_text(text: str, *, escape: bool) -> str:
        """What Slack's client sends for typed text: &, <, > escaped (commands declared with
        should_escape, and messages) and @name / #channel turned into ids."""
        if escape:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

        def user(match: re.Match[str]) -> str:
            person = team.by_handle(match.group(1))
            return f"<@{person.id}|{person.handle}>" if person else match.group(0)

        def channel(match: re.Match[str]) -> str:
            spec = next((c for c in team.CHANNELS if c.name == match.group(1).lower()), None)
            return f"<#{spec.id}|{spec.name}>" if spec else match.group(0)

        return CHANNEL_REF.sub(channel, MENTION.sub(user, text))

    def command(self, user: str, channel: str, line: str, thread_ts: str | None = None) -> dict[str, Any]:
        person = self._check_user(user)
        self._check_channel(user, channel)
        name, _, text = line.strip().partition(" ")
        spec = self.commands.get(name)
        if spec is None:
            self._slackbot_says(user, channel, f"`{name}` is not a valid command.", thread_ts)
            return {"ok": False, "error": "not_a_command"}
        text = self.typed_text(text.strip(), escape=bool(spec.get("should_escape")))
        token = self.workspace.register_responder(Responder(user, channel, thread_ts=thread_ts))
        with self.workspace._lock:
            info = self.workspace.channels[channel].info()
        request = slackreq.slash_command(
            self.secret,
            command=name,
            text=text,
            user=user,
            user_name=person.handle,
            channel=channel,
            channel_name="directmessage" if info["is_im"] else info["name"],
            response_url=f"{self.workspace.url}respond/{token}",
            trigger_id=self.workspace.register_trigger(user),
            timestamp=self._ts(),
        )
        status, body = self._post(request)
        if status != 200:
            self._slackbot_says(user, channel, f'{name} failed with the error "dispatch_failed"', thread_ts)
            return {"ok": False, "error": f"http_{status}", "token": token}
        if body.strip():
            self._show_ack_body(user, channel, body, thread_ts)
        return {"ok": True, "token": token}

    def _show_ack_body(self, user: str, channel: str, body: str, thread_ts: str | None) -> None:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            data = {"text": body}
        if isinstance(data, dict) and (data.get("text") or data.get("blocks")):
            self.workspace.add_message(
                Message(
                    channel,
                    self.workspace.new_ts(),
                    BOT_USER,
                    text=str(data.get("text") or ""),
                    blocks=data.get("blocks"),
                    thread_ts=thread_ts,
                    ephemeral_to=None if data.get("response_type") == "in_channel" else user,
                )
            )

    def message(self, user: str, channel: str, text: str, thread_ts: str | None = None) -> dict[str, Any]:
        self._check_user(user)
        self._check_channel(user, channel)
        if not text.strip():
            raise DemoError("nothing to send")
        text = self.typed_text(text, escape=True)
        message = self.workspace.add_message(
            Message(channel, self.workspace.new_ts(), user, text=text, thread_ts=thread_ts or None)
        )
        with self.workspace._lock:
            found = self.workspace.channels[channel]
            listening = BOT_USER in found.members
            kind = "im" if found.is_im else "group" if found.is_private else "channel"
        subscription = {"channel": "message.channels", "group": "message.groups", "im": "message.im"}[kind]
        if not listening or subscription not in self.bot_events:
            return {"ok": True, "ts": message.ts, "delivered": False}
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": message.ts,
            "event_ts": message.ts,
            "channel_type": kind,
            "team": slackreq.TEAM,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        status, _body = self._post(slackreq.event_callback(self.secret, event, timestamp=self._ts()))
        return {"ok": status == 200, "ts": message.ts, "delivered": status == 200}

    def home_opened(self, user: str) -> dict[str, Any]:
        self._check_user(user)
        if "app_home_opened" not in self.bot_events:
            return {"ok": True, "delivered": False}
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user,
            "channel": self.workspace.im_of(user),
            "tab": "home",
            "event_ts": f"{self.clock.now():.6f}",
        }
        home = self.workspace.homes.get(user)
        if home is not None:
            event["view"] = home
        status, _body = self._post(slackreq.event_callback(self.secret, event, timestamp=self._ts()))
        return {"ok": status == 200}

    def _base_payload(self, kind: str, user: str) -> dict[str, Any]:
        person = self._check_user(user)
        return {
            "type": kind,
            "team": {"id": slackreq.TEAM, "domain": "clinic"},
            "user": {"id": user, "username": person.handle, "name": person.handle, "team_id": slackreq.TEAM},
            "api_app_id": APP_ID,
            "token": "legacy-unused",
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def action(
        self, user: str, where: dict[str, Any], action: dict[str, Any], values: dict[str, Any]
    ) -> dict:
        """A click or a pick in a message, a modal or the Home tab: block_actions."""
        payload = self._base_payload("block_actions", user)
        payload["trigger_id"] = self.workspace.register_trigger(user)
        payload["actions"] = [{**action, "action_ts": f"{self.clock.now():.6f}"}]
        if where.get("view_id"):
            view = self.workspace.view_of(user, where["view_id"])
            home = self.workspace.homes.get(user)
            if view is None and home is not None and home["id"] == where["view_id"]:
                view = home
            if view is None:
                raise DemoError("that view is no longer open")
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = self._with_state(view, values)
        else:
            channel, ts = str(where.get("channel", "")), str(where.get("ts", ""))
            self._check_channel(user, channel)
            message = self.workspace.find(channel, ts)
            if message is None:
                raise DemoError("that message is gone")
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": message.ephemeral_to is not None,
            }
            if message.thread_ts:
                container["thread_ts"] = message.thread_ts
            payload["container"] = container
            with self.workspace._lock:
                payload["channel"] = {"id": channel, "name": self.workspace.channels[channel].name}
            if message.ephemeral_to is None:
                payload["message"] = {
                    "type": "message",
                    "user": message.user,
                    "bot_id": "BCARE" if message.user == BOT_USER else None,
                    "ts": ts,
                    "thread_ts": message.thread_ts,
                    "text": message.text,
                    "blocks": message.blocks or [],
                }
            payload["state"] = {"values": values}
            token = self.workspace.register_responder(
                Responder(user, channel, message_ts=ts, thread_ts=message.thread_ts)
            )
            payload["response_url"] = f"{self.workspace.url}respond/{token}"
        status, _body = self._post(slackreq.interaction(self.secret, payload, self._ts()))
        return {"ok": status == 200}

    @staticmethod
    def _with_state(view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        return {
            **view,
            "team_id": slackreq.TEAM,
            "app_id": APP_ID,
            "bot_id": "BCARE",
            "root_view_id": view["id"],
            "state": {"values": values},
        }

    def submit(self, user: str, view_id: str, values: dict[str, Any]) -> dict[str, Any]:
        view = self.workspace.view_of(user, view_id)
        if view is None:
            raise DemoError("that form is no longer open")
        payload = self._base_payload("view_submission", user)
        payload["trigger_id"] = self.workspace.register_trigger(user)
        payload["view"] = self._with_state(view, values)
        payload["response_urls"] = []
        status, body = self._post(slackreq.interaction(self.secret, payload, self._ts()))
        if status != 200:
            return {"ok": False, "error": "We had some trouble connecting. Try again?"}
        try:
            answer = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError:
            answer = {}
        self.workspace.after_submission(user, view_id, answer if isinstance(answer, dict) else {})
        return {"ok": True, "response_action": (answer or {}).get("response_action")}

    def close(self, user: str, view_id: str) -> dict[str, Any]:
        view = self.workspace.close_view(user, view_id)
        if view is not None and view.get("notify_on_close"):
            payload = self._base_payload("view_closed", user)
            payload["view"] = self._with_state(view, {})
            payload["is_cleared"] = False
            self._post(slackreq.interaction(self.secret, payload, self._ts()))
        return {"ok": True}

    # -- the clock and the faults ---------------------------------------------------------

    def advance(self, seconds: int) -> dict[str, Any]:
        if not self.clock.available:
            raise DemoError(f"The clock control is unavailable: {self.clock.reason}")
        if not 0 < seconds <= 366 * 86400:
            raise DemoError("move the clock ahead by up to a year")
        self.clock.advance(seconds)
        self.workspace.bump()
        return {"ok": True, "offset": self.clock.offset}

    def outage(self, status: int, seconds: float) -> dict[str, Any]:
        if status == 0:
            self.workspace.end_outage()
        elif status in (429, 500, 503):
            self.workspace.outage(status, seconds=min(max(seconds, 1), 600), retry_after=3)
        else:
            raise DemoError("the stand-in can answer 429, 500 or 503")
        self.workspace.bump()
        return {"ok": True}

    # -- what the page shows --------------------------------------------------------------

    def state(self, user: str) -> dict[str, Any]:
        self._check_user(user)
        outage = self.workspace.outage_left()
        return {
            "version": self.workspace.version,
            "me": user,
            "bot": {"id": BOT_USER, "name": team.BOT_NAME},
            "people": [p.__dict__ for p in team.PEOPLE],
            "commands": list(self.commands.values()),
            "clock": {
                "now": self.clock.now(),
                "offset": self.clock.offset,
                "available": self.clock.available,
                "reason": self.clock.reason,
            },
            "outage": {"status": outage[0], "left": outage[1]} if outage else None,
            "app": self.status,
            **self.workspace.visible_to(user),
        }

    # -- demo data ------------------------------------------------------------------------

    def wait_reply(self, token: str, timeout: float = 15.0) -> str:
        """The text of the first response_url reply to a command."""
        deadline = time.monotonic() + timeout
        version = -1
        while time.monotonic() < deadline:
            for call in self.workspace.calls_to("response_url"):
                if call.args.get("token") == token:
                    return str(call.args.get("text") or "")
            version = self.workspace.wait_change(version, 0.5)
        raise DemoError("the app did not answer in time")

    def run(self, user: str, channel: str, line: str) -> str:
        result = self.command(user, channel, line)
        if not result.get("ok"):
            raise DemoError(f"{line}: {result.get('error')}")
        return self.wait_reply(result["token"])

    def seed(self) -> dict[str, Any]:
        """A case with its whole team, a medication and a thread message, made by sending
        the commands a person would type (nothing is written to the database)."""
        care = "C0CARE"
        created = self.run("U0PRIYA", care, "/case create Blue Heron as prescriber")
        found = re.search(r"\bC-\d+\b", created)
        if not found:
            raise DemoError(f"could not read the new case id from: {created}")
        case = found.group(0)
        for handle, role in (
            ("tom", "therapist"),
            ("carmen", "case-manager"),
            ("paul", "pcp"),
            ("fiona", "pharmacist"),
        ):
            self.run("U0PRIYA", care, f"/case add {case} @{handle} {role}")
        self.run("U0PRIYA", care, f"/case med {case} add sertraline 50 mg every morning")
        card = self._card(care, case)
        if card is not None:
            self.message(
                "U0TOM",
                care,
                "Saw them today: sleeping badly since the dose went up. Will report it.",
                card.ts,
            )
        return {"ok": True, "case": case}

    def _card(self, channel: str, case: str) -> Message | None:
        with self.workspace._lock:
            return next(
                (
                    m
                    for m in self.workspace.messages
                    if m.channel == channel
                    and m.user == BOT_USER
                    and m.thread_ts is None
                    and m.ephemeral_to is None
                    and re.search(rf"\b{case}\b", m.text)
                ),
                None,
            )
