"""Slack listeners for measurement-based care: `/score`, `/registry` (with `/registry minutes
<YYYY-MM>`, the consultant's minutes kept by bot/consults) and the Acknowledge button of a
PHQ-9 item 9 alert. Thin: ack, parse, call one service, reply."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.auditlog import Source
from bot.consults import service as consults
from bot.deps import Deps
from bot.ids import Action, Command
from bot.inputs import Help, parse_id
from bot.measures import registry, service
from bot.measures.commands import (
    ALL_REGISTRY_USAGE,
    SCORE_USAGE,
    RecordScore,
    RegistryMinutes,
    ShowScores,
    parse_registry_command,
    parse_score_command,
)
from bot.side_effects.settings import deadlines
from handlers import actors
from handlers.home import refresh_if_clicked_on_home
from handlers.replies import ephemeral, replying, where_clicked
from storage.side_effects import Severity


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.SCORE)(inbox.listener("measures.score", _score))
    app.command(Command.REGISTRY)(inbox.listener("measures.registry", _registry))
    app.action(Action.SCORE_ITEM9_ACK)(inbox.listener("measures.item9_ack", _acknowledge))


def _score(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/score", reply):
        match parse_score_command(body.get("text") or ""):
            case Help():
                reply(_help(deps))
            case ShowScores(case_id=case_id):  # a view: reads in a snapshot (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    summary, courses = service.show_scores(unit, case_id=case_id)
                    reply(deps.renderer.message("measures/score_list", s=summary, courses=courses))
            case RecordScore() as command:
                with deps.unit(actor) as unit:
                    recorded = service.record_score(
                        unit,
                        case_id=command.case_id,
                        instrument=command.instrument,
                        value=command.value,
                        item9=command.item9,
                        taken_on=command.taken_on,
                    )
                    reply(deps.renderer.message("measures/score_recorded", r=recorded))


def _registry(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/registry", reply):
        match parse_registry_command(body.get("text") or ""):
            case Help():
                reply(_help(deps))
            case RegistryMinutes(year=year, month=month):  # every /registry is a view (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    totals = consults.minutes_totals(unit, year=year, month=month)
                    reply(deps.renderer.message("consults/consult_minutes", t=totals))
            case command:
                with deps.unit(actor, reads_only=True) as unit:
                    found = registry.registry_for(unit, everything=command.everything)
                    reply(deps.renderer.message("measures/registry", r=found, home=False))


def _acknowledge(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = (body.get("actions") or [{}])[0]
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:score_item9_ack", reply), deps.unit(actor) as unit:
        alert_id = parse_id(action.get("value"), stale="That button no longer points at an alert.")
        service.acknowledge_alert(unit, alert_id=alert_id)
    refresh_if_clicked_on_home(deps, body, actor)


def _help(deps: Deps) -> dict[str, Any]:
    return deps.renderer.message(
        "measures/score_help",
        usage=[*SCORE_USAGE.values(), *ALL_REGISTRY_USAGE.split("; ")],
        deadline=deadlines(deps.settings).describe(Severity.URGENT),
    )
