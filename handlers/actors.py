"""Who is asking, read from each kind of Slack payload."""

from __future__ import annotations

from typing import Any

from bot.auditlog import Source
from bot.unit import Actor


def from_command(body: dict[str, Any]) -> Actor:
    return Actor(
        user_id=body.get("user_id", "?"),
        team_id=body.get("team_id"),
        source=Source.COMMAND,
        correlation_id=body.get("trigger_id"),
    )


def from_interaction(body: dict[str, Any], source: Source) -> Actor:
    user = body.get("user") or {}
    team = body.get("team") or {}
    correlation = body.get("trigger_id") or (body.get("view") or {}).get("id")
    return Actor(
        user_id=user.get("id", "?"),
        team_id=team.get("id") or user.get("team_id"),
        source=source,
        correlation_id=correlation,
    )


def from_event(body: dict[str, Any], user_id: str | None, source: Source) -> Actor:
    return Actor(
        user_id=user_id or "?",
        team_id=body.get("team_id"),
        source=source,
        correlation_id=body.get("event_id"),
    )
