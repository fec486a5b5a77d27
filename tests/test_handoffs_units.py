"""Handoffs below the pipeline: parsers, the delays' settings, every template rendered and
validated with sample data, and the migration agreeing with the model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config import ConfigError, load_settings
from bot.errors import BadInput
from bot.handoffs.commands import (
    MAX_NOTE,
    ListHandoffs,
    StartHandoff,
    parse_coverage_end,
    parse_handoff_command,
    parse_kind,
    parse_severity,
)
from bot.handoffs.service import HandoffView, IPass
from bot.handoffs.settings import HandoffSettings
from bot.ids import Action, BlockId, Callback
from bot.inputs import Help
from bot.render import Renderer, escape_mrkdwn, mrkdwn_chunks
from bot.workflows import WORKFLOWS
from handlers.handoffs import KIND_OPTIONS, SEVERITY_OPTIONS, _options
from storage.cases import Role
from storage.handoffs import HandoffKind, Severity

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# -- the command ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("LIST", ListHandoffs()),
        ("C-12 <@U0BOB|bob>", StartHandoff(12, "U0BOB", None)),
        ("c12 <@U0BOB> therapist", StartHandoff(12, "U0BOB", Role.THERAPIST)),
        ("  C-3   <@W0ANN|Ann Lee>   cm ", StartHandoff(3, "W0ANN", Role.CASE_MANAGER)),
    ],
)
def test_commands_parse(text, expected):
    assert parse_handoff_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("C-1", "Name the colleague"),
        ("C-1 bob", "@-mention"),
        ("C-1 <@U0BOB> surgeon", "not a care-team role"),
        ("C-1 <@U0BOB> pcp now", "Too many words"),
        ("Bob <@U0BOB>", "not a case id"),
        ("help me", "takes nothing else"),
        ("x" * 2001, "too long"),
    ],
)
def test_bad_commands_say_what_and_how(text, message):
    with pytest.raises(BadInput) as caught:
        parse_handoff_command(text)
    assert message in caught.value.message and caught.value.usage and "/handoff" in caught.value.usage


@given(st.text(max_size=300))
def test_any_command_text_parses_or_is_bad_input(text):
    try:
        result = parse_handoff_command(text)
    except BadInput as err:
        assert err.message and err.usage
    else:
        assert isinstance(result, Help | ListHandoffs | StartHandoff)


# -- form values ---------------------------------------------------------------------------------


def test_severity_and_kind_come_from_their_options():
    assert parse_severity("watcher", field="s") == Severity.WATCHER
    assert parse_kind("coverage", field="k") == HandoffKind.COVERAGE
    for bad in (None, "", "critical"):
        with pytest.raises(BadInput):
            parse_severity(bad, field="s")
        with pytest.raises(BadInput):
            parse_kind(bad, field="k")


@pytest.mark.parametrize(
    ("tz", "day", "ends"),
    [
        ("America/New_York", "2026-11-24", "2026-11-24T05:00:00+00:00"),
        ("Pacific/Kiritimati", "2026-11-25", "2026-11-24T10:00:00+00:00"),  # already the 24th there
        ("Nowhere/Unknown", "2026-11-24", "2026-11-24T00:00:00+00:00"),  # unknown zone: UTC
    ],
)
def test_coverage_ends_at_the_start_of_the_day_in_the_senders_zone(tz, day, ends):
    assert parse_coverage_end(day, tz_name=tz, now=NOW, field="c").isoformat() == ends


@pytest.mark.parametrize(
    ("tz", "day", "message"),
    [
        ("America/New_York", "2026-11-23", "must be in the future"),
        ("Pacific/Kiritimati", "2026-11-24", "must be in the future"),  # today there
        ("UTC", None, "needs an end date"),
        ("UTC", "23/11/2026", "not a date"),
        ("UTC", "2027-11-25", "at most 366 days"),
    ],
)
def test_coverage_end_dates_that_are_refused(tz, day, message):
    with pytest.raises(BadInput, match=message) as caught:
        parse_coverage_end(day, tz_name=tz, now=NOW, field=BlockId.COVERAGE_END)
    assert caught.value.field == BlockId.COVERAGE_END


# -- long text in blocks -------------------------------------------------------------------------


@given(st.text(alphabet=st.sampled_from("ab <>&\n"), max_size=9000))
def test_chunks_fit_a_section_once_escaped_and_lose_nothing(text):
    parts = mrkdwn_chunks(text)
    assert all(len(escape_mrkdwn(part)) <= 2800 for part in parts)
    squeeze = str.maketrans("", "", " \n")
    assert "".join(parts).translate(squeeze) == text.translate(squeeze)


# -- settings ------------------------------------------------------------------------------------


def settings(tmp_path: Path, **env: str):
    base = {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "CARETHREAD_DATA_DIR": str(tmp_path)}
    return load_settings({**base, **env}, dotenv_path=tmp_path / "no.env", workflows=WORKFLOWS)


def test_delays_default_and_can_be_configured(tmp_path):
    defaults = settings(tmp_path).section(HandoffSettings)
    assert defaults.remind_after == timedelta(hours=4)
    assert defaults.tell_sender_after == timedelta(days=1)
    custom = settings(
        tmp_path,
        CARETHREAD_HANDOFF_REMIND_MINUTES="30",
        CARETHREAD_HANDOFF_TELL_SENDER_MINUTES="90",
    ).section(HandoffSettings)
    assert (custom.remind_after, custom.tell_sender_after) == (timedelta(minutes=30), timedelta(minutes=90))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CARETHREAD_HANDOFF_REMIND_MINUTES": "soon"}, "whole number"),
        ({"CARETHREAD_HANDOFF_REMIND_MINUTES": "0"}, "between 1 and 43200"),
        (
            {"CARETHREAD_HANDOFF_REMIND_MINUTES": "600", "CARETHREAD_HANDOFF_TELL_SENDER_MINUTES": "60"},
            "shorter",
        ),
    ],
)
def test_bad_delays_stop_start_up_with_a_clear_message(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **env)


# -- templates -----------------------------------------------------------------------------------

NASTY = '<!channel> & <@U0EVIL> *bold* "quoted" \\ back\nline two'
LONG = ("<b>&amp; " * 500).strip()  # escapes to far more than one section holds


def sample(status: str = "pending", kind: str = "transfer", text: str = NASTY) -> HandoffView:
    return HandoffView(
        id=7,
        ref="C-12",
        from_user="U0SENDER",
        to_user="U0RECEIV",
        role="prescriber",
        role_title="Prescriber",
        kind=kind,
        severity="unstable",
        status=status,
        created_at=NOW,
        coverage_until=NOW + timedelta(days=3) if kind == "coverage" else None,
        decided_at=None if status == "pending" else NOW,
        previous_role_title="Therapist",
        ipass=IPass(Severity.UNSTABLE, text, LONG, text),
    )


def all_messages(renderer: Renderer):
    for kind in ("transfer", "coverage"):
        yield "handoff_posted", renderer.message("handoffs/handoff_posted", h=sample(kind=kind))
        for status in ("pending", "accepted", "declined", "void", "ended"):
            for reminder in (False, True):
                yield (
                    f"handoff_request:{status}",
                    renderer.message(
                        "handoffs/handoff_request",
                        h=sample(status, kind),
                        reminder=reminder,
                        home_channel="C0CARE",
                        actions=Action,
                    ),
                )
        for event in ("sent", "accepted", "declined", "void", "still_pending", "coverage_ended"):
            for audience in ("thread", "sender", "receiver"):
                outcomes = ("removed", "restored", "kept_last", "role_changed", "already_off", "superseded")
                for outcome in outcomes if event in ("coverage_ended", "accepted") else (None,):
                    yield (
                        f"handoff_notice:{event}",
                        renderer.message(
                            "handoffs/handoff_notice",
                            h=sample(kind=kind),
                            event=event,
                            audience=audience,
                            note=LONG,
                            outcome=outcome,
                        ),
                    )
    many = [sample(kind=k) for k in ("transfer", "coverage")] * 8
    covers = [sample("accepted", "coverage")] * 12
    yield (
        "handoff_list",
        renderer.message("handoffs/handoff_list", given=many, received=many, coverage=covers, actions=Action),
    )
    yield (
        "handoff_list",
        renderer.message("handoffs/handoff_list", given=[], received=[], coverage=[], actions=Action),
    )
    yield (
        "handoff_help",
        renderer.message("handoffs/handoff_help", usage=["`/handoff help`"], roles="Roles: x."),
    )


def test_every_message_template_renders_valid_block_kit_with_ids_only_in_text():
    renderer = Renderer()
    seen = set()
    for name, message in all_messages(renderer):
        seen.add(name.split(":")[0])
        assert message["text"] and len(message["blocks"]) <= 50
        for word in ("<!channel>", "U0EVIL", "bold", "unstable", "line two", "&amp;"):
            assert word not in message["text"], (name, message["text"])
        dumped = str(message["blocks"])
        assert "<!channel>" not in dumped and "<@U0EVIL>" not in dumped  # escaped, never live
    assert seen == {"handoff_posted", "handoff_request", "handoff_notice", "handoff_list", "handoff_help"}


def test_long_text_is_split_over_sections_not_cut_off():
    message = Renderer().message("handoffs/handoff_posted", h=sample(text=LONG))
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert len(sections) > 4 and all(len(s) <= 3000 for s in sections)
    assert sum(s.count("&lt;b&gt;") for s in sections) == 3 * 500


def test_every_modal_template_renders_a_valid_view():
    renderer = Renderer()
    from bot.handoffs.service import Draft

    form = renderer.view(
        "handoffs/handoff_form",
        callback_id=Callback.HANDOFF_FORM,
        metadata='{"case": 12, "to": "U0RECEIV", "role": "prescriber", "tz": "UTC"}',
        d=Draft(12, "C-123456789", "U0RECEIV", Role.PRESCRIBER),
        block=BlockId,
        severity_options=_options(SEVERITY_OPTIONS),
        kind_options=_options(KIND_OPTIONS),
        max_note=MAX_NOTE,
    )
    assert form["callback_id"] == Callback.HANDOFF_FORM and len(form["title"]["text"]) <= 24
    inputs = {b["block_id"] for b in form["blocks"] if b["type"] == "input"}
    assert inputs == {
        BlockId.SEVERITY,
        BlockId.SUMMARY,
        BlockId.ACTIONS,
        BlockId.AWARENESS,
        BlockId.HANDOFF_KIND,
        BlockId.COVERAGE_END,
    }
    for name, callback, field in (
        ("handoffs/handoff_accept", Callback.HANDOFF_ACCEPT, BlockId.SYNTHESIS),
        ("handoffs/handoff_decline", Callback.HANDOFF_DECLINE, BlockId.DECLINE_REASON),
    ):
        for kind in ("transfer", "coverage"):
            view = renderer.view(
                name, callback_id=callback, h=sample(kind=kind, text=LONG), block=BlockId, max_note=MAX_NOTE
            )
            assert view["private_metadata"] == "7" and len(view["blocks"]) <= 100
            [required] = [b for b in view["blocks"] if b["type"] == "input"]
            assert required["block_id"] == field and not required.get("optional")
