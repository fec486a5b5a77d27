"""Medication changes: a prescriber on the team starts, changes, switches or stops a
medication, and the rest of the team hears about it and says they have.

A change is saved first (the list and a `MedicationChange` history row); in the same unit
the case thread gets a one-line note, every other team member a DM with **Seen** (the
pharmacist also with the interaction check), and the case's audit trail the event. The
thread note is updated in place as people mark it seen and when the pharmacist answers;
those who have not seen it are reminded once (bot/medications/sweeps.py).

Notification text carries the case id only; medication names, doses and reasons go in
blocks, and the thread note's restricted form (bot/audience.py) says only that the list
changed and who has seen it, like the cases workflow's own notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bot.access import CaseAccess, case_ref, open_case, require_role
from bot.cases.service import post_in_thread, thread_url
from bot.contributions import WaitingItem
from bot.errors import BadInput, Conflict, NoAccess, NotAllowed
from bot.ids import Action, BlockId
from bot.medications.commands import MED_USAGE
from bot.medications.settings import MedicationSettings
from bot.render import escape_mrkdwn
from bot.side_effects import service as side_effects
from bot.unit import Unit
from storage import cases as case_repo
from storage import medications as repo
from storage.cases import Case, Medication, MedicationKind, Role
from storage.medications import ChangeKind, ChangeRecipient, InteractionCheck, MedicationChange
from storage.side_effects import SideEffectReport

KIND_WORDS = {
    ChangeKind.START: "started",
    ChangeKind.CHANGE: "changed",
    ChangeKind.SWITCH: "switched",
    ChangeKind.STOP: "stopped",
}
AUDIT_ACTIONS = {
    ChangeKind.START: "medication.added",
    ChangeKind.CHANGE: "medication.changed",
    ChangeKind.SWITCH: "medication.switched",
    ChangeKind.STOP: "medication.stopped",
}
HISTORY_LIMIT = 2700  # characters of the /case show section, leaving room for its last line
INTERACTION_WORDS = {
    InteractionCheck.NO_CONCERN: "no interaction concern",
    InteractionCheck.CONCERN: "interaction concern",
}


@dataclass(frozen=True)
class Choice:
    value: str
    text: str


@dataclass(frozen=True)
class ChangeForm:
    """A medication change, from the command or the form, validated for shape (the rules
    that need the case, such as a taper plan for a stop, are checked by `record_change`)."""

    case_id: int
    verb: str  # add | change | stop
    medication_id: int | None = None  # change / stop, from the form's list
    name: str | None = None  # add; or change / stop by name from the command
    kind: str = MedicationKind.PRESCRIPTION
    detail: str | None = None  # dose and schedule (new, for a change or a switch)
    switch_to: str | None = None  # change: the new medication's name makes it a switch
    reason: str | None = None
    targets: str | None = None
    watch: str | None = None
    taper: str | None = None
    remeasure: str | None = None
    report_id: int | None = None  # the side-effect report whose plan led here


@dataclass(frozen=True)
class FormContext:
    """What the medication form shows: the case, its list, and what to prefill."""

    case_id: int
    case_ref: str
    verb: str
    medications: list[Choice]
    selected: Choice | None
    name: str | None
    detail: str | None
    report_id: int | None
    report_ref: str | None
    reason: str | None = None


@dataclass(frozen=True)
class ChangeCard:
    """Everything a change's messages may show, decrypted, for the templates."""

    id: int
    case_ref: str
    kind: str
    kind_word: str
    line: str  # "sertraline 100 mg → 150 mg every morning · reason", mrkdwn-escaped
    medication: str
    new_medication: str | None
    before: str | None
    after: str | None
    reason: str | None
    targets: str | None
    watch: str | None
    taper: str | None
    remeasure: str | None
    changed_by: str
    changed_at: datetime
    report_ref: str | None
    told: list[str]
    seen: list[str]
    interaction: str | None
    interaction_word: str | None
    interaction_note: str | None
    interaction_by: str | None


