"""The one thin wrapper for synchronous Slack calls that cannot wait for the outbox:
opening a modal (a trigger_id expires in 3 s), publishing the Home tab, reading users.

Everything that tells people something durable goes through the outbox instead.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot.clock import Clock
from storage.core import SlackUser
from storage.db import session_scope

log = logging.getLogger(__name__)
USER_CACHE_TTL = timedelta(hours=12)
GROUP_CACHE_TTL = timedelta(minutes=5)  # a user group's members: brief, so a change applies soon


class SlackUnavailable(Exception):
    """A synchronous Slack call failed. `error` is Slack's error code when Slack answered
    and refused (e.g. "user_not_found"), None when it did not answer at all."""

    def __init__(self, method: str, error: str | None = None) -> None:
        super().__init__(f"{method}: {error or 'no answer'}")
        self.method = method
        self.error = error


class SlackGateway:
    def __init__(self, client: WebClient, engine: Engine, clock: Clock) -> None:
        self.client = client
        self.engine = engine
        self.clock = clock
        self._groups: dict[str, tuple[Any, frozenset[str]]] = {}  # group id -> (fetched at, members)
        self._groups_lock = threading.Lock()

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views_open", trigger_id=trigger_id, view=view)

    def update_view(self, view_id: str, view: dict[str, Any], *, view_hash: str | None = None) -> None:
        """Rebuild an open modal (e.g. after a field that changes the others was picked)."""
        kwargs: dict[str, Any] = {"view_id": view_id, "view": view}
        if view_hash:
            kwargs["hash"] = view_hash
        self._call("views_update", **kwargs)

    def publish_home(self, user_id: str, view: dict[str, Any]) -> None:
        self._call("views_publish", user_id=user_id, view=view)

    def post_now(self, channel: str, message: dict[str, Any]) -> None:
        """chat.postMessage right away, for the one message that cannot use the outbox: the
        alert that the audit trail itself cannot be written (the outbox records deliveries
        in it). Everything else goes through the outbox."""
        self._call("chat_postMessage", channel=channel, **message)

    def send_file_dm(self, user_id: str, *, filename: str, content: bytes, title: str, comment: str) -> str:
        """A file to the user's DM with the app, by Slack's external upload flow
        (files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal).

        Too big and too sensitive to queue in the outbox, so it is sent now; the caller has
        recorded the export before calling and records the outcome after. Returns the file id.
        """
        dm = self._call("conversations_open", users=user_id).get("channel") or {}
        done = self._call(
            "files_upload_v2",
            channel=dm.get("id") or user_id,
            filename=filename,
            content=content,
            title=title,
            initial_comment=comment,
        )
        return str((done.get("file") or {}).get("id") or "")

    def channel_info(self, channel: str) -> dict[str, Any]:
        """conversations.info: is the channel private, shared outside the organization, archived?"""
        return self._call("conversations_info", channel=channel).get("channel") or {}

    def channel_members(self, channel: str) -> list[str]:
        """conversations.members, every page: who can read the channel (bots included)."""
        members: list[str] = []
        cursor: str | None = None
        while True:
            kwargs: dict[str, Any] = {"channel": channel, "limit": 200}
            if cursor:
                kwargs["cursor"] = cursor
            data = self._call("conversations_members", **kwargs)
            members.extend(str(m) for m in data.get("members") or [])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return members

    def create_private_channel(self, name: str, *, tries: int = 5) -> tuple[str, str]:
        """conversations.create (is_private): the app is its creator and first member.
        A taken name gets a suffix (`case-c-12-2`, ...). Returns (channel id, name used).
        Raises SlackUnavailable."""
        for attempt in range(1, tries + 1):
            wanted = name if attempt == 1 else f"{name}-{attempt}"
            try:
                data = self._call("conversations_create", name=wanted, is_private=True)
            except SlackUnavailable as exc:
                if exc.error == "name_taken" and attempt < tries:
                    continue
                raise
            return str((data.get("channel") or {}).get("id") or ""), wanted
        raise SlackUnavailable("conversations.create", "name_taken")  # pragma: no cover

    def usergroup_members(self, group_id: str) -> frozenset[str]:
        """usergroups.users.list, cached in this process for a few minutes (it is asked on
        every prescriber grant when CARETHREAD_PRESCRIBERS names a group). Raises
        SlackUnavailable; the caller refuses the grant then (fail closed)."""
        now = self.clock.now()
        with self._groups_lock:
            cached = self._groups.get(group_id)
        if cached is not None and now - cached[0] < GROUP_CACHE_TTL:
            return cached[1]
        data = self._call("usergroups_users_list", usergroup=group_id)
        members = frozenset(str(u) for u in data.get("users") or [])
        with self._groups_lock:
            self._groups[group_id] = (now, members)
        return members

    def user(self, user_id: str, *, session: Session | None = None) -> SlackUser:
        """users.info facts, cached in the database for a few hours.

        Inside a unit, pass `unit.session`: the cache is then read and written in that
        transaction. (On SQLite a second transaction would wait for the unit's write lock.)
        """
        if session is not None:
            return self._user(session, user_id)
        with session_scope(self.engine) as own:
            return self._user(own, user_id)

    def _user(self, session: Session, user_id: str) -> SlackUser:
        now = self.clock.now()
        cached = session.get(SlackUser, user_id)
        if cached is not None and now - cached.fetched_at < USER_CACHE_TTL:
            return cached
        data = self._call("users_info", user=user_id).get("user") or {}
        row = cached
        if row is None:
            try:
                with (
                    session.begin_nested()
                ):  # a savepoint: a lost race must not spoil the caller's transaction
                    row = SlackUser(user_id=user_id, fetched_at=now)
                    session.add(row)
            except IntegrityError:  # another thread or replica cached this user at the same moment
                row = session.get(SlackUser, user_id, populate_existing=True)
                if row is None:
                    raise
        row.tz = str(data.get("tz") or "UTC")
        row.is_bot = bool(data.get("is_bot")) or user_id == "USLACKBOT"
        row.deleted = bool(data.get("deleted"))
        row.fetched_at = now
        session.add(row)
        session.flush()
        return row

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            log.warning("Slack %s failed: %s", method, exc)
            error = exc.response.get("error") if exc.response.status_code < 500 else None
            raise SlackUnavailable(method, error if isinstance(error, str) else None) from exc
        except (SlackClientError, OSError) as exc:
            log.warning("Slack %s failed: %s", method, exc)
            raise SlackUnavailable(method) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}
