"""The `/safety` modal: building it for a case, reading it back strictly (every bad field at
once, as modal field errors; nothing saved from a form Slack should not have let through)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot import forms
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback
from bot.inputs import FieldCheck, clean_text, parse_id
from bot.safety.policy import LEVELS, MAX_FOLLOW_UP_DAYS, MAX_SECTION, METHODS, PLAN_SECTIONS
from bot.safety.service import SafetyForm

PLAN_BLOCKS: dict[str, str] = {
    "warning_signs": BlockId.SAFETY_WARNING_SIGNS,
    "coping": BlockId.SAFETY_COPING,
    "distraction": BlockId.SAFETY_DISTRACTION,
    "help": BlockId.SAFETY_HELP,
    "professionals": BlockId.SAFETY_PROFESSIONALS,
    "environment": BlockId.SAFETY_ENVIRONMENT,
}


def safety_view(deps: Deps, *, case_id: int, case_ref: str, owner: str) -> dict[str, Any]:
    """The form for one case; the follow-up owner starts as the person filling it in."""
    return deps.renderer.view(
        "safety/safety_form",
        callback_id=Callback.SAFETY_FORM,
        metadata=str(case_id),
        case_ref=case_ref,
        block=BlockId,
        methods=list(METHODS.items()),
        levels=list(LEVELS.items()),
        sections=[
            {"block_id": PLAN_BLOCKS[key], "heading": heading, "hint": hint}
            for key, heading, hint in PLAN_SECTIONS
        ],
        max_section=MAX_SECTION,
        owner=owner,
    )


def read_safety(view: dict[str, Any], *, today: date) -> SafetyForm:
    """The submitted form, or FieldErrors naming every bad field."""
    check = FieldCheck()
    case_id = parse_id(forms.metadata(view), stale="This form is out of date. Run `/safety <case>` again.")
    method = forms.option(view, BlockId.SAFETY_METHOD)
    if method not in METHODS:
        check.add(
            BlockId.SAFETY_METHOD,
            "Pick how the risk was assessed (C-SSRS screen, PHQ-9 item 9 or clinical judgment).",
        )
    level = forms.option(view, BlockId.SAFETY_RISK)
    if level not in LEVELS:
        check.add(BlockId.SAFETY_RISK, "Pick the risk level: low, moderate, high or imminent.")
    plan: dict[str, str | None] = {}
    for key, heading, _ in PLAN_SECTIONS:
        block = PLAN_BLOCKS[key]
        text = check(
            block,
            clean_text,
            forms.text(view, block),
            what=heading.lower(),
            limit=MAX_SECTION,
            lines=True,
            field=block,
        )
        plan[key] = text or None
    owner = forms.user(view, BlockId.SAFETY_OWNER)
    if not owner:
        check.add(BlockId.SAFETY_OWNER, "Pick who owns the follow-up (a member of the care team).")
    follow_up = check(
        BlockId.SAFETY_FOLLOW_UP, _follow_up_date, forms.date(view, BlockId.SAFETY_FOLLOW_UP), today
    )
    check.done(case_id=case_id)
    assert method and level and owner and follow_up  # check.done raised otherwise
    return SafetyForm(case_id, method, level, plan, owner, follow_up)


def _follow_up_date(raw: str | None, today: date) -> date:
    if not raw:
        raise BadInput("Pick the follow-up date.")
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise BadInput("Pick the follow-up date from the calendar.") from None
    if day < today:
        raise BadInput("The follow-up date is in the past; pick today or a later day.")
    if (day - today).days > MAX_FOLLOW_UP_DAYS:
        raise BadInput(f"Pick a follow-up date within {MAX_FOLLOW_UP_DAYS} days.")
    return day