@dataclass(frozen=True)
class HistoryEntry:
    """One step in a medication's history, for `/case show` and the exports."""

    medication_id: int
    name: str
    kind: str  # ChangeKind
    at: datetime
    by: str
    before: str | None
    after: str | None
    reason: str | None
    medication_kind: str
    switched_to: str | None = None  # a switch: the new medication's name


@dataclass(frozen=True)
class MedicationHistory:
    id: int
    name: str
    kind: str  # MedicationKind
    active: bool
    detail: str | None
    started_at: datetime
    stopped_at: datetime | None
    entries: list[HistoryEntry]


# -- the form -------------------------------------------------------------------------------------


def form_context(
    unit: Unit,
    *,
    case_id: int,
    verb: str,
    name: str | None = None,
    detail: str | None = None,
    report_id: int | None = None,
) -> FormContext:
    """The medication form's options; only a prescriber on the team may open it."""
    access = _prescriber(unit, case_id)
    meds = case_repo.medications(session=unit.session, case_id=case_id)
    choices = [Choice(str(m.id), unit.deps.cipher.decrypt(m.name_enc)) for m in meds][:99]
    if verb in ("change", "stop") and not choices:
        raise BadInput(
            f"{access.case.ref} has no active medication to {verb}. Add one with "
            f"`/case med {access.case.ref} add <name> [dose and schedule]`.",
            case_id=case_id,
        )
    selected = None
    if name is not None and verb != "add":
        found = _find_active(unit, case_id, name)
        if found is None:
            raise _not_on_list(unit, case_id, name, verb)
        selected = Choice(str(found.id), unit.deps.cipher.decrypt(found.name_enc))
    report = _report(unit, access.case, report_id) if report_id is not None else None
    return FormContext(
        case_id=case_id,
        case_ref=access.case.ref,
        verb=verb,
        medications=choices,
        selected=selected,
        name=name if verb == "add" else None,
        detail=detail,
        report_id=report.id if report else None,
        report_ref=report.ref if report else None,
        reason=f"side effect ({report.ref})" if report else None,
    )


# -- recording a change -----------------------------------------------------------------------------


