"""Side-effect relay parts on their own: severity, deadlines, configuration, the command
parser, the modal builders, every template, and the migration matching the models."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.clinic import WorkingHours
from bot.config import ConfigError
from bot.errors import BadInput
from bot.ids import Action, BlockId
from bot.inputs import Help
from bot.render import Renderer
from bot.side_effects.commands import (
    ListReports,
    OpenReportForm,
    parse_report_id,
    parse_sideeffect_command,
)
from bot.side_effects.forms import red_flag_option, report_view
from bot.side_effects.policy import (
    FIBSER_ITEMS,
    SYMPTOM_GROUPS,
    Span,
    parse_span,
    severity_of,
)
from bot.side_effects.service import Choice, FibserLine, FormChoices, ReportCard, age_text
from bot.side_effects.settings import DEFAULT_RED_FLAGS, deadlines
from tests.support import make_settings

UTC_ZONE = ZoneInfo("UTC")
MON_FRI = WorkingHours(time(9), time(17), frozenset(range(5)))

# -- severity and deadlines ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "burden", "expected"),
    [
        (["Seizure"], 0, "urgent"),
        (["Fainting"], 6, "urgent"),
        ([], 6, "high"),
        ([], 5, "high"),
        ([], 4, "moderate"),
        ([], 3, "moderate"),
        ([], 2, "low"),
        ([], 0, "low"),
    ],
)
def test_severity_follows_the_design_guide(flags, burden, expected):
    assert severity_of(red_flags=flags, burden=burden) == expected


@pytest.mark.parametrize(
    ("start", "length", "expected"),
    [
        # Friday afternoon + 1 business day = Monday afternoon.
        (datetime(2026, 11, 27, 15, tzinfo=UTC), timedelta(days=1), datetime(2026, 11, 30, 15, tzinfo=UTC)),
        # Saturday: the clock starts on Monday at midnight.
        (datetime(2026, 11, 28, 10, tzinfo=UTC), timedelta(days=1), datetime(2026, 12, 1, 0, tzinfo=UTC)),
        # Tuesday + 12 business hours stays midweek.
        (datetime(2026, 11, 24, 9, tzinfo=UTC), timedelta(hours=12), datetime(2026, 11, 24, 21, tzinfo=UTC)),
        # Thursday + 3 business days = Tuesday.
        (datetime(2026, 11, 26, 8, tzinfo=UTC), timedelta(days=3), datetime(2026, 12, 1, 8, tzinfo=UTC)),
    ],
)
def test_business_time_skips_weekends(start, length, expected):
    assert MON_FRI.add_business_time(start, length, UTC_ZONE) == expected


def test_business_days_follow_the_clinic_zone_across_daylight_saving():
    zone = ZoneInfo("America/New_York")
    # Friday 2026-10-30 16:00 New York (EDT); DST ends Sunday 11-01: Monday 16:00 is EST.
    start = datetime(2026, 10, 30, 16, tzinfo=zone).astimezone(UTC)
    due = MON_FRI.add_business_time(start, timedelta(days=1), zone)
    assert due.astimezone(zone).replace(tzinfo=None) == datetime(2026, 11, 2, 16)


def test_business_days_are_the_clinics_working_days(tmp_path):
    """One definition of working days: a clinic open Sunday to Thursday has no Friday deadline."""
    rules = deadlines(make_settings(tmp_path, CARETHREAD_WORKING_DAYS="sun-thu"))
    thursday = datetime(2026, 11, 26, 15, tzinfo=UTC)
    assert rules.ack_due("moderate", thursday) == datetime(2026, 11, 29, 15, tzinfo=UTC)  # Sunday
    friday = datetime(2026, 11, 27, 10, tzinfo=UTC)  # not a working day: the clock starts Sunday 00:00
    assert rules.ack_due("moderate", friday) == datetime(2026, 11, 30, 0, tzinfo=UTC)
    assert rules.ack_due("high", friday) == friday + timedelta(hours=4)  # hours run every day


@pytest.mark.parametrize(
    ("raw", "span"),
    [("15m", Span(15, "m")), ("4h", Span(4, "h")), ("1bd", Span(1, "bd")), (" 2.5 d ", Span(2.5, "d"))],
)
def test_spans_parse(raw, span):
    assert parse_span(raw) == span


@pytest.mark.parametrize("raw", ["", "15", "m15", "0m", "3 weeks", "-1h"])
def test_bad_spans_say_what_to_write(raw):
    with pytest.raises(ValueError, match="must be"):
        parse_span(raw)


def test_defaults_and_overrides(tmp_path):
    rules = deadlines(make_settings(tmp_path))
    start = datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert rules.ack_due("urgent", start) == start + timedelta(minutes=15)
    assert rules.ack_due("high", start) == start + timedelta(hours=4)
    assert rules.ack_due("moderate", start) == start + timedelta(days=1)
    assert rules.ack_due("low", start) == start + timedelta(days=3)
    assert rules.escalate_at("high", start) == start + timedelta(hours=2)
    assert rules.describe("moderate") == "1 business day"

    custom = deadlines(
        make_settings(
            tmp_path,
            CARETHREAD_SIDEEFFECT_DEADLINE_URGENT="5m",
            CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION="2",
            CARETHREAD_CLINIC_TZ="Europe/Berlin",
        )
    )
    assert custom.ack_due("urgent", start) == start + timedelta(minutes=5)
    assert custom.escalate_at("urgent", start) == start + timedelta(minutes=10)
    assert custom.zone == ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CARETHREAD_SIDEEFFECT_DEADLINE_HIGH", "soon", "CARETHREAD_SIDEEFFECT_DEADLINE_HIGH must"),
        ("CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION", "0", "ESCALATION_FRACTION must"),
        ("CARETHREAD_SIDEEFFECT_ESCALATION_FRACTION", "half", "ESCALATION_FRACTION must"),
        ("CARETHREAD_SIDEEFFECT_TIMEZONE", "Mars/Olympus", "IANA time zone"),
    ],
)
def test_bad_settings_stop_start_up(tmp_path, name, value, message):
    with pytest.raises(ConfigError, match=message):
        make_settings(tmp_path, **{name: value})


def test_the_app_is_not_built_from_settings_loaded_without_its_workflows(tmp_path, engine, slack):
    """Workflow settings are validated when loaded; settings loaded for the core alone (as the
    migrations do) cannot build the app, which would otherwise run without them."""
    from bot.config import load_settings
    from bot.factory import create_app

    core_only = load_settings(
        {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "CARETHREAD_DATA_DIR": str(tmp_path)},
        dotenv_path=tmp_path / "none",
    )
    with pytest.raises(ConfigError, match=r"\w+Settings were not loaded: pass the workflows"):
        create_app(core_only, engine=engine)


def test_age_text():
    assert age_text(timedelta(seconds=30)) == "0 min"
    assert age_text(timedelta(minutes=59)) == "59 min"
    assert age_text(timedelta(hours=47)) == "47 h"
    assert age_text(timedelta(days=3, hours=1)) == "3 d"
    assert age_text(timedelta(minutes=-5)) == "0 min"


# -- the command parser -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", OpenReportForm(None)),
        ("C-12", OpenReportForm(12)),
        ("  c12 ", OpenReportForm(12)),
        (
            "C-1 nausea  since the increase\nand dizzy ",
            OpenReportForm(1, "nausea  since the increase\nand dizzy"),
        ),
        ("help", Help()),
        ("list C-3", ListReports(3)),
        ("LIST c-3", ListReports(3)),
    ],
)
def test_commands_parse(text, command):
    assert parse_sideeffect_command(text) == command


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("list", "Name one case"),
        ("list C-1 C-2", "Name one case"),
        ("list twelve", "is not a case id"),
        ("help me", "takes nothing"),
        ("x" * 3000, "too long"),
    ],
)
def test_bad_commands_say_how(text, fragment):
    with pytest.raises(BadInput) as err:
        parse_sideeffect_command(text)
    assert fragment in err.value.message and err.value.usage


@given(st.text(max_size=200))
def test_the_parser_only_ever_refuses_with_bad_input(text):
    with contextlib.suppress(BadInput):
        parse_sideeffect_command(text)


@pytest.mark.parametrize("raw", [None, "", "abc", "-1", "1.5", "1" * 13])
def test_report_ids_must_be_plain_numbers(raw):
    with pytest.raises(BadInput):
        parse_report_id(raw)


# -- modals ----------------------------------------------------------------------------------------


def test_long_red_flags_become_text_and_description():
    option = red_flag_option(2, DEFAULT_RED_FLAGS[3])
    assert option["text"]["text"] == "Signs of serotonin toxicity"
    assert option["description"]["text"].startswith("clonus, agitation")
    assert option["value"] == "2"
    long = red_flag_option(0, "x" * 120)
    assert len(long["text"]["text"]) == 75 and len(long["description"]["text"]) <= 75


def test_report_view_splits_long_red_flag_lists(tmp_path):
    from types import SimpleNamespace

    flags = ";".join(f"Flag number {i}" for i in range(14))
    settings = make_settings(tmp_path, CARETHREAD_RED_FLAGS=flags)
    deps = SimpleNamespace(settings=settings, renderer=Renderer())
    choices = FormChoices(case_id=3, case_ref="C-3", medications=[Choice("7", "lithium")])
    view = report_view(deps, choices)  # type: ignore[arg-type]
    ids = [b.get("block_id") for b in view["blocks"]]
    assert BlockId.chunk(BlockId.SE_RED_FLAGS, 0) in ids and BlockId.chunk(BlockId.SE_RED_FLAGS, 1) in ids
    groups = [b for b in view["blocks"] if str(b.get("block_id", "")).startswith(BlockId.SE_RED_FLAGS)]
    assert [len(g["element"]["options"]) for g in groups] == [10, 4]
    assert all(
        len(b["element"]["options"]) <= 10
        for b in view["blocks"]
        if b.get("type") == "input" and b["element"]["type"] == "checkboxes"
    )
    assert len(view["title"]["text"]) <= 24


def test_symptom_groups_fit_checkboxes():
    assert all(len(items) <= 10 for _, items in SYMPTOM_GROUPS)
    assert all(len(item["options"]) == 7 for item in FIBSER_ITEMS.values())


# -- templates -------------------------------------------------------------------------------------

EVIL = 'a "quote" \\ back\nslash <!channel> <@U0EVIL> & {{ x }} *bold*'
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)


def card(**changes) -> ReportCard:
    base = ReportCard(
        id=7,
        ref="SE-7",
        case_id=12,
        case_ref="C-12",
        severity="moderate",
        severity_word="Moderate",
        status="open",
        reporter="U0THERA",
        created_at=NOW,
        onset=date(2026, 11, 20).isoformat(),
        medication=EVIL,
        symptoms=["Nausea or vomiting", "Headache"],
        symptoms_other=EVIL,
        fibser=[
            FibserLine("Frequency", 3, "50% of the time"),
            FibserLine("Intensity", 2, "Mild"),
            FibserLine("Burden", 4, "Marked impairment"),
        ],
        red_flags=[],
        notes=EVIL,
        ack_due_at=NOW + timedelta(days=1),
        escalate_at=NOW + timedelta(days=1, hours=12),
        deadline="1 business day",
        overdue=False,
        escalation_step=0,
        reminded_at=None,
        escalated_at=None,
        acknowledged_by=None,
        acknowledged_at=None,
        plan_label=None,
        plan_note=None,
        plan_by=None,
        plan_at=None,
        no_prescriber=False,
        prescribers=["U0PRESC1", "U0PRESC2"],
        case_managers=["U0CASEM"],
        routed_to=["U0PRESC1", "U0PRESC2"],
        age="3 h",
        add_prescriber="`/case add C-12 @person prescriber`",
    )
    return replace(base, **changes)


STATES = {
    "open": card(),
    "urgent": card(severity="urgent", severity_word="Urgent", red_flags=[EVIL, "Seizure"]),
    "overdue": card(overdue=True, escalation_step=2, reminded_at=NOW, escalated_at=NOW),
    "acknowledged": card(status="acknowledged", acknowledged_by="U0PRESC1", acknowledged_at=NOW),
    "planned": card(
        status="planned",
        acknowledged_by="U0PRESC1",
        acknowledged_at=NOW,
        plan_label="Adjust dose",
        plan_note=EVIL,
        plan_by="U0PRESC2",
        plan_at=NOW,
    ),
    "no_prescriber": card(no_prescriber=True, prescribers=[], routed_to=["U0CASEM"]),
    "nobody": card(no_prescriber=True, prescribers=[], case_managers=[], routed_to=[]),
}

MESSAGES = [
    ("side_effect_summary", {}),
    ("side_effect_dm", {"kind": "new"}),
    ("side_effect_dm", {"kind": "reminder"}),
    ("side_effect_dm", {"kind": "fallback"}),
    ("side_effect_receipt", {"crisis_text": EVIL}),
    ("side_effect_update", {"step": "acknowledged"}),
    ("side_effect_update", {"step": "planned"}),
    ("side_effect_update", {"step": "escalated"}),
    ("side_effect_escalation", {"audience": "thread"}),
    ("side_effect_escalation", {"audience": "dm"}),
]


@pytest.mark.parametrize("state", list(STATES))
@pytest.mark.parametrize(("name", "extra"), MESSAGES)
def test_every_side_effect_message_renders_safely(name, extra, state):
    r = STATES[state]
    message = Renderer().message(f"side_effects/{name}", r=r, action=Action, block=BlockId, **extra)
    text = message["text"]
    # Notification text: the case id and the severity word, never clinical detail.
    assert "C-12" in text and "quote" not in text and "Nausea" not in text
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "<@U0EVIL>" not in dumped
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    direct = name == "side_effect_dm" and (not r.prescribers or extra["kind"] == "fallback")
    quiet = ("side_effect_receipt", "side_effect_update", "side_effect_escalation")
    if r.status == "planned" or direct or name in quiet:
        assert buttons == []
    else:
        assert buttons[-1] == Action.SIDE_EFFECT_PLAN
    if name == "side_effect_receipt" and r.severity == "urgent":
        assert "&lt;!channel&gt;" in dumped  # the crisis text, escaped


def test_list_and_help_render():
    from bot.side_effects.service import ReportLine

    lines = [
        ReportLine("SE-1", "Urgent", "sertraline", "open", "U0THERA", "5 min", True, 2, None),
        ReportLine(
            "SE-2", "Low", "<!channel> lithium", "acknowledged", "U0THERA", "2 h", False, 0, "U0PRESC1"
        ),
    ]
    listed = Renderer().message("side_effects/side_effect_list", case_ref="C-12", lines=lines)
    first, second = (b["text"]["text"] for b in listed["blocks"][1:])
    assert "escalated" in first and "*SE-1* Urgent · sertraline · reported" in first
    assert "<!channel>" not in second and "&lt;!channel&gt; lithium" in second
    assert "No open side-effect reports" in json.dumps(
        Renderer().message("side_effects/side_effect_list", case_ref="C-1", lines=[])
    )
    help_message = Renderer().message(
        "side_effects/side_effect_help",
        usage=["`/sideeffect <case>`"],
        deadlines=[{"word": "Urgent", "span": "15 minutes"}],
    )
    assert "&lt;case&gt;" in json.dumps(help_message)


def test_list_gives_each_report_its_own_section_and_counts_what_it_leaves_out():
    """One section for all reports passed Slack's 3000-character section limit at about 40
    reports, so the list failed exactly when a case had the most to show. Each report has its
    own section now, and 40 of them (with the heading and the count) stay under 50 blocks."""
    from bot.side_effects.service import ReportLine

    lines = [
        ReportLine(f"SE-{n}", "Moderate", "m" * 120, "open", "U0THERA", "3 d", True, 2, None)
        for n in range(1, 46)
    ]
    listed = Renderer().message("side_effects/side_effect_list", case_ref="C-12", lines=lines)
    heading, *reports, more = listed["blocks"]
    assert "(45)" in heading["text"]["text"] and len(listed["blocks"]) == 42
    assert [b["type"] for b in reports] == ["section"] * 40
    assert all(b["text"]["text"].startswith(f"• *SE-{n}* Moderate") for n, b in enumerate(reports, 1))
    assert "SE-41" not in json.dumps(listed)
    assert more["elements"][0]["text"] == "Showing 40 of 45: 5 more not shown."


def test_plan_view_renders():
    view = Renderer().view(
        "side_effects/side_effect_plan",
        callback_id="side_effect_plan",
        block=BlockId,
        r=STATES["urgent"],
        plan_options=[{"text": {"type": "plain_text", "text": "Stop medication"}, "value": "stop"}],
        max_note=1000,
    )
    assert view["private_metadata"] == "7"
    assert "<!channel>" not in json.dumps(view)
