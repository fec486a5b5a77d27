"""Slack listeners for the side-effect relay: `/sideeffect`, the report and plan modals,
the case picker, and the Acknowledge / Record plan buttons. Thin: ack, read, call a service."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot import forms
from bot.auditlog import Outcome, Source
from bot.deps import Deps
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import Help, parse_id
from bot.side_effects import recheck
from bot.side_effects import service as side_effects
from bot.side_effects import sweeps as side_effect_escalation
from bot.side_effects.commands import (
    SIDE_EFFECT_USAGE,
    ListReports,
    OpenReportForm,
    parse_report_id,
    parse_sideeffect_command,
)
from bot.side_effects.forms import plan_view, read_plan, read_report, report_view
from bot.side_effects.policy import DEFAULT_DEADLINES, SEVERITY_WORDS
from bot.side_effects.settings import deadlines
from handlers import actors
from handlers.home import refresh_if_clicked_on_home
from handlers.replies import dm, ephemeral, read_submission, replying, where_clicked

# The escalation sweep step registers itself when its module is imported (above).
SWEEP = side_effect_escalation.escalate_due
STALE_RECHECK = "That button no longer points at a recheck. `/sideeffect list <case>` shows the open reports."


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.SIDE_EFFECT)(inbox.listener("side_effects.command", _command, opens_form=_opens_form))
    # The picker form: a case was chosen, so offer that case's medication list (views.update).
    app.action({"block_id": BlockId.SE_CASE, "action_id": forms.VALUE})(
        inbox.listener("side_effects.case_picked", _case_picked, opens_form=lambda _body: True)
    )
    app.action(Action.SIDE_EFFECT_ACK)(inbox.listener("side_effects.acknowledge", _acknowledge))
    app.action(Action.SIDE_EFFECT_RECHECK)(
        inbox.listener("side_effects.recheck_clicked", _open_recheck, opens_form=lambda _body: True)
    )
    app.action(Action.SIDE_EFFECT_PLAN)(
        inbox.listener("side_effects.plan_clicked", _open_plan, opens_form=lambda _body: True)
    )
    inbox.route("side_effects.report_submitted", _submit_report)
    inbox.route("side_effects.plan_submitted", _record_plan)

    @app.view(Callback.SIDE_EFFECT_REPORT)
    def report_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps,
            ack,
            actor,
            "modal:side_effect_report",
            lambda: read_report(view, deps),
            fallback=BlockId.SE_NOTES,
        )
        if form is None:
            return None
        return inbox.accept("side_effects.report_submitted", request, ack)

    @app.view(Callback.SIDE_EFFECT_PLAN)
    def plan_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        read = read_submission(
            deps, ack, actor, "modal:side_effect_plan", lambda: read_plan(view), fallback=BlockId.SE_PLAN_NOTE
        )
        if read is None:
            return None
        return inbox.accept("side_effects.plan_submitted", request, ack)


def _opens_form(body: dict[str, Any]) -> bool:
    """`/sideeffect C-12` opens the report form: its trigger_id lasts 3 s."""
    return isinstance(parse_sideeffect_command(body.get("text") or ""), OpenReportForm)


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/sideeffect", reply):
        match parse_sideeffect_command(body.get("text") or ""):
            case Help():
                reply(_help(deps))
            case OpenReportForm(case_id=case_id, notes=notes):
                with deps.unit(actor, reads_only=True) as unit:  # reads the form's options
                    choices = side_effects.form_choices(unit, case_id=case_id)
                deps.gateway.open_view(body["trigger_id"], report_view(deps, choices, notes=notes))
                deps.record(actor, "side_effect.form_opened", Outcome.OK, case_id=case_id)
            case ListReports(case_id=case_id):  # a view: reads in a snapshot (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    ref, lines = side_effects.list_reports(unit, case_id=case_id)
                    reply(deps.renderer.message("side_effects/side_effect_list", case_ref=ref, lines=lines))


def _case_picked(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    action = _action(body)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:side_effect_pick_case", dm(deps, actor.user_id)):
        raw = (action.get("selected_option") or {}).get("value") or action.get("value") or ""
        case_id = parse_id(raw, stale="Pick a case from the list.")
        with deps.unit(actor, reads_only=True) as unit:
            choices = side_effects.form_choices(unit, case_id=case_id, picker=True)
        deps.gateway.update_view(view.get("id", ""), report_view(deps, choices), view_hash=view.get("hash"))


def _submit_report(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:side_effect_report", dm(deps, actor.user_id)):
        form = read_report(view, deps)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            if form.recheck_id is not None and form.outcome is not None:
                recheck.record(unit, recheck_id=form.recheck_id, form=form, outcome=form.outcome)
            else:
                side_effects.submit_report(unit, form)


def _open_recheck(deps: Deps, body: dict[str, Any]) -> None:
    """Rate it again: the report form, prefilled with the report's answers."""
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:side_effect_recheck", reply):
        recheck_id = parse_id(_action(body).get("value"), stale=STALE_RECHECK)
        with deps.unit(actor) as unit:
            choices, prefill = recheck.prefill(unit, recheck_id=recheck_id)
        deps.gateway.open_view(body["trigger_id"], report_view(deps, choices, recheck=prefill))
        deps.record(
            actor, "side_effect.recheck_form_opened", Outcome.OK, case_id=choices.case_id, recheck=recheck_id
        )


def _acknowledge(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = _action(body)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:side_effect_ack", reply), deps.unit(actor) as unit:
        side_effects.acknowledge(unit, report_id=parse_report_id(action.get("value")))
    refresh_if_clicked_on_home(deps, body, actor)


def _open_plan(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = _action(body)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:side_effect_plan", reply):
        report_id = parse_report_id(action.get("value"))
        with deps.unit(actor) as unit:
            card = side_effects.plan_context(unit, report_id=report_id)
        deps.gateway.open_view(body["trigger_id"], plan_view(deps, card))
        deps.record(actor, "side_effect.plan_form_opened", Outcome.OK, case_id=card.case_id, report=report_id)


def _record_plan(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:side_effect_plan", dm(deps, actor.user_id)):
        plan, note = read_plan(view)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            report_id = parse_report_id(forms.metadata(view))
            side_effects.record_plan(unit, report_id=report_id, plan=plan, note=note)


def _action(body: dict[str, Any]) -> dict[str, Any]:
    return (body.get("actions") or [{}])[0]


def _help(deps: Deps) -> dict[str, Any]:
    rules = deadlines(deps.settings)
    return deps.renderer.message(
        "side_effects/side_effect_help",
        usage=list(SIDE_EFFECT_USAGE.values()),
        deadlines=[
            {"word": SEVERITY_WORDS[severity], "span": rules.describe(severity)}
            for severity in DEFAULT_DEADLINES
        ],
    )
