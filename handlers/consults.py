"""Slack listeners for psychiatric consultation: `/consult ...`, Request consultation, the
consultant's Record recommendation form, the prescriber's Accept / Modify / Decline. Thin:
read the payload, call one service, reply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse

from bot import forms
from bot.access import case_ref
from bot.auditlog import Source
from bot.consults import commands as parsing
from bot.consults import service as consults
from bot.consults.commands import CONSULT_USAGE
from bot.consults.service import MAX_RECOMMENDATION, MAX_RESPONSE_NOTE
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import FieldCheck, Help, clean_text, parse_id, whole_number
from bot.render import Renderer
from bot.unit import Actor, Unit
from handlers import actors
from handlers.replies import Reply, dm, ephemeral, read_submission, replying, where_clicked

STALE = "That consultation button is out of date. Open it again from the case thread."


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.CONSULT)(inbox.listener("consults.command", _command))
    app.action(Action.CONSULT_REQUEST)(inbox.listener("consults.request_clicked", _request_clicked))
    app.action(Action.CONSULT_ACCEPT)(inbox.listener("consults.accept_clicked", _accept_clicked))
    app.action(Action.CONSULT_RECOMMEND)(
        inbox.listener("consults.recommend_clicked", _open_recommendation, opens_form=lambda _body: True)
    )
    for action, choice in ((Action.CONSULT_MODIFY, "modify"), (Action.CONSULT_DECLINE, "decline")):
        app.action(action)(
            inbox.listener(
                f"consults.{choice}_clicked", _response_opener(choice), opens_form=lambda _body: True
            )
        )
    app.view(Callback.CONSULT_RECOMMEND)(
        _submission(
            deps,
            "consults.recommendation_submitted",
            "modal:consult_recommendation",
            _read_recommendation,
            _apply_recommendation,
            fallback=BlockId.CONSULT_RECOMMENDATION,
        )
    )
    app.view(Callback.CONSULT_RESPOND)(
        _submission(
            deps,
            "consults.response_submitted",
            "modal:consult_response",
            _read_response,
            _apply_response,
            fallback=BlockId.CONSULT_RESPONSE_NOTE,
        )
    )


# -- the command -------------------------------------------------------------------------------


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/consult", reply):
        command = parsing.parse_consult_command(body.get("text") or "")
        _run(deps, actor, command, reply)


# `/consult` commands that only read (and audit that they did): their units read in a snapshot.
VIEWS = (parsing.MinutesReport,)


def _run(deps: Deps, actor: Actor, command: parsing.ConsultCommand, reply: Reply) -> None:
    render = deps.renderer.message
    if isinstance(command, Help):
        reply(render("consults/consult_help", usage=list(CONSULT_USAGE.values())))
        return
    # The caller's Slack time zone dates their minutes; read before the unit (own session).
    tz = deps.gateway.user(actor.user_id).tz if isinstance(command, parsing.LogMinutes) else None
    with deps.unit(actor, reads_only=isinstance(command, VIEWS)) as unit:
        match command:
            case parsing.RequestConsult(case_id=case_id, reason=reason):
                consults.request_consult(unit, case_id=case_id, reason=reason)
                message = _requested(deps, case_id)
            case parsing.LogMinutes(case_id=case_id, minutes=minutes, on=on):
                row = consults.log_minutes(unit, case_id=case_id, minutes=minutes, on=on, tz=tz)
                message = render(
                    "core/reply",
                    text=f"Logged {row.minutes} minutes of consultant review on C-{case_id} for "
                    f"{row.on_date.isoformat()}.",
                    hint=f"Monthly totals: `/consult minutes {row.on_date:%Y-%m}`.",
                )
            case parsing.MinutesReport(year=year, month=month):
                message = render(
                    "consults/consult_minutes", t=consults.minutes_totals(unit, year=year, month=month)
                )
            case _:  # pragma: no cover - the parser returns only the types above
                raise BadInput("Unknown command.", usage=CONSULT_USAGE["help"])
        reply(message)  # in the unit: the reply is queued in the same commit as what it reports


def _requested(deps: Deps, case_id: int) -> dict[str, Any]:
    return deps.renderer.message(
        "core/reply",
        text=f"Consultation requested on C-{case_id}: the consultant was notified.",
        hint="The request, the recommendation and the prescriber's answer are posted in the case thread.",
    )


# -- buttons -----------------------------------------------------------------------------------


def _request_clicked(deps: Deps, body: dict[str, Any]) -> None:
    """Request consultation (in `/case show` and the caseload digest; value: the case id)."""
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:consult_request", reply):
        case_id = parse_id(_value(body), stale=STALE)
        with deps.unit(actor) as unit:
            consults.request_consult(unit, case_id=case_id, reason=None)
            reply(_requested(deps, case_id))  # in the unit: committed with the request


def _accept_clicked(deps: Deps, body: dict[str, Any]) -> None:
    """Accept needs no note: one click records it (a second click finds it settled)."""
    actor = actors.from_interaction(body, Source.BUTTON)
    reply = where_clicked(deps, body, actor.user_id)
    with replying(deps, actor, "button:consult_accept", reply):
        consult_id = parse_id(_value(body), stale=STALE)
        with deps.unit(actor) as unit:
            answered = consults.respond(unit, consult_id=consult_id, choice="accept", note=None)
            reply(
                deps.renderer.message(
                    "core/reply",
                    text=f"You accepted the consultant's recommendation on {case_ref(answered.case_id)}.",
                    hint="It is recorded in the case thread and the consultant was told.",
                )
            )


def _open_recommendation(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    with replying(deps, actor, "button:consult_recommend", where_clicked(deps, body, actor.user_id)):
        consult_id = parse_id(_value(body), stale=STALE)
        with deps.unit(actor) as unit:
            form = consults.recommendation_form(unit, consult_id=consult_id)
        deps.gateway.open_view(body["trigger_id"], recommendation_view(deps.renderer, form))


def _response_opener(choice: str) -> Callable[[Deps, dict[str, Any]], None]:
    def open_form(deps: Deps, body: dict[str, Any]) -> None:
        actor = actors.from_interaction(body, Source.BUTTON)
        with replying(deps, actor, f"button:consult_{choice}", where_clicked(deps, body, actor.user_id)):
            consult_id = parse_id(_value(body), stale=STALE)
            with deps.unit(actor) as unit:
                form = consults.response_form(unit, consult_id=consult_id, choice=choice)
            deps.gateway.open_view(body["trigger_id"], response_view(deps.renderer, form))

    return open_form


def _value(body: dict[str, Any]) -> Any:
    return ((body.get("actions") or [{}])[0]).get("value")


# -- modals ------------------------------------------------------------------------------------


def _submission(
    deps: Deps,
    key: str,
    name: str,
    read: Callable[[dict[str, Any]], Any],
    apply: Callable[[Unit, str, Any], None],
    *,
    fallback: str,
) -> Callable[..., BoltResponse | None]:
    """Field errors back on the modal in the ack; then saved to the inbox and done once per
    submission, errors by DM (the modal is gone)."""

    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        if read_submission(deps, ack, actor, name, lambda: read(view), fallback=fallback) is None:
            return None
        return deps.inbox.accept(key, request, ack)

    def submit(deps: Deps, body: dict[str, Any]) -> None:
        actor = actors.from_interaction(body, Source.MODAL)
        view = body.get("view") or {}
        with replying(deps, actor, name, dm(deps, actor.user_id)):
            values = read(view)
            with deps.unit(actor) as unit:
                unit.once(f"view:{view.get('id')}")
                apply(unit, forms.metadata(view), values)

    deps.inbox.route(key, submit)
    return listener


def recommendation_view(renderer: Renderer, form: consults.ConsultView) -> dict[str, Any]:
    """The consultant's "Record recommendation" modal."""
    return renderer.view(
        "consults/consult_recommend_form",
        callback_id=Callback.CONSULT_RECOMMEND,
        v=form,
        block=BlockId,
        max_text=MAX_RECOMMENDATION,
    )


