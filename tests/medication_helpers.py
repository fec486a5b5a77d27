"""Steps of the medication-change tests: opening the medication form through `/case med` (or
a side-effect plan's button) and submitting it as Slack would, with what the form prefilled."""

from __future__ import annotations

from typing import Any

from bot.ids import BlockId, Callback
from devtools.slackreq import select_value, text_value

TEXT_BLOCKS = {
    "name": BlockId.MED_NAME,
    "detail": BlockId.MED_DETAIL,
    "switch_to": BlockId.MED_SWITCH_TO,
    "reason": BlockId.MED_REASON,
    "targets": BlockId.MED_TARGETS,
    "watch": BlockId.MED_WATCH,
    "taper": BlockId.MED_TAPER,
    "remeasure": BlockId.MED_REMEASURE,
}


def open_med_form(h, user: str, text: str) -> dict[str, Any]:
    """`/case <text>` must open the medication form; returns the view it opened."""
    before = len(h.slack.calls_to("views.open"))
    h.command(user, text)
    opened = h.slack.calls_to("views.open")
    assert len(opened) == before + 1, f"no modal opened; reply: {h.replies()[-1:]}"
    return h.last_view()


def blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if "block_id" in b}


def med_option(view: dict[str, Any], name: str) -> str:
    for option in blocks_by_id(view)[BlockId.MED_PICK]["element"]["options"]:
        if option["text"]["text"] == name:
            return option["value"]
    raise AssertionError(f"{name} not offered")


def submit_med_form(h, user: str, view: dict[str, Any], *, pick: str | None = None, **fields: str) -> Any:
    """Submit `view` as Slack would: its prefilled values, overridden by `fields` (text
    fields by name, `kind`) and `pick` (the medication's name, from the case's list)."""
    blocks = blocks_by_id(view)
    values: dict[str, dict[str, Any]] = {}
    for name, block_id in TEXT_BLOCKS.items():
        if block_id in blocks:
            initial = blocks[block_id]["element"].get("initial_value", "")
            values[block_id] = text_value(fields.get(name, initial))
    if BlockId.MED_KIND in blocks:
        values[BlockId.MED_KIND] = select_value(fields.get("kind", "prescription"))
    if BlockId.MED_PICK in blocks:
        initial = blocks[BlockId.MED_PICK]["element"].get("initial_option") or {}
        values[BlockId.MED_PICK] = select_value(med_option(view, pick) if pick else initial.get("value"))
    return h.submit(user, Callback.MEDICATION_FORM, values, private_metadata=view["private_metadata"])
