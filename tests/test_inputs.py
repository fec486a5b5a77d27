"""The one input layer (bot/inputs.py): free-text cleaning for every command and form field,
and collecting a modal's field errors so they all come back at once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import BadInput, FieldErrors
from bot.inputs import MAX_ID, FieldCheck, clean_text, parse_id, refuse_markup, whole_number


def test_single_line_text_is_collapsed_and_bounded():
    assert clean_text("  Blue \t  Heron\n 42 ", what="label", limit=80) == "Blue Heron 42"
    assert clean_text("Fox &amp; Hound &lt;b&gt;", what="label", limit=80) == "Fox & Hound <b>"
    with pytest.raises(BadInput, match="the limit is 5") as caught:
        clean_text("toolong", what="label", limit=5, usage="`/case create <label>`")
    assert caught.value.usage == "`/case create <label>`"
    with pytest.raises(BadInput, match="control or invisible"):
        clean_text("Blue\tHer\u200bon", what="label", limit=80)


def test_multi_line_text_keeps_lines_and_refuses_hidden_characters():
    text = "  one  \r\n\r\n\r\n\r\ntwo &amp; three \n\tindented\n\n"
    assert clean_text(text, what="x", limit=50, lines=True) == "one\n\ntwo & three\n\tindented"
    assert clean_text("  first\r\nsecond  \n\n", what="note", limit=50, lines=True) == "first\nsecond"
    with pytest.raises(BadInput, match="Fill in the summary") as caught:
        clean_text(" \n ", what="summary", limit=50, lines=True, required=True, field="f")
    assert caught.value.field == "f"
    assert clean_text("", what="x", limit=50, lines=True) == ""
    with pytest.raises(BadInput, match="invisible") as caught:
        clean_text("a\u202eb", what="x", limit=50, lines=True, field="summary")
    assert caught.value.field == "summary"
    with pytest.raises(BadInput, match="control or invisible"):
        clean_text("bad\x00byte", what="note", limit=50, lines=True)
    with pytest.raises(BadInput, match="the limit is 5"):
        clean_text("too\nlong", what="note", limit=5, lines=True)


@given(st.text(max_size=500), st.booleans())
def test_any_text_is_clean_or_bad_input_on_its_field(text, lines):
    try:
        cleaned = clean_text(text, what="note", limit=300, lines=lines, required=True, field="f")
    except BadInput as err:
        assert err.field == "f" and err.message
    else:
        assert cleaned == cleaned.strip() and cleaned and len(cleaned) <= 300
        assert "\n\n\n" not in cleaned
        assert lines or "\n" not in cleaned


@pytest.mark.parametrize(
    "text",
    [
        "<@U0BOB>",
        "hi <#C0CARE|care>",
        "<!here>",
        "<https://x.example|x>",
        "x https://x.example",
        "@bob",
        "a @here",
    ],
)
def test_mentions_and_links_are_refused_where_text_must_name_no_one(text):
    with pytest.raises(BadInput, match="cannot contain mentions"):
        refuse_markup(text, what="label", field="label")


@pytest.mark.parametrize("text", ["Blue Heron 42", "Fox <b> & co", "a@b", "ratio 3:1", "C-12 follow @ 3"])
def test_ordinary_text_passes_the_markup_check(text):
    assert refuse_markup(text, what="label") == text


def test_field_check_collects_every_problem_then_raises_them_together():
    check = FieldCheck()

    def fails(message: str, field: str | None = None) -> str:
        raise BadInput(message, field=field)

    assert check("a", lambda: "fine") == "fine"
    assert check("b", fails, "b is wrong") is None
    assert check("c", fails, "on its own field", field="d") is None
    check.add("b", "a second problem with b")  # the first problem per field is kept
    assert check.failed("b") and not check.failed("a")
    with pytest.raises(FieldErrors) as caught:
        check.done(case_id=7)
    assert caught.value.errors == {"b": "b is wrong", "d": "on its own field"}
    assert caught.value.case_id == 7 and isinstance(caught.value, BadInput)
    FieldCheck().done()  # nothing wrong: nothing raised


def test_numbers_and_ids_are_plain_ascii_digits_in_range():
    assert whole_number(" 42 ") == 42 and whole_number("0") == 0
    for raw in (None, "", "-1", "1.5", "²", "٣", "1e3", "9" * 19):
        assert whole_number(raw) is None, raw
    assert parse_id("7", stale="old") == 7 and parse_id(MAX_ID, stale="old") == MAX_ID
    for raw in (None, "", "0", "abc", "²", str(MAX_ID + 1), "1" * 13):
        with pytest.raises(BadInput, match="old"):
            parse_id(raw, stale="old")
