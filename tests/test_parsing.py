"""The /case command parser: every input yields a command or a BadInput with usage."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import inputs
from bot.cases import commands as parsing
from bot.errors import BadInput
from bot.inputs import Help
from storage.cases import Role


@given(st.text(max_size=300))
@settings(max_examples=300, deadline=None)
def test_any_text_parses_or_fails_with_usage(text):
    try:
        parsing.parse_case_command(text)
    except BadInput as err:
        assert err.message and err.usage


@given(
    st.sampled_from(["add", "remove", "show", "close", "reopen", "med", "create", "list"]),
    st.lists(st.text(min_size=1, max_size=30).filter(lambda s: not s.isspace()), max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_subcommands_with_random_arguments_never_crash(sub, args):
    try:
        parsing.parse_case_command(" ".join([sub, *args]))
    except BadInput as err:
        assert err.usage


@pytest.mark.parametrize("token,expected", [("C-12", 12), ("c-7", 7), ("C12", 12), ("C-000123", 123)])
def test_case_refs(token, expected):
    assert inputs.parse_case_ref(token, usage="u") == expected


@pytest.mark.parametrize("token", ["12", "C-", "C-1x", "X-1", "C-1234567890", ""])
def test_bad_case_refs(token):
    with pytest.raises(BadInput, match="not a case id"):
        inputs.parse_case_ref(token, usage="u")


@pytest.mark.parametrize(
    "token,expected", [("<@U0BOB|bob>", "U0BOB"), ("<@U0BOB>", "U0BOB"), ("<@W0ENT123|ent.user>", "W0ENT123")]
)
def test_mentions_escaped_either_way(token, expected):
    assert inputs.parse_mention(token, usage="u") == expected


@pytest.mark.parametrize("token", ["@bob", "bob", "<#C0CARE|care>", "<!channel>", "<@bob>"])
def test_non_mentions_are_refused(token):
    with pytest.raises(BadInput, match="@-mention"):
        inputs.parse_mention(token, usage="u")


def test_roles_and_aliases():
    assert inputs.parse_role("Case-Manager", usage="u") is Role.CASE_MANAGER
    assert inputs.parse_role("cm", usage="u") is Role.CASE_MANAGER
    assert inputs.parse_role("PCP", usage="u") is Role.PCP
    with pytest.raises(BadInput, match="Roles: `prescriber`"):
        inputs.parse_role("doctor", usage="u")


def test_commands():
    p = parsing.parse_case_command
    assert p("") == Help()
    assert p("create") == parsing.CreateCase(label=None)
    assert p("create  Blue   Heron ") == parsing.CreateCase("Blue Heron", Role.CASE_MANAGER)
    assert p("create Blue Heron as therapist") == parsing.CreateCase("Blue Heron", Role.THERAPIST)
    assert p("create Fox &amp; Hound") == parsing.CreateCase("Fox & Hound", Role.CASE_MANAGER)
    assert p("add C-3 <@U0B|b> pharmacist") == parsing.AddMember(3, "U0B", Role.PHARMACIST)
    assert p("REMOVE c-3 <@U0B>") == parsing.RemoveMember(3, "U0B")
    assert p("list all") == parsing.ListCases(all=True)
    assert p("close C-3 moved  to   another clinic") == parsing.CloseCase(3, "moved to another clinic")
    assert p("close C-3") == parsing.CloseCase(3, None)
    assert p("med C-3 add lithium 300 mg twice daily") == parsing.AddMedication(
        3, "lithium", "300 mg twice daily"
    )
    assert p("med C-3 add lithium") == parsing.AddMedication(3, "lithium", None)
    # A stop needs a taper plan, so it always opens the form, prefilled with the name.
    assert p("med C-3 stop lithium") == parsing.MedicationForm(3, "stop", "lithium")
    assert p('med C-3 add "lithium carbonate ER" 300 mg twice daily') == parsing.AddMedication(
        3, "lithium carbonate ER", "300 mg twice daily"
    )
    assert p("med C-3 change \u201csertraline HCl\u201d 150 mg every morning") == parsing.ChangeMedication(
        3, "sertraline HCl", "150 mg every morning"
    )
    assert p("med C-3 change sertraline") == parsing.MedicationForm(3, "change", "sertraline")
    assert p("med C-3 change") == parsing.MedicationForm(3, "change")
    assert p("med C-3 add") == parsing.MedicationForm(3, "add")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("create as therapist", "label before `as`"),
        ("create as", "role after `as`"),
        ("create Blue Heron as", "role after `as`"),
        ("create <@U0BOB|bob>", "cannot contain mentions"),
        ("create Fox <#C0CARE|care>", "cannot contain mentions"),
        ("create &lt;!here&gt; case", "cannot contain mentions"),
        ("create see https://example.com", "cannot contain mentions"),
        ("create @alice case", "cannot contain mentions"),
        ("med C-3 add " + "x" * 81, "the limit is 80"),
        ('med C-3 add "lithium carbonate 300 mg', "no closing one"),
        ("med C-3 pause lithium", "not a medication action"),
        ("med C-3", "missing"),
    ],
)
def test_create_and_med_refuse_what_a_new_user_might_type(text, expected):
    with pytest.raises(BadInput, match=expected) as caught:
        parsing.parse_case_command(text)
    assert caught.value.usage


def test_invisible_characters_are_refused():
    with pytest.raises(BadInput, match="control or invisible"):
        parsing.parse_case_command("create Blue\u200bHeron")
