"""The side-effect modals: building them from the service's choices, reading them back.

Reading is strict: every field is checked and every problem is returned at once as modal
field errors (block_id -> message), so nothing is saved from a form Slack should not have
let through (a tampered payload, a stale option, a date in the future).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from bot import forms
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback
from bot.inputs import FieldCheck, clean_text, whole_number
from bot.side_effects.policy import (
    CHANGE_PLAN_NEEDS_NOTE,
    CHANGE_PLANS,
    FIBSER_ITEMS,
    FIBSER_KEYS,
    PLANS,
    SYMPTOM_GROUPS,
    SYMPTOMS,
    red_flag_words_in,
)
from bot.side_effects.recheck import OUTCOME_WORDS, Prefill
from bot.side_effects.service import FormChoices, ReportCard, ReportForm
from bot.side_effects.settings import SideEffectSettings

OTHER = "other"
NOT_RED_FLAG = "confirmed"  # the value of the "None of these is a red flag" checkbox
GROUP_SIZE = 10  # Slack allows 10 options in a checkbox group
MAX_MEDICATION = 120
MAX_SYMPTOMS = 1000
MAX_NOTES = 2000
MAX_PLAN_NOTE = 1000
OPTION_TEXT = 75
FIBSER_BLOCKS = {
    "frequency": BlockId.SE_FREQUENCY,
    "intensity": BlockId.SE_INTENSITY,
    "burden": BlockId.SE_BURDEN,
}


@dataclass(frozen=True)
class CheckboxGroup:
    block_id: str
    label: str
    options: list[dict[str, Any]]


# -- building ------------------------------------------------------------------------------------


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    opt: dict[str, Any] = {"text": {"type": "plain_text", "text": _fit(text)}, "value": value}
    if description:
        opt["description"] = {"type": "plain_text", "text": _fit(description)}
    return opt


def _fit(text: str) -> str:
    return text if len(text) <= OPTION_TEXT else text[: OPTION_TEXT - 1] + "…"


def red_flag_option(index: int, flag: str) -> dict[str, Any]:
    """ "Signs of X (a, b, c)" shows as "Signs of X" with the parenthesis as its description."""
    head, sep, rest = flag.partition(" (")
    if sep and rest.endswith(")") and len(flag) > OPTION_TEXT:
        return option(head, str(index), rest[:-1])
    if len(flag) > OPTION_TEXT:
        return option(flag[: OPTION_TEXT - 1] + "…", str(index), "…" + flag[OPTION_TEXT - 1 :])
    return option(flag, str(index))


def _groups(base: str, label: str, options: list[dict[str, Any]]) -> list[CheckboxGroup]:
    chunks = [options[i : i + GROUP_SIZE] for i in range(0, len(options), GROUP_SIZE)]
    return [
        CheckboxGroup(
            BlockId.chunk(base, n),
            label if len(chunks) == 1 else f"{label} ({n + 1} of {len(chunks)})",
            chunk,
        )
        for n, chunk in enumerate(chunks)
    ]


def report_view(
    deps: Deps, choices: FormChoices, *, notes: str | None = None, recheck: Prefill | None = None
) -> dict[str, Any]:
    """The report form; `notes` (typed after `/sideeffect C-n`) prefills the notes field. With
    `recheck`, the same form rates the side effect again: prefilled with the report's answers,
    and asking how it compares (bot/side_effects/recheck.py)."""
    red_flags = [
        red_flag_option(i, flag) for i, flag in enumerate(deps.settings.section(SideEffectSettings).red_flags)
    ]
    symptom_groups = [
        CheckboxGroup(BlockId.chunk(BlockId.SE_SYMPTOMS, n), label, [option(t, k) for k, t in items])
        for n, (label, items) in enumerate(SYMPTOM_GROUPS)
    ]
    medication_options = [option(m.text, m.value) for m in choices.medications]
    if choices.case_id is not None:
        medication_options.append(option("Other (type it below)", OTHER))
    case_options = [option(c.text, c.value) for c in choices.cases]
    case_option = next((o for o in case_options if o["value"] == str(choices.case_id)), None)
    metadata: dict[str, Any] = {"case": choices.case_id}
    initial: dict[str, Any] = {}
    if recheck is not None:
        metadata["recheck"] = recheck.recheck_id
        initial = _initial(recheck, medication_options, symptom_groups)
    return deps.renderer.view(
        "side_effects/side_effect_report",
        callback_id=Callback.SIDE_EFFECT_REPORT,
        metadata="" if choices.picker else json.dumps(metadata),
        recheck=recheck,
        initial=initial,
        outcome_options=[option(word, str(key)) for key, word in OUTCOME_WORDS.items()],
        block=BlockId,
        picker=choices.picker,
        case_ref=None if choices.picker else choices.case_ref,
        case_options=case_options,
        case_option=case_option,
        medication_options=medication_options,
        symptom_groups=symptom_groups,
        fibser=[
            {
                "block_id": FIBSER_BLOCKS[key],
                "label": FIBSER_ITEMS[key]["label"],
                "question": FIBSER_ITEMS[key]["question"],
                "options": [
                    option(f"{score} · {wording}", str(score))
                    for score, wording in enumerate(FIBSER_ITEMS[key]["options"])
                ],
            }
            for key in FIBSER_KEYS
        ],
        red_flag_groups=_groups(BlockId.SE_RED_FLAGS, "Red flags", red_flags),
        not_red_flag=option("None of these is a red flag", NOT_RED_FLAG),
        max_medication=MAX_MEDICATION,
        max_symptoms=MAX_SYMPTOMS,
        max_notes=MAX_NOTES,
        notes=(notes or "")[:MAX_NOTES],
    )


def _initial(
    recheck: Prefill, medication_options: list[dict[str, Any]], symptom_groups: list[CheckboxGroup]
) -> dict[str, Any]:
    """The initial values of a recheck form, by block id: the report's own answers."""
    wanted = str(recheck.medication_id) if recheck.medication_id is not None else OTHER
    initial: dict[str, Any] = {
        BlockId.SE_MEDICATION: next((o for o in medication_options if o["value"] == wanted), None),
        BlockId.SE_MEDICATION_OTHER: recheck.medication_other or "",
        BlockId.SE_SYMPTOMS_OTHER: recheck.symptoms_other or "",
        BlockId.SE_ONSET: recheck.onset.isoformat(),
    }
    for group in symptom_groups:
        initial[group.block_id] = [o for o in group.options if o["value"] in recheck.symptoms]
    for key, block_id in FIBSER_BLOCKS.items():
        score = getattr(recheck, key)
        initial[block_id] = option(f"{score} · {FIBSER_ITEMS[key]['options'][score]}", str(score))
    return initial


