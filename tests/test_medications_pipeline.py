"""Medication changes end to end, through the real Bolt app and the stand-in Slack:
change -> thread note and DMs -> Seen -> note updated in place -> one reminder; the
pharmacist's interaction check; who may change; multi-word names; a side-effect plan that
offers the change; the history in /case show and in the FHIR export."""

from __future__ import annotations

import json
from datetime import timedelta

from fhir.resources.bundle import Bundle

from bot import auditlog
from bot.ids import Action, BlockId, Callback
from bot.scheduler import run_sweep
from devtools.slackreq import select_value, text_value
from storage.cases import Medication
from storage.core import OutboxMessage
from storage.medications import ChangeRecipient, MedicationChange
from storage.side_effects import ReportStatus, SideEffectReport
from tests.medication_helpers import blocks_by_id, open_med_form, submit_med_form
from tests.side_effect_helpers import action_ids, medication_value, open_form, submit_report
from tests.support import CHANNEL, care_team, reply_text

PRESCRIBER = "U0PRESC1"
THERAPIST = "U0THERA"
MANAGER = "U0CASEM"
PHARMACIST = "U0PHARM"
OUTSIDER = "U0OUTSIDE"
TEAM = {PRESCRIBER: "prescriber", THERAPIST: "therapist", MANAGER: "case-manager", PHARMACIST: "pharmacist"}
NOTE_TEXT = "Medication change on case C-1"


def _ts(h, outbox_id: int) -> str:
    row = h.get(OutboxMessage, outbox_id)
    assert row.result_ts, f"outbox {outbox_id} not delivered"
    return row.result_ts


def _change_case(h) -> MedicationChange:
    """A case whose sertraline goes from 100 mg to 150 mg every morning by command."""
    care_team(h, TEAM, meds=("sertraline 100 mg every morning",))
    h.command(PRESCRIBER, "med C-1 change sertraline 150 mg every morning")
    assert "Changed a medication on C-1" in h.last_reply_text(), h.last_reply_text()
    return h.rows(MedicationChange, kind="change")[0]


def test_change_is_noted_told_seen_and_reminded_once(harness):
    h = harness
    change = _change_case(h)
    [med] = h.rows(Medication)
    assert h.deps.cipher.decrypt(med.detail_enc) == "150 mg every morning"  # the list changed
    assert h.deps.cipher.decrypt(change.before_enc) == "100 mg every morning"
    assert "sertraline" not in (change.after_enc or "") and change.changed_by == PRESCRIBER

    # One line in the thread; its notification text carries the case id only.
    note = h.get(OutboxMessage, change.note_outbox_id)
    [posted] = [p for p in h.posts(CHANNEL) if p.get("ts") == note.result_ts or p["text"] == NOTE_TEXT][-1:]
    assert posted["thread_ts"] == h.root_ts(1)
    assert "sertraline" not in posted["text"]
    assert "*sertraline* 100 mg every morning → 150 mg every morning" in reply_text(posted)
    assert "nobody yet (0 of 3)" in reply_text(posted)

    # Every other member gets a DM with Seen; the pharmacist also the interaction check.
    recipients = {r.user_id: r for r in h.rows(ChangeRecipient, change_id=change.id)}
    assert set(recipients) == {THERAPIST, MANAGER, PHARMACIST}
    for user in (THERAPIST, MANAGER):
        [dm] = [m for m in h.dms(user) if m["text"] == NOTE_TEXT][-1:]
        assert "150 mg every morning" in reply_text(dm) and "sertraline" not in dm["text"]
        assert action_ids(dm) == [Action.MED_SEEN]
    [pharmacist_dm] = [m for m in h.dms(PHARMACIST) if m["text"] == NOTE_TEXT][-1:]
    assert action_ids(pharmacist_dm) == [Action.MED_SEEN, Action.MED_NO_CONCERN, Action.MED_CONCERN]
    assert not [m for m in h.dms(PRESCRIBER) if m["text"] == NOTE_TEXT]

    # Seen: saved, the note updated in place, the DM loses its button; a second click changes nothing.
    h.action(THERAPIST, Action.MED_SEEN, str(change.id), channel="D0THERA")
    assert h.get(ChangeRecipient, recipients[THERAPIST].id).seen_at == h.clock.now()
    updated = h.updates(note.result_ts)[-1]
    assert f"<@{THERAPIST}> (1 of 3)" in reply_text(updated) and updated["text"] == NOTE_TEXT
    assert action_ids(h.updates(_ts(h, recipients[THERAPIST].outbox_id))[-1]) == []
    edits = len(h.updates(note.result_ts))
    h.action(THERAPIST, Action.MED_SEEN, str(change.id), channel="D0THERA")
    assert "already marked this change on C-1 seen" in reply_text(h.ephemerals(THERAPIST)[-1])
    assert len(h.updates(note.result_ts)) == edits
    assert len(h.audit_events(action="medication.change_seen")) == 1

    # 24 h on working days later, those who have not seen it are reminded, once.
    waiting = h.rows(ChangeRecipient, change_id=change.id)
    assert {r.user_id: r.remind_at for r in waiting} == {
        THERAPIST: None,  # seen: no reminder
        MANAGER: h.clock.now() + timedelta(hours=24),
        PHARMACIST: h.clock.now() + timedelta(hours=24),
    }
    h.clock.advance(timedelta(hours=25))
    run_sweep(h.deps)
    h.settle()
    for_this = [r for r in h.rows(ChangeRecipient, change_id=change.id) if r.reminder_outbox_id is not None]
    assert {r.user_id for r in for_this} == {MANAGER, PHARMACIST}
    assert h.dms(MANAGER)[-1]["text"] == f"Reminder: {NOTE_TEXT}"
    before = len(h.outbox(purpose="medication_change_reminder"))
    h.clock.advance(timedelta(hours=25))
    run_sweep(h.deps)
    h.settle()
    assert len(h.outbox(purpose="medication_change_reminder")) == before  # once only
    reminded_events = [
        e.target
        for e in h.audit_events(action="medication.change_reminded")
        if json.loads(e.details)["change"] == change.id
    ]
    assert sorted(reminded_events) == [f"user:{MANAGER}", f"user:{PHARMACIST}"]
    # Seen clicked after the reminder: the reminder loses its button too, not only the first DM.
    h.action(MANAGER, Action.MED_SEEN, str(change.id), channel="D0CASEM")
    [manager] = h.rows(ChangeRecipient, change_id=change.id, user_id=MANAGER)
    assert action_ids(h.updates(_ts(h, manager.reminder_outbox_id))[-1]) == []
    assert action_ids(h.updates(_ts(h, manager.outbox_id))[-1]) == []
    with h.db() as session:
        assert auditlog.verify(session, h.deps.audit_key).ok
    assert not any("sertraline" in e.details for e in h.audit_events())  # no clinical text in audit


