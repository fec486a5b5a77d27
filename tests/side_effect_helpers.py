"""Helpers for the side-effect relay tests: build a care team through the real /case
commands, open and submit the report form, and read what Slack, the database and the
audit trail hold afterwards."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from bot.ids import BlockId, Callback
from devtools.slackreq import checkboxes_value, date_value, select_value, text_value
from storage.cases import Case
from storage.core import AuditEvent, OutboxMessage
from storage.side_effects import SideEffectReport

THERAPIST = "U0THERA"
P1 = "U0PRESC1"
P2 = "U0PRESC2"
CM = "U0CASEM"
OUTSIDER = "U0OUTSIDE"
ADMIN = "U0ADMIN"  # CARETHREAD_ADMINS in tests/conftest.py
CHANNEL = "C0CARE"


def make_case(
    h,
    *,
    creator: str = THERAPIST,
    creator_role: str = "therapist",
    prescribers: tuple[str, ...] = (P1, P2),
    case_managers: tuple[str, ...] = (CM,),
    others: tuple[tuple[str, str], ...] = (),
    meds: tuple[str, ...] = ("sertraline 50 mg every morning",),
    label: str = "Blue Heron",
) -> int:
    h.command(creator, f"create {label} as {creator_role}")
    case_id = latest_case_id(h)
    for index, user in enumerate(prescribers):
        # The creator names the first prescriber; only a prescriber adds the next (issue 11).
        by = creator if index == 0 or creator_role == "prescriber" else prescribers[0]
        h.command(by, f"add C-{case_id} <@{user}> prescriber")
    for user in case_managers:
        h.command(creator, f"add C-{case_id} <@{user}> case-manager")
    for user, role in others:
        h.command(creator, f"add C-{case_id} <@{user}> {role}")
    for med in meds:
        h.command(prescribers[0], f"med C-{case_id} add {med}")
    return case_id


def latest_case_id(h) -> int:
    with Session(h.engine) as session:
        return session.execute(select(Case.id).order_by(Case.id.desc()).limit(1)).scalar_one()


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


def reports(h) -> list[SideEffectReport]:
    with Session(h.engine) as session:
        return list(session.execute(select(SideEffectReport).order_by(SideEffectReport.id)).scalars())


def report(h, report_id: int) -> SideEffectReport:
    with Session(h.engine) as session:
        row = session.get(SideEffectReport, report_id)
        assert row is not None
        return row


def audit(h, action: str | None = None) -> list[AuditEvent]:
    with Session(h.engine) as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            query = query.where(AuditEvent.action == action)
        return list(session.execute(query).scalars())


def outbox(h) -> list[OutboxMessage]:
    with Session(h.engine) as session:
        return list(session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def posts_to(h, channel: str, text_prefix: str | None = None) -> list[dict[str, Any]]:
    return [
        p for p in h.posts(channel) if text_prefix is None or str(p.get("text", "")).startswith(text_prefix)
    ]


def updates_of(h, ts: str) -> list[dict[str, Any]]:
    return [c.args for c in h.slack.calls_to("chat.update") if c.args.get("ts") == ts]


def action_ids(message: dict[str, Any]) -> list[str]:
    return [
        element.get("action_id")
        for b in message.get("blocks") or []
        if b.get("type") == "actions"
        for element in b.get("elements", [])
    ]


def ephemerals(h, user: str) -> list[dict[str, Any]]:
    return [c.args for c in h.slack.calls_to("chat.postEphemeral") if c.args.get("user") == user]


def text_of(message: dict[str, Any]) -> str:
    from conftest import reply_text

    return reply_text(message)
