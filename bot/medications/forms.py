"""The medication form (add, change or switch, stop) and the pharmacist's concern note:
building the modals and reading what was submitted. Reading checks shape only (lengths,
choices), every bad field at once; the rules that need the case are the service's."""

from __future__ import annotations

import json
from typing import Any

from bot import forms
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback
from bot.inputs import FieldCheck, clean_text, parse_id, whole_number
from bot.medications.commands import MAX_MED_DETAIL, MAX_MED_NAME, read_detail, read_name
from bot.medications.service import ChangeCard, ChangeForm, FormContext
from storage.cases import MEDICATION_KIND_TITLES, MedicationKind

MAX_REASON = 300
MAX_TEXT = 1000
MAX_CONCERN = 1500
STALE_FORM = "This form is from an older version of the app; open it again with `/case med`."


def form_view(deps: Deps, context: FormContext) -> dict[str, Any]:
    metadata = json.dumps({"case": context.case_id, "verb": context.verb, "report": context.report_id})
    kinds = [
        {"text": {"type": "plain_text", "text": title}, "value": str(kind)}
        for kind, title in MEDICATION_KIND_TITLES.items()
    ]
    return deps.renderer.view(
        "medications/med_form",
        callback_id=Callback.MEDICATION_FORM,
        metadata=metadata,
        f=context,
        kinds=kinds,
        block=BlockId,
        max_name=MAX_MED_NAME,
        max_detail=MAX_MED_DETAIL,
        max_reason=MAX_REASON,
        max_text=MAX_TEXT,
    )


def concern_view(deps: Deps, card: ChangeCard) -> dict[str, Any]:
    return deps.renderer.view(
        "medications/med_concern_form",
        callback_id=Callback.MEDICATION_CONCERN,
        c=card,
        block=BlockId,
        max_note=MAX_CONCERN,
    )


def read_form(view: dict[str, Any]) -> ChangeForm:
    """The submitted medication form as a ChangeForm (raises FieldErrors or BadInput)."""
    meta = _metadata(view)
    verb = meta["verb"]
    check = FieldCheck()
    name = medication_id = switch_to = None
    kind = str(MedicationKind.PRESCRIPTION)
    if verb == "add":
        name = check(BlockId.MED_NAME, read_name, forms.text(view, BlockId.MED_NAME), field=BlockId.MED_NAME)
        picked = forms.option(view, BlockId.MED_KIND) or kind
        if picked not in set(MedicationKind):
            check.add(BlockId.MED_KIND, "Pick the kind from the list.")
        kind = picked
    else:
        medication_id = whole_number(forms.option(view, BlockId.MED_PICK))
        if medication_id is None:
            check.add(BlockId.MED_PICK, "Pick the medication from the case's list.")
    if verb == "change":
        switch_to = check(
            BlockId.MED_SWITCH_TO, _text, view, BlockId.MED_SWITCH_TO, "medication name", MAX_MED_NAME
        )
    detail = None
    if verb != "stop":
        detail = check(
            BlockId.MED_DETAIL,
            lambda: read_detail(forms.text(view, BlockId.MED_DETAIL), field=BlockId.MED_DETAIL),
        )
        if verb == "change" and not detail and not check.failed(BlockId.MED_DETAIL):
            check.add(BlockId.MED_DETAIL, "Give the new dose and schedule.")
    reason = check(BlockId.MED_REASON, _text, view, BlockId.MED_REASON, "reason", MAX_REASON)
    targets = check(
        BlockId.MED_TARGETS, _text, view, BlockId.MED_TARGETS, "target symptoms", MAX_TEXT, lines=True
    )
    watch = check(
        BlockId.MED_WATCH, _text, view, BlockId.MED_WATCH, "what to watch for", MAX_TEXT, lines=True
    )
    taper = check(BlockId.MED_TAPER, _text, view, BlockId.MED_TAPER, "taper plan", MAX_TEXT, lines=True)
    if (verb == "stop" or switch_to) and not taper and not check.failed(BlockId.MED_TAPER):
        check.add(
            BlockId.MED_TAPER, "A stop or a switch needs a taper plan; write none if there is no taper."
        )
    remeasure = check(
        BlockId.MED_REMEASURE, _text, view, BlockId.MED_REMEASURE, "when to re-measure", MAX_REASON
    )
    check.done(case_id=meta["case"])
    return ChangeForm(
        case_id=meta["case"],
        verb=verb,
        medication_id=medication_id,
        name=name,
        kind=kind,
        detail=detail or None,
        switch_to=switch_to or None,
        reason=reason or None,
        targets=targets or None,
        watch=watch or None,
        taper=taper or None,
        remeasure=remeasure or None,
        report_id=meta["report"],
    )


def read_concern(view: dict[str, Any]) -> str:
    check = FieldCheck()
    note = check(
        BlockId.MED_CONCERN_NOTE, _text, view, BlockId.MED_CONCERN_NOTE, "concern", MAX_CONCERN, lines=True
    )
    if not note and not check.failed(BlockId.MED_CONCERN_NOTE):
        check.add(BlockId.MED_CONCERN_NOTE, "Say what the concern is.")
    check.done()
    return str(note)


def change_id_of(view: dict[str, Any]) -> int:
    return parse_id(forms.metadata(view), stale=STALE_FORM)


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(forms.metadata(view))
        case_id = parse_id(meta["case"], stale=STALE_FORM)
        verb = meta["verb"]
        report = meta.get("report")
        report_id = None if report is None else parse_id(report, stale=STALE_FORM)
    except (ValueError, KeyError, TypeError):
        raise BadInput(STALE_FORM) from None
    if verb not in ("add", "change", "stop"):
        raise BadInput(STALE_FORM)
    return {"case": case_id, "verb": verb, "report": report_id}


def _text(view: dict[str, Any], block: str, what: str, limit: int, *, lines: bool = False) -> str:
    return clean_text(forms.text(view, block), what=what, limit=limit, lines=lines, field=block)
