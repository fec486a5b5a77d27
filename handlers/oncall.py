"""Slack listener for `/oncall`: add, list and remove shifts on the after-hours rota.
Thin: save to the inbox and ack; the processing function parses, calls one service, replies."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.deps import Deps
from bot.ids import Command
from bot.inputs import Help
from bot.oncall import service as oncall
from bot.oncall.commands import ONCALL_USAGE, AddShift, ListShifts, RemoveShift, parse_oncall_command
from handlers import actors
from handlers.replies import ephemeral, replying


def register(app: App, deps: Deps) -> None:
    app.command(Command.ONCALL)(deps.inbox.listener("oncall.command", _command))


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    clinic = deps.settings.clinic
    with replying(deps, actor, "command:/oncall", reply):
        match parse_oncall_command(body.get("text") or "", zone=clinic.zone):
            case Help():
                reply(_render(deps, "help", usage=list(ONCALL_USAGE.values())))
            case AddShift(user_id=user_id, starts_at=starts_at, ends_at=ends_at):
                with deps.unit(actor) as unit:  # the reply commits with the change it reports
                    line = oncall.add_shift(unit, user_id=user_id, starts_at=starts_at, ends_at=ends_at)
                    reply(_render(deps, "changed", shift=line, added=True))
            case ListShifts():  # a view: reads in a snapshot (Deps.unit)
                with deps.unit(actor, reads_only=True) as unit:
                    reply(_render(deps, "list", shifts=oncall.list_shifts(unit)))
            case RemoveShift(shift_id=shift_id):
                with deps.unit(actor) as unit:
                    line = oncall.remove_shift(unit, shift_id=shift_id)
                    reply(_render(deps, "changed", shift=line, added=False))


def _render(deps: Deps, name: str, **context: Any) -> dict[str, Any]:
    clinic = deps.settings.clinic
    return deps.renderer.message(
        f"oncall/{name}", zone=clinic.tz, working=clinic.working_hours.describe(), **context
    )
