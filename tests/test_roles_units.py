"""The role rules (bot/cases/policy.py), as pure functions: examples from issue 11 and
properties that must hold whatever the team looks like."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.cases.policy import TeamChangeFacts, not_listed, refusal, uncovered_role
from storage.cases import Role

P, T, CM = Role.PRESCRIBER.value, Role.THERAPIST.value, Role.CASE_MANAGER.value


def facts(**kw) -> TeamChangeFacts:
    base = dict(
        granted_by="UTHER",
        granted_by_role=T,
        granted_by_admin=False,
        target="UNEW",
        target_role=None,
        new_role=CM,
        prescribers=frozenset({"UPRES"}),
        allowed_prescribers=None,
    )
    base.update(kw)
    return TeamChangeFacts(**base)


def code(**kw) -> str | None:
    refused = refusal(facts(**kw))
    return refused.code if refused else None


def test_the_issue_a_therapist_making_themselves_prescriber_is_refused():
    assert code(target="UTHER", target_role=T, new_role=P) == "own_role"


def test_nobody_changes_their_own_role_not_even_an_admin_or_a_prescriber():
    assert (
        code(granted_by="UPRES", granted_by_role=P, target="UPRES", target_role=P, new_role=T) == "own_role"
    )
    assert code(
        granted_by="UADM", granted_by_role=None, granted_by_admin=True, target="UADM", new_role=P
    ) == ("own_role")


def test_leaving_yourself_is_not_a_role_change():
    assert code(target="UTHER", target_role=T, new_role=None) is None


def test_the_prescriber_role_is_granted_by_a_prescriber_or_an_admin():
    assert code(new_role=P) == "prescriber_grant"
    assert code(granted_by="UPRES", granted_by_role=P, new_role=P) is None
    assert code(granted_by="UADM", granted_by_role=None, granted_by_admin=True, new_role=P) is None


def test_anyone_on_the_team_names_the_first_prescriber_of_a_case_that_has_none():
    assert code(new_role=P, prescribers=frozenset()) is None


def test_the_clinic_list_limits_who_may_hold_the_role_even_for_an_admin():
    listed = frozenset({"UPRES", "UOK"})
    assert code(granted_by="UPRES", granted_by_role=P, new_role=P, allowed_prescribers=listed) == (
        "not_listed_prescriber"
    )
    assert code(granted_by_admin=True, new_role=P, allowed_prescribers=listed) == "not_listed_prescriber"
    assert (
        code(granted_by="UPRES", granted_by_role=P, target="UOK", new_role=P, allowed_prescribers=listed)
        is None
    )
    assert not_listed("UX", None) is None and not_listed("UX", {"UY"}).code == "not_listed_prescriber"


def test_the_last_prescriber_leaves_only_by_a_prescribers_or_an_admins_hand():
    last = dict(target="UPRES", target_role=P, prescribers=frozenset({"UPRES"}))
    assert code(new_role=None, **last) == "last_prescriber"
    assert code(new_role=T, **last) == "last_prescriber"  # a role change away counts too
    assert code(granted_by_admin=True, new_role=None, **last) is None
    assert code(granted_by="UP2", granted_by_role=P, new_role=None, **last) is None
    assert code(granted_by="UPRES", granted_by_role=P, new_role=None, **last) is None  # leaving themselves
    # Not the last one: anyone on the team may.
    assert code(new_role=None, target="UPRES", target_role=P, prescribers=frozenset({"UPRES", "UP2"})) is None


def test_consent_covers_roles_when_recorded():
    assert uncovered_role(P, None) is False  # none recorded: allowed, the card says so
    assert uncovered_role(P, [T, CM]) is True
    assert uncovered_role(T, [T, CM]) is False
    assert uncovered_role(None, [T]) is False  # leaving is never a sharing


roles = st.sampled_from([r.value for r in Role])
users = st.sampled_from(["UA", "UB", "UC", "UD"])


@given(
    by=users,
    by_role=st.none() | roles,
    admin=st.booleans(),
    target=users,
    target_role=st.none() | roles,
    new_role=st.none() | roles,
    prescribers=st.frozensets(users),
    allowed=st.none() | st.frozensets(users),
)
def test_properties_of_every_change(by, by_role, admin, target, target_role, new_role, prescribers, allowed):
    f = TeamChangeFacts(by, by_role, admin, target, target_role, new_role, prescribers, allowed)
    refused = refusal(f)
    # Nobody ever grants themselves a new role.
    if by == target and new_role is not None and new_role != target_role:
        assert refused is not None
    # A new prescriber is always listed (when a list is set) and granted by someone entitled.
    if refused is None and new_role == P and target_role != P:
        assert allowed is None or target in allowed
        assert admin or by_role == P or not prescribers
    # The last prescriber never leaves by the hand of someone who is neither prescriber nor admin.
    if refused is None and target_role == P and new_role != P and prescribers <= {target}:
        assert admin or by_role == P
    # Changes that touch no prescriber and no one's own role are always allowed.
    if by != target and P not in (target_role, new_role):
        assert refused is None
