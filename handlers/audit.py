"""Slack listeners for the audit trail: `/audit`, its page buttons, and the capture of every
human message in a case thread (the one `message` listener of the app, see
bot/audit/transcript.py for how other workflows hook into it)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltRequest

from bot.audit import commands as parsing_audit
from bot.audit import service as audit
from bot.audit import transcript
from bot.audit.commands import AUDIT_USAGE, ExportTrail, ShowTimeline
from bot.audit.thread_events import read_thread_activity
from bot.auditlog import Outcome, Source
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, Command
from bot.inputs import Help, whole_number
from bot.slack import SlackUnavailable
from bot.unit import Actor
from handlers import actors
from handlers.replies import Reply, ephemeral, replying

PAGE_ACTIONS = (Action.AUDIT_OLDER, Action.AUDIT_NEWER)


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.AUDIT)(inbox.listener("audit.command", _command))
    page_clicked = inbox.listener("audit.page_clicked", _page)
    for action_id in PAGE_ACTIONS:
        app.action(action_id)(page_clicked)
    inbox.route("audit.thread_message", _thread_message)

    @app.event("message")
    def thread_message(ack: Ack, event: dict[str, Any], request: BoltRequest):
        # Every message in every channel the app is in arrives here: only case-thread
        # candidates are worth saving (the worker checks the thread is a case's).
        if read_thread_activity(event, deps.clock.now()) is None:
            return None
        return inbox.accept("audit.thread_message", request, ack)


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/audit", reply):
        command = parsing_audit.parse_audit_command(body.get("text") or "")
        match command:
            case Help():  # a view: its audit event and reply are written together, after (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    unit.audit("help.viewed", command=str(Command.AUDIT))
                    reply(deps.renderer.message("audit/audit_help", usage=list(AUDIT_USAGE.values())))
            case ShowTimeline(case_id=case_id, page=page):
                _show_timeline(deps, actor, reply, case_id, page)
            case ExportTrail(case_id=case_id, format=fmt):
                reply(_export(deps, actor, case_id, fmt))


def _page(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_interaction(body, Source.BUTTON)
    action = (body.get("actions") or [{}])[0]
    with replying(deps, actor, f"button:{action.get('action_id')}", ephemeral(deps, body)):
        case_id, page, upto = _read_page_value(str(action.get("value") or ""))
        _show_timeline(deps, actor, ephemeral(deps, body, replace_original=True), case_id, page, upto)


def _thread_message(deps: Deps, body: dict[str, Any]) -> None:
    event = body.get("event") or {}
    activity = read_thread_activity(event, deps.clock.now())
    if activity is None:
        return
    actor = actors.from_event(body, activity.user_id, Source.THREAD)
    delivery_id = str(body.get("event_id") or f"{activity.channel}:{activity.message_ts}:{activity.kind}")
    with replying(deps, actor, f"thread:{activity.kind}", lambda _message: None):
        if not transcript.in_case_thread(deps, activity):
            return
        with deps.unit(actor) as unit:
            transcript.record_activity(unit, activity, delivery_id=delivery_id)


def _show_timeline(
    deps: Deps, actor: Actor, reply: Reply, case_id: int, page: int, upto: int | None = None
) -> None:
    """A page of the timeline: a view, which reads in a snapshot (Deps.unit reads_only)."""
    with deps.unit(actor, reads_only=True) as unit:
        t = audit.timeline(unit, case_id=case_id, page=page, upto=upto)
        reply(
            deps.renderer.message(
                "audit/audit_timeline",
                t=t,
                older_action=Action.AUDIT_OLDER,
                newer_action=Action.AUDIT_NEWER,
            )
        )


def _export(deps: Deps, actor: Actor, case_id: int, fmt: parsing_audit.ExportFormat) -> dict[str, Any]:
    """Record the export, then send the file; a failed send is recorded and reported. The
    export reads the whole trail in a snapshot (Deps.unit reads_only): its audit event is
    written when the unit ends, before the file is sent."""
    with deps.unit(actor, reads_only=True) as unit:
        export = audit.export_trail(unit, case_id=case_id, fmt=fmt)
    try:
        file_id = deps.gateway.send_file_dm(
            actor.user_id,
            filename=export.filename,
            content=export.content,
            title=f"Audit trail of {export.ref} ({fmt})",
            comment=f"Audit trail and thread transcript of {export.ref}, as you asked ({fmt}).",
        )
    except SlackUnavailable:
        deps.record(actor, "audit.export_failed", Outcome.ERROR, case_id=case_id, error="slack_unavailable")
        return deps.renderer.message(
            "core/error",
            message=f"Slack did not take the file, so {export.ref}'s export was not sent. Please try again.",
            usage=None,
        )
    deps.record(actor, "audit.export_delivered", Outcome.OK, case_id=case_id, file=file_id, format=str(fmt))
    return deps.renderer.message(
        "core/reply",
        text=f"Sent you {export.ref}'s audit trail ({export.events} events, "
        f"{export.transcript_entries} transcript entries) as {fmt} in a DM.",
        hint="The file holds the thread transcript: keep it where your clinic keeps patient records.",
    )


def _read_page_value(value: str) -> tuple[int, int, int | None]:
    """A page button's value: "<case id>:<page>:<newest seq counted from>"."""
    parts = value.split(":")
    case_id, newest = (whole_number(parts[0]), whole_number(parts[2])) if len(parts) == 3 else (None, None)
    if case_id is None or newest is None:
        raise BadInput("That button no longer works; run `/audit <case>` again.", usage=AUDIT_USAGE["show"])
    page = parsing_audit.parse_page(parts[1], usage=AUDIT_USAGE["show"])
    return case_id, page, newest
