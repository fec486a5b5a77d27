"""Slack listeners for shared cases: `/case ...`, the New case modal, and App Home."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot import audience, forms
from bot.auditlog import Outcome, Source
from bot.cases import commands as parsing
from bot.cases import consent
from bot.cases import service as cases
from bot.cases.commands import CASE_USAGE
from bot.cases.settings import case_settings
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import ROLE_HELP, FieldCheck, Help, clean_text, parse_id, parse_role
from bot.medications import service as medications
from bot.medications.forms import form_view as medication_form
from bot.unit import Actor
from handlers import actors
from handlers.home import publish_home
from handlers.replies import Reply, dm, ephemeral, read_submission, replying, where_clicked
from storage.cases import ROLE_TITLES, Role

MAX_ORGANIZATIONS = 300
MAX_CONSENT_NOTE = 1000

ROLE_PLURAL = {
    Role.PRESCRIBER.value: "Prescribers",
    Role.THERAPIST.value: "Therapists",
    Role.CASE_MANAGER.value: "Case managers",
    Role.PCP.value: "Primary care",
    Role.PHARMACIST.value: "Pharmacists",
    Role.CONSULTANT.value: "Psychiatric consultants",
}


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.CASE)(inbox.listener("cases.command", _case_command, opens_form=_opens_form))
    inbox.route("cases.create_form", _create_from_form)
    inbox.route("cases.home_opened", _home_opened)
    inbox.route("cases.consent_form", _record_consent)

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

    app.action(Action.VIEW_DETAILS)(inbox.listener("cases.view_details", _view_details))
    app.action(Action.CASE_CLOSE_CONFIRM)(inbox.listener("cases.close_confirmed", _close_confirmed))
    channel_changed = inbox.listener("cases.channel_changed", _channel_changed)
    for event_type in CHANNEL_EVENTS:
        app.event(event_type)(channel_changed)
    for subtype in CHANNEL_MESSAGE_SUBTYPES:  # registered before the audit trail's catch-all
        app.event({"type": "message", "subtype": subtype})(channel_changed)

    @app.view(Callback.CASE_CONSENT)
    def consent_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        form = read_submission(
            deps,
            ack,
            actor,
            "modal:case_consent",
            lambda: _read_consent_form(view, deps.clock.now().date()),
            fallback=BlockId.CONSENT_ROLES,
        )
        if form is None:
            return None
        return inbox.accept("cases.consent_form", request, ack)

    @app.event("app_home_opened")
    def home_opened(ack: Ack, event: dict[str, Any], request: BoltRequest):
        if event.get("tab", "home") != "home":
            return None
        return inbox.accept("cases.home_opened", request, ack)


# Who can read a channel changed: recheck it (bot/audience.py). Slack says a channel was made
# public only as a message in it; the periodic recheck catches that too.
CHANNEL_EVENTS = (
    "member_joined_channel",
    "member_left_channel",
    "channel_shared",
    "channel_unshared",
    "channel_archive",
    "channel_unarchive",
    "group_archive",
    "group_unarchive",
)
CHANNEL_MESSAGE_SUBTYPES = ("channel_convert_to_public", "channel_convert_to_private")
STALE_DETAILS = "That button no longer works. `/case show <case>` shows the case."


def _channel_changed(deps: Deps, body: dict[str, Any]) -> None:
    event = body.get("event") or {}
    channel = event.get("channel")
    if isinstance(channel, dict):  # some events carry the channel object
        channel = channel.get("id")
    if not isinstance(channel, str) or not channel:
        return
    actor = Actor.app(Source.EVENT, correlation_id=body.get("event_id"))
    with replying(deps, actor, f"event:{event.get('subtype') or event.get('type')}", lambda _message: None):
        audience.channel_changed(deps, channel, actor)


def _view_details(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = (body.get("actions") or [{}])[0]
    with replying(deps, actor, "button:view_details", where_clicked(deps, body, actor.user_id)):
        message_id = parse_id(action.get("value"), stale=STALE_DETAILS)
        with deps.unit(actor) as unit:
            audience.show_details(unit, message_id=message_id)


def _opens_form(body: dict[str, Any]) -> bool:
    """`/case create` with no label, `/case consent` and a `/case med` lacking details open a
    form: their trigger_id lasts 3 s."""
    command = parsing.parse_case_command(body.get("text") or "")
    return isinstance(command, parsing.RecordConsent | parsing.MedicationForm) or (
        isinstance(command, parsing.CreateCase) and command.label is None
    )


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


def _record_consent(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:case_consent", dm(deps, actor.user_id)), deps.unit(actor) as unit:
        form = _read_consent_form(view, unit.now.date())
        unit.once(f"view:{view.get('id')}")
        case_id = parse_id(
            forms.metadata(view), stale="That consent form is out of date; run `/case consent` again."
        )
        recorded = consent.record(unit, case_id=case_id, form=form)
        unit.post(
            channel=actor.user_id,
            purpose="consent_recorded_reply",
            case_id=case_id,
            message=deps.renderer.message(
                "core/reply",
                text=f"Recorded the patient's consent on C-{case_id}, until "
                f"{recorded.expires_on.strftime('%-d %b %Y')}.",
                hint=f"`/case consent C-{case_id} show` shows what it covers.",
            ),
        )


def _consent_form(deps: Deps, case_id: int, ref: str) -> dict[str, Any]:
    return deps.renderer.view(
        "cases/consent_form",
        callback_id=Callback.CASE_CONSENT,
        case_id=case_id,
        ref=ref,
        block=BlockId,
        role_options=[
            {"text": {"type": "plain_text", "text": ROLE_TITLES[r]}, "value": r.value} for r in Role
        ],
        part2_options=[
            {"text": {"type": "plain_text", "text": "Yes, it covers them explicitly"}, "value": "yes"},
            {"text": {"type": "plain_text", "text": "No"}, "value": "no"},
        ],
        remind_days=case_settings(deps.settings).consent_remind_before.days,
        max_organizations=MAX_ORGANIZATIONS,
        max_note=MAX_CONSENT_NOTE,
    )


def _read_consent_form(view: dict[str, Any], today: date) -> consent.ConsentForm:
    """Every problem with the consent form at once (bot/inputs.FieldCheck)."""
    check = FieldCheck()
    given = _form_date(check, view, BlockId.CONSENT_GIVEN, "the date the consent was given")
    expires = _form_date(check, view, BlockId.CONSENT_EXPIRES, "the expiry date")
    if given is not None and given > today:
        check.add(
            BlockId.CONSENT_GIVEN, "The consent can't be given in the future; pick the date on the form."
        )
    if expires is not None and expires <= today:
        check.add(
            BlockId.CONSENT_EXPIRES, "Pick an expiry date after today: an expired consent covers nothing new."
        )
    if given is not None and expires is not None and expires <= given:
        check.add(BlockId.CONSENT_EXPIRES, "The expiry date must come after the date the consent was given.")
    roles = [r for r in Role if r.value in forms.options(view, BlockId.CONSENT_ROLES)]
    if not roles:
        check.add(BlockId.CONSENT_ROLES, "Tick each discipline the consent covers (at least one).")
    part2 = forms.option(view, BlockId.CONSENT_PART2)
    if part2 not in ("yes", "no"):
        check.add(BlockId.CONSENT_PART2, "Say whether the consent covers substance-use treatment records.")
    organizations = check(
        BlockId.CONSENT_ORGANIZATIONS,
        clean_text,
        forms.text(view, BlockId.CONSENT_ORGANIZATIONS),
        what="organizations",
        limit=MAX_ORGANIZATIONS,
        field=BlockId.CONSENT_ORGANIZATIONS,
    )
    note = check(
        BlockId.CONSENT_NOTE,
        clean_text,
        forms.text(view, BlockId.CONSENT_NOTE),
        what="note",
        limit=MAX_CONSENT_NOTE,
        lines=True,
        field=BlockId.CONSENT_NOTE,
    )
    check.done()
    assert given is not None and expires is not None
    return consent.ConsentForm(
        given, expires, tuple(roles), organizations or None, part2 == "yes", note or None
    )


def _form_date(check: FieldCheck, view: dict[str, Any], block: str, what: str) -> date | None:
    raw = forms.date(view, block)
    try:
        return date.fromisoformat(raw or "")
    except ValueError:
        check.add(block, f"Pick {what} from the calendar.")
        return None


# `/case` commands that only read (and audit that they did): their units read in a snapshot.
VIEWS = (parsing.ShowCase, parsing.ListCases, parsing.ShowDuties, parsing.ShowConsent)


def _run(deps: Deps, actor, body: dict[str, Any], command: parsing.CaseCommand, reply: Reply) -> None:
    render = deps.renderer.message
    if isinstance(command, Help):
        with deps.unit(actor, reads_only=True) as unit:
            unit.audit("help.viewed", command=str(Command.CASE))
            reply(render("cases/help", case_usage=list(CASE_USAGE.values()), roles=ROLE_HELP))
        return
    if isinstance(command, parsing.RecordConsent):
        with deps.unit(actor, reads_only=True) as unit:  # may they? (audited): reads only
            ref = consent.open_form(unit, case_id=command.case_id)
        deps.gateway.open_view(body["trigger_id"], _consent_form(deps, command.case_id, ref))
        return
    if isinstance(command, parsing.MedicationForm):
        with deps.unit(actor, reads_only=True) as unit:  # the form's options: reads only
            context = medications.form_context(
                unit, case_id=command.case_id, verb=command.verb, name=command.name, detail=command.detail
            )
        deps.gateway.open_view(body["trigger_id"], medication_form(deps, context))
        deps.record(actor, "medication.form_opened", Outcome.OK, case_id=command.case_id, verb=command.verb)
        return
    if isinstance(command, parsing.CreateCase) and command.label is None:
        form = _create_form(deps, body.get("channel_id") or "")
        audience.refuse_public_home(deps.gateway, body.get("channel_id") or "")  # before anyone types
        deps.gateway.open_view(body["trigger_id"], form)
        deps.record(actor, "case.create_form_opened", Outcome.OK)
        return
    with deps.unit(actor, reads_only=isinstance(command, VIEWS)) as unit:
        match command:
            case parsing.CreateCase(label=str(label), role=role, own_channel=own):  # None: form above
                created = cases.create_case(
                    unit, label=label, role=role, channel=body.get("channel_id") or "", own_channel=own
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
                message = _closed_message(deps, cases.close_case(unit, case_id=case_id, reason=reason))
            case parsing.ReopenCase(case_id=case_id):
                cases.reopen_case(unit, case_id=case_id)
                message = render("core/reply", text=f"Reopened C-{case_id}.", hint=None)
            case parsing.AddMedication(case_id=case_id, name=name, detail=detail):
                medications.record_change(
                    unit, medications.ChangeForm(case_id=case_id, verb="add", name=name, detail=detail)
                )
                message = render(
                    "core/reply",
                    text=f"Added a medication to C-{case_id}; the thread and the team have the details.",
                    hint=None,
                )
            case parsing.ChangeMedication(case_id=case_id, name=name, detail=detail):
                medications.record_change(
                    unit, medications.ChangeForm(case_id=case_id, verb="change", name=name, detail=detail)
                )
                message = render(
                    "core/reply",
                    text=f"Changed a medication on C-{case_id}; the thread and the team have the details.",
                    hint=f"`/case med C-{case_id} change` alone opens the form, with room for the reason, "
                    "target symptoms, what to watch for and when to re-measure.",
                )
            case parsing.ShowDuties(case_id=case_id):
                ref, lines = cases.show_responsibilities(unit, case_id=case_id)
                message = render("cases/duties_show", ref=ref, duties=lines)
            case parsing.AssignDuty(case_id=case_id, duty=duty, user_id=user_id):
                cases.assign_responsibility(unit, case_id=case_id, duty=duty, user_id=user_id)
                message = render(
                    "core/reply",
                    text=f"<@{user_id}> is now responsible for {duty.display[0].lower() + duty.display[1:]} "
                    f"on C-{case_id}.",
                    hint=f"`/case roles C-{case_id}` shows who does what.",
                )
            case parsing.ShowConsent(case_id=case_id):
                message = render(
                    "cases/consent_show", ref=f"C-{case_id}", c=consent.show(unit, case_id=case_id)
                )
            case _:  # pragma: no cover - the parser returns only the types above
                raise BadInput("Unknown command.", usage=CASE_USAGE["help"])
        reply(message)  # in the unit: the reply is queued in the same commit as the change


def _closed_message(deps: Deps, result: cases.CaseSummary | cases.OpenRisksFound) -> dict[str, Any]:
    if isinstance(result, cases.OpenRisksFound):
        value = json.dumps({"case": result.case_id, "reason": result.reason})
        return deps.renderer.message(
            "cases/close_confirm", ref=result.ref, risks=result.risks, value=value, actions=Action
        )
    return deps.renderer.message(
        "core/reply", text=f"Closed {result.ref}.", hint=f"`/case reopen {result.ref}` undoes it."
    )


def _close_confirmed(deps: Deps, body: dict[str, Any]) -> None:
    """Close anyway, from the button under the list of open risks (which it replaces)."""
    actor = actors.from_interaction(body, Source.BUTTON)
    action = (body.get("actions") or [{}])[0]
    reply = ephemeral(deps, body, replace_original=True)
    with replying(deps, actor, "button:case_close_confirm", reply):
        case_id, reason = parsing.read_close_value(str(action.get("value") or ""))
        with deps.unit(actor) as unit:
            reply(
                _closed_message(deps, cases.close_case(unit, case_id=case_id, reason=reason, confirmed=True))
            )


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
    own_channel = "yes" in forms.options(view, BlockId.OWN_CHANNEL)
    return {"label": label, "role": role, "others": others, "medications": meds, "own_channel": own_channel}


def _home_opened(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_event(body, (body.get("event") or {}).get("user"), Source.HOME)
    with replying(deps, actor, "home:opened", lambda _message: None):
        publish_home(deps, actor)
