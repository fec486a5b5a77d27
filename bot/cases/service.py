"""Shared cases: create, team membership, medications, status. The case card is the root
of the case thread; every change is saved, audited and then told in that thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.access import CaseAccess, case_ref, open_case, require_role
from bot.cases.commands import CASE_USAGE
from bot.contributions import TeamChange
from bot.errors import BadInput, Conflict, NotAllowed
from bot.ids import BlockId
from bot.inputs import FieldCheck
from bot.unit import Unit
from storage import cases as repo
from storage.cases import Case, CaseMember, CaseStatus, Medication, Role
from storage.core import OutboxMessage


@dataclass(frozen=True)
class Member:
    user_id: str
    role: str

    @property
    def role_title(self) -> str:
        return Role(self.role).display


@dataclass(frozen=True)
class MedicationLine:
    name: str
    detail: str | None
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class CaseSummary:
    id: int
    ref: str
    label: str
    status: str
    role: str | None
    home_channel: str


@dataclass(frozen=True)
class CaseDetails:
    ref: str
    label: str
    status: str
    home_channel: str
    thread_url: str | None
    created_by: str
    created_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    members: list[Member]
    medications: list[MedicationLine]
    my_role: str | None
    extra_sections: list[str] = field(default_factory=list)


def create_case(
    unit: Unit,
    *,
    label: str,
    role: Role,
    channel: str,
    others: list[tuple[str, Role]] | None = None,
    medications: list[tuple[str, str | None]] | None = None,
) -> CaseSummary:
    if not channel or channel.startswith("D"):
        raise BadInput(
            "A case needs a home channel. Run `/case create` in the care-team channel where "
            "the case thread should live (invite the app there first).",
            usage=CASE_USAGE["create"],
        )
    me = unit.actor.user_id
    check_new_case(creator=me, role=role, others=others or [], medications=medications or [])
    case = Case(
        team_id=unit.actor.team_id or "",
        label_enc=unit.deps.cipher.encrypt(label),
        home_channel=channel,
        created_by=me,
        created_at=unit.now,
        updated_at=unit.now,
    )
    unit.session.add(case)
    unit.session.flush()
    for user_id, member_role in [(me, role), *(others or [])]:
        unit.session.add(
            CaseMember(case_id=case.id, user_id=user_id, role=member_role, added_by=me, added_at=unit.now)
        )
    for name, detail in medications or []:
        unit.session.add(_medication(unit, case, name, detail))
    unit.session.flush()
    card = unit.post(channel=channel, message=_card(unit, case), purpose="case_card", case_id=case.id)
    case.card_outbox_id = card.id
    unit.session.add(case)
    unit.audit(
        "case.created",
        case_id=case.id,
        target=case.ref,
        role=str(role),
        members=1 + len(others or []),
        medications=len(medications or []),
    )
    for workflow in unit.deps.workflows:  # e.g. reviews give the case its default cadence
        for hook in workflow.on_case_created:
            hook(unit, case)
    return CaseSummary(case.id, case.ref, label, case.status, role, channel)


def check_new_case(
    *, creator: str, role: Role, others: list[tuple[str, Role]], medications: list[tuple[str, str | None]]
) -> None:
    """The rules for a new case's team and medication list, stated once. The New case form
    checks them before its modal closes (every problem on its field, nothing typed is lost)
    and create_case checks them again for every caller. Raises FieldErrors."""
    check = FieldCheck()
    seen: set[str] = set()
    for user_id, member_role in others:
        block = BlockId.members_for(member_role.value)
        if user_id == creator:
            check.add(
                block,
                "You are on the team already, in the role you chose above; take yourself off this list.",
            )
        elif user_id in seen:
            check.add(block, "Pick each person once, under one role.")
        seen.add(user_id)
    if medications and role != Role.PRESCRIBER:
        check.add(
            BlockId.MEDICATIONS,
            "Only a prescriber enters medications. Leave this empty (or choose prescriber as your "
            "role); the team's prescriber adds them with `/case med`.",
        )
    names: set[str] = set()
    for name, _ in medications:
        if name.casefold() in names:
            check.add(BlockId.MEDICATIONS, f"{name} is listed twice; list each medication once, on one line.")
        names.add(name.casefold())
    check.done()


def add_member(unit: Unit, *, case_id: int, user_id: str, role: Role) -> Member:
    access = open_case(unit, case_id, lock=True, require_open=True)
    existing = repo.membership(session=unit.session, case_id=case_id, user_id=user_id)
    if existing is not None and existing.role == role:
        raise Conflict(
            f"<@{user_id}> is already on {case_ref(case_id)} as {role.display.lower()}.", case_id=case_id
        )
    join_team(unit, access.case, user_id=user_id, role=role)
    refresh_case(unit, access.case)
    return Member(user_id, role)


def remove_member(unit: Unit, *, case_id: int, user_id: str) -> Member:
    access = open_case(unit, case_id, lock=True, require_open=True)
    existing = repo.membership(session=unit.session, case_id=case_id, user_id=user_id)
    if existing is None:
        raise BadInput(
            f"<@{user_id}> is not on the care team of {case_ref(case_id)}.",
            usage="`/case show " + case_ref(case_id) + "` lists the team.",
            case_id=case_id,
        )
    if len(repo.members(session=unit.session, case_id=case_id)) == 1:
        raise BadInput(
            f"<@{user_id}> is the last member of {case_ref(case_id)}'s team. Add someone first, "
            f"or close the case with `/case close {case_ref(case_id)}`.",
            case_id=case_id,
        )
    member = leave_team(unit, access.case, user_id=user_id)
    refresh_case(unit, access.case)
    return member


# -- team membership, for every workflow that changes the team ------------------------------
# The caller has already decided the change is allowed (open_case for /case, the accepted
# handoff for handoffs); these do the change, the thread note and the audit event, and the
# caller calls refresh_case once afterwards.


def join_team(
    unit: Unit, case: Case, *, user_id: str, role: Role, note: bool = True, **details
) -> str | None:
    """Put `user_id` on the team in `role`: adds them, or changes the role they hold.

    Returns their previous role (None if they were not on the team). `note=False` when the
    caller tells the thread itself; `details` go into the audit event (no clinical text).
    """
    existing = repo.membership(session=unit.session, case_id=case.id, user_id=user_id)
    if existing is not None:
        previous = existing.role
        existing.role = role
        unit.session.add(existing)
        if note:
            _note(
                unit, case, "role_changed", user=user_id, role=role.display, previous=Role(previous).display
            )
        _team_changed(unit, case, TeamChange(user_id, str(role), previous))
        unit.audit(
            "member.role_changed",
            case_id=case.id,
            target=f"user:{user_id}",
            role=str(role),
            previous=previous,
            **details,
        )
        return previous
    unit.session.add(
        CaseMember(
            case_id=case.id, user_id=user_id, role=role, added_by=unit.actor.user_id, added_at=unit.now
        )
    )
    unit.session.flush()
    if note:
        _note(unit, case, "member_added", user=user_id, role=role.display)
    _team_changed(unit, case, TeamChange(user_id, str(role), None))
    unit.audit("member.added", case_id=case.id, target=f"user:{user_id}", role=str(role), **details)
    return None


def leave_team(unit: Unit, case: Case, *, user_id: str, note: bool = True, **details) -> Member:
    """Take `user_id` off the team (they must be on it)."""
    existing = repo.membership(session=unit.session, case_id=case.id, user_id=user_id)
    if existing is None:
        raise BadInput(f"<@{user_id}> is not on the care team of {case.ref}.", case_id=case.id)
    role = existing.role
    unit.session.delete(existing)
    unit.session.flush()
    if note:
        _note(unit, case, "member_removed", user=user_id, role=Role(role).display)
    unit.audit("member.removed", case_id=case.id, target=f"user:{user_id}", role=role, **details)
    _team_changed(unit, case, TeamChange(user_id, None, role))
    return Member(user_id, role)


def _team_changed(unit: Unit, case: Case, change: TeamChange) -> None:
    """Tell every workflow, in the same unit, that the team changed."""
    for workflow in unit.deps.workflows:
        for hook in workflow.on_team_changed:
            hook(unit, case, change)


def refresh_case(unit: Unit, case: Case) -> None:
    """After a team or status change: touch the case and update its card."""
    _touch_and_refresh(unit, case)


def show_case(unit: Unit, *, case_id: int) -> CaseDetails:
    access = open_case(unit, case_id)
    case = access.case
    root = repo.thread_root(session=unit.session, case=case)
    unit.audit("case.viewed", case_id=case_id, target=case.ref)
    return CaseDetails(
        ref=case.ref,
        label=unit.deps.cipher.decrypt(case.label_enc),
        status=case.status,
        home_channel=case.home_channel,
        thread_url=thread_url(root),
        created_by=case.created_by,
        created_at=case.created_at,
        closed_at=case.closed_at,
        close_reason=unit.deps.cipher.decrypt_optional(case.close_reason_enc),
        members=_members(unit, case_id),
        medications=[
            MedicationLine(
                unit.deps.cipher.decrypt(m.name_enc),
                unit.deps.cipher.decrypt_optional(m.detail_enc),
                m.added_by,
                m.added_at,
            )
            for m in repo.medications(session=unit.session, case_id=case_id)
        ],
        my_role=access.role,
        extra_sections=[
            text
            for workflow in unit.deps.workflows
            for section in workflow.show_sections
            for text in section(unit, case)
        ],
    )


def list_cases(unit: Unit, *, everything: bool = False) -> list[CaseSummary]:
    if everything and not unit.is_admin:
        raise NotAllowed("Only CareThread admins can list every case. `/case list` shows yours.")
    if everything:
        rows = [(case, None) for case in repo.all_cases(session=unit.session)]
    else:
        rows = repo.cases_of_user(session=unit.session, user_id=unit.actor.user_id)
    unit.audit(
        "case.listed",
        target="all" if everything else "mine",
        count=len(rows),
        cases=[case.id for case, _ in rows],  # whose labels were shown
    )
    return [
        CaseSummary(
            case.id, case.ref, unit.deps.cipher.decrypt(case.label_enc), case.status, role, case.home_channel
        )
        for case, role in rows
    ]


def close_case(unit: Unit, *, case_id: int, reason: str | None) -> CaseSummary:
    access = open_case(unit, case_id, lock=True)
    case = access.case
    if case.status == CaseStatus.CLOSED:
        raise Conflict(f"{case.ref} is already closed.", case_id=case_id)
    case.status, case.closed_at = CaseStatus.CLOSED, unit.now
    case.close_reason_enc = unit.deps.cipher.encrypt_optional(reason)
    _note(unit, case, "closed", reason=reason)
    unit.audit("case.closed", case_id=case_id, target=case.ref, with_reason=reason is not None)
    _touch_and_refresh(unit, case)
    return _summary(unit, access)


def reopen_case(unit: Unit, *, case_id: int) -> CaseSummary:
    access = open_case(unit, case_id, lock=True)
    case = access.case
    if case.status == CaseStatus.OPEN:
        raise Conflict(f"{case.ref} is already open.", case_id=case_id)
    case.status, case.closed_at, case.close_reason_enc = CaseStatus.OPEN, None, None
    _note(unit, case, "reopened")
    unit.audit("case.reopened", case_id=case_id, target=case.ref)
    _touch_and_refresh(unit, case)
    return _summary(unit, access)


def add_medication(unit: Unit, *, case_id: int, name: str, detail: str | None) -> MedicationLine:
    access = open_case(unit, case_id, lock=True, require_open=True)
    require_role(access, Role.PRESCRIBER, "change medications")
    if _find_active(unit, case_id, name) is not None:
        raise Conflict(
            f"{name} is already on {case_ref(case_id)}'s medication list. To change it, stop it and add "
            "it again with the new dose.",
            case_id=case_id,
        )
    med = _medication(unit, access.case, name, detail)
    unit.session.add(med)
    unit.session.flush()
    _note(unit, access.case, "med_added", name=name, detail=detail)
    unit.audit("medication.added", case_id=case_id, target=f"medication:{med.id}")
    _touch_and_refresh(unit, access.case, refresh_card=False)
    return MedicationLine(name, detail, unit.actor.user_id, unit.now)


def stop_medication(unit: Unit, *, case_id: int, name: str) -> MedicationLine:
    access = open_case(unit, case_id, lock=True, require_open=True)
    require_role(access, Role.PRESCRIBER, "change medications")
    med = _find_active(unit, case_id, name)
    if med is None:
        active = [
            unit.deps.cipher.decrypt(m.name_enc)
            for m in repo.medications(session=unit.session, case_id=case_id)
        ]
        listed = ", ".join(active) if active else "none"
        raise BadInput(
            f"No active medication called {name} on {case_ref(case_id)}. Active: {listed}.",
            usage=CASE_USAGE["med"],
            case_id=case_id,
        )
    med.active, med.stopped_at, med.stopped_by = False, unit.now, unit.actor.user_id
    unit.session.add(med)
    _note(unit, access.case, "med_stopped", name=unit.deps.cipher.decrypt(med.name_enc))
    unit.audit("medication.stopped", case_id=case_id, target=f"medication:{med.id}")
    _touch_and_refresh(unit, access.case, refresh_card=False)
    return MedicationLine(name, None, med.added_by, med.added_at)


# -- the case thread ---------------------------------------------------------------------------


def post_in_thread(unit: Unit, case: Case, message: dict, *, purpose: str) -> OutboxMessage:
    """Queue a reply in the case thread (after the card, in order). For every workflow."""
    return unit.post(
        channel=case.home_channel,
        message=message,
        purpose=purpose,
        case_id=case.id,
        thread_of=case.card_outbox_id,
    )


def thread_url(root: OutboxMessage | None) -> str | None:
    if root is None or not root.result_ts or not root.result_channel:
        return None
    return f"https://slack.com/archives/{root.result_channel}/p{root.result_ts.replace('.', '')}"


def _note(unit: Unit, case: Case, kind: str, **fields) -> None:
    message = unit.deps.renderer.message(
        "cases/case_note", ref=case.ref, kind=kind, actor=unit.actor.user_id, **fields
    )
    post_in_thread(unit, case, message, purpose=f"case_note:{kind}")


def _card(unit: Unit, case: Case) -> dict:
    return unit.deps.renderer.message(
        "cases/case_card",
        ref=case.ref,
        label=unit.deps.cipher.decrypt(case.label_enc),
        status=case.status,
        members=_members(unit, case.id),
        created_by=case.created_by,
        created_at=case.created_at,
    )


def _touch_and_refresh(unit: Unit, case: Case, *, refresh_card: bool = True) -> None:
    case.updated_at = unit.now
    unit.session.add(case)
    unit.session.flush()
    if refresh_card and case.card_outbox_id is not None:
        unit.update(of=case.card_outbox_id, message=_card(unit, case), purpose="case_card", case_id=case.id)


def _members(unit: Unit, case_id: int) -> list[Member]:
    return [Member(m.user_id, m.role) for m in repo.members(session=unit.session, case_id=case_id)]


def _medication(unit: Unit, case: Case, name: str, detail: str | None) -> Medication:
    return Medication(
        case_id=case.id,
        name_enc=unit.deps.cipher.encrypt(name),
        detail_enc=unit.deps.cipher.encrypt_optional(detail),
        added_by=unit.actor.user_id,
        added_at=unit.now,
    )


def _find_active(unit: Unit, case_id: int, name: str) -> Medication | None:
    wanted = name.casefold()
    for med in repo.medications(session=unit.session, case_id=case_id):
        if unit.deps.cipher.decrypt(med.name_enc).casefold() == wanted:
            return med
    return None


def _summary(unit: Unit, access: CaseAccess) -> CaseSummary:
    case = access.case
    return CaseSummary(
        case.id,
        case.ref,
        unit.deps.cipher.decrypt(case.label_enc),
        case.status,
        access.role,
        case.home_channel,
    )
