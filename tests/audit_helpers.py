"""Thread events shaped like Slack's (replies, edits, deletions, file shares) for the audit-trail
tests; cases come from tests/support.py care_team()."""

from __future__ import annotations

import itertools
from typing import Any

from tests.support import CHANNEL

_ts = itertools.count(1)


def next_ts(base: float = 1_790_000_000) -> str:
    """A message ts (seconds since the epoch, Slack's format)."""
    return f"{base + next(_ts):.6f}"


def reply(thread_ts: str, user: str, text: str, *, ts: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": CHANNEL,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts or next_ts(),
        "thread_ts": thread_ts,
        "event_ts": ts or next_ts(),
        **extra,
    }


def edit(original: dict[str, Any], text: str) -> dict[str, Any]:
    edited_ts = next_ts()
    return {
        "type": "message",
        "subtype": "message_changed",
        "channel": CHANNEL,
        "hidden": True,
        "message": {**original, "text": text, "edited": {"user": original["user"], "ts": edited_ts}},
        "previous_message": original,
        "ts": edited_ts,
        "event_ts": edited_ts,
    }


def delete(original: dict[str, Any]) -> dict[str, Any]:
    at = next_ts()
    return {
        "type": "message",
        "subtype": "message_deleted",
        "channel": CHANNEL,
        "hidden": True,
        "deleted_ts": original["ts"],
        "previous_message": original,
        "ts": at,
        "event_ts": at,
    }


def file_share(thread_ts: str, user: str, text: str, name: str) -> dict[str, Any]:
    return reply(
        thread_ts,
        user,
        text,
        subtype="file_share",
        files=[{"id": f"F{next(_ts):06d}", "name": name, "mimetype": "application/pdf", "size": 1234}],
    )
