"""Slack listeners for handoffs: `/handoff ...`, the I-PASS form, the receiver's Accept and
Decline buttons and their modals. Thin: read the payload, call bot/handoffs/service.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse

from bot import forms
from bot.auditlog import Source
from bot.deps import Deps
from bot.errors import BadInput
from bot.handoffs import service as handoffs
from bot.handoffs.commands import (
    HANDOFF_USAGE,
    MAX_NOTE,
    CancelHandoff,
    ListHandoffs,
    StartHandoff,
    parse_coverage_end,
    parse_handoff_command,
    parse_kind,
    parse_severity,
)
from bot.ids import Action, BlockId, Callback, Command
from bot.inputs import MAX_ID, ROLE_HELP, FieldCheck, Help, clean_text, parse_id, parse_role
from bot.render import USER_ID
from bot.unit import Actor
from handlers import actors
from handlers.replies import dm, ephemeral, read_submission, replying
from storage.cases import Role
from storage.handoffs import HandoffKind, Severity

SEVERITY_OPTIONS = [
    (Severity.STABLE, "Stable", "Expected course; routine follow-up."),
    (Severity.WATCHER, "Watcher", "Could worsen; watch closely."),
    (Severity.UNSTABLE, "Unstable", "Needs close attention now."),
]
KIND_OPTIONS = [
    (HandoffKind.TRANSFER, "Transfer", "For good: they join the care team and you leave it."),
    (HandoffKind.COVERAGE, "Coverage", "Until a date: they join the team, you stay on it."),
]


@dataclass(frozen=True)
class FormMeta:
    """What the I-PASS form carries from the command to its submission."""

    case_id: int
    to_user: str
    role: Role
    tz: str


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.HANDOFF)(inbox.listener("handoffs.command", _handoff_command, opens_form=_opens_form))
    app.action(Action.HANDOFF_ACCEPT)(
        inbox.listener(
            "handoffs.accept_clicked", partial(_open_answer, accepting=True), opens_form=lambda _body: True
        )
    )
    app.action(Action.HANDOFF_DECLINE)(
        inbox.listener(
            "handoffs.decline_clicked", partial(_open_answer, accepting=False), opens_form=lambda _body: True
        )
    )
    inbox.route("handoffs.form_submitted", _create)
    inbox.route("handoffs.accept_submitted", partial(_answer, accepting=True))
    inbox.route("handoffs.decline_submitted", partial(_answer, accepting=False))

    @app.view(Callback.HANDOFF_FORM)
    def form_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        read = read_submission(
            deps, ack, actor, "modal:handoff_form", lambda: _read_form(deps, view), fallback=BlockId.SUMMARY
        )
        if read is None:
            return None
        return inbox.accept("handoffs.form_submitted", request, ack)

    @app.view(Callback.HANDOFF_ACCEPT)
    def accept_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        return _answer_submitted(deps, ack, body, view, request, accepting=True)

    @app.view(Callback.HANDOFF_DECLINE)
    def decline_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        return _answer_submitted(deps, ack, body, view, request, accepting=False)


def _opens_form(body: dict[str, Any]) -> bool:
    """`/handoff @someone C-12 role` opens the I-PASS form: its trigger_id lasts 3 s."""
    return isinstance(parse_handoff_command(body.get("text") or ""), StartHandoff)


def _handoff_command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/handoff", reply):
        command = parse_handoff_command(body.get("text") or "")
        render = deps.renderer.message
        match command:
            case Help():
                reply(render("handoffs/handoff_help", usage=list(HANDOFF_USAGE.values()), roles=ROLE_HELP))
            case ListHandoffs():  # a view: reads in a snapshot (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    listing = handoffs.list_mine(unit)
                    reply(
                        render(
                            "handoffs/handoff_list",
                            given=listing.given,
                            received=listing.received,
                            coverage=listing.coverage,
                            actions=Action,
                        )
                    )
            case StartHandoff():
                _open_form(deps, actor, body, command)
            case CancelHandoff(case_id=case_id):
                with deps.unit(actor) as unit:
                    canceled = handoffs.cancel(unit, case_id=case_id)
                    names = ", ".join(f"<@{h.to_user}>" for h in canceled)
                    reply(
                        render(
                            "core/reply",
                            text=f"Canceled your handoff of C-{case_id} to {names}. They and the case thread "
                            "have been told; nothing about the care team changed.",
                            hint=None,
                        )
                    )


def _create(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    view = body.get("view") or {}
    with replying(deps, actor, "modal:handoff_form", dm(deps, actor.user_id)):
        meta, kind, ipass, coverage_until = _read_form(deps, view)
        receiver = handoffs.lookup_user(deps, meta.to_user)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            handoffs.create(
                unit,
                case_id=meta.case_id,
                receiver=receiver,
                role=meta.role,
                kind=kind,
                ipass=ipass,
                coverage_until=coverage_until,
            )


def _open_form(deps: Deps, actor: Actor, body: dict[str, Any], command: StartHandoff) -> None:
    """Check the request (so a mistake shows before anyone types an I-PASS), then open the form."""
    receiver = handoffs.lookup_user(deps, command.user_id)
    sender = handoffs.lookup_user(deps, actor.user_id)
    with deps.unit(actor) as unit:
        draft = handoffs.start(unit, case_id=command.case_id, receiver=receiver, role=command.role)
    metadata = json.dumps(
        {"case": draft.case_id, "to": draft.to_user, "role": draft.role.value, "tz": sender.tz}
    )
    view = deps.renderer.view(
        "handoffs/handoff_form",
        callback_id=Callback.HANDOFF_FORM,
        metadata=metadata,
        d=draft,
        block=BlockId,
        severity_options=_options(SEVERITY_OPTIONS),
        kind_options=_options(KIND_OPTIONS),
        max_note=MAX_NOTE,
    )
    deps.gateway.open_view(body["trigger_id"], view)


def _open_answer(deps: Deps, body: dict[str, Any], *, accepting: bool) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = "button:handoff_accept" if accepting else "button:handoff_decline"
    with replying(deps, actor, action, dm(deps, actor.user_id)):
        handoff_id = _handoff_id(((body.get("actions") or [{}])[0]).get("value"))
        with deps.unit(actor) as unit:
            shown = handoffs.open_answer(unit, handoff_id=handoff_id, accepting=accepting)
        view = deps.renderer.view(
            "handoffs/handoff_accept" if accepting else "handoffs/handoff_decline",
            callback_id=Callback.HANDOFF_ACCEPT if accepting else Callback.HANDOFF_DECLINE,
            h=shown,
            block=BlockId,
            max_note=MAX_NOTE,
        )
        deps.gateway.open_view(body["trigger_id"], view)


def _answer_submitted(
    deps: Deps, ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest, *, accepting: bool
) -> BoltResponse | None:
    """The synthesis (accept) or the reason (decline): required, then saved for the service."""
    actor = actors.from_interaction(body, Source.MODAL)
    action = "modal:handoff_accept" if accepting else "modal:handoff_decline"
    field = BlockId.SYNTHESIS if accepting else BlockId.DECLINE_REASON
    if (
        read_submission(deps, ack, actor, action, lambda: _read_answer(view, accepting), fallback=field)
        is None
    ):
        return None
    key = "handoffs.accept_submitted" if accepting else "handoffs.decline_submitted"
    return deps.inbox.accept(key, request, ack)


def _read_answer(view: dict[str, Any], accepting: bool) -> tuple[int, str]:
    field = BlockId.SYNTHESIS if accepting else BlockId.DECLINE_REASON
    what = "synthesis (read-back)" if accepting else "reason"
    return _handoff_id(forms.metadata(view)), _note(view, field, what)


def _answer(deps: Deps, body: dict[str, Any], *, accepting: bool) -> None:
    actor = actors.from_interaction(body, Source.MODAL)
    action = "modal:handoff_accept" if accepting else "modal:handoff_decline"
    view = body.get("view") or {}
    with replying(deps, actor, action, dm(deps, actor.user_id)):
        handoff_id, note = _read_answer(view, accepting)
        with deps.unit(actor) as unit:
            unit.once(f"view:{view.get('id')}")
            if accepting:
                handoffs.accept(unit, handoff_id=handoff_id, synthesis=note)
            else:
                handoffs.decline(unit, handoff_id=handoff_id, reason=note)


def _options(choices: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [
        {
            "text": {"type": "plain_text", "text": label},
            "description": {"type": "plain_text", "text": description},
            "value": str(value),
        }
        for value, label, description in choices
    ]


def _form_meta(view: dict[str, Any]) -> FormMeta:
    try:
        raw = json.loads(forms.metadata(view))
        meta = FormMeta(
            case_id=int(raw["case"]),
            to_user=str(raw["to"]),
            role=parse_role(str(raw["role"]), usage=HANDOFF_USAGE["start"]),
            tz=str(raw.get("tz") or "UTC")[:64],
        )
    except (ValueError, KeyError, TypeError, AttributeError, BadInput):
        raise BadInput("This form is out of date; run `/handoff` again.") from None
    if not USER_ID.match(meta.to_user) or not 0 < meta.case_id <= MAX_ID:
        raise BadInput("This form is out of date; run `/handoff` again.")
    return meta


def _read_form(deps: Deps, view: dict[str, Any]) -> tuple[FormMeta, HandoffKind, handoffs.IPass, Any]:
    """The I-PASS form, every problem at once (on an out-of-date form, only that)."""
    meta = _form_meta(view)
    check = FieldCheck()
    severity = check(
        BlockId.SEVERITY, parse_severity, forms.option(view, BlockId.SEVERITY), field=BlockId.SEVERITY
    )
    summary = check(BlockId.SUMMARY, _note, view, BlockId.SUMMARY, "patient summary")
    actions = check(BlockId.ACTIONS, _note, view, BlockId.ACTIONS, "action list")
    awareness = check(
        BlockId.AWARENESS, _note, view, BlockId.AWARENESS, "situation awareness and contingencies"
    )
    kind = check(
        BlockId.HANDOFF_KIND, parse_kind, forms.option(view, BlockId.HANDOFF_KIND), field=BlockId.HANDOFF_KIND
    )
    picked = forms.date(view, BlockId.COVERAGE_END)
    until = None
    if kind == HandoffKind.TRANSFER and picked:
        check.add(
            BlockId.COVERAGE_END,
            "A transfer is for good, so it has no end date: clear the date, or choose coverage.",
        )
    elif kind == HandoffKind.COVERAGE:
        until = check(
            BlockId.COVERAGE_END,
            parse_coverage_end,
            picked,
            tz_name=meta.tz,
            now=deps.clock.now(),
            field=BlockId.COVERAGE_END,
            fallback=deps.settings.clinic.tz,
        )
    check.done(case_id=meta.case_id)
    # done() raised if any read failed, and these readers return a value or raise.
    assert severity is not None and summary is not None and actions is not None
    assert awareness is not None and kind is not None
    ipass = handoffs.IPass(severity=severity, summary=summary, actions=actions, awareness=awareness)
    return meta, kind, ipass, until


def _note(view: dict[str, Any], block: str, what: str) -> str:
    """A required multi-line I-PASS field, synthesis or decline reason."""
    return clean_text(
        forms.text(view, block), what=what, limit=MAX_NOTE, lines=True, required=True, field=block
    )


def _handoff_id(raw: Any) -> int:
    return parse_id(raw, stale="That button or form is not a handoff we know; run `/handoff list`.")
