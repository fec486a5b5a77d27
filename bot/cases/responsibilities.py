"""Who does what on a case: split treatment (prescriber and therapist in different hands)
works only when responsibilities are explicit (design guide, issue 15).

Five responsibilities (storage.cases.Duty): monitoring suicide risk, refills, laboratory
monitoring, the patient's questions about medication, after-hours and crisis contact.

- **Defaults from the roles.** With nothing set, each goes to the first member (in the order
  they joined) holding the first role of its list in DEFAULT_ROLES; none: "nobody", shown so.
- **Set explicitly** with `/case roles <case> <responsibility> @person` (bot/cases/service.py
  `assign_responsibility`; any team member or an admin; the person must be on the team),
  noted in the thread, audited, and shown on the card and in `/case show`. A holder who
  leaves the team no longer holds it: the default applies again, so a responsibility never
  points at someone off the team.
- **Handoffs carry them** (bot/handoffs/service.py): on acceptance, what the sender held goes
  to the receiver (explicitly), and the acceptance names it; when coverage ends, what it
  carried goes back to the sender if the receiver still holds it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session

from bot.unit import Unit
from storage import cases as repo
from storage.cases import Case, CaseResponsibility, Duty, Role

DEFAULT_ROLES: dict[Duty, tuple[Role, ...]] = {
    Duty.SUICIDE_RISK: (Role.THERAPIST, Role.PRESCRIBER, Role.CASE_MANAGER, Role.PCP),
    Duty.REFILLS: (Role.PRESCRIBER, Role.PCP),
    Duty.LABS: (Role.PRESCRIBER, Role.PCP),
    Duty.MED_QUESTIONS: (Role.PRESCRIBER, Role.PHARMACIST, Role.PCP),
    Duty.AFTER_HOURS: (Role.PRESCRIBER, Role.CASE_MANAGER, Role.THERAPIST, Role.PCP),
}


@dataclass(frozen=True)
class DutyLine:
    """One responsibility as the card and `/case show` show it."""

    duty: str
    title: str
    user_id: str | None  # None: nobody on the team can hold it by default
    explicit: bool  # set with /case roles or carried by a handoff, not the default from roles


def holders(session: Session, case_id: int) -> list[DutyLine]:
    """Every responsibility on the case and who holds it now."""
    members = repo.members(session=session, case_id=case_id)
    on_team = {m.user_id for m in members}
    explicit = {
        r.duty: r.user_id
        for r in repo.responsibilities(session=session, case_id=case_id)
        if r.user_id in on_team
    }
    lines = []
    for duty in Duty:
        if duty in explicit:
            lines.append(DutyLine(duty.value, duty.display, explicit[duty], True))
            continue
        holder = next(
            (m.user_id for role in DEFAULT_ROLES[duty] for m in members if m.role == role),
            None,
        )
        lines.append(DutyLine(duty.value, duty.display, holder, False))
    return lines


def held_by(session: Session, case_id: int, user_id: str) -> list[Duty]:
    """The responsibilities `user_id` holds on the case now (explicitly or by default)."""
    return [Duty(line.duty) for line in holders(session, case_id) if line.user_id == user_id]


def carry(unit: Unit, case: Case, duties: Iterable[Duty], *, to_user: str, via: str) -> list[Duty]:
    """A handoff moves `duties` to `to_user` (explicitly). Audited once; returns them."""
    moved = list(duties)
    if moved:
        set_holder(unit, case, moved, to_user)
        unit.audit(
            "responsibility.carried",
            case_id=case.id,
            target=f"user:{to_user}",
            duties=[d.value for d in moved],
            via=via,
        )
    return moved


def give_back(
    unit: Unit, case: Case, duties: Iterable[Duty], *, from_user: str, to_user: str, via: str
) -> list[Duty]:
    """Coverage ended: what it carried goes back to the covered member, unless someone has
    moved it since or they left the team (then the default from roles applies)."""
    if repo.membership(session=unit.session, case_id=case.id, user_id=to_user) is None:
        return []
    now_held = {
        r.duty for r in repo.responsibilities(session=unit.session, case_id=case.id) if r.user_id == from_user
    }
    return carry(unit, case, [d for d in duties if d.value in now_held], to_user=to_user, via=via)


def set_holder(unit: Unit, case: Case, duties: list[Duty], user_id: str) -> None:
    rows = {r.duty: r for r in repo.responsibilities(session=unit.session, case_id=case.id, lock=True)}
    for duty in duties:
        row = rows.get(duty.value) or CaseResponsibility(
            case_id=case.id, duty=duty.value, user_id=user_id, set_by="", set_at=unit.now
        )
        row.user_id, row.set_by, row.set_at = user_id, unit.actor.user_id, unit.now
        unit.session.add(row)
    unit.session.flush()


def encode(duties: Iterable[Duty]) -> str | None:
    """For a handoff's `duties` column."""
    return ",".join(d.value for d in duties) or None


def decode(raw: str | None) -> list[Duty]:
    return [Duty(v) for v in (raw or "").split(",") if v in Duty._value2member_map_]


ROLES_USAGE = (
    "`/case roles <case>` shows who does what; `/case roles <case> <responsibility> @person` changes "
    "one. Responsibilities: " + ", ".join(f"`{d.value}`" for d in Duty)
)
