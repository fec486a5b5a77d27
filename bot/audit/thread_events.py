"""Reading Slack `message` events into ThreadActivity (payload shapes, nothing else).

Shapes (Events API, `message.channels` / `message.groups`):
- a reply: `{type: message, user, text, ts, thread_ts}`; `subtype` absent, or
  `thread_broadcast` (also sent to the channel), `file_share` (with `files`), `me_message`;
- an edit: `{subtype: message_changed, message: {user, text, ts, thread_ts, edited}, previous_message}`;
  Slack also sends message_changed for unfurls and reply counts, with the text unchanged;
- a deletion: `{subtype: message_deleted, deleted_ts, previous_message: {user, text, thread_ts}}`
  (Slack does not say who deleted it).
Bots' messages (ours are audited as deliveries) and every other subtype are not people's
messages and give None.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.audit.transcript import FileFacts, ThreadActivity
from storage.audit import EntryKind

NEW_MESSAGE_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def read_thread_activity(event: dict[str, Any], now: datetime) -> ThreadActivity | None:
    subtype = event.get("subtype") if isinstance(event.get("subtype"), str) else None
    if "subtype" in event and subtype is None and event["subtype"] is not None:
        return None  # a subtype we cannot read is not a person's message
    raw_channel = event.get("channel")
    channel = raw_channel if isinstance(raw_channel, str) else ""
    if subtype in NEW_MESSAGE_SUBTYPES:
        return _activity(event, channel, event, None, now)
    if subtype == "message_changed":
        message, previous = _dict(event.get("message")), _dict(event.get("previous_message"))
        unchanged = message.get("text") == previous.get("text") and _file_ids(message) == _file_ids(previous)
        if unchanged and not message.get("edited"):
            return None  # an unfurl or a reply count, not an edit
        edited_at = _dict(message.get("edited")).get("ts") or event.get("event_ts") or event.get("ts")
        return _activity(message, channel, event, EntryKind.EDITED, now, at=_when(edited_at, now))
    if subtype == "message_deleted":
        previous = dict(_dict(event.get("previous_message")))
        previous["ts"] = event.get("deleted_ts") or previous.get("ts")
        deleted_at = _when(event.get("event_ts") or event.get("ts"), now)
        return _activity(previous, channel, event, EntryKind.DELETED, now, at=deleted_at)
    return None


def _activity(
    message: dict[str, Any],
    channel: str,
    event: dict[str, Any],
    kind: EntryKind | None,
    now: datetime,
    *,
    at: datetime | None = None,  # None: when the message was posted (its ts)
) -> ThreadActivity | None:
    if _from_a_bot(message) or _from_a_bot(event):
        return None
    thread_ts, ts, user = message.get("thread_ts"), message.get("ts"), message.get("user")
    readable = isinstance(thread_ts, str) and isinstance(ts, str) and isinstance(user, str)
    if not (readable and channel and thread_ts and ts and user) or thread_ts == ts:
        return None  # not a reply in a thread (a thread's root is the card itself)
    files = tuple(_file(f) for f in _list(message.get("files")) if isinstance(f, dict) and f.get("id"))
    if kind is None:
        kind = EntryKind.FILE_SHARED if files else EntryKind.POSTED
    return ThreadActivity(
        kind=kind,
        channel=channel,
        thread_ts=thread_ts,
        message_ts=ts,
        user_id=user[:32],
        at=at or _when(ts, now),
        text=message.get("text") if isinstance(message.get("text"), str) else None,
        files=files,
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _from_a_bot(payload: dict[str, Any]) -> bool:
    return bool(payload.get("bot_id")) or str(payload.get("subtype")) == "bot_message"


def _file(raw: dict[str, Any]) -> FileFacts:
    size = raw.get("size")
    return FileFacts(
        id=str(raw["id"]),
        name=str(raw.get("name") or raw.get("title") or ""),
        mimetype=raw.get("mimetype"),
        size=size if isinstance(size, int) else None,
    )


def _file_ids(message: dict[str, Any]) -> list[str]:
    return [str(f.get("id")) for f in _list(message.get("files")) if isinstance(f, dict)]


def _when(ts: Any, now: datetime) -> datetime:
    """Slack's `ts` is seconds since the epoch as a string; our clock if it is unreadable."""
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
