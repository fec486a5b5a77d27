"""The stand-in Slack, with conversations: what the app sends is kept as a workspace the page
shows, per person.

Every Web API call still goes through `StandInSlack` (recording, faults, outages, channel
membership); on top of that, chat.postMessage/update/delete/postEphemeral keep channels and
threads, views.open/push/update/publish keep each person's modal stack and Home tab,
the external file upload keeps files to download, and POSTs to a response_url become the
ephemeral (or replacing, or deleting) messages Slack would show.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.demo import team
from devtools.standin import BOT_USER, StandInSlack

log = logging.getLogger("carethread.demo")
# Slack: a trigger_id can open a view for 3 seconds. DEMO_TRIGGER_SECONDS relaxes it for a
# loaded machine (the browser test, where Chromium shares two cores with the app).
TRIGGER_SECONDS = float(os.environ.get("DEMO_TRIGGER_SECONDS") or 3.0)
MAX_RECORDED_CALLS = 2000


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    edited: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channel": self.channel,
            "ts": self.ts,
            "user": self.user,
            "is_bot": self.user == BOT_USER,
            "text": self.text,
            "blocks": self.blocks or [],
            "thread_ts": self.thread_ts,
            "ephemeral": self.ephemeral_to is not None,
            "files": self.files,
            "edited": self.edited,
        }
        return data


@dataclass
class Responder:
    """Where a response_url's messages go: the person, the channel, and the message the
    interaction came from (replace_original / delete_original act on it)."""

    user: str
    channel: str
    message_ts: str | None = None
    thread_ts: str | None = None


class Workspace(StandInSlack):
    def __init__(self, now: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.now = now  # the app's (possibly moved) clock, for message timestamps
        self.page_url = "http://127.0.0.1:8080"
        self.changed = threading.Condition()
        self.version = 0
        self._seq = itertools.count(1)
        self.messages: list[Message] = []
        self.modals: dict[str, list[dict[str, Any]]] = {}
        self.view_errors: dict[str, dict[str, str]] = {}  # view id -> block_id -> error
        self.homes: dict[str, dict[str, Any]] = {}
        self.triggers: dict[str, tuple[str, float]] = {}
        self.responders: dict[str, Responder] = {}
        self.file_names: dict[str, dict[str, Any]] = {}
        self.setup_people()

    # -- the workspace --------------------------------------------------------------------

    def setup_people(self) -> None:
        for p in team.PEOPLE:
            self.users[p.id] = {
                "id": p.id,
                "name": p.handle,
                "real_name": p.name,
                "tz": p.tz,
                "is_bot": False,
                "deleted": False,
                "profile": {"real_name": p.name, "display_name": p.handle, "title": p.title},
            }
        for spec in team.CHANNELS:
            self.add_channel(spec.id, name=spec.name, members=spec.members, is_private=spec.is_private)

    def clear(self) -> None:
        """Back to an empty workspace (the demo's reset)."""
        self.reset()
        with self._lock:
            self.messages.clear()
            self.modals.clear()
            self.view_errors.clear()
            self.homes.clear()
            self.triggers.clear()
            self.responders.clear()
            self.file_names.clear()
            self.uploads.clear()
        self.setup_people()
        self.bump()

    def bump(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    def wait_change(self, since: int, timeout: float) -> int:
        with self.changed:
            self.changed.wait_for(lambda: self.version != since, timeout)
            return self.version

    def new_ts(self) -> str:
        """A message ts: the app's clock in seconds, and a sequence number to keep it unique."""
        return f"{int(self.now())}.{next(self._seq) % 1_000_000:06d}"

    def register_trigger(self, user: str) -> str:
        trigger_id = f"{uuid.uuid4().int % 10**13}.{uuid.uuid4().hex}"
        with self._lock:
            self.triggers[trigger_id] = (user, time.monotonic())
        return trigger_id

    def register_responder(self, responder: Responder) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self.responders[token] = responder
        return token

    def im_of(self, user: str) -> str:
        with self._lock:
            return self._im(user).id

    def add_message(self, message: Message) -> Message:
        with self._lock:
            self.messages.append(message)
        self.bump()
        return message

    def find(self, channel: str, ts: str) -> Message | None:
        with self._lock:
            return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    def visible_to(self, user: str) -> dict[str, Any]:
        """What one person's Slack shows: their channels and their DM with the app, with
        the messages they may see (ephemerals only their own), their Home and modal."""
        with self._lock:
            channels = [
                {**c.info(), "members": sorted(c.members)}
                for c in self.channels.values()
                if user in c.members and (not c.is_im or c.user == user)
            ]
            ids = {c["id"] for c in channels}
            messages = [
                m.to_json()
                for m in self.messages
                if m.channel in ids and (m.ephemeral_to is None or m.ephemeral_to == user)
            ]
            stack = self.modals.get(user) or []
            modal = dict(stack[-1]) if stack else None
            if modal is not None:
                modal["errors"] = self.view_errors.get(modal["id"], {})
                modal["stack_depth"] = len(stack)
            return {
                "channels": channels,
                "messages": messages,
                "home": self.homes.get(user),
                "modal": modal,
            }

    # -- views the page acts on -----------------------------------------------------------

    def view_of(self, user: str, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            return next((v for v in self.modals.get(user, []) if v["id"] == view_id), None)

    def after_submission(self, user: str, view_id: str, answer: dict[str, Any]) -> None:
        """Apply a view_submission's response_action (none: close that view)."""
        action = answer.get("response_action")
        with self._lock:
            stack = self.modals.setdefault(user, [])
            index = next((i for i, v in enumerate(stack) if v["id"] == view_id), None)
            if action == "errors":
                self.view_errors[view_id] = {str(k): str(v) for k, v in (answer.get("errors") or {}).items()}
            elif action == "update" and index is not None:
                stack[index] = self._stored_view(answer.get("view") or {}, view_id)
                self.view_errors.pop(view_id, None)
            elif action == "push":
                stack.append(self._stored_view(answer.get("view") or {}))
            elif action == "clear":
                stack.clear()
            elif index is not None:
                del stack[index:]
                self.view_errors.pop(view_id, None)
        self.bump()

    def close_view(self, user: str, view_id: str) -> dict[str, Any] | None:
        with self._lock:
            stack = self.modals.get(user, [])
            index = next((i for i, v in enumerate(stack) if v["id"] == view_id), None)
            if index is None:
                return None
            view = stack[index]
            del stack[index:]
        self.bump()
        return view

    # -- the Web API ----------------------------------------------------------------------

    def _record(self, method: str, args: dict[str, Any]) -> None:
        super()._record(method, args)
        with self._lock:
            if len(self.calls) > MAX_RECORDED_CALLS:
                del self.calls[: len(self.calls) - MAX_RECORDED_CALLS]

    def _new_ts(self) -> str:
        return self.new_ts()

    def _ok(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = {
            "chat.postMessage": self._post,
            "chat.update": self._update,
            "chat.delete": self._delete,
            "chat.postEphemeral": self._ephemeral,
            "chat.getPermalink": self._permalink,
            "views.open": lambda a: self._views("open", a),
            "views.push": lambda a: self._views("push", a),
            "views.update": lambda a: self._views("update", a),
            "views.publish": self._publish,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }.get(method)
        if handler is None:
            return super()._ok(method, args)
        answer = handler(args)
        self.bump()
        return answer

    def _channel_for_post(self, channel: str) -> tuple[str | None, str | None]:
        """(channel id, error) as Slack resolves a chat.* channel argument."""
        with self._lock:
            if channel.startswith(("U", "W")):
                return self._im(channel).id, None
            found = self.channels.get(channel)
            if found is None and channel.startswith("D"):
                found = self._im("U" + channel[1:])
            if found is None:
                return None, "channel_not_found"
            if found.archived:
                return None, "is_archived"
            if found.is_private and BOT_USER not in found.members:
                return None, "not_in_channel"  # chat:write.public covers public channels only
            return found.id, None

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, error = self._channel_for_post(str(args.get("channel", "")))
        if error:
            return {"ok": False, "error": error}
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel,
            self.new_ts(),
            BOT_USER,
            text=str(args.get("text") or ""),
            blocks=_blocks(args.get("blocks")),
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        with self._lock:
            self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": message.to_json()}

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, error = self._channel_for_post(str(args.get("channel", "")))
        if error:
            return {"ok": False, "error": error}
        message = self.find(channel, str(args.get("ts", "")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        with self._lock:
            if "text" in args:
                message.text = str(args.get("text") or "")
            if "blocks" in args:
                message.blocks = _blocks(args.get("blocks"))
            message.edited = True
        return {"ok": True, "channel": channel, "ts": message.ts, "text": message.text}

    def _delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, _error = self._channel_for_post(str(args.get("channel", "")))
        message = self.find(channel or "", str(args.get("ts", "")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        with self._lock:
            self.messages.remove(message)
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, error = self._channel_for_post(str(args.get("channel", "")))
        if error:
            return {"ok": False, "error": error}
        user = str(args.get("user", ""))
        with self._lock:
            if user not in self.channels[channel].members:
                return {"ok": False, "error": "user_not_in_channel"}
        thread_ts = args.get("thread_ts") or None
        message = Message(
            channel,
            self.new_ts(),
            BOT_USER,
            text=str(args.get("text") or ""),
            blocks=_blocks(args.get("blocks")),
            thread_ts=str(thread_ts) if thread_ts else None,
            ephemeral_to=user,
        )
        with self._lock:
            self.messages.append(message)
        return {"ok": True, "message_ts": message.ts}

    def _permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        ts = str(args.get("message_ts", ""))
        return {
            "ok": True,
            "permalink": f"{self.page_url}/archives/{args.get('channel')}/p{ts.replace('.', '')}",
        }

    def _views(self, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        with self._lock:
            if kind == "update":
                view_id = str(args.get("view_id", ""))
                for stack in self.modals.values():
                    for i, old in enumerate(stack):
                        if old["id"] == view_id or (
                            args.get("external_id") and old.get("external_id") == args.get("external_id")
                        ):
                            if args.get("hash") and args["hash"] != old["hash"]:
                                return {"ok": False, "error": "hash_conflict"}
                            stack[i] = self._stored_view(view, old["id"])
                            self.view_errors.pop(old["id"], None)
                            return {"ok": True, "view": stack[i]}
                return {"ok": False, "error": "not_found"}
            trigger = self.triggers.get(str(args.get("trigger_id", "")))
            if trigger is None:
                return {"ok": False, "error": "invalid_trigger_id"}
            user, issued = trigger
            if time.monotonic() - issued > TRIGGER_SECONDS:
                log.warning(
                    "views.%s: trigger_id used %.1f s after it was issued", kind, time.monotonic() - issued
                )
                return {"ok": False, "error": "expired_trigger_id"}
            del self.triggers[str(args.get("trigger_id"))]
            stack = self.modals.setdefault(user, [])
            if kind == "push" and stack:
                stack.append(self._stored_view(view))
            else:
                stack[:] = [self._stored_view(view)]
            return {"ok": True, "view": stack[-1]}

    @staticmethod
    def _stored_view(view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        return {
            **view,
            "id": view_id or "V" + uuid.uuid4().hex[:10].upper(),
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
        }

    def _publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view") or {}
        if isinstance(view, str):
            view = json.loads(view)
        user = str(args.get("user_id", ""))
        with self._lock:
            old = self.homes.get(user)
            self.homes[user] = self._stored_view(view, old["id"] if old else None)
            return {"ok": True, "view": self.homes[user]}

    def _upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        with self._lock:
            self.file_names[file_id] = {"name": str(args.get("filename") or file_id)}
        return {"ok": True, "upload_url": f"{self.url}upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        shared = []
        for f in files or []:
            file_id = str(f.get("id"))
            with self._lock:
                if file_id not in self.uploads:
                    return {"ok": False, "error": "file_not_found"}
                name = self.file_names.get(file_id, {}).get("name", file_id)
                size = len(self.uploads[file_id])
            shared.append(
                {
                    "id": file_id,
                    "name": name,
                    "title": f.get("title") or name,
                    "size": size,
                    "url": f"/files/{file_id}",
                }
            )
        channel_arg = str(args.get("channel_id") or args.get("channels") or "")
        if channel_arg:
            channel, error = self._channel_for_post(channel_arg)
            if error:
                return {"ok": False, "error": error}
            thread_ts = args.get("thread_ts") or None
            message = Message(
                channel,
                self.new_ts(),
                BOT_USER,
                text=str(args.get("initial_comment") or ""),
                thread_ts=str(thread_ts) if thread_ts else None,
                files=shared,
            )
            with self._lock:
                self.messages.append(message)
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in shared]}

    def file(self, file_id: str) -> tuple[str, bytes] | None:
        with self._lock:
            if file_id not in self.uploads:
                return None
            return self.file_names.get(file_id, {}).get("name", file_id), self.uploads[file_id]

    def response_url(self, token: str, args: dict[str, Any]) -> bool:
        super().response_url(token, args)
        answer = self._respond(token, args)
        self.bump()
        return bool(answer.get("ok"))

    def _respond(self, token: str, args: dict[str, Any]) -> dict[str, Any]:
        """A POST to a response_url, as Slack shows it."""
        responder = self.responders.get(token)
        if responder is None:
            return {"ok": False, "error": "expired_url"}
        text, blocks = str(args.get("text") or ""), _blocks(args.get("blocks"))
        with self._lock:
            original = (
                self.find_unlocked(responder.channel, responder.message_ts) if responder.message_ts else None
            )
            if _true(args.get("delete_original")):
                if original is not None:
                    self.messages.remove(original)
                return {"ok": True}
            if _true(args.get("replace_original")) and original is not None:
                original.text, original.blocks, original.edited = text, blocks, True
                return {"ok": True}
            public = args.get("response_type") == "in_channel"
            message = Message(
                responder.channel,
                self.new_ts(),
                BOT_USER,
                text=text,
                blocks=blocks,
                thread_ts=responder.thread_ts,
                ephemeral_to=None if public else responder.user,
            )
            self.messages.append(message)
            if responder.message_ts is None:
                responder.message_ts = message.ts  # a command's later replace_original acts on its reply
        return {"ok": True}

    def find_unlocked(self, channel: str, ts: str | None) -> Message | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)


def _blocks(value: Any) -> list[dict[str, Any]] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, list) else None


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