def response_view(renderer: Renderer, form: consults.ConsultView) -> dict[str, Any]:
    """The prescriber's Modify / Decline modal (a note or a reason)."""
    return renderer.view(
        "consults/consult_response_form",
        callback_id=Callback.CONSULT_RESPOND,
        v=form,
        block=BlockId,
        max_note=MAX_RESPONSE_NOTE,
    )


def _read_recommendation(view: dict[str, Any]) -> tuple[str, int | None]:
    check = FieldCheck()
    text = check(
        BlockId.CONSULT_RECOMMENDATION,
        clean_text,
        forms.text(view, BlockId.CONSULT_RECOMMENDATION),
        what="recommendation",
        limit=MAX_RECOMMENDATION,
        lines=True,
        required=True,
        field=BlockId.CONSULT_RECOMMENDATION,
    )
    raw = forms.text(view, BlockId.CONSULT_MINUTES).strip()
    minutes = whole_number(raw)
    if raw and (minutes is None or not 1 <= minutes <= parsing.MAX_MINUTES):
        check.add(
            BlockId.CONSULT_MINUTES,
            f"Minutes are a whole number from 1 to {parsing.MAX_MINUTES}; leave it empty to log none.",
        )
    check.done()
    return text or "", minutes if raw else None


def _read_response(view: dict[str, Any]) -> str:
    check = FieldCheck()
    note = check(
        BlockId.CONSULT_RESPONSE_NOTE,
        clean_text,
        forms.text(view, BlockId.CONSULT_RESPONSE_NOTE),
        what="note",
        limit=MAX_RESPONSE_NOTE,
        lines=True,
        required=True,
        field=BlockId.CONSULT_RESPONSE_NOTE,
    )
    check.done()
    return note or ""


def _apply_recommendation(unit: Unit, metadata: str, values: tuple[str, int | None]) -> None:
    text, minutes = values
    consults.recommend(unit, consult_id=parse_id(metadata, stale=STALE), recommendation=text, minutes=minutes)


def _apply_response(unit: Unit, metadata: str, note: str) -> None:
    raw_id, _, choice = metadata.partition(":")
    if choice not in ("modify", "decline"):
        raise BadInput(STALE)
    consults.respond(unit, consult_id=parse_id(raw_id, stale=STALE), choice=choice, note=note)