def record_change(unit: Unit, form: ChangeForm) -> ChangeCard:
    """Save the change, then queue the thread note and the team's DMs in the same unit."""
    access = _prescriber(unit, form.case_id, lock=True)
    case = access.case
    cipher = unit.deps.cipher
    report = _report(unit, case, form.report_id) if form.report_id is not None else None
    new_med: Medication | None = None
    if form.verb == "add":
        if not form.name:
            raise BadInput("Name the medication.", field=BlockId.MED_NAME, usage=MED_USAGE)
        if _find_active(unit, case.id, form.name) is not None:
            raise Conflict(
                f"That medication is already on {case.ref}'s list; nothing was added. To change its dose, "
                f"use `/case med {case.ref} change <name> <new dose and schedule>`.",
                detail=f"Already active: *{escape_mrkdwn(form.name)}*",
                case_id=case.id,
            )
        med = _new_medication(unit, case, form.name, form.detail, form.kind)
        kind, before, after = ChangeKind.START, None, form.detail
    else:
        med = _chosen(unit, case, form)
        before = cipher.decrypt_optional(med.detail_enc)
        if form.verb == "stop" or form.switch_to:
            if not form.taper:
                raise BadInput(
                    "A stop or a switch needs a taper plan (write `none` if there is to be no taper).",
                    field=BlockId.MED_TAPER,
                    usage=MED_USAGE,
                )
            med.active, med.stopped_at, med.stopped_by = False, unit.now, unit.actor.user_id
        if form.verb == "stop":
            kind, after = ChangeKind.STOP, None
        elif form.switch_to:
            if _find_active(unit, case.id, form.switch_to) is not None:
                raise BadInput(
                    f"{form.switch_to} is already on {case.ref}'s list; change its dose instead.",
                    field=BlockId.MED_SWITCH_TO,
                )
            new_med = _new_medication(unit, case, form.switch_to, form.detail, form.kind)
            kind, after = ChangeKind.SWITCH, form.detail
        else:
            if not form.detail:
                raise BadInput("Give the new dose and schedule.", field=BlockId.MED_DETAIL, usage=MED_USAGE)
            if form.detail == before:
                raise BadInput(
                    f"That is the dose and schedule {case.ref}'s list already has; nothing was changed.",
                    field=BlockId.MED_DETAIL,
                    usage=MED_USAGE,
                )
            med.detail_enc = cipher.encrypt(form.detail)
            kind, after = ChangeKind.CHANGE, form.detail
        unit.session.add(med)
    unit.session.flush()
    change = MedicationChange(
        case_id=case.id,
        medication_id=med.id,
        new_medication_id=new_med.id if new_med else None,
        kind=kind,
        before_enc=cipher.encrypt_optional(before),
        after_enc=cipher.encrypt_optional(after),
        reason_enc=cipher.encrypt_optional(form.reason),
        targets_enc=cipher.encrypt_optional(form.targets),
        watch_enc=cipher.encrypt_optional(form.watch),
        taper_enc=cipher.encrypt_optional(form.taper),
        remeasure_enc=cipher.encrypt_optional(form.remeasure),
        side_effect_report_id=report.id if report else None,
        changed_by=unit.actor.user_id,
        changed_at=unit.now,
    )
    unit.session.add(change)
    unit.session.flush()
    team = [
        m for m in case_repo.members(session=unit.session, case_id=case.id) if m.user_id != unit.actor.user_id
    ]
    remind_at = unit.deps.settings.section(MedicationSettings).remind_at(unit.now, unit.deps.settings.clinic)
    unit.audit(
        AUDIT_ACTIONS[kind],
        case_id=case.id,
        target=f"medication:{med.id}",
        change=change.id,
        kind=str(kind),
        medication_kind=med.kind,
        new_medication=new_med.id if new_med else None,
        side_effect_report=report.id if report else None,
        told=len(team),
    )
    card = replace(build_card(unit, change, case), told=[m.user_id for m in team])  # DMs queued below
    note = post_in_thread(unit, case, render(unit, "med_change_note", card), purpose="medication_change_note")
    change.note_outbox_id = note.id
    for member in team:
        dm = unit.post(
            channel=member.user_id,
            message=render(unit, "med_change_dm", card, role=member.role, reminder=False, seen_at=None),
            purpose="medication_change_dm",
            case_id=case.id,
        )
        unit.session.add(
            ChangeRecipient(
                change_id=change.id,
                user_id=member.user_id,
                role=member.role,
                outbox_id=dm.id,
                remind_at=remind_at,
            )
        )
        unit.audit(
            "medication.change_told", case_id=case.id, target=f"user:{member.user_id}", change=change.id
        )
    unit.session.add(change)
    case.updated_at = unit.now
    unit.session.add(case)
    unit.session.flush()
    if report is not None:  # the report's messages drop their Record the change button
        side_effects.refresh_messages(unit, report, side_effects.build_card(unit, report, case))
    return build_card(unit, change, case)


def mark_seen(unit: Unit, *, change_id: int) -> ChangeCard:
    """A team member says they have seen the change: the thread note shows it. A second
    click (or a retried delivery) changes nothing."""
    change, case = _change_for_member(unit, change_id)
    recipient = _recipient(unit, change)
    if recipient.seen_at is not None:
        raise Conflict(
            f"You already marked this change on {case.ref} seen; nothing was changed.", case_id=case.id
        )
    _seen(unit, recipient)
    unit.audit("medication.change_seen", case_id=case.id, target=f"medication_change:{change.id}")
    card = build_card(unit, change, case)
    refresh(unit, change, card)
    return card


