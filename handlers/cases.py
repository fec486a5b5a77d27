"""Slack listeners for shared cases: `/case ...`, the New case modal, and App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import inputs
from bot.auditlog import Outcome, Source
from bot.cases import commands as parsing
from bot.cases import home
from bot.cases import service as cases
from bot.cases.commands import CASE_USAGE
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback, Command
from bot.inputs import ROLE_HELP
from bot.unit import Actor
from handlers import actors, forms
from handlers.replies import Reply, dm, ephemeral, replying
from storage.cases import ROLE_TITLES, Role

ROLE_PLURAL = {
    Role.PRESCRIBER.value: "Prescribers",
    Role.THERAPIST.value: "Therapists",
    Role.CASE_MANAGER.value: "Case managers",
    Role.PCP.value: "Primary care",
    Role.PHARMACIST.value: "Pharmacists",
}


def register(app: App, deps: Deps) -> None:
    @app.command(Command.CASE)
    def case_command(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        deps.later(_case_command, deps, body, ephemeral(respond))

    @app.view(Callback.CASE_CREATE)
    def case_create_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        actor = actors.from_interaction(body, Source.MODAL)
        try:
            form = _read_create_form(view)
        except BadInput as err:
            ack(response_action="errors", errors={err.field or BlockId.LABEL: err.message})
            deps.later(deps.record, actor, "modal:case_create", Outcome.BAD_INPUT, field=err.field)
            return
        ack()
        deps.later(_create_from_form, deps, actor, view, form)

    @app.event("app_home_opened")
    def home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        actor = actors.from_event(body, event.get("user"), Source.HOME)
        deps.later(_publish_quietly, deps, actor)


def _case_command(deps: Deps, body: dict[str, Any], reply: Reply) -> None:
    actor = actors.from_command(body)
    with replying(deps, actor, "command:/case", reply):
        command = parsing.parse_case_command(body.get("text") or "")
        _run(deps, actor, body, command, reply)


def _create_from_form(deps: Deps, actor: Actor, view: dict[str, Any], form: dict[str, Any]) -> None:
    channel = forms.metadata(view)
    with replying(deps, actor, "modal:case_create", dm(deps, actor.user_id)), deps.unit(actor) as unit:
        unit.once(f"view:{view.get('id')}")
        created = cases.create_case(unit, channel=channel, **form)
        unit.ephemeral(
            channel=channel,
            user=actor.user_id,
            purpose="case_created_reply",
            case_id=created.id,
            message=_created_message(deps, created),
        )


def _run(deps: Deps, actor, body: dict[str, Any], command: parsing.CaseCommand, reply: Reply) -> None:
    render = deps.renderer.message
    if isinstance(command, parsing.Help):
        deps.record(actor, "help.viewed", Outcome.OK, command=str(Command.CASE))
        reply(render("cases/help", case_usage=list(CASE_USAGE.values()), roles=ROLE_HELP))
        return
    if isinstance(command, parsing.CreateCase) and command.label is None:
        deps.gateway.open_view(body["trigger_id"], _create_form(deps, body.get("channel_id") or ""))
        deps.record(actor, "case.create_form_opened", Outcome.OK)
        return
    with deps.unit(actor) as unit:
        match command:
            case parsing.CreateCase(label=str(label), role=role):  # None opened the form above
                created = cases.create_case(
                    unit, label=label, role=role, channel=body.get("channel_id") or ""
                )
                message = _created_message(deps, created)
            case parsing.AddMember(case_id=case_id, user_id=user_id, role=role):
                cases.add_member(unit, case_id=case_id, user_id=user_id, role=role)
                message = render(
                    "core/reply",
                    text=f"Added <@{user_id}> to C-{case_id} as {role.display.lower()}.",
                    hint=None,
                )
            case parsing.RemoveMember(case_id=case_id, user_id=user_id):
                cases.remove_member(unit, case_id=case_id, user_id=user_id)
                message = render("core/reply", text=f"Removed <@{user_id}> from C-{case_id}.", hint=None)
            case parsing.ShowCase(case_id=case_id):
                message = render("cases/case_show", c=cases.show_case(unit, case_id=case_id))
            case parsing.ListCases(all=everything):
                message = render(
                    "cases/case_list",
                    cases=cases.list_cases(unit, everything=everything),
                    everything=everything,
                )
            case parsing.CloseCase(case_id=case_id, reason=reason):
                cases.close_case(unit, case_id=case_id, reason=reason)
                message = render(
                    "core/reply", text=f"Closed C-{case_id}.", hint=f"`/case reopen C-{case_id}` undoes it."
                )
            case parsing.ReopenCase(case_id=case_id):
                cases.reopen_case(unit, case_id=case_id)
                message = render("core/reply", text=f"Reopened C-{case_id}.", hint=None)
            case parsing.AddMedication(case_id=case_id, name=name, detail=detail):
                cases.add_medication(unit, case_id=case_id, name=name, detail=detail)
                message = render(
                    "core/reply",
                    text=f"Added a medication to C-{case_id}; the thread has the details.",
                    hint=None,
                )
            case parsing.StopMedication(case_id=case_id, name=name):
                cases.stop_medication(unit, case_id=case_id, name=name)
                message = render(
                    "core/reply",
                    text=f"Stopped a medication on C-{case_id}; the thread has the details.",
                    hint=None,
                )
            case _:  # pragma: no cover - the parser returns only the types above
                raise BadInput("Unknown command.", usage=CASE_USAGE["help"])
    reply(message)


def _created_message(deps: Deps, created: cases.CaseSummary) -> dict[str, Any]:
    return deps.renderer.message(
        "cases/case_created",
        ref=created.ref,
        label=created.label,
        channel=created.home_channel,
        role_title=Role(created.role).display if created.role else "member",
    )


def _create_form(deps: Deps, channel: str) -> dict[str, Any]:
    if not channel or channel.startswith("D"):
        raise BadInput(
            "Run `/case create` in the care-team channel where the case thread should live, not in a DM.",
            usage=CASE_USAGE["create"],
        )
    role_options = [{"text": {"type": "plain_text", "text": ROLE_TITLES[r]}, "value": r.value} for r in Role]
    return deps.renderer.view(
        "cases/case_create",
        callback_id=Callback.CASE_CREATE,
        channel=channel,
        block=BlockId,
        roles=list(Role),
        role_options=role_options,
        role_plural=ROLE_PLURAL,
        max_label=parsing.MAX_LABEL,
    )


def _read_create_form(view: dict[str, Any]) -> dict[str, Any]:
    usage = CASE_USAGE["create"]
    label = inputs.clean_text(
        forms.text(view, BlockId.LABEL), what="label", limit=parsing.MAX_LABEL, usage=usage
    )
    if not label:
        raise BadInput("Give the case a pseudonymous label.", field=BlockId.LABEL)
    role = inputs.parse_role(forms.option(view, BlockId.MY_ROLE) or "", usage=usage)
    others: list[tuple[str, Role]] = []
    seen: set[str] = set()
    me = (view.get("user") or {}).get("id")
    for member_role in Role:
        block = BlockId.members_for(member_role.value)
        for user_id in forms.users(view, block):
            if user_id in seen:
                raise BadInput("Pick each person once, under one role.", field=block)
            seen.add(user_id)
            if user_id != me:
                others.append((user_id, member_role))
    meds = []
    for line in forms.text(view, BlockId.MEDICATIONS).splitlines():
        if not line.strip():
            continue
        try:
            cleaned = inputs.clean_text(
                line, what="medication line", limit=parsing.MAX_MED_NAME + parsing.MAX_MED_DETAIL, usage=usage
            )
        except BadInput as err:
            raise BadInput(err.message, field=BlockId.MEDICATIONS) from None
        name, _, detail = cleaned.partition(" ")
        meds.append((name, detail or None))
    return {"label": label, "role": role, "others": others, "medications": meds}


def _publish_quietly(deps: Deps, actor) -> None:
    with replying(deps, actor, "home:opened", lambda _message: None):
        publish(deps, actor)


def publish(deps: Deps, actor) -> None:
    with deps.unit(actor) as unit:
        data = home.home_for(unit)
    view = deps.renderer.view("cases/home", cases=data.cases, waiting=data.waiting, now=deps.clock.now())
    deps.gateway.publish_home(actor.user_id, view)
