"""Who may see or act on a case. Every workflow asks here, so the rule lives once."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import NoAccess, NotAllowed
from bot.unit import Unit
from storage import cases as repo
from storage.cases import Case, CaseMember, CaseStatus, Role


@dataclass(frozen=True)
class CaseAccess:
    case: Case
    member: CaseMember | None  # None when the actor is an admin who is not on the team

    @property
    def role(self) -> str | None:
        return self.member.role if self.member else None


def case_ref(case_id: int) -> str:
    return f"C-{case_id}"


def open_case(unit: Unit, case_id: int, *, lock: bool = False, require_open: bool = False) -> CaseAccess:
    """The case, if the actor is on its team or an admin; otherwise the same refusal
    whether or not the case exists (the reason is kept for the audit trail only)."""
    case = repo.get_case(session=unit.session, case_id=case_id, lock=lock)
    if case is None:
        raise _no_access(case_id, "not_found")
    # Found in the whole team rather than by a query of its own: the team is remembered for
    # the rest of the transaction (storage/reads.py), and what follows mostly reads it too.
    me = unit.actor.user_id
    member = next((m for m in repo.members(session=unit.session, case_id=case_id) if m.user_id == me), None)
    if member is None and not unit.is_admin:
        raise _no_access(case_id, "not_on_team")
    if require_open and case.status != CaseStatus.OPEN:
        raise NotAllowed(
            f"Case {case_ref(case_id)} is closed. Reopen it with `/case reopen {case_ref(case_id)}`.",
            case_id=case_id,
        )
    return CaseAccess(case=case, member=member)


def require_role(access: CaseAccess, role: Role, doing: str) -> None:
    if access.role != role:
        raise NotAllowed(
            f"Only a {role.display.lower()} on the care team can {doing}.", case_id=access.case.id
        )


def _no_access(case_id: int, reason: str) -> NoAccess:
    return NoAccess(case_ref(case_id), reason=reason, case_id=case_id if reason != "not_found" else None)