def record_interaction(unit: Unit, *, change_id: int, verdict: str, note: str | None) -> ChangeCard:
    """The pharmacist's interaction check on a change: no concern, or a concern with a
    note. The prescriber who made the change is told by DM; the thread note shows it."""
    if verdict not in INTERACTION_WORDS:
        raise BadInput("Pick no concern or concern.")
    change, case = _change_for_member(unit, change_id)
    access = open_case(unit, case.id)
    require_role(access, Role.PHARMACIST, "record an interaction check")
    if change.interaction is not None:
        raise Conflict(
            f"The interaction check for this change on {case.ref} was already recorded by "
            f"<@{change.interaction_by}>; nothing was changed.",
            case_id=case.id,
        )
    if verdict == InteractionCheck.CONCERN and not note:
        raise BadInput("Say what the concern is.", field=BlockId.MED_CONCERN_NOTE)
    change.interaction, change.interaction_by, change.interaction_at = verdict, unit.actor.user_id, unit.now
    change.interaction_note_enc = unit.deps.cipher.encrypt_optional(note)
    unit.session.add(change)
    recipient = _my_recipient(unit, change)
    if recipient is not None and recipient.seen_at is None:
        _seen(unit, recipient)  # answering the check is seeing the change
    unit.session.flush()
    unit.audit(
        "medication.interaction_checked",
        case_id=case.id,
        target=f"medication_change:{change.id}",
        verdict=verdict,
        with_note=note is not None,
    )
    card = build_card(unit, change, case)
    refresh(unit, change, card)
    if change.changed_by != unit.actor.user_id:
        unit.post(
            channel=change.changed_by,
            message=render(unit, "med_interaction_dm", card),
            purpose="medication_interaction_answer",
            case_id=case.id,
        )
    return card


def interaction_context(unit: Unit, *, change_id: int) -> ChangeCard:
    """What the Concern modal shows; only the team's pharmacist may open it."""
    change, case = _change_for_member(unit, change_id)
    require_role(open_case(unit, case.id), Role.PHARMACIST, "record an interaction check")
    if change.interaction is not None:
        raise Conflict(
            f"The interaction check for this change on {case.ref} was already recorded; nothing was changed.",
            case_id=case.id,
        )
    return build_card(unit, change, case)


# -- messages -------------------------------------------------------------------------------------


def build_card(unit: Unit, change: MedicationChange, case: Case) -> ChangeCard:
    """The change decrypted once for every message that shows it, with who was told and
    who has seen it, so the note and the DMs are rendered from the same facts."""
    cipher = unit.deps.cipher
    med = unit.session.get(Medication, change.medication_id)
    assert med is not None  # a change's medication is never deleted (foreign key)
    name = cipher.decrypt(med.name_enc)
    new_name = None
    if change.new_medication_id is not None:
        new_med = unit.session.get(Medication, change.new_medication_id)
        new_name = cipher.decrypt(new_med.name_enc) if new_med else None
    before, after = cipher.decrypt_optional(change.before_enc), cipher.decrypt_optional(change.after_enc)
    reason = cipher.decrypt_optional(change.reason_enc)
    recipients = repo.recipients(session=unit.session, change_id=change.id)
    report_ref = None
    if change.side_effect_report_id is not None:
        report = unit.session.get(SideEffectReport, change.side_effect_report_id)
        report_ref = report.ref if report else None
    return ChangeCard(
        id=change.id,
        case_ref=case.ref,
        kind=change.kind,
        kind_word=KIND_WORDS[ChangeKind(change.kind)],
        line=change_line(ChangeKind(change.kind), name, before, after, reason, new_name),
        medication=name,
        new_medication=new_name,
        before=before,
        after=after,
        reason=reason,
        targets=cipher.decrypt_optional(change.targets_enc),
        watch=cipher.decrypt_optional(change.watch_enc),
        taper=cipher.decrypt_optional(change.taper_enc),
        remeasure=cipher.decrypt_optional(change.remeasure_enc),
        changed_by=change.changed_by,
        changed_at=change.changed_at,
        report_ref=report_ref,
        told=[r.user_id for r in recipients],
        seen=[r.user_id for r in recipients if r.seen_at is not None],
        interaction=change.interaction,
        interaction_word=INTERACTION_WORDS.get(InteractionCheck(change.interaction))
        if change.interaction
        else None,
        interaction_note=cipher.decrypt_optional(change.interaction_note_enc),
        interaction_by=change.interaction_by,
    )


