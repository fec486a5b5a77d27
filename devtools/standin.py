"""A local stand-in for Slack's Web API, for tests, benchmarks and trying the app by hand.

It speaks the same HTTP as slack.com/api (form or JSON bodies, `{"ok": ...}` answers,
429 with Retry-After), records every call, and can be told to fail for a while or to
enforce a per-channel rate limit, or to answer 429/500 to everything for a while (an
outage). Channels have members (`add_channel`; conversations.info/members/create/invite/
kick/archive/join/open keep them), so code that checks who can read a channel works against
it. Response URLs of slash commands point at it too.

Run it by hand: `make standin` (or `python -m devtools.standin --port 3001`), set
SLACK_API_URL=http://127.0.0.1:3001/api/ and look at http://127.0.0.1:3001/calls.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlparse

BOT_USER = "UBOTCARE1"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    status: int
    error: str
    retry_after: int | None
    remaining: int


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = True
    is_im: bool = False
    members: set[str] = field(default_factory=set)
    archived: bool = False
    user: str | None = None  # an IM's other party
    is_ext_shared: bool = False  # shared with another organization (Slack Connect)

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private and not self.is_im,
            "is_im": self.is_im,
            "is_private": self.is_private or self.is_im,
            "is_archived": self.archived,
            "is_ext_shared": self.is_ext_shared,
            "is_member": BOT_USER in self.members,
            "num_members": len(self.members),
        }
        if self.is_im:
            data["user"] = self.user
        return data


class StandInSlack:
    """Thread-safe recorder and responder; `serve()` puts it on a loopback port."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.errors: dict[tuple[str, str], str] = {}  # (method, channel) -> error, permanent
        self.rate_limit_per_channel: float | None = None  # messages per second
        self._last_post: dict[str, float] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Condition()
        self.server: ThreadingHTTPServer | None = None
        self.uploads: dict[str, bytes] = {}
        self.held: dict[str, threading.Event] = {}  # method -> released when set
        self.usergroups: dict[str, set[str]] = {}  # usergroups.users.list: group id -> user ids
        self.channels: dict[str, Channel] = {}
        self._outage: tuple[float, int, int | None] | None = None  # (until, status, retry_after)

    # -- control ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        if isinstance(host, bytes):  # socketserver types the address loosely; ours is AF_INET
            host = host.decode()
        return f"http://{host}:{port}/"

    @property
    def api_url(self) -> str:
        return self.url + "api/"

    def add_user(
        self, user_id: str, *, tz: str = "America/New_York", is_bot: bool = False, deleted: bool = False
    ) -> None:
        self.users[user_id] = {
            "id": user_id,
            "tz": tz,
            "is_bot": is_bot,
            "deleted": deleted,
            "name": user_id.lower(),
        }

    def fail(
        self,
        method: str,
        *,
        status: int = 500,
        error: str = "internal_error",
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        with self._lock:
            self.faults[method].append(Fault(status, error, retry_after, times))

    def hold(self, method: str) -> None:
        """Calls of `method` wait (up to 30 s) until `release(method)`: Slack being slow."""
        self.held.setdefault(method, threading.Event())

    def release(self, method: str) -> None:
        held = self.held.pop(method, None)
        if held is not None:
            held.set()

    def outage(self, status: int = 500, *, seconds: float = 30.0, retry_after: int | None = None) -> None:
        """Every Web API method answers `status` (429 with Retry-After, or a 5xx) for `seconds`."""
        with self._lock:
            self._outage = (time.monotonic() + seconds, status, retry_after)

    def outage_left(self) -> tuple[int, float] | None:
        """(status, seconds left) while an outage lasts, else None."""
        with self._lock:
            if self._outage is None:
                return None
            until, status, _retry = self._outage
            left = until - time.monotonic()
            if left <= 0:
                self._outage = None
                return None
            return status, left

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    def add_channel(
        self, channel_id: str, *, name: str, members: Iterable[str] = (), is_private: bool = True
    ) -> Channel:
        """A channel with these members (user ids; include BOT_USER if the app is in it)."""
        with self._lock:
            channel = Channel(channel_id, name, is_private=is_private, members=set(members))
            self.channels[channel_id] = channel
            return channel

    def refuse(self, method: str, channel: str, error: str) -> None:
        """Every call of `method` to `channel` answers ok:false with `error` (permanent)."""
        self.errors[(method, channel)] = error

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self.calls if c.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} call(s) to {method}, got {len(found)}; all calls: "
                        f"{dict(Counter(c.method for c in self.calls))}"
                    )
                self._lock.wait(remaining)

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.faults.clear()
            self.errors.clear()
            self.channels.clear()
            self.usergroups.clear()
            self._outage = None
        for method in list(self.held):
            self.release(method)

    # -- serving ------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                if parsed.path == "/calls/count":  # how many calls to ?method= (a benchmark's poll)
                    method = parse_qs(parsed.query).get("method", [""])[0]
                    count = sum(1 for c in list(standin.calls) if c.method == method)
                    self._send(200, json.dumps({"count": count}).encode(), "application/json")
                elif self.path.startswith("/calls"):
                    body = json.dumps([{"method": c.method, "args": c.args} for c in standin.calls], indent=1)
                    self._send(200, body.encode(), "application/json")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = urlparse(self.path).path
                if path.startswith("/upload/"):
                    standin.uploads[path.rsplit("/", 1)[-1]] = raw
                    standin._record("upload", {"file_id": path.rsplit("/", 1)[-1], "size": len(raw)})
                    self._send(200, b"OK - uploaded", "text/plain")
                    return
                args = _parse_body(raw, self.headers.get("Content-Type", ""))
                if path.startswith("/respond/"):
                    standin._wait_if_held("response_url")
                    fault = standin._fault("response_url")
                    if fault is not None:
                        self._send(fault.status, fault.error.encode(), "text/plain")
                        return
                    if standin.response_url(path.rsplit("/", 1)[-1], args):
                        self._send(200, b"ok", "text/plain")
                    else:
                        self._send(404, b"expired_url", "text/plain")
                    return
                method = path.removeprefix("/api/")
                standin._wait_if_held(method)
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer "):
                    args.setdefault("token", auth[7:])
                status, payload, headers = standin._answer(method, args)
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            request_queue_size = 512  # the default of 5 refuses connections under a benchmark's load

        self.server = Server((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="standin-slack", daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- behavior ----------------------------------------------------------------------------

    def response_url(self, token: str, args: dict[str, Any]) -> bool:
        """A POST to a response_url; False answers 404 (an unknown or expired URL)."""
        self._record("response_url", {**args, "token": token})
        return True

    def _record(self, method: str, args: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(Call(method, args))
            self._lock.notify_all()

    def _wait_if_held(self, method: str) -> None:
        held = self.held.get(method)
        if held is not None:
            held.wait(30)

    def _fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def _answer(self, method: str, args: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            if self._outage is not None and time.monotonic() < self._outage[0]:
                _until, status, retry_after = self._outage
                headers = {"Retry-After": str(retry_after or 1)} if status == 429 else {}
                error = "ratelimited" if status == 429 else "internal_error"
                return status, {"ok": False, "error": error}, headers
        fault = self._fault(method)
        with self._lock:
            if fault is not None:
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                return fault.status, {"ok": False, "error": fault.error}, headers
            channel = str(args.get("channel", ""))
            if (method, channel) in self.errors:
                return 200, {"ok": False, "error": self.errors[(method, channel)]}, {}
            if method == "chat.postMessage" and self.rate_limit_per_channel:
                now = time.monotonic()
                gap = 1.0 / self.rate_limit_per_channel
                last = self._last_post.get(channel)
                if last is not None and now - last < gap:
                    wait = gap - (now - last)
                    return (
                        429,
                        {"ok": False, "error": "ratelimited"},
                        {"Retry-After": str(max(1, round(wait)))},
                    )
                self._last_post[channel] = now
            if method.startswith("conversations."):
                refused = self._conversations(method, args)
                if refused is not None:
                    return 200, {"ok": False, "error": refused}, {}
        self._record(method, args)
        return 200, self._ok(method, args), {}

    def _conversation_answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if method == "conversations.create":
                channel_id = "C" + uuid.uuid4().hex[:10].upper()
                private = str(args.get("is_private", "")).lower() in ("true", "1")
                created = Channel(
                    channel_id, str(args.get("name", "")), is_private=private, members={BOT_USER}
                )
                self.channels[channel_id] = created
                return {"ok": True, "channel": created.info()}
            channel_id = str(args.get("channel", ""))
            channel = self.channels.get(channel_id)
            if channel is None and method in ("conversations.info", "conversations.members"):
                # A channel no test described: a private one with only the app in it, so a
                # case created there is open (its team is not in the channel at all).
                channel = Channel(channel_id, channel_id.lower(), members={BOT_USER})
            if channel is None:
                return {"ok": True}
            if method == "conversations.members":
                return _page_of(sorted(channel.members), str(args.get("cursor") or ""), args.get("limit"))
            return {"ok": True, "channel": channel.info()}

    def _new_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    @staticmethod
    def _view_id() -> str:
        return "V" + uuid.uuid4().hex[:12].upper()

    def _im(self, user: str) -> Channel:
        """The app's DM with `user` (called with the lock held)."""
        im_id = "D" + user[1:]
        im = self.channels.get(im_id)
        if im is None:
            im = Channel(im_id, user, is_private=True, is_im=True, members={user, BOT_USER}, user=user)
            self.channels[im_id] = im
        return im

    def _conversations(self, method: str, args: dict[str, Any]) -> str | None:
        """Keep the membership model; an error code when Slack would refuse (lock held)."""
        name = method.removeprefix("conversations.")
        if name == "open":
            users = [u for u in str(args.get("users", "")).split(",") if u]
            if len(users) == 1:
                self._im(users[0])
            return None
        if name == "create":
            wanted = str(args.get("name", ""))
            if any(c.name == wanted for c in self.channels.values()):
                return "name_taken"
            return None
        channel_id = str(args.get("channel", ""))
        channel = self.channels.get(channel_id)
        if channel is None and channel_id.startswith("D"):
            channel = self._im("U" + channel_id[1:])
        if channel is None:
            # Channels nobody declared: join works; info and members describe a private
            # channel with only the app in it (see _conversation_answer).
            return None if name in ("join", "info", "members") else "channel_not_found"
        if channel.archived and name in ("invite", "kick", "join"):
            return "is_archived"
        if name == "invite":
            users = [u for u in str(args.get("users", "")).split(",") if u]
            if users and all(u in channel.members for u in users):
                return "already_in_channel"
            channel.members.update(users)
        elif name == "kick":
            user = str(args.get("user", ""))
            if user not in channel.members:
                return "not_in_channel"
            channel.members.discard(user)
        elif name == "join":
            channel.members.add(BOT_USER)
        elif name == "archive":
            if channel.archived:
                return "already_archived"
            channel.archived = True
        elif name == "unarchive":
            channel.archived = False
        return None

    def _ok(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel", ""))
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "BCARE",
                "team_id": "T0CLINIC",
                "team": "Clinic",
            }
        if method in ("chat.postMessage", "chat.update"):
            ts = args.get("ts") or self._new_ts()
            if channel.startswith(("U", "W")):
                channel = "D" + channel[1:]
            return {"ok": True, "channel": channel, "ts": ts, "message": {"text": args.get("text")}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": self._new_ts()}
        if method in ("views.open", "views.publish", "views.update", "views.push"):
            view = args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            view_id = args.get("view_id") if method == "views.update" else None
            return {"ok": True, "view": {**view, "id": view_id or self._view_id()}}
        if method == "users.info":
            user_id = str(args.get("user", ""))
            user = self.users.get(user_id)
            if user is None:
                return {
                    "ok": True,
                    "user": {
                        "id": user_id,
                        "tz": "America/New_York",
                        "is_bot": user_id == BOT_USER,
                        "deleted": False,
                    },
                }
            return {"ok": True, "user": user}
        if method == "conversations.open":
            users = str(args.get("users", ""))
            return {"ok": True, "channel": {"id": "D" + users.split(",")[0][1:]}}
        if method == "conversations.join":
            return {"ok": True, "channel": {"id": channel}}
        if method.startswith("conversations."):
            return self._conversation_answer(method, args)
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts):08d}"
            return {"ok": True, "upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": [{"id": f.get("id")} for f in _as_list(args.get("files"))]}
        if method == "chat.getPermalink":
            return {"ok": True, "permalink": f"https://example.slack.com/archives/{channel}/p1"}
        if method == "usergroups.users.list":
            group = str(args.get("usergroup", ""))
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": sorted(self.usergroups[group])}
        return {"ok": True}


def _page_of(members: list[str], cursor: str, limit: Any) -> dict[str, Any]:
    """conversations.members answers in pages of `limit` (100 by default), with a cursor."""
    start = int(cursor) if cursor.isdigit() else 0
    size = max(1, int(limit)) if str(limit or "").isdigit() else 100
    page, more = members[start : start + size], start + size < len(members)
    return {
        "ok": True,
        "members": page,
        "response_metadata": {"next_cursor": str(start + size) if more else ""},
    }


def _as_list(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return []
    return value if isinstance(value, list) else []


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" in content_type:
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {"_": data}
        except json.JSONDecodeError:
            return {}
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    for key in ("blocks", "view", "attachments", "files", "payload"):
        if isinstance(args.get(key), str):
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(args[key])
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=3001)
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="chat.postMessage per second per channel"
    )
    options = parser.parse_args()
    standin = StandInSlack()
    standin.rate_limit_per_channel = options.rate_limit
    standin.serve(port=options.port)
    print(f"Stand-in Slack Web API on {standin.api_url} (calls: {standin.url}calls). Ctrl-C to stop.")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.close()


if __name__ == "__main__":
    main()
