"""Slack listeners for medication changes: the medication form, Seen, the pharmacist's
interaction check (and its concern note), and Record the change on a side-effect plan.
`/case med` itself arrives through handlers/cases.py, which calls the same service. Thin:
ack, read, call a service."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.auditlog import Outcome, Source
from bot.deps import Deps
from bot.ids import Action, BlockId, Callback
from bot.inputs import parse_id
from bot.medications import service as medications
from bot.medications.forms import change_id_of, concern_view, form_view, read_concern, read_form
from bot.medications.service import ChangeCard
from bot.side_effects.commands import parse_report_id
from handlers import actors
from handlers.replies import dm, read_submission, replying, where_clicked
from storage.medications import InteractionCheck

STALE_BUTTON = "That button no longer works. `/case show <case>` shows the medication history."


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.action(Action.MED_SEEN)(inbox.listener("medications.seen", _seen))
    app.action(Action.MED_NO_CONCERN)(inbox.listener("medications.no_concern", _no_concern))
    app.action(Action.MED_CONCERN)(
        inbox.listener("medications.concern_clicked", _open_concern, opens_form=lambda _body: True)
    )
    app.action(Action.MED_RECORD_CHANGE)(
        inbox.listener("medications.record_change_clicked", _open_from_report, opens_form=lambda _body: True)
    )
    inbox.route("medications.form_submitted", _submit_form)
    inbox.route("medications.concern_submitted", _submit_concern)

    @app.view(Callback.MEDICATION_FORM)
    def form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps, ack, actor, "modal:medication_form", lambda: read_form(view), fallback=BlockId.MED_REASON
        )
        if form is None:
            return None
        return inbox.accept("medications.form_submitted", request, ack)

    @app.view(Callback.MEDICATION_CONCERN)
    def concern_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        note = read_submission(
            deps,
            ack,
            actor,
            "modal:medication_concern",
            lambda: read_concern(view),
            fallback=BlockId.MED_CONCERN_NOTE,
        )
        if note is None:
            return None
        return inbox.accept("medications.concern_submitted", request, ack)


def _submit_form(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:medication_form", dm(deps, actor.user_id)):
        form = read_form(view)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            card = medications.record_change(unit, form)
            unit.post(
                channel=actor.user_id,
                message=_saved(deps, card),
                purpose="medication_change_saved",
                case_id=form.case_id,
            )


def _seen(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:medication_seen", reply), deps.unit(actor) as unit:
        medications.mark_seen(unit, change_id=_change_id(body))


def _no_concern(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:medication_no_concern", reply), deps.unit(actor) as unit:
        medications.record_interaction(
            unit, change_id=_change_id(body), verdict=InteractionCheck.NO_CONCERN, note=None
        )


def _open_concern(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:medication_concern", reply):
        change_id = _change_id(body)
        with deps.unit(actor) as unit:
            card = medications.interaction_context(unit, change_id=change_id)
        deps.gateway.open_view(body["trigger_id"], concern_view(deps, card))
        deps.record(actor, "medication.concern_form_opened", Outcome.OK, change=change_id)


def _submit_concern(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:medication_concern", dm(deps, actor.user_id)):
        note = read_concern(view)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            medications.record_interaction(
                unit, change_id=change_id_of(view), verdict=InteractionCheck.CONCERN, note=note
            )


def _open_from_report(deps: Deps, body: dict[str, Any]) -> None:
    """Record the change a side-effect plan called for: the change form, linked to the report."""
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:medication_record_change", reply):
        value = ((body.get("actions") or [{}])[0]).get("value") or ""
        report_id = parse_report_id(value)
        with deps.unit(actor) as unit:
            context = medications.form_for_report(unit, report_id=report_id)
        deps.gateway.open_view(body["trigger_id"], form_view(deps, context))
        deps.record(actor, "medication.form_opened", Outcome.OK, case_id=context.case_id, report=report_id)


def _change_id(body: dict[str, Any]) -> int:
    return parse_id(((body.get("actions") or [{}])[0]).get("value"), stale=STALE_BUTTON)


def _saved(deps: Deps, card: ChangeCard) -> dict[str, Any]:
    return deps.renderer.message(
        "core/reply",
        text=f"Saved the medication change on {card.case_ref}; the case thread and the team have it.",
        hint=None,
    )