def change_line(
    kind: ChangeKind,
    name: str,
    before: str | None,
    after: str | None,
    reason: str | None,
    new_name: str | None = None,
) -> str:
    """The change in one line of mrkdwn, every user part escaped:
    "*sertraline* 100 mg → 150 mg every morning · reason"."""
    e = escape_mrkdwn
    if kind == ChangeKind.START:
        text = f"*{e(name)}* started" + (f" {e(after)}" if after else "")
    elif kind == ChangeKind.STOP:
        text = f"*{e(name)}*" + (f" {e(before)}" if before else "") + " → stopped"
    elif kind == ChangeKind.SWITCH:
        text = f"*{e(name)}*" + (f" {e(before)}" if before else "") + f" → *{e(new_name or '')}*"
        text += f" {e(after)}" if after else ""
    else:
        text = f"*{e(name)}* {e(before or 'no dose recorded')} → {e(after or '')}"
    return text + (f" · {e(reason)}" if reason else "")


def render(unit: Unit, name: str, card: ChangeCard, **extra: Any) -> dict[str, Any]:
    """A templates/medications/ message about `card`, with the ids its buttons use."""
    return unit.deps.renderer.message(f"medications/{name}", c=card, action=Action, block=BlockId, **extra)


def refresh(unit: Unit, change: MedicationChange, card: ChangeCard) -> None:
    """Update in place the thread note and every DM about the change, reminders included
    (so a clicked Seen turns into "seen" everywhere, and the pharmacist's buttons go once
    answered)."""
    if change.note_outbox_id is not None:
        unit.update(
            of=change.note_outbox_id,
            message=render(unit, "med_change_note", card),
            purpose="medication_change_note",
            case_id=change.case_id,
        )
    for recipient in repo.recipients(session=unit.session, change_id=change.id):
        unit.update(
            of=recipient.outbox_id,
            message=render(
                unit, "med_change_dm", card, role=recipient.role, reminder=False, seen_at=recipient.seen_at
            ),
            purpose="medication_change_dm",
            case_id=change.case_id,
        )
        if recipient.reminder_outbox_id is not None:  # the reminder carries Seen too
            unit.update(
                of=recipient.reminder_outbox_id,
                message=render(
                    unit, "med_change_dm", card, role=recipient.role, reminder=True, seen_at=recipient.seen_at
                ),
                purpose="medication_change_reminder",
                case_id=change.case_id,
            )


# -- history --------------------------------------------------------------------------------------


def history(unit: Unit, case: Case) -> list[MedicationHistory]:
    """Every medication the case has had, active first, each with its start, changes and
    stop (a medication listed when the case was created has no start row: its start is
    when it was listed)."""
    cipher = unit.deps.cipher
    meds = case_repo.medications(session=unit.session, case_id=case.id, active_only=False)
    names = {m.id: cipher.decrypt(m.name_enc) for m in meds}
    by_med: dict[int, list[HistoryEntry]] = {m.id: [] for m in meds}
    kinds = {m.id: m.kind for m in meds}
    started: set[int] = set()
    for change in repo.changes_of_case(session=unit.session, case_id=case.id):
        entry = HistoryEntry(
            medication_id=change.medication_id,
            name=names.get(change.medication_id, ""),
            kind=change.kind,
            at=change.changed_at,
            by=change.changed_by,
            before=cipher.decrypt_optional(change.before_enc),
            after=cipher.decrypt_optional(change.after_enc),
            reason=cipher.decrypt_optional(change.reason_enc),
            medication_kind=kinds.get(change.medication_id, MedicationKind.PRESCRIPTION),
            switched_to=names.get(change.new_medication_id) if change.new_medication_id else None,
        )
        by_med.setdefault(change.medication_id, []).append(entry)
        if change.kind == ChangeKind.START:
            started.add(change.medication_id)
        if change.new_medication_id is not None:  # the switch starts the new one
            started.add(change.new_medication_id)
            by_med.setdefault(change.new_medication_id, []).append(
                HistoryEntry(
                    medication_id=change.new_medication_id,
                    name=names.get(change.new_medication_id, ""),
                    kind=ChangeKind.START,
                    at=change.changed_at,
                    by=change.changed_by,
                    before=None,
                    after=entry.after,
                    reason=f"switched from {entry.name}" + (f": {entry.reason}" if entry.reason else ""),
                    medication_kind=kinds.get(change.new_medication_id, MedicationKind.PRESCRIPTION),
                )
            )
    result = []
    for med in meds:
        entries = by_med.get(med.id, [])
        if med.id not in started:
            first_after = entries[0].before if entries else cipher.decrypt_optional(med.detail_enc)
            entries.insert(
                0,
                HistoryEntry(
                    med.id,
                    names[med.id],
                    ChangeKind.START,
                    med.added_at,
                    med.added_by,
                    None,
                    first_after,
                    None,
                    med.kind,
                ),
            )
        result.append(
            MedicationHistory(
                id=med.id,
                name=names[med.id],
                kind=med.kind,
                active=med.active,
                detail=cipher.decrypt_optional(med.detail_enc),
                started_at=med.added_at,
                stopped_at=med.stopped_at,
                entries=entries,
            )
        )
    result.sort(key=lambda h: (not h.active, h.started_at, h.id))
    return result


