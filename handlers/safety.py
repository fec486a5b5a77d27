"""Slack listeners for safety: `/safety <case>`, the public Start button (SAFETY_START, value:
the case id) any workflow may put in a message, the form's submission, and Acknowledge.
Thin: ack, read, call a service."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.auditlog import Outcome, Source
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import Help, parse_id
from bot.safety import service as safety
from bot.safety.commands import SAFETY_USAGE, OpenSafetyForm, parse_safety_command
from bot.safety.forms import read_safety, safety_view
from bot.side_effects.settings import deadlines
from bot.unit import Actor
from handlers import actors
from handlers.home import refresh_if_clicked_on_home
from handlers.replies import dm, ephemeral, read_submission, replying, where_clicked
from storage.side_effects import Severity


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.SAFETY)(inbox.listener("safety.command", _command, opens_form=_opens_form))
    app.action(Action.SAFETY_START)(inbox.listener("safety.start", _start, opens_form=lambda _body: True))
    app.action(Action.SAFETY_ACK)(inbox.listener("safety.acknowledge", _acknowledge))
    inbox.route("safety.submitted", _submit)

    @app.view(Callback.SAFETY_FORM)
    def submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps,
            ack,
            actor,
            "modal:safety_form",
            lambda: read_safety(view, today=_clinic_today(deps)),
            fallback=BlockId.SAFETY_WARNING_SIGNS,
        )
        if form is None:
            return None
        return inbox.accept("safety.submitted", request, ack)


def _clinic_today(deps: Deps) -> date:
    """Today in the clinic's zone: the follow-up date picked is a clinic day."""
    return deps.clock.now().astimezone(deps.settings.clinic.zone).date()


def _opens_form(body: dict[str, Any]) -> bool:
    try:
        return isinstance(parse_safety_command(body.get("text") or ""), OpenSafetyForm)
    except BadInput:
        return False  # the processing function replies with what was wrong


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/safety", reply):
        match parse_safety_command(body.get("text") or ""):
            case Help():
                reply(
                    deps.renderer.message(
                        "safety/safety_help",
                        usage=list(SAFETY_USAGE.values()),
                        deadline=deadlines(deps.settings).describe(Severity.URGENT),
                    )
                )
            case OpenSafetyForm(case_id=case_id):
                _open_form(deps, actor, body, case_id)


def _start(deps: Deps, body: dict[str, Any]) -> None:
    """The Start button another workflow's message carries: open the form for its case."""
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:safety_start", reply):
        value = ((body.get("actions") or [{}])[0]).get("value")
        case_id = parse_id(value, stale="This button is out of date. Run `/safety <case>` instead.")
        _open_form(deps, actor, body, case_id)


def _open_form(deps: Deps, actor: Actor, body: dict[str, Any], case_id: int) -> None:
    with deps.unit(actor) as unit:
        case_ref = safety.form_case(unit, case_id=case_id)
    deps.gateway.open_view(
        body["trigger_id"], safety_view(deps, case_id=case_id, case_ref=case_ref, owner=actor.user_id)
    )
    deps.record(actor, "safety.form_opened", Outcome.OK, case_id=case_id)


def _submit(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:safety_form", dm(deps, actor.user_id)):
        form = read_safety(view, today=_clinic_today(deps))
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            safety.record(unit, form)


def _acknowledge(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:safety_ack", reply), deps.unit(actor) as unit:
        value = ((body.get("actions") or [{}])[0]).get("value")
        safety.acknowledge(unit, record_id=parse_id(value, stale="This button is out of date."))
    refresh_if_clicked_on_home(deps, body, actor)
