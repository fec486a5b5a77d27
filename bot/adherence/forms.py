"""The adherence modals: built from the service's choices, read back strictly (every bad field
at once, as modal field errors, nothing saved from a form Slack should not have let through)."""

from __future__ import annotations

import json
from typing import Any

from bot import forms
from bot.adherence.policy import KINDS, PLANS
from bot.adherence.service import AdherenceCard, AdherenceForm, FormChoices
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback
from bot.inputs import FieldCheck, clean_text, whole_number
from bot.side_effects.forms import option

OTHER = "other"
MAX_MEDICATION = 120
MAX_REASON = 2000
MAX_PLAN_NOTE = 1000


def report_view(deps: Deps, choices: FormChoices, *, reason: str | None = None) -> dict[str, Any]:
    """The report form; `reason` (typed after `/adherence C-n`) prefills the patient's words."""
    medication_options = [option(m.text, m.value) for m in choices.medications]
    if medication_options:
        medication_options.append(option("Other (type it below)", OTHER))
    return deps.renderer.view(
        "adherence/adherence_report",
        callback_id=Callback.ADHERENCE_REPORT,
        metadata=json.dumps({"case": choices.case_id}),
        block=BlockId,
        case_ref=choices.case_ref,
        kind_options=[option(label, key) for key, label in KINDS.items()],
        medication_options=medication_options,
        max_medication=MAX_MEDICATION,
        max_reason=MAX_REASON,
        reason=(reason or "")[:MAX_REASON],
    )


def plan_view(deps: Deps, card: AdherenceCard) -> dict[str, Any]:
    return deps.renderer.view(
        "adherence/adherence_plan",
        callback_id=Callback.ADHERENCE_PLAN,
        block=BlockId,
        r=card,
        plan_options=[option(label, key) for key, label in PLANS.items()],
        max_note=MAX_PLAN_NOTE,
    )


def metadata_case(view: dict[str, Any]) -> int | None:
    try:
        case = json.loads(forms.metadata(view) or "{}").get("case")
    except (ValueError, AttributeError):
        return None
    return case if isinstance(case, int) else None


def read_report(view: dict[str, Any]) -> AdherenceForm:
    check = FieldCheck()
    case_id = metadata_case(view)
    if case_id is None:
        raise BadInput("That form no longer points at a case. Open it again with `/adherence <case>`.")
    kind = forms.option(view, BlockId.AD_KIND)
    if kind not in KINDS:
        check.add(BlockId.AD_KIND, "Pick how the patient is taking the medication.")
    med_choice = forms.option(view, BlockId.AD_MEDICATION)
    other = check(
        BlockId.AD_MEDICATION_OTHER,
        _text,
        view,
        BlockId.AD_MEDICATION_OTHER,
        "medication name",
        MAX_MEDICATION,
    )
    medication_id = None
    if med_choice not in (None, OTHER):
        medication_id = whole_number(med_choice)
        if medication_id is None:
            check.add(BlockId.AD_MEDICATION, "Pick a medication from the list, or Other.")
        other = None
    elif not other and not check.failed(BlockId.AD_MEDICATION_OTHER):
        if med_choice is None and BlockId.AD_MEDICATION in ((view.get("state") or {}).get("values") or {}):
            check.add(BlockId.AD_MEDICATION, "Pick the medication, or Other and type its name below.")
        else:
            check.add(BlockId.AD_MEDICATION_OTHER, "Type the medication's name.")
    reason = check(
        BlockId.AD_REASON, _text, view, BlockId.AD_REASON, "patient's words", MAX_REASON, lines=True
    )
    check.done(case_id=case_id)
    return AdherenceForm(
        case_id=case_id,
        kind=str(kind),
        medication_id=medication_id,
        medication_other=other or None,
        reason=reason or None,
    )


def read_plan(view: dict[str, Any]) -> tuple[str, str | None]:
    check = FieldCheck()
    plan = forms.option(view, BlockId.AD_PLAN)
    if plan not in PLANS:
        check.add(BlockId.AD_PLAN, "Pick one of the plans.")
    note = check(BlockId.AD_PLAN_NOTE, _text, view, BlockId.AD_PLAN_NOTE, "note", MAX_PLAN_NOTE, lines=True)
    check.done()
    return str(plan), note or None


def _text(view: dict[str, Any], block: str, what: str, limit: int, *, lines: bool = False) -> str:
    return clean_text(forms.text(view, block), what=what, limit=limit, lines=lines, field=block)
