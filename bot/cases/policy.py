"""Who may change whom on a care team: the role rules of issue 11, as pure functions.

Roles are not self-granted. The prescriber role puts medications in someone's hands, so it
is granted only by a prescriber on the team or an admin (the first prescriber of a case
that has none excepted: someone has to be first), only to people on the clinic's list of
prescribers when one is configured, and the last prescriber leaves only by a prescriber's
or an admin's hand. The service gathers the facts (`TeamChangeFacts`) and calls
`refusal(...)`: a Refusal (a code for the audit trail and a plain sentence for the person),
or None when the change is allowed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from storage.cases import Role


@dataclass(frozen=True)
class Refusal:
    code: str  # audited: own_role, not_listed_prescriber, prescriber_grant, last_prescriber
    message: str


@dataclass(frozen=True)
class TeamChangeFacts:
    """One proposed change: `target` gets `new_role` (None: leaves the team)."""

    granted_by: str  # who is making the change (the handoff's sender for an accepted handoff)
    granted_by_role: str | None  # their role on the team; None when not on it
    granted_by_admin: bool
    target: str
    target_role: str | None  # what the target holds now; None when not on the team
    new_role: str | None
    prescribers: frozenset[str]  # who holds the prescriber role on the team now
    allowed_prescribers: Collection[str] | None = None  # CARETHREAD_PRESCRIBERS; None: anyone


def refusal(facts: TeamChangeFacts) -> Refusal | None:
    """Why this change may not be made, or None."""
    changes_role = facts.new_role != facts.target_role
    if facts.granted_by == facts.target and facts.new_role is not None and changes_role:
        return Refusal(
            "own_role",
            "Nobody changes their own role on a care team. Ask a colleague on the team to do it "
            "(for the prescriber role: a prescriber on the team, or a CareThread admin).",
        )
    prescriber = Role.PRESCRIBER.value
    if facts.new_role == prescriber and facts.target_role != prescriber:
        if (listed := not_listed(facts.target, facts.allowed_prescribers)) is not None:
            return listed
        may_grant = facts.granted_by_admin or facts.granted_by_role == prescriber or not facts.prescribers
        if not may_grant:
            return Refusal(
                "prescriber_grant",
                "Only a prescriber on the care team or a CareThread admin can make someone a "
                "prescriber (anyone on the team can name the first prescriber of a case that has none).",
            )
    if (
        facts.target_role == prescriber
        and facts.new_role != prescriber
        and facts.prescribers <= {facts.target}
        and not (facts.granted_by_admin or facts.granted_by_role == prescriber)
    ):
        return Refusal(
            "last_prescriber",
            f"<@{facts.target}> is the team's only prescriber. Only a prescriber or a CareThread "
            "admin can take the last prescriber off a case; add another prescriber first, or ask them.",
        )
    return None


def not_listed(target: str, allowed_prescribers: Collection[str] | None) -> Refusal | None:
    """CARETHREAD_PRESCRIBERS, when set, limits who may hold the prescriber role at all
    (also on a new case, where nobody grants it to the creator)."""
    if allowed_prescribers is None or target in allowed_prescribers:
        return None
    return Refusal(
        "not_listed_prescriber",
        f"<@{target}> is not on this clinic's list of prescribers (CARETHREAD_PRESCRIBERS), so they "
        "can't hold the prescriber role. A CareThread admin keeps that list.",
    )


def uncovered_role(new_role: str | None, covered: Collection[str] | None) -> bool:
    """Does the consent on record (`covered`: the roles it names; None: no consent recorded)
    leave out this role? With no consent recorded nothing is refused (the card says so)."""
    return new_role is not None and covered is not None and new_role not in covered
