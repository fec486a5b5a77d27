"""Slack listeners for shared cases: `/case ...`, the New case modal, and App Home."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.auditlog import Outcome, Source
from bot.cases import commands as parsing
from bot.cases import home
from bot.cases import service as cases
from bot.cases.commands import CASE_USAGE
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import BlockId, Callback, Command
from bot.inputs import ROLE_HELP, FieldCheck, Help, parse_role
from handlers import actors, forms
from handlers.replies import Reply, dm, ephemeral, read_submission, replying
from storage.cases import ROLE_TITLES, Role

ROLE_PLURAL = {
    Role.PRESCRIBER.value: "Prescribers",
    Role.THERAPIST.value: "Therapists",
    Role.CASE_MANAGER.value: "Case managers",
    Role.PCP.value: "Primary care",
    Role.PHARMACIST.value: "Pharmacists",
}


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.CASE)(inbox.listener("cases.command", _case_command, opens_form=_opens_form))
    inbox.route("cases.create_form", _create_from_form)
    inbox.route("cases.home_opened", _home_opened)

    @app.view(Callback.CASE_CREATE)
    def case_create_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps,
            ack,
            actor,
            "modal:case_create",
            lambda: _read_create_form(view, actor.user_id),
            fallback=BlockId.LABEL,
        )
        if form is None:
            return None
        return inbox.accept("cases.create_form", request, ack)

    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any], request: BoltRequest):
        if event.get("tab", "home") != "home":
            return None
        return inbox.accept("cases.home_opened", request, ack)


def _opens_form(body: dict[str, Any]) -> bool:
    """`/case create` with no label opens the New case form: its trigger_id lasts 3 s."""
    command = parsing.parse_case_command(body.get("text") or "")
    return isinstance(command, parsing.CreateCase) and command.label is None


def _case_command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/case", reply):
        command = parsing.parse_case_command(body.get("text") or "")
        _run(deps, actor, body, command, reply)


def _create_from_form(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    channel = forms.metadata(view)
    with replying(deps, actor, "modal:case_create", dm(deps, actor.user_id)):
        form = _read_create_form(view, actor.user_id)
        with deps.unit(actor) as unit:
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
    if isinstance(command, Help):
        deps.record(actor, "help.viewed", Outcome.OK, command=str(Command.CASE))
        reply(render("cases/help", case_usage=list(CASE_USAGE.values()), roles=ROLE_HELP))
        return
    if isinstance(command, parsing.CreateCase) and command.label is None:
        deps.gateway.open_view(body["trigger_id"], _create_form(deps, body.get("channel_id") or ""))
        deps.record(actor, "case.create_form_opened", Outcome.OK)
        return
    with deps.unit(actor) as unit:
        match command:
            case parsing.CreateCase(label=label, role=role):
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
        reply(message)  # in the unit: the reply is queued in the same commit as the change


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


def _read_create_form(view: dict[str, Any], creator: str) -> dict[str, Any]:
    """The New case form, by the rules of `/case create` and `/case med add`, every problem
    at once; then the new team's rules (cases.check_new_case), so nothing fails after the
    modal has closed."""
    check = FieldCheck()
    label = check(BlockId.LABEL, parsing.read_label, forms.text(view, BlockId.LABEL), field=BlockId.LABEL)
    role = check(BlockId.MY_ROLE, parse_role, forms.option(view, BlockId.MY_ROLE) or "", usage=None)
    others = [(user_id, r) for r in Role for user_id in forms.users(view, BlockId.members_for(r.value))]
    meds = []
    for line in forms.text(view, BlockId.MEDICATIONS).splitlines():
        if line.strip():
            meds.append(check(BlockId.MEDICATIONS, parsing.read_medication, line, field=BlockId.MEDICATIONS))
    if role is not None:
        check(
            BlockId.MEDICATIONS,
            cases.check_new_case,
            creator=creator,
            role=role,
            others=others,
            medications=[m for m in meds if m is not None],
        )
    check.done()
    return {"label": label, "role": role, "others": others, "medications": meds}


def _home_opened(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_event(body, (body.get("event") or {}).get("user"), Source.HOME)
    with replying(deps, actor, "home:opened", lambda _message: None):
        publish(deps, actor)


def publish(deps: Deps, actor) -> None:
    with deps.unit(actor) as unit:
        data = home.home_for(unit)
    view = deps.renderer.view("cases/home", cases=data.cases, waiting=data.waiting, now=deps.clock.now())
    deps.gateway.publish_home(actor.user_id, view)
