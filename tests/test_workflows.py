"""The one list of workflows: every workflow package is in it, every declared listener module
exists, and what they declare is what runs (nothing registers itself by being imported)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from bot.scheduler import run_sweep, sweep_steps
from bot.workflows import WORKFLOWS

BOT = Path(__file__).resolve().parent.parent / "bot"


def test_every_workflow_package_is_listed_once():
    packages = sorted(p.parent.name for p in BOT.glob("*/workflow.py"))
    names = [w.name for w in WORKFLOWS]
    assert sorted(names) == packages
    assert len(set(names)) == len(names)


def test_each_workflow_names_a_listener_module_with_register():
    for workflow in WORKFLOWS:
        assert workflow.listeners == f"handlers.{workflow.name}"
        assert callable(importlib.import_module(workflow.listeners).register)


def test_the_sweep_runs_the_core_steps_then_every_declared_step(harness):
    declared = [name for w in WORKFLOWS for name, _ in w.sweep_steps]
    assert [name for name, _ in sweep_steps(harness.deps)] == [
        "outbox",
        "processed_requests",
        "inbox",
        "users_cache",
        *declared,
    ]
    assert set(run_sweep(harness.deps)) == {"outbox", "processed_requests", "inbox", "users_cache", *declared}
    assert "audit_verify" in declared and "side_effect_escalation" in declared  # both used to hide in imports


def test_core_modules_do_not_import_workflow_packages():
    """Imports run one way: handlers -> workflow packages -> core -> storage. Only the
    composition root (factory, workflows) knows the workflows by name."""
    workflow_packages = {w.name for w in WORKFLOWS}
    offenders = []
    for path in BOT.glob("*.py"):
        if path.name in ("factory.py", "workflows.py"):
            continue
        text = path.read_text()
        offenders += [
            f"{path.name} imports bot.{name}"
            for name in workflow_packages
            if re.search(rf"^\s*(from|import) bot\.{name}\b(?!log)", text, flags=re.M)
        ]
        if re.search(r"^\s*(from|import) handlers\b", text, flags=re.M):
            offenders.append(f"{path.name} imports handlers")
    assert offenders == []


def test_nothing_under_bot_imports_handlers():
    """handlers -> bot, never back: workflow packages too (not only the core) read modal state
    through bot/forms.py, so a listener module can change without touching a use-case."""
    offenders = [
        str(path.relative_to(BOT))
        for path in sorted(BOT.rglob("*.py"))
        if re.search(r"^\s*(from|import) handlers\b", path.read_text(), flags=re.M)
    ]
    assert offenders == []