def test_pharmacist_concern_reaches_the_prescriber(harness):
    h = harness
    change = _change_case(h)
    # Only the pharmacist may answer; a therapist's click is refused and changes nothing.
    h.action(THERAPIST, Action.MED_NO_CONCERN, str(change.id), channel="D0THERA")
    assert "Only a pharmacist" in reply_text(h.ephemerals(THERAPIST)[-1])
    assert h.get(MedicationChange, change.id).interaction is None

    h.action(PHARMACIST, Action.MED_CONCERN, str(change.id), channel="D0PHARM")
    view = h.last_view()
    assert view["callback_id"] == Callback.MEDICATION_CONCERN and view["private_metadata"] == str(change.id)
    empty = h.submit(
        PHARMACIST,
        Callback.MEDICATION_CONCERN,
        {BlockId.MED_CONCERN_NOTE: text_value("  ")},
        private_metadata=str(change.id),
    )
    assert json.loads(empty.body)["errors"] == {BlockId.MED_CONCERN_NOTE: "Say what the concern is."}
    assert h.get(MedicationChange, change.id).interaction is None
    h.submit(
        PHARMACIST,
        Callback.MEDICATION_CONCERN,
        {BlockId.MED_CONCERN_NOTE: text_value("Check with the new tramadol <!channel>")},
        private_metadata=str(change.id),
    )
    saved = h.get(MedicationChange, change.id)
    assert saved.interaction == "concern" and saved.interaction_by == PHARMACIST
    assert "tramadol" not in saved.interaction_note_enc
    told = [m for m in h.dms(PRESCRIBER) if m["text"] == "Interaction check on case C-1"]
    assert told and "tramadol" in reply_text(told[-1]) and "tramadol" not in told[-1]["text"]
    assert "&lt;!channel&gt;" in reply_text(told[-1]) and "<!channel>" not in reply_text(told[-1])
    note = h.updates(_ts(h, saved.note_outbox_id))[-1]
    assert "Interaction concern" in reply_text(note) and f"<@{PHARMACIST}>" in reply_text(note)
    # Answering is seeing; a second answer changes nothing.
    [pharmacist] = h.rows(ChangeRecipient, change_id=change.id, user_id=PHARMACIST)
    assert pharmacist.seen_at is not None
    h.action(PHARMACIST, Action.MED_NO_CONCERN, str(change.id), channel="D0PHARM")
    assert "already recorded" in reply_text(h.ephemerals(PHARMACIST)[-1])
    assert h.get(MedicationChange, change.id).interaction == "concern"