def history_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: each medication's history (start, changes, stop, with dates and
    reasons). The caller (show_case) has already checked access and audited the view."""
    meds = history(unit, case)
    if not meds:
        return []
    e = escape_mrkdwn
    rows = ["*Medication history*"]
    size, shown = len(rows[0]), 0
    for med in meds:
        state = "active" if med.active else "stopped"
        block = [f"• *{e(med.name)}* ({e(MedicationKind(med.kind).display.lower())}, {state})"]
        for entry in med.entries[-6:]:
            line = change_line(
                ChangeKind(entry.kind), entry.name, entry.before, entry.after, entry.reason, entry.switched_to
            )
            block.append(f"    ◦ {entry.at:%Y-%m-%d} {line[:400]} (<@{entry.by}>)")
        # Whole lines only, within one section's 3000 characters (a cut could split a mention).
        if size + sum(len(row) + 1 for row in block) > HISTORY_LIMIT:
            break
        rows += block
        size += sum(len(row) + 1 for row in block)
        shown += 1
    if shown < len(meds):
        rows.append(f"… and {len(meds) - shown} more in the audit export (`/audit {case.ref} export csv`).")
    return ["\n".join(rows)]


# -- helpers --------------------------------------------------------------------------------------


def _prescriber(unit: Unit, case_id: int, *, lock: bool = False) -> CaseAccess:
    access = open_case(unit, case_id, lock=lock, require_open=True)
    require_role(access, Role.PRESCRIBER, "change medications")
    return access


def _report(unit: Unit, case: Case, report_id: int) -> SideEffectReport:
    report = unit.session.get(SideEffectReport, report_id)
    if report is None or report.case_id != case.id:
        raise BadInput(f"That side-effect report is not on {case.ref}; open the form from the report again.")
    return report


def _chosen(unit: Unit, case: Case, form: ChangeForm) -> Medication:
    if form.medication_id is not None:
        med = unit.session.get(Medication, form.medication_id)
        if med is None or med.case_id != case.id or not med.active:
            raise BadInput(
                f"That medication is no longer active on {case.ref}; open the form again.",
                field=BlockId.MED_PICK,
            )
        return med
    found = _find_active(unit, case.id, form.name or "")
    if found is None:
        raise _not_on_list(unit, case.id, form.name or "", form.verb)
    return found


def _not_on_list(unit: Unit, case_id: int, name: str, verb: str) -> BadInput:
    active = [
        unit.deps.cipher.decrypt(m.name_enc)
        for m in case_repo.medications(session=unit.session, case_id=case_id)
    ]
    listed = ", ".join(escape_mrkdwn(a) for a in active) if active else "none"
    return BadInput(
        f"No active medication by that name on {case_ref(case_id)}; nothing was changed.",
        detail=f"You asked to {verb} *{escape_mrkdwn(name)}*. Active: {listed}.",
        usage=MED_USAGE,
        case_id=case_id,
    )


def _find_active(unit: Unit, case_id: int, name: str) -> Medication | None:
    wanted = name.casefold()
    for med in case_repo.medications(session=unit.session, case_id=case_id):
        if unit.deps.cipher.decrypt(med.name_enc).casefold() == wanted:
            return med
    return None


def _new_medication(unit: Unit, case: Case, name: str, detail: str | None, kind: str) -> Medication:
    med = Medication(
        case_id=case.id,
        name_enc=unit.deps.cipher.encrypt(name),
        detail_enc=unit.deps.cipher.encrypt_optional(detail),
        kind=kind,
        added_by=unit.actor.user_id,
        added_at=unit.now,
    )
    unit.session.add(med)
    unit.session.flush()
    return med


def _seen(unit: Unit, recipient: ChangeRecipient) -> None:
    """Seen: saved, and their reminder (if not sent yet) is no longer due."""
    recipient.seen_at = unit.now
    if recipient.reminded_at is None:
        recipient.remind_at = None
    unit.session.add(recipient)
    unit.session.flush()


def _change_for_member(unit: Unit, change_id: int) -> tuple[MedicationChange, Case]:
    change = repo.get_change(session=unit.session, change_id=change_id, lock=True)
    if change is None:
        raise NoAccess(reason="not_found")
    try:
        access = open_case(unit, change.case_id)
    except NoAccess as err:
        # The same words as a change that does not exist: a probe learns no case id.
        raise NoAccess(reason=err.reason, case_id=change.case_id) from None
    return change, access.case


def _my_recipient(unit: Unit, change: MedicationChange) -> ChangeRecipient | None:
    for recipient in repo.recipients(session=unit.session, change_id=change.id):
        if recipient.user_id == unit.actor.user_id:
            return recipient
    return None


def _recipient(unit: Unit, change: MedicationChange) -> ChangeRecipient:
    recipient = _my_recipient(unit, change)
    if recipient is None:
        raise NotAllowed(
            f"This change on {case_ref(change.case_id)} was not sent to you to mark seen "
            "(you made it, or joined the team after it).",
            case_id=change.case_id,
        )
    return recipient


# Side-effect plans that call for a medication change, and the form verb for each.
PLAN_VERBS = {"adjust_dose": "change", "switch": "change", "stop": "stop"}


def form_for_report(unit: Unit, *, report_id: int) -> FormContext:
    """The change form a side-effect plan offers, prefilled with the report's medication
    (when it is on the list) and linked to the report."""
    report = unit.session.get(SideEffectReport, report_id)
    if report is None:
        raise NoAccess(reason="not_found")
    try:
        open_case(unit, report.case_id)
    except NoAccess as err:
        raise NoAccess(reason=err.reason, case_id=report.case_id) from None
    verb = PLAN_VERBS.get(report.plan or "")
    if verb is None:
        raise Conflict(
            f"The plan for {report.ref} does not call for a medication change; use `/case med` for one.",
            case_id=report.case_id,
        )
    name = None
    if report.medication_id is not None:
        med = unit.session.get(Medication, report.medication_id)
        if med is not None and med.active:
            name = unit.deps.cipher.decrypt(med.name_enc)
    return form_context(unit, case_id=report.case_id, verb=verb, name=name, report_id=report.id)


def waiting_for_me(unit: Unit) -> list[WaitingItem]:
    """App Home: medication changes on my cases that I have not marked seen, oldest first."""
    items = []
    for _recipient, change, case in repo.unseen_by(session=unit.session, user_id=unit.actor.user_id):
        root = case_repo.thread_root(session=unit.session, case=case)
        items.append(
            WaitingItem(
                case_ref=case.ref,
                text="medication change: waiting for you to mark it seen",
                url=thread_url(root),
                # After urgent to moderate side effects (ranks 0-2), with the low ones: oldest first.
                sort_key=(3, change.changed_at.timestamp(), change.id),
            )
        )
    return items