def plan_view(deps: Deps, card: ReportCard) -> dict[str, Any]:
    return deps.renderer.view(
        "side_effects/side_effect_plan",
        callback_id=Callback.SIDE_EFFECT_PLAN,
        block=BlockId,
        r=card,
        plan_options=[option(label, key) for key, label in PLANS.items()],
        max_note=MAX_PLAN_NOTE,
    )


# -- reading -------------------------------------------------------------------------------------


def metadata_case(view: dict[str, Any]) -> int | None:
    """The case a report form was opened for; None for the picker form."""
    raw = forms.metadata(view)
    if not raw:
        return None
    try:
        case = json.loads(raw).get("case")
    except (ValueError, AttributeError):
        return None
    return case if isinstance(case, int) else None


def metadata_recheck(view: dict[str, Any]) -> int | None:
    """The recheck a report form was opened for (None: a new report)."""
    try:
        recheck = json.loads(forms.metadata(view) or "{}").get("recheck")
    except (ValueError, AttributeError):
        return None
    return recheck if isinstance(recheck, int) and recheck > 0 else None


def read_report(view: dict[str, Any], deps: Deps) -> ReportForm:
    check = FieldCheck()
    case_id = metadata_case(view)
    recheck_id = metadata_recheck(view)
    outcome = None
    if recheck_id is not None:
        outcome = forms.option(view, BlockId.SE_RECHECK_OUTCOME)
        if outcome not in OUTCOME_WORDS:
            check.add(
                BlockId.SE_RECHECK_OUTCOME,
                "Say how it compares with before: resolved, better, same or worse.",
            )
    if case_id is None:
        case_id = check(BlockId.SE_CASE, _case, view)

    med_choice = forms.option(view, BlockId.SE_MEDICATION)
    other_med = check(
        BlockId.SE_MEDICATION_OTHER,
        _text,
        view,
        BlockId.SE_MEDICATION_OTHER,
        "medication name",
        MAX_MEDICATION,
    )
    medication_id = None
    if med_choice not in (None, OTHER):
        medication_id = whole_number(med_choice)
        if medication_id is None:
            check.add(BlockId.SE_MEDICATION, "Pick a medication from the list, or Other.")
        else:
            other_med = None
    elif not other_med and not check.failed(BlockId.SE_MEDICATION_OTHER):
        if med_choice is None and _has_block(view, BlockId.SE_MEDICATION):
            check.add(BlockId.SE_MEDICATION, "Pick the medication, or Other and type its name below.")
        else:
            check.add(BlockId.SE_MEDICATION_OTHER, "Type the medication's name.")

    symptoms = _all_options(view, BlockId.SE_SYMPTOMS, len(SYMPTOM_GROUPS))
    unknown = [s for s in symptoms if s not in SYMPTOMS]
    first_symptoms = BlockId.chunk(BlockId.SE_SYMPTOMS, 0)
    if unknown:
        check.add(first_symptoms, "Tick symptoms from the list.")
    other_symptoms = check(
        BlockId.SE_SYMPTOMS_OTHER,
        _text,
        view,
        BlockId.SE_SYMPTOMS_OTHER,
        "symptom description",
        MAX_SYMPTOMS,
        lines=True,
    )
    if not symptoms and not other_symptoms and not check.failed(BlockId.SE_SYMPTOMS_OTHER):
        check.add(first_symptoms, "Tick at least one symptom, or describe it under Other symptoms.")

    onset = check(BlockId.SE_ONSET, _onset, view, deps)

    scores: dict[str, int] = {}
    for key in FIBSER_KEYS:
        block = FIBSER_BLOCKS[key]
        score = check(block, _score, view, block)
        if score is not None:
            scores[key] = score

    flag_count = len(deps.settings.section(SideEffectSettings).red_flags)
    groups = (flag_count + GROUP_SIZE - 1) // GROUP_SIZE
    raw_flags = _all_options(view, BlockId.SE_RED_FLAGS, groups)
    flags = sorted({n for v in raw_flags if (n := whole_number(v)) is not None and n < flag_count})
    if len(flags) != len(set(raw_flags)):
        check.add(BlockId.chunk(BlockId.SE_RED_FLAGS, 0), "Tick red flags from the list.")

    notes = check(BlockId.SE_NOTES, _text, view, BlockId.SE_NOTES, "notes", MAX_NOTES, lines=True)
    not_red_flag = NOT_RED_FLAG in forms.options(view, BlockId.SE_NOT_RED_FLAG)
    words: list[str] = []
    if not flags:
        words = _unticked_red_flags(
            check, deps, [SYMPTOMS[s] for s in symptoms if s in SYMPTOMS], other_symptoms, notes, not_red_flag
        )

    check.done(case_id=case_id)
    # done() raised if any read failed, and these readers return a value or raise.
    assert case_id is not None and onset is not None
    return ReportForm(
        case_id=case_id,
        medication_id=medication_id,
        medication_other=other_med or None,
        symptoms=tuple(dict.fromkeys(symptoms)),
        symptoms_other=other_symptoms or None,
        onset=onset,
        frequency=scores["frequency"],
        intensity=scores["intensity"],
        burden=scores["burden"],
        red_flags=tuple(flags),
        notes=notes or None,
        red_flag_words_cleared=len(words),
        recheck_id=recheck_id,
        outcome=outcome,
    )


