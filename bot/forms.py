"""Reading values out of a submitted modal's state (Slack payload shape, nothing else).

Core, not a listener helper: listeners and the workflows' own forms modules (which validate a
submitted form into a use-case's input) both read modal state, and bot/ must not import
handlers/ (docs/architecture.md, "Import direction"), so the one reader lives here."""

from __future__ import annotations

from typing import Any

VALUE = "value"  # every input in our modals uses this action_id


def _element(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(VALUE) or {}


def text(view: dict[str, Any], block_id: str) -> str:
    return str(_element(view, block_id).get("value") or "")


def option(view: dict[str, Any], block_id: str) -> str | None:
    selected = _element(view, block_id).get("selected_option") or {}
    return selected.get("value")


def options(view: dict[str, Any], block_id: str) -> list[str]:
    return [o.get("value") for o in _element(view, block_id).get("selected_options") or [] if o.get("value")]


def users(view: dict[str, Any], block_id: str) -> list[str]:
    return [u for u in _element(view, block_id).get("selected_users") or [] if isinstance(u, str)]


def date(view: dict[str, Any], block_id: str) -> str | None:
    return _element(view, block_id).get("selected_date")


def metadata(view: dict[str, Any]) -> str:
    return str(view.get("private_metadata") or "")


def user(view: dict[str, Any], block_id: str) -> str | None:
    """A users_select's pick."""
    selected = _element(view, block_id).get("selected_user")
    return selected if isinstance(selected, str) else None
