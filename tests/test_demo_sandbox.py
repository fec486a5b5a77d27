"""The demo sandbox without a browser: the real app in its own process, driven through
`Sandbox` (signed requests over HTTP) and seen through the workspace the stand-in keeps."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from devtools.demo.clock import DemoClock
from devtools.demo.sandbox import DemoError, Sandbox
from devtools.demo.workspace import Workspace
from devtools.process import wait_until
from devtools.standin import BOT_USER

CARE = "C0CARE"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[Sandbox]:
    workdir = tmp_path_factory.mktemp("sandbox")
    clock = DemoClock(workdir / "clock-offset")
    workspace = Workspace(now=clock.now).serve()
    box = Sandbox(workdir=workdir, secret=secrets.token_hex(8), clock=clock, workspace=workspace)
    box.start()
    yield box
    box.stop()
    workspace.close()


def _wait(condition, timeout: float = 20.0, what: str = "condition"):
    return wait_until(condition, timeout, what)  # this file's default timeout


def _seen_by(box: Sandbox, user: str, channel: str, text: str) -> list[dict]:
    return [m for m in box.state(user)["messages"] if m["channel"] == channel and text in m["text"]]


def test_seed_sends_real_commands_and_ephemerals_show_only_to_their_person(sandbox):
    assert sandbox.seed()["case"] == "C-1"
    card = _wait(lambda: _seen_by(sandbox, "U0TOM", CARE, "Case C-1"), what="the case card")[0]
    assert card["user"] == BOT_USER and not card["ephemeral"]
    replies = [m for m in sandbox.state("U0TOM")["messages"] if m["thread_ts"] == card["ts"]]
    assert any(m["user"] == "U0TOM" and "sleeping badly" in m["text"] for m in replies)
    # Priya's command replies are hers alone.
    assert [m for m in sandbox.state("U0PRIYA")["messages"] if m["ephemeral"]]
    assert not [m for m in sandbox.state("U0TOM")["messages"] if m["ephemeral"]]
    # Someone outside the team gets a refusal that names nothing, and cannot see the channel.
    reply = sandbox.run("U0OMAR", "C0GENERAL", "/case show C-1")
    assert "Blue Heron" not in reply and "sertraline" not in reply
    assert CARE not in {c["id"] for c in sandbox.state("U0OMAR")["channels"]}
    with pytest.raises(DemoError):
        sandbox.message("U0OMAR", CARE, "let me in")


def _case_on_file(box: Sandbox) -> str:
    """The seeded case, seeding it when this test runs alone (`-k outage`): without it the
    command below answers "no such case" and nothing is ever posted."""
    if not _seen_by(box, "U0PRIYA", CARE, "Case C-1"):
        assert box.seed()["case"] == "C-1"
    return "C-1"


def _lithium_notes(box: Sandbox) -> list[dict]:
    """The medication-change thread note about lithium: a public bot reply in the case's
    thread. Not the case card, whose "Who does what" names "Laboratory monitoring (lithium
    levels, ...)" as soon as the card shows details, and not the command's own reply."""
    return [
        m
        for m in box.state("U0PRIYA")["messages"]
        if m["channel"] == CARE
        and m["is_bot"]
        and not m["ephemeral"]
        and m["thread_ts"]
        and m["text"].startswith("Medication change on case")
        and "lithium" in str(m["blocks"])
    ]


def test_an_outage_delays_messages_and_the_retries_deliver_each_once(sandbox):
    case = _case_on_file(sandbox)
    sandbox.outage(500, 6)
    assert sandbox.state("U0PRIYA")["outage"]["status"] == 500
    reply = sandbox.run(
        "U0PRIYA", CARE, f"/case med {case} add lithium 300 mg twice daily"
    )  # response_url still works
    assert f"Added a medication to {case}" in reply
    assert _lithium_notes(sandbox) == []  # the thread note waits for Slack to come back
    _wait(lambda: _lithium_notes(sandbox), timeout=40, what="the medication note after the outage")
    time.sleep(3)  # a duplicate would come with a later sweep
    assert len(_lithium_notes(sandbox)) == 1
    assert sandbox.state("U0PRIYA")["outage"] is None


def test_a_form_opens_and_the_apps_field_errors_keep_it_open(sandbox):
    sandbox.command("U0TOM", CARE, "/sideeffect C-1")
    modal = _wait(lambda: sandbox.state("U0TOM")["modal"], what="the report form")
    assert modal["title"]["text"] == "Report a side effect"
    inputs = [b for b in modal["blocks"] if b["type"] == "input"]
    # Every required field filled as the page would, but no symptom ticked: the app answers
    # response_action "errors" and the form stays open with the message under the field.
    values = {}
    for block in inputs:
        element = block["element"]
        state: dict = {"type": element["type"]}
        if element["type"] == "datepicker":
            state["selected_date"] = time.strftime("%Y-%m-%d", time.gmtime(sandbox.clock.now() - 86400))
        elif element["type"] == "static_select":
            state["selected_option"] = None if block.get("optional") else element["options"][1]
        elif element["type"] == "checkboxes":
            state["selected_options"] = []
        else:
            state["value"] = None
        values[block["block_id"]] = {element["action_id"]: state}
    answer = sandbox.submit("U0TOM", modal["id"], values)
    assert answer["response_action"] == "errors"
    still_open = sandbox.state("U0TOM")["modal"]
    assert still_open["id"] == modal["id"] and still_open["errors"]
    assert sandbox.state("U0PRIYA")["modal"] is None  # only Tom's screen has it
    sandbox.close("U0TOM", modal["id"])
    assert sandbox.state("U0TOM")["modal"] is None


def test_the_clock_control_moves_the_apps_time(sandbox):
    if not sandbox.clock.available:
        pytest.skip(f"clock control unavailable: {sandbox.clock.reason}")
    sandbox.run("U0PRIYA", CARE, "/review C-1 every 1 days")
    sandbox.advance(2 * 86400)
    prompt = _wait(
        lambda: _seen_by(sandbox, "U0TOM", CARE, "Case review due on C-1"), what="the review prompt"
    )
    assert float(prompt[0]["ts"]) > time.time() + 86400  # posted on the app's moved clock


def test_reset_starts_over_with_an_empty_workspace_and_database(sandbox):
    sandbox.reset()
    state = sandbox.state("U0PRIYA")
    assert state["messages"] == [] and state["clock"]["offset"] == 0 and state["app"] == "running"
    assert "C-1" in sandbox.run("U0PRIYA", CARE, "/case create Grey Wren")


def test_without_libfaketime_the_clock_control_says_it_is_unavailable(tmp_path, monkeypatch):
    from devtools.demo import clock as demo_clock

    monkeypatch.setattr(demo_clock, "LIBRARY_GLOBS", ())
    off = demo_clock.DemoClock(tmp_path / "offset")
    assert off.available is False and "faketime" in off.reason
    assert off.env() == {}  # the app runs on the real clock
    with pytest.raises(RuntimeError):
        off.advance(3600)
    assert abs(off.now() - time.time()) < 5
