"""Slack listeners for the adherence relay: `/adherence`, the report and plan modals, and the
Acknowledge / Record plan buttons. Thin: ack, read, call a service, reply."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot import forms
from bot.adherence import service as adherence
from bot.adherence.commands import (
    ADHERENCE_USAGE,
    ListAdherence,
    OpenAdherenceForm,
    parse_adherence_command,
    parse_report_id,
)
from bot.adherence.forms import plan_view, read_plan, read_report, report_view
from bot.auditlog import Outcome, Source
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import Help
from bot.side_effects.policy import SEVERITY_WORDS
from bot.side_effects.settings import deadlines
from handlers import actors
from handlers.home import refresh_if_clicked_on_home
from handlers.replies import dm, ephemeral, read_submission, replying, where_clicked
from storage.side_effects import Severity


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.ADHERENCE)(inbox.listener("adherence.command", _command, opens_form=_opens_form))
    app.action(Action.ADHERENCE_ACK)(inbox.listener("adherence.acknowledge", _acknowledge))
    app.action(Action.ADHERENCE_PLAN)(
        inbox.listener("adherence.plan_clicked", _open_plan, opens_form=lambda _body: True)
    )
    inbox.route("adherence.report_submitted", _submit_report)
    inbox.route("adherence.plan_submitted", _record_plan)

    @app.view(Callback.ADHERENCE_REPORT)
    def report_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps, ack, actor, "modal:adherence_report", lambda: read_report(view), fallback=BlockId.AD_REASON
        )
        if form is None:
            return None
        return inbox.accept("adherence.report_submitted", request, ack)

    @app.view(Callback.ADHERENCE_PLAN)
    def plan_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        read = read_submission(
            deps, ack, actor, "modal:adherence_plan", lambda: read_plan(view), fallback=BlockId.AD_PLAN_NOTE
        )
        if read is None:
            return None
        return inbox.accept("adherence.plan_submitted", request, ack)


def _opens_form(body: dict[str, Any]) -> bool:
    """`/adherence C-12` opens the report form: its trigger_id lasts 3 s."""
    try:
        return isinstance(parse_adherence_command(body.get("text") or ""), OpenAdherenceForm)
    except BadInput:
        return False


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/adherence", reply):
        match parse_adherence_command(body.get("text") or ""):
            case Help():
                reply(_help(deps))
            case OpenAdherenceForm(case_id=case_id, reason=reason):
                with deps.unit(actor, reads_only=True) as unit:  # reads the form's options
                    choices = adherence.form_choices(unit, case_id=case_id)
                deps.gateway.open_view(body["trigger_id"], report_view(deps, choices, reason=reason))
                deps.record(actor, "adherence.form_opened", Outcome.OK, case_id=case_id)
            case ListAdherence(case_id=case_id):  # a view: reads in a snapshot (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    ref, lines = adherence.list_reports(unit, case_id=case_id)
                    reply(deps.renderer.message("adherence/adherence_list", case_ref=ref, lines=lines))


def _submit_report(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:adherence_report", dm(deps, actor.user_id)):
        form = read_report(view)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            adherence.submit_report(unit, form)


def _acknowledge(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:adherence_ack", reply), deps.unit(actor) as unit:
        adherence.acknowledge(unit, report_id=parse_report_id(_action(body).get("value")))
    refresh_if_clicked_on_home(deps, body, actor)


def _open_plan(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:adherence_plan", reply):
        report_id = parse_report_id(_action(body).get("value"))
        with deps.unit(actor) as unit:
            card = adherence.plan_context(unit, report_id=report_id)
        deps.gateway.open_view(body["trigger_id"], plan_view(deps, card))
        deps.record(actor, "adherence.plan_form_opened", Outcome.OK, case_id=card.case_id, ref=card.ref)


def _record_plan(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:adherence_plan", dm(deps, actor.user_id)):
        plan, note = read_plan(view)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            report_id = parse_report_id(forms.metadata(view))
            adherence.record_plan(unit, report_id=report_id, plan=plan, note=note)


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("actions") or [{}])[0]


def _help(deps: Deps) -> dict[str, Any]:
    rules = deadlines(deps.settings)
    return deps.renderer.message(
        "adherence/adherence_help",
        usage=list(ADHERENCE_USAGE.values()),
        high=f"{SEVERITY_WORDS[Severity.HIGH].lower()} {rules.describe(Severity.HIGH)}",
        moderate=f"{SEVERITY_WORDS[Severity.MODERATE].lower()} {rules.describe(Severity.MODERATE)}",
    )