def test_no_concern_is_one_click(harness):
    h = harness
    change = _change_case(h)
    h.action(PHARMACIST, Action.MED_NO_CONCERN, str(change.id), channel="D0PHARM")
    assert h.get(MedicationChange, change.id).interaction == "no_concern"
    told = [m for m in h.dms(PRESCRIBER) if m["text"] == "Interaction check on case C-1"]
    assert told and "*no concern*" in reply_text(told[-1])
    assert "Interaction check: no concern" in reply_text(h.updates(_ts(h, change.note_outbox_id))[-1])


def test_only_prescribers_on_the_team_change_medications(harness):
    h = harness
    care_team(h, TEAM, meds=("sertraline 100 mg every morning",))
    h.command(THERAPIST, "med C-1 change sertraline 150 mg every morning")
    assert "Only a prescriber on the care team can change medications" in h.last_reply_text()
    opened = len(h.slack.calls_to("views.open"))
    h.command(PHARMACIST, "med C-1 stop sertraline")
    assert "Only a prescriber" in h.last_reply_text()
    assert len(h.slack.calls_to("views.open")) == opened  # no form for them either
    h.command(OUTSIDER, "med C-1 change sertraline 150 mg")
    assert "don't have access" in h.last_reply_text() and "sertraline" not in h.last_reply_text()
    assert not h.rows(MedicationChange, kind="change")
    [med] = h.rows(Medication)
    assert h.deps.cipher.decrypt(med.detail_enc) == "100 mg every morning"
    denied = {(e.actor, e.outcome) for e in h.audit_events() if e.outcome == "denied"}
    assert {(THERAPIST, "denied"), (PHARMACIST, "denied"), (OUTSIDER, "denied")} <= denied
    # A bad change is explained and changes nothing.
    h.command(PRESCRIBER, "med C-1 change quetiapine 50 mg")
    assert "No active medication by that name on C-1" in h.last_reply_text()
    h.command(PRESCRIBER, "med C-1 change sertraline 100 mg every morning")
    assert "already has" in h.last_reply_text()
    assert not h.rows(MedicationChange, kind="change")


def test_multi_word_names_the_form_and_kinds(harness):
    h = harness
    care_team(h, TEAM)
    h.command(PRESCRIBER, 'med C-1 add "lithium carbonate ER" 300 mg twice daily')
    [lithium] = h.rows(Medication)
    assert h.deps.cipher.decrypt(lithium.name_enc) == "lithium carbonate ER"
    assert h.deps.cipher.decrypt(lithium.detail_enc) == "300 mg twice daily"
    h.command(PRESCRIBER, "med C-1 change \u201cLithium Carbonate ER\u201d 450 mg twice daily")
    assert h.deps.cipher.decrypt(h.get(Medication, lithium.id).detail_enc) == "450 mg twice daily"

    # `add` alone opens the form: a name of several words, its kind, the reasons.
    view = open_med_form(h, PRESCRIBER, "med C-1 add")
    assert view["callback_id"] == Callback.MEDICATION_FORM
    assert json.loads(view["private_metadata"]) == {"case": 1, "verb": "add", "report": None}
    submit_med_form(
        h,
        PRESCRIBER,
        view,
        name="St John's wort",
        kind="herbal",
        detail="300 mg daily",
        reason="patient already takes it",
        watch="serotonin toxicity signs",
    )
    [wort] = [m for m in h.rows(Medication) if h.deps.cipher.decrypt(m.name_enc) == "St John's wort"]
    assert wort.kind == "herbal"
    h.command(PRESCRIBER, "show C-1")
    assert "*St John's wort* 300 mg daily (herbal, since" in h.last_reply_text()
    [start] = h.rows(MedicationChange, medication_id=wort.id)
    assert h.deps.cipher.decrypt(start.watch_enc) == "serotonin toxicity signs"
    assert "Saved the medication change on C-1" in reply_text(h.dms(PRESCRIBER)[-1])

    # A stop needs a taper plan: the form says so on its field and nothing changes.
    view = open_med_form(h, PRESCRIBER, 'med C-1 stop "lithium carbonate ER"')
    assert blocks_by_id(view)[BlockId.MED_PICK]["element"]["initial_option"]["value"] == str(lithium.id)
    refused = submit_med_form(h, PRESCRIBER, view)
    assert BlockId.MED_TAPER in json.loads(refused.body)["errors"]
    assert h.get(Medication, lithium.id).active is True
    submit_med_form(h, PRESCRIBER, view, taper="300 mg for a week, then stop", reason="renal function")
    assert h.get(Medication, lithium.id).active is False

    # A switch from the change form: the old one stops, the new one starts, one change row.
    h.command(PRESCRIBER, "med C-1 add sertraline 100 mg every morning")
    view = open_med_form(h, PRESCRIBER, "med C-1 change sertraline")
    submit_med_form(h, PRESCRIBER, view, switch_to="escitalopram", detail="10 mg every morning", taper="none")
    [switch] = h.rows(MedicationChange, kind="switch")
    assert h.get(Medication, switch.medication_id).active is False
    assert h.deps.cipher.decrypt(h.get(Medication, switch.new_medication_id).name_enc) == "escitalopram"

    # The history in /case show: each medication, its kind, start, changes and stop with reasons.
    h.command(PRESCRIBER, "show C-1")
    shown = h.last_reply_text()
    assert "Medication history" in shown
    assert "*lithium carbonate ER* (prescription, stopped)" in shown
    assert "300 mg twice daily → 450 mg twice daily" in shown
    assert "→ stopped · renal function" in shown
    assert "*St John's wort* (herbal, active)" in shown and "patient already takes it" in shown
    assert "→ *escitalopram* 10 mg every morning" in shown and "switched from sertraline" in shown


