"""`/case med` parsing: quoted names of any number of words round-trip, and what opens the form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BadInput
from bot.medications.commands import (
    AddMedication,
    ChangeMedication,
    MedicationForm,
    parse_med_command,
    read_medication,
)

WORD = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=12)


@given(words=st.lists(WORD, min_size=1, max_size=5), dose=st.lists(WORD, max_size=4))
def test_a_quoted_name_round_trips(words, dose):
    name, detail = " ".join(words), " ".join(dose)
    assert read_medication(f'"{name}" {detail}') == (name, detail or None)
    assert read_medication(f"\u201c{name}\u201d {detail}") == (name, detail or None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("C-2 add", MedicationForm(2, "add")),
        ("C-2 add lithium", AddMedication(2, "lithium", None)),
        ('C-2 add "lithium carbonate ER"', AddMedication(2, "lithium carbonate ER", None)),
        ("C-2 change lithium", MedicationForm(2, "change", "lithium")),
        ("C-2 CHANGE lithium 600 mg", ChangeMedication(2, "lithium", "600 mg")),
        ('C-2 stop "lithium carbonate ER"', MedicationForm(2, "stop", "lithium carbonate ER")),
        ("C-2 stop", MedicationForm(2, "stop")),
    ],
)
def test_what_is_done_at_once_and_what_opens_the_form(text, expected):
    assert parse_med_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("C-2", "missing"),
        ("C-2 swap lithium", "not a medication action"),
        ('C-2 add "lithium 300 mg', "no closing one"),
        ('C-2 add "" 300 mg', "Name the medication"),
        ("C-2 change " + "x" * 81 + " 5 mg", "the limit is 80"),
    ],
)
def test_bad_commands_say_what_is_wrong(text, message):
    with pytest.raises(BadInput, match=message) as caught:
        parse_med_command(text)
    assert caught.value.usage
