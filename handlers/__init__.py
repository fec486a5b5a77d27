"""Slack listeners, one module per workflow; each exposes register(app, deps)."""

from __future__ import annotations

from slack_bolt import App

from bot.deps import Deps
from handlers import audit, cases, handoffs, home, reviews, side_effects

MODULES = (cases, home, side_effects, reviews, handoffs, audit)


def register_all(app: App, deps: Deps) -> None:
    for module in MODULES:
        module.register(app, deps)