def test_a_plan_to_adjust_the_dose_offers_the_change_and_links_it(harness):
    h = harness
    care_team(h, TEAM, meds=("sertraline 100 mg every morning",))
    view = open_form(h, THERAPIST, "C-1")
    submit_report(h, THERAPIST, 1, medication=medication_value(view, "sertraline"))
    [report] = h.rows(SideEffectReport)
    # Adjust dose needs a note.
    h.action(PRESCRIBER, Action.SIDE_EFFECT_PLAN, str(report.id), channel="D0PRESC1")
    bare = h.submit(
        PRESCRIBER,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("adjust_dose")},
        private_metadata=str(report.id),
    )
    assert BlockId.SE_PLAN_NOTE in json.loads(bare.body)["errors"]
    h.submit(
        PRESCRIBER,
        Callback.SIDE_EFFECT_PLAN,
        {BlockId.SE_PLAN: select_value("adjust_dose"), BlockId.SE_PLAN_NOTE: text_value("lower the dose")},
        private_metadata=str(report.id),
    )
    assert h.get(SideEffectReport, report.id).status == ReportStatus.PLANNED
    summary_ts = _ts(h, h.get(SideEffectReport, report.id).summary_outbox_id)
    assert action_ids(h.updates(summary_ts)[-1]) == [Action.MED_RECORD_CHANGE]

    # Record the change: the change form, prefilled with the report's medication, linked.
    h.action(PRESCRIBER, Action.MED_RECORD_CHANGE, str(report.id), channel="D0PRESC1")
    form = h.last_view()
    assert json.loads(form["private_metadata"]) == {"case": 1, "verb": "change", "report": report.id}
    assert "SE-1" in reply_text({"blocks": form["blocks"]})
    assert blocks_by_id(form)[BlockId.MED_REASON]["element"]["initial_value"] == "side effect (SE-1)"
    submit_med_form(h, PRESCRIBER, form, detail="50 mg every morning")
    [change] = h.rows(MedicationChange, kind="change")
    assert change.side_effect_report_id == report.id
    final = h.updates(summary_ts)[-1]
    assert action_ids(final) == [] and "medication change recorded" in reply_text(final)
    note = h.updates(_ts(h, change.note_outbox_id)) or [p for p in h.posts(CHANNEL) if p["text"] == NOTE_TEXT]
    assert "after side-effect report SE-1" in reply_text(note[-1])
    # A therapist cannot open the change form from the report.
    opened = len(h.slack.calls_to("views.open"))
    h.action(THERAPIST, Action.MED_RECORD_CHANGE, str(report.id), channel=CHANNEL)
    assert len(h.slack.calls_to("views.open")) == opened


