"""Steps of the side-effect relay tests: their care team, and opening and filling in the report
form. The harness (tests/support.py) reads back what Slack, the database and the audit trail
hold."""

from __future__ import annotations

import json
from typing import Any

from bot.ids import BlockId, Callback
from devtools.slackreq import checkboxes_value, date_value, select_value, text_value

THERAPIST = "U0THERA"
P1 = "U0PRESC1"
P2 = "U0PRESC2"
CM = "U0CASEM"
OUTSIDER = "U0OUTSIDE"

#: The relay's care team for `care_team()`: the therapist creates the case, two prescribers and a
#: case manager join.
TEAM = {THERAPIST: "therapist", P1: "prescriber", P2: "prescriber", CM: "case-manager"}
MEDS = ("sertraline 50 mg every morning",)


def open_form(h, user: str, text: str) -> dict[str, Any]:
    before = len(h.slack.calls_to("views.open"))
    h.command(user, text, command="/sideeffect")
    opened = h.slack.calls_to("views.open")
    assert len(opened) == before + 1, f"no modal opened; reply: {h.replies()[-1:]}"
    return opened[-1].args["view"]


def block(view: dict[str, Any], block_id: str) -> dict[str, Any]:
    found = [b for b in view["blocks"] if b.get("block_id") == block_id]
    assert found, f"no block {block_id} in {[b.get('block_id') for b in view['blocks']]}"
    return found[0]


def option_values(view: dict[str, Any], block_id: str) -> list[str]:
    return [o["value"] for o in block(view, block_id)["element"]["options"]]


def medication_value(view: dict[str, Any], name: str) -> str:
    for opt in block(view, BlockId.SE_MEDICATION)["element"]["options"]:
        if opt["text"]["text"] == name:
            return opt["value"]
    raise AssertionError(f"{name} not offered")


def report_values(
    *,
    medication: str | None = None,
    other_medication: str | None = None,
    symptoms: tuple[str, ...] = ("nausea",),
    more_symptoms: tuple[str, ...] = (),
    other_symptoms: str | None = None,
    onset: str | None = "2026-11-20",
    frequency: str | None = "3",
    intensity: str | None = "2",
    burden: str | None = "4",
    red_flags: tuple[str, ...] = (),
    notes: str | None = None,
    case: str | None = None,
) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, Any]] = {
        BlockId.SE_MEDICATION: select_value(medication),
        BlockId.SE_MEDICATION_OTHER: text_value(other_medication or ""),
        BlockId.chunk(BlockId.SE_SYMPTOMS, 0): checkboxes_value(list(symptoms)),
        BlockId.chunk(BlockId.SE_SYMPTOMS, 1): checkboxes_value(list(more_symptoms)),
        BlockId.SE_SYMPTOMS_OTHER: text_value(other_symptoms or ""),
        BlockId.SE_ONSET: date_value(onset),
        BlockId.SE_FREQUENCY: select_value(frequency),
        BlockId.SE_INTENSITY: select_value(intensity),
        BlockId.SE_BURDEN: select_value(burden),
        BlockId.chunk(BlockId.SE_RED_FLAGS, 0): checkboxes_value(list(red_flags)),
        BlockId.SE_NOTES: text_value(notes or ""),
    }
    if case is not None:
        values[BlockId.SE_CASE] = select_value(case)
    return values


def submit_report(h, user: str, case_id: int | None, view_id: str | None = None, **fields: Any):
    metadata = "" if case_id is None else json.dumps({"case": case_id})
    return h.submit(
        user,
        Callback.SIDE_EFFECT_REPORT,
        report_values(**fields),
        private_metadata=metadata,
        view_id=view_id,
    )


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        element.get("action_id")
        for b in message.get("blocks") or []
        if b.get("type") == "actions"
        for element in b.get("elements", [])
    ]