def _unticked_red_flags(
    check: FieldCheck,
    deps: Deps,
    ticked: list[str],
    other_symptoms: str | None,
    notes: str | None,
    confirmed: bool,
) -> list[str]:
    """Nothing that reads urgent may be silently low: free text (or a ticked symptom) that
    names a red flag (CARETHREAD_RED_FLAG_WORDS) while no red flag is ticked comes back as a
    field error asking whether to tick one. It is not a dead end: ticking "None of these is
    a red flag" (a checkbox under the red flags) and sending again saves the report as it
    is, and the audit trail records that the reporter confirmed it. Returns the words found
    when so confirmed."""
    words_list = deps.settings.section(SideEffectSettings).red_flag_words
    where = (
        (BlockId.SE_NOTES, "Your notes mention", [notes]),
        (BlockId.SE_SYMPTOMS_OTHER, "Other symptoms mentions", [other_symptoms]),
        (BlockId.chunk(BlockId.SE_SYMPTOMS, 0), "A symptom you ticked mentions", ticked),
    )
    found: list[str] = []
    for block, lead, texts in where:
        words = red_flag_words_in(texts, words_list)
        if not words or check.failed(block):
            continue
        found.extend(words)
        if not confirmed:
            named = ", ".join(f"“{w}”" for w in words[:3])
            check.add(
                block,
                f"{lead} {named}, which can be a red flag. If it is one, tick it under Red flags "
                "(the report becomes urgent). If not, tick “None of these is a red flag” and send again.",
            )
    return found