def test_fhir_export_carries_the_medication_history(harness):
    h = harness
    care_team(h, TEAM, meds=("sertraline 100 mg every morning",))
    h.clock.advance(timedelta(days=14))
    h.command(PRESCRIBER, "med C-1 change sertraline 150 mg every morning")
    h.clock.advance(timedelta(days=14))
    submit_med_form(h, PRESCRIBER, open_med_form(h, PRESCRIBER, "med C-1 stop sertraline"), taper="none")
    h.command(PRESCRIBER, "C-1 export fhir", command="/audit")
    complete = h.slack.calls_to("files.completeUploadExternal")[-1].args
    files = complete["files"] if isinstance(complete["files"], list) else json.loads(complete["files"])
    content = h.slack.uploads[files[0]["id"]]
    bundle = Bundle.model_validate_json(content)  # fhir.resources validates every resource
    statements = [
        e.resource.model_dump(mode="json")
        for e in bundle.entry
        if e.resource.get_resource_type() == "MedicationStatement"
    ]
    assert [s["dosage"][0]["text"] for s in statements] == ["100 mg every morning", "150 mg every morning"]
    assert all(s["medication"]["concept"]["text"] == "sertraline" for s in statements)
    assert all(s["subject"]["identifier"]["value"] == "C-1" for s in statements)
    assert statements[0]["effectivePeriod"]["end"] == statements[1]["effectivePeriod"]["start"]
    assert "end" in statements[1]["effectivePeriod"] and "stop" in statements[1]["note"][0]["text"]
    # The JSON export carries the same history.
    h.command(PRESCRIBER, "C-1 export json", command="/audit")
    complete = h.slack.calls_to("files.completeUploadExternal")[-1].args
    files = complete["files"] if isinstance(complete["files"], list) else json.loads(complete["files"])
    doc = json.loads(h.slack.uploads[files[0]["id"]])
    [history] = doc["medications"]
    assert [e["change"] for e in history["history"]] == ["start", "change", "stop"]


def test_a_reminder_waits_for_the_persons_working_hours(harness):
    h = harness
    change = _change_case(h)
    # Late evening is outside working hours: the reminder waits for them, then goes once.
    due = h.rows(ChangeRecipient, change_id=change.id, user_id=MANAGER)[0].remind_at
    h.clock.advance(due.replace(hour=23) - h.clock.now())  # evening in UTC and in New York
    run_sweep(h.deps)
    h.settle()
    [deferred] = h.rows(ChangeRecipient, change_id=change.id, user_id=MANAGER)
    assert deferred.reminded_at is None and deferred.remind_at > h.clock.now()
    assert ("medication.reminder_deferred", "ok") in h.audit_actions(case_id=1)
    h.clock.advance(deferred.remind_at - h.clock.now())
    run_sweep(h.deps)
    h.settle()
    assert h.rows(ChangeRecipient, change_id=change.id, user_id=MANAGER)[0].reminded_at == h.clock.now()


def test_nobody_is_reminded_once_everyone_has_seen_it(harness):
    h = harness
    change = _change_case(h)
    h.action(THERAPIST, Action.MED_SEEN, str(change.id), channel="D0THERA")
    h.action(MANAGER, Action.MED_SEEN, str(change.id), channel="D0CASEM")
    assert [r.remind_at is None for r in h.rows(ChangeRecipient, change_id=change.id)] == [True, True, False]
    h.action(PHARMACIST, Action.MED_NO_CONCERN, str(change.id), channel="D0PHARM")  # seen, and checked
    assert all(r.remind_at is None for r in h.rows(ChangeRecipient, change_id=change.id))
    assert "(3 of 3)" in reply_text(h.updates(_ts(h, change.note_outbox_id))[-1])
    h.clock.advance(timedelta(days=3))
    run_sweep(h.deps)
    h.settle()
    assert not [r for r in h.rows(ChangeRecipient, change_id=change.id) if r.reminder_outbox_id]


def test_app_home_lists_changes_waiting_to_be_seen(harness):
    h = harness
    change = _change_case(h)

    def home(user: str, channel: str) -> str:
        before = len(h.slack.calls_to("views.publish"))
        h.event({"type": "app_home_opened", "user": user, "tab": "home", "channel": channel})
        return reply_text(h.slack.wait_for("views.publish", before + 1)[-1].args["view"])

    # The manager has two: the start when the case was set up, and the change.
    assert home(MANAGER, "D0CASEM").count("*C-1* medication change: waiting for you to mark it seen") == 2
    assert "mark it seen" not in home(PRESCRIBER, "D0PRESC1")  # who made them is not asked
    h.action(MANAGER, Action.MED_SEEN, str(change.id), channel="D0CASEM")
    assert home(MANAGER, "D0CASEM").count("mark it seen") == 1
