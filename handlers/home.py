"""The App Home tab, published when a user opens it."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.auditlog import Source
from bot.deps import Deps
from bot.services import home
from handlers import actors
from handlers.replies import replying


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        actor = actors.from_event(body, event.get("user"), Source.HOME)
        deps.later(_publish_quietly, deps, actor)


def _publish_quietly(deps: Deps, actor) -> None:
    with replying(deps, actor, "home:opened", lambda _message: None):
        publish(deps, actor)


def publish(deps: Deps, actor) -> None:
    with deps.unit(actor) as unit:
        data = home.home_for(unit)
    view = deps.renderer.view("home", cases=data.cases, waiting=data.waiting, now=deps.clock.now())
    deps.gateway.publish_home(actor.user_id, view)
