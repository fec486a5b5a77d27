"""Issue 15's parsers: `/case roles`, `/handoff cancel` and the Close anyway button's value.
Anything unreadable is a BadInput with the right usage, never another error."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cases.commands import AssignDuty, ShowDuties, parse_case_command, parse_duty, read_close_value
from bot.errors import BadInput
from bot.handoffs.commands import CancelHandoff, parse_handoff_command
from storage.cases import Duty


def test_case_roles_shows_or_assigns_one_responsibility():
    assert parse_case_command("roles C-4") == ShowDuties(4)
    assert parse_case_command("roles c-4 after-hours <@U0ABC>") == AssignDuty(4, Duty.AFTER_HOURS, "U0ABC")
    assert parse_case_command("duties C-4 Refills <@U0ABC|abc>") == AssignDuty(4, Duty.REFILLS, "U0ABC")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("roles", "Something is missing"),
        ("roles C-4 refills", "Name one responsibility and one person"),
        ("roles C-4 refills <@U0ABC> <@U0DEF>", "Name one responsibility and one person"),
        ("roles C-4 haircuts <@U0ABC>", "`haircuts` is not a responsibility"),
        ("roles C-4 refills bob", "@-mention"),
        ("roles X-4", "not a case id"),
    ],
)
def test_case_roles_bad_input_says_how_to_do_it(text, says):
    with pytest.raises(BadInput) as err:
        parse_case_command(text)
    assert says in err.value.message
    assert "/case roles" in (err.value.usage or "")


@pytest.mark.parametrize(
    ("word", "duty"),
    [
        ("suicide-risk", Duty.SUICIDE_RISK),
        ("risk", Duty.SUICIDE_RISK),
        ("LABS", Duty.LABS),
        ("crisis", Duty.AFTER_HOURS),
    ],
)
def test_responsibility_words_and_aliases(word, duty):
    assert parse_duty(word) == duty


def test_handoff_cancel_takes_one_case():
    assert parse_handoff_command("cancel C-9") == CancelHandoff(9)
    for text in ("cancel", "cancel C-9 now"):
        with pytest.raises(BadInput) as err:
            parse_handoff_command(text)
        assert "takes one case id" in err.value.message


def test_close_value_round_trips_and_refuses_tampering():
    assert read_close_value(json.dumps({"case": 3, "reason": " moved away "})) == (3, "moved away")
    assert read_close_value(json.dumps({"case": 3, "reason": None})) == (3, None)
    for bad in (
        "",
        "nope",
        "[]",
        '{"case": "C-3"}',
        '{"case": true}',
        '{"case": -1}',
        '{"case": 3, "reason": 7}',
    ):
        with pytest.raises(BadInput) as err:
            read_close_value(bad)
        assert "no longer works" in err.value.message


@given(st.text(max_size=300))
def test_close_value_never_fails_other_than_bad_input(raw):
    try:
        case_id, reason = read_close_value(raw)
    except BadInput:
        return
    assert case_id > 0 and (reason is None or isinstance(reason, str))
