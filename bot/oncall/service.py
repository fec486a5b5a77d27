"""The after-hours rota, and the one answer to "who must hear about this urgent item now".

`urgent_recipients(unit, case, item=...)` is what every urgent item calls (urgent side
effects, high-risk safety records, PHQ-9 item 9 alerts and high-priority adherence reports,
each at every step of its chase): the case's prescribers, plus, outside the clinic's working hours
(`settings.clinic`, in the clinic's zone), whoever is on call. It writes a cover grant for
the on-call person, so that the relay lets them read the item's messages and the item's
workflow lets them acknowledge it while the shift lasts (`covering`, audited each time).
Outside working hours with nobody on call, the admin channel (CARETHREAD_ADMIN_CHANNEL) is
told, with ids only; the caller still routes to the prescribers.

Who may edit the rota: admins, and anyone who is a prescriber on an open case. The on-call
person covers for the prescribers, so the people they cover for (and the admins) set it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from bot.contributions import WaitingItem, cover_providers
from bot.errors import BadInput, Conflict, NotAllowed
from bot.unit import Unit
from storage import cases as case_repo
from storage import oncall as repo
from storage.cases import Case, Role
from storage.core import OutboxMessage
from storage.oncall import CoverGrant, OnCallShift


@dataclass(frozen=True)
class ShiftLine:
    ref: str
    user_id: str
    starts_at: datetime
    ends_at: datetime
    now: bool


@dataclass(frozen=True)
class UrgentRoute:
    """Who an urgent item goes to. `users` is what to DM (prescribers first, then on-call)."""

    prescribers: list[str]
    on_call: list[str] = field(default_factory=list)
    after_hours: bool = False
    nobody_on_call: bool = False  # after hours with no shift: the admin channel was told

    @property
    def users(self) -> list[str]:
        return list(dict.fromkeys([*self.prescribers, *self.on_call]))


# -- the rota -------------------------------------------------------------------------------------


def add_shift(unit: Unit, *, user_id: str, starts_at: datetime, ends_at: datetime) -> ShiftLine:
    _require_editor(unit)
    if ends_at <= unit.now:
        raise BadInput("That shift is already over. Give a shift that ends in the future.")
    shift = OnCallShift(
        user_id=user_id,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=unit.actor.user_id,
        created_at=unit.now,
    )
    unit.session.add(shift)
    unit.session.flush()
    unit.audit(
        "oncall.added",
        target=f"oncall:{shift.id}",
        user=user_id,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
    )
    return _line(unit, shift)


def list_shifts(unit: Unit) -> list[ShiftLine]:
    """Every shift not yet over. The rota names people, not cases: every user may read it
    (a clinician needs to know whom to call at night)."""
    shifts = repo.upcoming_shifts(session=unit.session, after=unit.now)
    unit.audit("oncall.listed", count=len(shifts))
    return [_line(unit, s) for s in shifts]


def remove_shift(unit: Unit, *, shift_id: int) -> ShiftLine:
    _require_editor(unit)
    shift = repo.get_shift(session=unit.session, shift_id=shift_id, lock=True)
    if shift is None:
        raise BadInput(f"There is no shift OC-{shift_id}. `/oncall list` shows the rota.")
    if shift.removed_at is not None:
        raise Conflict(
            f"Shift {shift.ref} was already removed by <@{shift.removed_by}>. Nothing was changed."
        )
    shift.removed_by, shift.removed_at = unit.actor.user_id, unit.now
    unit.session.add(shift)
    unit.audit("oncall.removed", target=f"oncall:{shift.id}", user=shift.user_id)
    return _line(unit, shift)


def _require_editor(unit: Unit) -> None:
    if unit.is_admin:
        return
    mine = case_repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
    if not any(role == Role.PRESCRIBER for _case, role in mine):
        raise NotAllowed(
            "Only prescribers (on an open case) and CareThread admins can change the on-call rota. "
            "`/oncall list` shows it."
        )


def _line(unit: Unit, shift: OnCallShift) -> ShiftLine:
    return ShiftLine(
        shift.ref, shift.user_id, shift.starts_at, shift.ends_at, shift.starts_at <= unit.now < shift.ends_at
    )


# -- routing urgent items -------------------------------------------------------------------------


def outside_working_hours(unit: Unit, at: datetime | None = None) -> bool:
    """Outside the clinic's working hours and days, in the clinic's zone."""
    clinic = unit.deps.settings.clinic
    return not clinic.working_hours.contains(at or unit.now, clinic.zone)


def urgent_recipients(unit: Unit, case: Case, *, item: str, now: datetime | None = None) -> UrgentRoute:
    """Who must hear about urgent `item` (e.g. `side_effect:12`, `safety:3`) on `case` now.

    The team's prescribers always; outside working hours also the person on call (given a
    cover grant for the item until their shift ends), or, with nobody on call, the admin
    channel is told (ids only). Call it in the unit that sends the item; it audits the route."""
    at = now or unit.now
    prescribers = [
        m.user_id
        for m in case_repo.members(session=unit.session, case_id=case.id)
        if m.role == Role.PRESCRIBER
    ]
    if not outside_working_hours(unit, at):
        return UrgentRoute(prescribers)
    shifts = repo.active_shifts(session=unit.session, at=at)
    if not shifts:
        _tell_admins(unit, case, item)
        unit.audit("oncall.nobody_on_call", case_id=case.id, target=item)
        return UrgentRoute(prescribers, after_hours=True, nobody_on_call=True)
    on_call: list[str] = []
    for shift in shifts:
        if shift.user_id in on_call:
            continue
        on_call.append(shift.user_id)
        unit.session.add(
            CoverGrant(
                case_id=case.id,
                user_id=shift.user_id,
                item=item,
                shift_id=shift.id,
                created_at=at,
                until=shift.ends_at,
            )
        )
        unit.audit("oncall.routed", case_id=case.id, target=item, user=shift.user_id, shift=shift.id)
    return UrgentRoute(prescribers, on_call=on_call, after_hours=True)


def _tell_admins(unit: Unit, case: Case, item: str) -> None:
    channel = unit.deps.settings.admin_channel
    if not channel:
        return
    unit.post(
        channel=channel,
        message=unit.deps.renderer.message("oncall/nobody_on_call", case_ref=case.ref, item=item_ref(item)),
        purpose="oncall:nobody",
    )


def item_ref(item: str) -> str:
    """`side_effect:12` -> `SE-12`, `safety:3` -> `SR-3`, `item9:4` -> `A-4` (the item 9
    alert's ref), `adherence:5` -> `AD-5` (what people see)."""
    kind, _, number = item.partition(":")
    prefix = {"side_effect": "SE", "safety": "SR", "item9": "A", "adherence": "AD"}.get(kind, kind)
    return f"{prefix}-{number}"


def covering(unit: Unit, *, case_id: int, item: str) -> bool:
    """May the actor act on `item` as the person on call (a grant for it, shift not over)?
    Each use is audited, so after-hours actions by someone off the team can be found."""
    found = repo.grants(
        session=unit.session, case_id=case_id, user_id=unit.actor.user_id, at=unit.now, item=item
    )
    if found:
        unit.audit("oncall.cover_used", case_id=case_id, target=item, shift=found[0].shift_id)
    return bool(found)


def holds_cover(unit: Unit, *, case_id: int, user_id: str, item: str) -> bool:
    """Does `user_id` hold a cover grant for `item` now (sent it as the person on call, shift
    not over)? For wording a DM to its reader; unlike `covering`, not a use of the grant."""
    return bool(repo.grants(session=unit.session, case_id=case_id, user_id=user_id, at=unit.now, item=item))


def cover_reader(session: Session, message: OutboxMessage, now: datetime) -> bool:
    """The relay's send-time check (Workflow.readers): the person on call may read messages
    about a case they were sent an urgent item on, while the shift lasts. Checked at `now`, the
    relay's clock when it sends: a message queued in the shift but sent after it is withheld."""
    if message.case_id is None or message.reader is None:
        return False
    return bool(repo.grants(session=session, case_id=message.case_id, user_id=message.reader, at=now))


def covered_waiting(unit: Unit) -> list[WaitingItem]:
    """App Home for the person on call: the urgent items they were sent while covering and
    still hold a grant for (shift not over or removed, case open), each still waiting for
    acknowledgement, with its Acknowledge button.

    One place for every kind: the grants are read here and each item's workflow says, for all
    its ids at once, which are still waiting (`Workflow.cover_items`). Items on a case where the
    user is a prescriber are left to that workflow's own Home line, so nothing is listed twice.
    Listing them is audited: how many lines were shown, and the covered items asked about
    (`covered`, the grants' items; those already acknowledged are among them but not shown)."""
    grants = repo.grants_of_user(session=unit.session, user_id=unit.actor.user_id, at=unit.now)
    if not grants:
        return []
    prescribing = {
        case.id
        for case, role in case_repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
        if role == Role.PRESCRIBER
    }
    by_kind: dict[str, list[int]] = {}
    for grant in grants:
        kind, _, number = grant.item.partition(":")
        if grant.case_id in prescribing or not number.isdigit():
            continue
        ids = by_kind.setdefault(kind, [])
        if int(number) not in ids:
            ids.append(int(number))
    providers = cover_providers(unit.deps)
    items = [
        item for kind, ids in by_kind.items() if kind in providers for item in providers[kind](unit, ids)
    ]
    if items:
        covered = [f"{kind}:{n}" for kind, ids in by_kind.items() for n in ids]
        unit.audit("oncall.home_listed", count=len(items), covered=covered)
    return items
