"""The one thin wrapper for synchronous Slack calls that cannot wait for the outbox:
opening a modal (a trigger_id expires in 3 s), publishing the Home tab, reading users.

Everything that tells people something durable goes through the outbox instead.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine

from bot.clock import Clock
from storage.db import session_scope
from storage.models import SlackUser

log = logging.getLogger(__name__)
USER_CACHE_TTL = timedelta(hours=12)


class SlackUnavailable(Exception):
    """Slack did not answer a synchronous call; the caller tells the user to try again."""


class SlackGateway:
    def __init__(self, client: WebClient, engine: Engine, clock: Clock) -> None:
        self.client = client
        self.engine = engine
        self.clock = clock

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self._call("views_open", trigger_id=trigger_id, view=view)

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

    def user(self, user_id: str) -> SlackUser:
        """users.info facts, cached in the database for a few hours."""
        now = self.clock.now()
        with session_scope(self.engine) as session:
            cached = session.get(SlackUser, user_id)
            if cached is not None and now - cached.fetched_at < USER_CACHE_TTL:
                return cached
        data = self._call("users_info", user=user_id).get("user") or {}
        with session_scope(self.engine) as session:
            row = session.get(SlackUser, user_id) or SlackUser(user_id=user_id, fetched_at=now)
            row.tz = str(data.get("tz") or "UTC")
            row.is_bot = bool(data.get("is_bot")) or user_id == "USLACKBOT"
            row.deleted = bool(data.get("deleted"))
            row.fetched_at = now
            session.add(row)
        return row

    def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = getattr(self.client, method)(**kwargs)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("Slack %s failed: %s", method, exc)
            raise SlackUnavailable(method) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}
