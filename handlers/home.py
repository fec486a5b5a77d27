"""Drawing App Home (bot/cases/home.py gathers it): when the tab is opened, and again after a
button on it was clicked (Acknowledge on an urgent item the on-call person covers), so the
tab never keeps offering a button for something already done."""

from __future__ import annotations

from typing import Any

from bot.cases import home
from bot.deps import Deps
from bot.unit import Actor
from handlers.replies import replying


def publish_home(deps: Deps, actor: Actor) -> None:
    """Gather the actor's Home in one unit (audited as home.viewed) and publish it. A view: it
    reads in a snapshot, and writes only its audit events, after (Deps.unit reads_only)."""
    with deps.unit(actor, reads_only=True) as unit:
        data = home.home_for(unit)
    view = deps.renderer.view(
        "cases/home", cases=data.cases, waiting=data.waiting, sections=data.sections, now=deps.clock.now()
    )
    deps.gateway.publish_home(actor.user_id, view)


def refresh_if_clicked_on_home(deps: Deps, body: dict[str, Any], actor: Actor) -> None:
    """After a button on App Home did its work (or was refused), draw Home again. Called after
    the button's unit committed; a failure here is logged and never undoes that work."""
    if (body.get("view") or {}).get("type") != "home":
        return
    with replying(deps, actor, "home:refreshed", lambda _message: None):
        publish_home(deps, actor)
