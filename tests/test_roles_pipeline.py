"""Roles are not self-granted (issue 11), end to end: signed `/case` and `/handoff`
commands, the refusal each person reads, what the database holds and what was audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from storage.cases import CaseMember, Medication
from storage.core import AuditEvent
from tests.support import Harness, make_settings

CREATOR, THERAPIST, BOB, CAROL, ADMIN = "UPRESC001", "UTHERA001", "U0BOB0001", "U0CAROL01", "U0ADMIN"


def m(user: str) -> str:
    return f"<@{user}|{user.lower()}>"


def team(h) -> dict[str, str]:
    with h.db() as session:
        rows = session.execute(select(CaseMember).where(CaseMember.case_id == 1)).scalars()
        return {r.user_id: r.role for r in rows}


def refusals(h, reason: str) -> list[AuditEvent]:
    with h.db() as session:
        rows = session.execute(select(AuditEvent).where(AuditEvent.outcome == "denied")).scalars()
        return [r for r in rows if f'"reason":"{reason}"' in r.details.replace(" ", "")]


@pytest.fixture
def case(harness):
    harness.command(CREATOR, "create Blue Heron as prescriber")
    harness.command(CREATOR, f"add C-1 {m(THERAPIST)} therapist")
    assert team(harness) == {CREATOR: "prescriber", THERAPIST: "therapist"}
    return harness


def test_the_issue_scenario_is_refused_at_each_step(case):
    h = case
    h.command(THERAPIST, f"add C-1 {m(THERAPIST)} prescriber")
    assert "Nobody changes their own role" in h.last_reply_text()
    h.command(THERAPIST, "med C-1 add lithium 900mg")
    assert "Only a prescriber on the care team" in h.last_reply_text()
    h.command(THERAPIST, f"remove C-1 {m(CREATOR)}")
    assert "the team's only prescriber" in h.last_reply_text()
    assert team(h) == {CREATOR: "prescriber", THERAPIST: "therapist"}
    with h.db() as session:
        assert session.execute(select(Medication)).first() is None
    assert len(refusals(h, "own_role")) == 1 and len(refusals(h, "last_prescriber")) == 1
    assert refusals(h, "own_role")[0].actor == THERAPIST and refusals(h, "own_role")[0].case_id == 1


def test_prescriber_granted_by_a_prescriber_or_admin_only(case):
    h = case
    h.command(THERAPIST, f"add C-1 {m(BOB)} prescriber")
    assert "Only a prescriber on the care team or a CareThread admin" in h.last_reply_text()
    h.command(THERAPIST, f"add C-1 {m(BOB)} therapist")  # other roles: anyone on the team
    h.command(THERAPIST, f"add C-1 {m(BOB)} prescriber")  # a role change to prescriber: same rule
    assert team(h)[BOB] == "therapist"
    h.command(CREATOR, f"add C-1 {m(BOB)} prescriber")
    h.command(ADMIN, f"add C-1 {m(CAROL)} prescriber")
    assert team(h) == {CREATOR: "prescriber", THERAPIST: "therapist", BOB: "prescriber", CAROL: "prescriber"}
    assert len(refusals(h, "prescriber_grant")) == 2
    # Not the last prescriber any more: the therapist may take one off.
    h.command(THERAPIST, f"remove C-1 {m(CREATOR)}")
    assert CREATOR not in team(h)


def test_first_prescriber_of_a_case_without_one(harness):
    h = harness
    h.command(THERAPIST, "create Grey Owl as therapist")
    h.command(THERAPIST, f"add C-1 {m(BOB)} prescriber")
    assert team(h) == {THERAPIST: "therapist", BOB: "prescriber"}
    h.command(THERAPIST, f"add C-1 {m(CAROL)} prescriber")  # now there is one: not any more
    assert CAROL not in team(h)


def test_last_prescriber_removed_or_changed_by_an_admin_or_a_prescriber(case):
    h = case
    h.command(THERAPIST, f"add C-1 {m(CREATOR)} pcp")
    assert "the team's only prescriber" in h.last_reply_text()
    h.command(ADMIN, f"add C-1 {m(CREATOR)} pcp")
    assert team(h)[CREATOR] == "pcp"


def test_a_handoff_of_the_prescriber_role_follows_the_same_rules(case):
    h = case
    h.command(THERAPIST, f"C-1 {m(BOB)} prescriber", command="/handoff")
    assert "Only a prescriber on the care team or a CareThread admin" in h.last_reply_text()
    assert not h.slack.calls_to("views.open")
    h.command(CREATOR, f"C-1 {m(BOB)} prescriber", command="/handoff")
    assert h.slack.calls_to("views.open")  # the prescriber may: the I-PASS form opens


@pytest.fixture
def listed(tmp_path, engine, slack, clock) -> Iterator[Harness]:
    settings = make_settings(tmp_path, slack, CARETHREAD_PRESCRIBERS=f"{CREATOR}, S0PRESCRIB")
    h = Harness(settings, engine, slack, clock)
    yield h
    h.close()


def test_carethread_prescribers_limits_who_may_hold_the_role(listed):
    h = listed
    h.slack.usergroups["S0PRESCRIB"] = {CAROL}
    h.command(BOB, "create Red Fox as prescriber")
    assert "not on this clinic's list of prescribers" in h.last_reply_text()
    h.command(CREATOR, "create Red Fox as prescriber")
    h.command(CREATOR, f"add C-1 {m(THERAPIST)} therapist")
    h.command(ADMIN, f"add C-1 {m(BOB)} prescriber")  # not even an admin can make Bob one
    assert f"<@{BOB}> is not on this clinic's list" in h.last_reply_text()
    h.command(CREATOR, f"add C-1 {m(CAROL)} prescriber")  # in the listed user group
    assert team(h) == {CREATOR: "prescriber", THERAPIST: "therapist", CAROL: "prescriber"}
    assert [c.args["usergroup"] for c in h.slack.calls_to("usergroups.users.list")] == ["S0PRESCRIB"]
    assert len(refusals(h, "not_listed_prescriber")) == 2


def test_an_unreadable_prescriber_group_refuses_the_grant(listed):
    h = listed
    h.command(CREATOR, "create Red Fox as prescriber")  # listed directly: no group lookup
    h.slack.fail("usergroups.users.list", status=500, times=5)
    h.command(CREATOR, f"add C-1 {m(CAROL)} prescriber")
    assert "could not read the clinic's prescriber group" in h.last_reply_text()
    assert team(h) == {CREATOR: "prescriber"}
    assert len(refusals(h, "prescriber_list_unreadable")) == 1
