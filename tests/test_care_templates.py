"""Issue 15's wording rules, one test each, on the templates themselves: Priority (not
Severity) with the rule behind it, urgent asks for a prescriber now, the siren only on urgent,
the red-flag list, one spelling (US); and the new messages (close confirmation, who does what,
handoff states, cancel)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cases.responsibilities import DutyLine
from bot.handoffs.service import HandoffView, IPass
from bot.ids import Action, BlockId
from bot.render import Renderer
from bot.side_effects.forms import red_flag_option
from bot.side_effects.policy import priority_basis, red_flag_words_in, severity_of
from bot.side_effects.settings import DEFAULT_RED_FLAG_WORDS, DEFAULT_RED_FLAGS
from storage.handoffs import Severity as Severity_
from storage.side_effects import Severity
from tests.support import reply_text
from tests.test_side_effects_units import MESSAGES, card

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
renderer = Renderer()

URGENT = card(
    severity="urgent",
    severity_word="Urgent",
    red_flags=["Seizure"],
    priority_basis="any red flag makes a report urgent",
    escalated_to=["U0CASEM"],
)
HIGH = card(
    severity="high", severity_word="High", priority_basis="FIBSER intensity 5/6 raises it to at least high"
)


def side_effect(name: str, r, **extra) -> dict:
    return renderer.message(f"side_effects/{name}", r=r, action=Action, block=BlockId, **extra)


def all_messages(r) -> list[str]:
    extras = [*MESSAGES, ("side_effect_escalation", {"audience": "admins"})]
    return [
        reply_text(
            side_effect(
                name, r, **({"crisis_text": "Call 988."} if name == "side_effect_receipt" else {}) | extra
            )
        )
        for name, extra in extras
    ]


# -- Priority, not Severity -----------------------------------------------------------------------


def test_priority_replaces_severity_and_cites_its_rule():
    for text in all_messages(HIGH):
        assert "Severity" not in text
    summary = reply_text(side_effect("side_effect_summary", HIGH))
    assert "*Priority*\nHigh (FIBSER intensity 5/6 raises it to at least high)" in summary
    assert side_effect("side_effect_summary", HIGH)["text"] == "Side-effect report on C-12 (priority high)"
    receipt = reply_text(side_effect("side_effect_receipt", URGENT, crisis_text="Call 988."))
    assert "Priority: *Urgent* (any red flag makes a report urgent)" in receipt
    help_text = reply_text(
        renderer.message("side_effects/side_effect_help", usage=["`/sideeffect`"], deadlines=[])
    )
    assert "Priority comes from the FIBSER burden and the red flags" in help_text
    assert "intensity 5\u20136" in help_text


@pytest.mark.parametrize(
    ("flags", "burden", "intensity", "expected", "basis"),
    [
        (["Seizure"], 0, 0, Severity.URGENT, "any red flag"),
        ([], 5, 0, Severity.HIGH, "FIBSER burden 5/6 (5-6: high)"),
        ([], 1, 5, Severity.HIGH, "FIBSER intensity 5/6 raises it to at least high"),
        ([], 1, 6, Severity.HIGH, "intensity 6/6"),
        ([], 3, 6, Severity.HIGH, "intensity 6/6"),
        ([], 3, 4, Severity.MODERATE, "FIBSER burden 3/6 (3-4: moderate)"),
        ([], 2, 4, Severity.LOW, "FIBSER burden 2/6 (0-2: low), no red flag"),
    ],
)
def test_intensity_five_or_six_is_at_least_high(flags, burden, intensity, expected, basis):
    assert severity_of(red_flags=flags, burden=burden, intensity=intensity) == expected
    assert basis in priority_basis(red_flags=flags, burden=burden, intensity=intensity)


# -- urgent asks for a prescriber now; the siren only on urgent -----------------------------------


def test_escalation_of_an_urgent_report_asks_for_a_prescriber_now_not_today():
    for audience in ("dm", "thread", "admins"):
        text = reply_text(side_effect("side_effect_escalation", URGENT, audience=audience))
        assert "now" in text and "today" not in text, audience
    assert "today" not in reply_text(side_effect("side_effect_escalation", HIGH, audience="dm"))


def test_the_siren_only_on_urgent_items():
    for r in (card(), HIGH, card(severity="low", severity_word="Low")):
        for text in all_messages(r):
            assert ":rotating_light:" not in text and "🚨" not in text
    assert any(":rotating_light:" in text for text in all_messages(URGENT))
    escalated = reply_text(side_effect("side_effect_update", URGENT, step="escalated"))
    assert ":rotating_light:" in escalated and "<@U0CASEM>" in escalated


def test_escalation_to_the_admin_channel_carries_ids_only():
    message = side_effect("side_effect_escalation", replace(URGENT, escalated_to=[]), audience="admins")
    text = reply_text(message)
    assert "SE-7" in text and "C-12" in text and "Nobody else is on the care team" in text
    assert "quote" not in text and "Nausea" not in text  # no medication, symptoms or notes
    update = reply_text(side_effect("side_effect_update", replace(URGENT, escalated_to=[]), step="escalated"))
    assert "to the clinic's admins" in update


# -- red flags ----------------------------------------------------------------------------------


def test_red_flags_gain_the_issues_list_in_us_spelling():
    flags = "\n".join(DEFAULT_RED_FLAGS)
    assert DEFAULT_RED_FLAGS[0] == "New or worsening suicidal thoughts or behavior"
    for wanted in (
        "mania or hypomania",
        "Chest pain, fever or breathlessness on clozapine (myocarditis)",
        "Severe constipation on clozapine",
        "Acute dystonia",
        "Priapism",
        "Angioedema",
        "Jaundice or abdominal pain on valproate",
        "Pregnancy on valproate",
        "diarrhea",
    ):
        assert wanted in flags
    for flag in DEFAULT_RED_FLAGS:  # each fits a Slack option (text, and description)
        option = red_flag_option(0, flag)
        assert len(option["text"]["text"]) <= 75
        assert len(option.get("description", {}).get("text", "")) <= 75


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Patient reports chest pain since Tuesday", ["chest pain"]),
        ("She FAINTED in the shop", ["fainted"]),
        ("new rash on arms", ["rash"]),
        ("car crash last week, no injuries", []),
        ("had a seizure overnight", ["seizure"]),
        ("says he can\u2019t stop shaking", ["can't stop shaking"]),
        ("passive suicidal thoughts", ["suicid"]),
        ("seems a bit hypomanic", []),
        ("sleeping badly", []),
    ],
)
def test_free_text_that_names_a_red_flag_is_found(text, found):
    assert red_flag_words_in([text, None], DEFAULT_RED_FLAG_WORDS) == found


def test_the_report_form_offers_the_not_a_red_flag_way_out():
    from types import SimpleNamespace

    from bot.config import ClinicSettings
    from bot.side_effects.forms import report_view
    from bot.side_effects.service import FormChoices
    from bot.side_effects.settings import SideEffectSettings

    settings = SimpleNamespace(section=lambda _model: SideEffectSettings(), clinic=ClinicSettings())
    view = report_view(
        SimpleNamespace(settings=settings, renderer=renderer),  # type: ignore[arg-type]
        FormChoices(case_id=1, case_ref="C-1", medications=[]),
    )
    [block] = [b for b in view["blocks"] if b.get("block_id") == BlockId.SE_NOT_RED_FLAG]
    assert (
        block["optional"] and block["element"]["options"][0]["text"]["text"] == "None of these is a red flag"
    )
    assert "an intensity of 5\u20136 makes it at least high" in reply_text(view)


# -- one spelling (US) throughout ----------------------------------------------------------------

BRITISH = re.compile(
    r"behaviour|colour|favour|honour|organis|recognis|prioritis|summaris|authoris|apologis|"
    r"diarrhoea|haemat|\boedema|anaemi|oestrogen|paediatr|centre\b|licence|defence|judgement|"
    r"cancelled|cancelling|labelled|labelling|whilst|amongst",
    re.IGNORECASE,
)
# Stored values and old migrations stay as written: renaming them would need a data migration
# (and the audit chain's action names are history).
# NudgeStatus.CANCELLED names the stored value "cancelled".
KEPT = ("organisations_enc", "nudge_cancelled", '"cancelled"', "CANCELLED", "storage/migrations/versions/000")


def test_one_spelling_us_throughout():
    files = subprocess.check_output(
        ["git", "ls-files", "bot", "handlers", "storage", "templates", "docs", "README.md", ".env.example"],
        cwd=ROOT,
        text=True,
    ).split()
    found = []
    for name in files:
        if name.startswith(KEPT[-1]):
            continue
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1):
            cleaned = line
            for kept in KEPT[:-1]:
                cleaned = cleaned.replace(kept, "")
            if BRITISH.search(cleaned):
                found.append(f"{name}:{number}: {line.strip()[:80]}")
    assert found == []


# -- the new messages ------------------------------------------------------------------------------


def test_close_confirmation_lists_the_risks_and_offers_one_button():
    message = renderer.message(
        "cases/close_confirm",
        ref="C-3",
        risks=[
            "• Urgent side-effect report *SE-1*: not acknowledged",
            "• Handoff of *C-3* from <@U0FROM1> to <@U0TO0001>",
        ],
        value='{"case": 3, "reason": "moved <away>"}',
        actions=Action,
    )
    assert message["text"] == "C-3 was not closed: it has open items"
    text = reply_text(message)
    assert "2 open items" in text and "*SE-1*" in text and "<@U0TO0001>" in text
    [button] = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == Action.CASE_CLOSE_CONFIRM and button["style"] == "danger"
    assert button["value"] == '{"case": 3, "reason": "moved <away>"}'


def test_who_does_what_shows_holders_defaults_and_nobody():
    lines = [
        DutyLine("suicide-risk", "Monitoring suicide risk", "U0THERA", False),
        DutyLine("refills", "Refills", "U0PRESC", True),
        DutyLine("labs", "Laboratory monitoring", None, False),
    ]
    text = reply_text(renderer.message("cases/duties_show", ref="C-3", duties=lines))
    assert "Monitoring suicide risk: <@U0THERA> _(from their role)_" in text
    assert "Refills: <@U0PRESC>\n" in text and "Laboratory monitoring: *nobody* on the team" in text
    assert "`/case roles C-3` to change" in text


def _handoff(**changes) -> HandoffView:
    base = HandoffView(
        id=4,
        ref="C-3",
        from_user="U0FROM",
        to_user="U0TO",
        role="prescriber",
        role_title="Prescriber",
        kind="transfer",
        severity="watcher",
        status="pending",
        created_at=NOW,
        coverage_until=None,
        decided_at=None,
        ipass=IPass(Severity_.WATCHER, "summary", "actions", "awareness"),
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({}, "Waiting for <@U0TO>"),
        ({"status": "accepted", "decided_at": NOW}, "accepted by <@U0TO>"),
        ({"status": "declined", "decided_at": NOW}, "declined by <@U0TO>"),
        ({"status": "void"}, "left the care team before it was accepted"),
        ({"status": "canceled", "end_outcome": "by_sender", "decided_at": NOW}, "canceled by <@U0FROM>"),
        ({"status": "canceled", "end_outcome": "case_closed"}, "canceled because the case was closed"),
        (
            {
                "status": "ended",
                "kind": "coverage",
                "end_outcome": "removed",
                "ended_at": NOW,
                "coverage_until": NOW,
            },
            "coverage ended",
        ),
    ],
)
def test_the_handoff_post_says_where_it_stands(changes, says):
    message = renderer.message("handoffs/handoff_posted", h=_handoff(**changes))
    text = reply_text(message)
    assert says in text
    if changes:
        assert "Waiting for" not in text and "waiting for an answer" not in message["restricted"]


def test_acceptance_names_the_responsibilities_and_cancel_tells_each_person():
    accepted = _handoff(
        status="accepted",
        duties=["Refills", "After-hours and crisis contact"],
        kind="coverage",
        coverage_until=NOW,
    )
    text = reply_text(
        renderer.message(
            "handoffs/handoff_notice",
            h=accepted,
            event="accepted",
            audience="sender",
            note="ok",
            outcome=None,
        )
    )
    assert "*Responsibilities now with <@U0TO>*\n• Refills\n• After-hours and crisis contact" in text
    assert "They go back to you when the coverage ends" in text
    none = reply_text(
        renderer.message(
            "handoffs/handoff_notice",
            h=_handoff(status="accepted"),
            event="accepted",
            audience="thread",
            note="ok",
            outcome=None,
        )
    )
    assert "None: <@U0FROM> held none of them" in none
    for audience, says in (
        ("sender", "Your handoff of *C-3* to <@U0TO>"),
        ("receiver", "there is nothing for you to answer"),
        ("thread", "canceled by <@U0FROM>"),
    ):
        message = renderer.message(
            "handoffs/handoff_notice",
            h=_handoff(status="canceled"),
            event="canceled",
            audience=audience,
            note=None,
            outcome="by_sender",
        )
        assert message["text"] == "Handoff on case C-3 canceled" and says in reply_text(message)