def read_plan(view: dict[str, Any]) -> tuple[str, str | None]:
    check = FieldCheck()
    plan = forms.option(view, BlockId.SE_PLAN)
    if plan not in PLANS:
        check.add(BlockId.SE_PLAN, "Pick one of the plans.")
    note = check(BlockId.SE_PLAN_NOTE, _text, view, BlockId.SE_PLAN_NOTE, "note", MAX_PLAN_NOTE, lines=True)
    if plan in CHANGE_PLANS and not note and not check.failed(BlockId.SE_PLAN_NOTE):
        check.add(BlockId.SE_PLAN_NOTE, CHANGE_PLAN_NEEDS_NOTE)
    check.done()
    return str(plan), note or None


def _has_block(view: dict[str, Any], block_id: str) -> bool:
    return block_id in ((view.get("state") or {}).get("values") or {})


def _all_options(view: dict[str, Any], base: str, groups: int) -> list[str]:
    return [value for n in range(groups) for value in forms.options(view, BlockId.chunk(base, n))]


def _case(view: dict[str, Any]) -> int:
    raw = forms.option(view, BlockId.SE_CASE)
    case_id = whole_number(raw)
    if case_id is None:
        raise BadInput("Pick the case this report is about.")
    return case_id


def _text(view: dict[str, Any], block: str, what: str, limit: int, *, lines: bool = False) -> str:
    return clean_text(forms.text(view, block), what=what, limit=limit, lines=lines, field=block)


def _onset(view: dict[str, Any], deps: Deps) -> date:
    raw = forms.date(view, BlockId.SE_ONSET)
    if not raw:
        raise BadInput("Pick the date the side effect started.")
    try:
        onset = date.fromisoformat(raw)
    except ValueError:
        raise BadInput("That is not a date; pick one from the calendar.") from None
    if onset > latest_today(deps.clock.now(), deps):
        raise BadInput("The onset date cannot be in the future.")
    if onset < date(1900, 1, 1):
        raise BadInput("That onset date is too far in the past; check the year.")
    return onset


def latest_today(now: datetime, deps: Deps) -> date:
    """Today, as late as it is anywhere the team might be: the clinic's zone, or UTC."""
    zone = deps.settings.clinic.zone
    return max(now.astimezone(zone).date(), now.astimezone(UTC).date())


def _score(view: dict[str, Any], block: str) -> int:
    raw = forms.option(view, block)
    if raw is None:
        raise BadInput("Pick a score from 0 to 6.")
    score = whole_number(raw)
    if score is None or not 0 <= score <= 6:
        raise BadInput("The score must be from 0 to 6.")
    return score
