"""Shared cases: create, team membership, medications, status. The case card is the root
of the case thread; every change is saved, audited and then told in that thread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bot import audience
from bot.access import CaseAccess, case_ref, open_case
from bot.cases import own_channel as channels
from bot.cases import policy
from bot.cases import responsibilities as duties
from bot.cases.commands import CASE_USAGE
from bot.cases.settings import case_settings
from bot.contributions import CaseButton, TeamChange
from bot.errors import BadInput, Conflict, NotAllowed
from bot.ids import BlockId
from bot.inputs import FieldCheck
from bot.slack import SlackUnavailable
from bot.unit import Post, Unit
from storage import cases as repo
from storage.cases import Case, CaseMember, CaseStatus, Duty, Medication, MedicationKind, Role
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
    kind: str = MedicationKind.PRESCRIPTION  # prescription, OTC, supplement, herbal

    @property
    def kind_title(self) -> str:
        return MedicationKind(self.kind).display


@dataclass(frozen=True)
class ConsentLine:
    """What the card may show about consent: whether one is recorded and its expiry, no more
    (what it covers, and Part 2 above all, is for `/case consent <case> show`)."""

    recorded: bool
    expires_on: date | None = None
    expired: bool = False


@dataclass(frozen=True)
class CaseSummary:
    id: int
    ref: str
    label: str
    status: str
    role: str | None
    home_channel: str
    urgent: int = 0  # open urgent items (every workflow's `urgent_items`): listed first


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
    buttons: list[CaseButton] = field(default_factory=list)  # Workflow.case_buttons
    duties: list[duties.DutyLine] = field(default_factory=list)


def create_case(
    unit: Unit,
    *,
    label: str,
    role: Role,
    channel: str,
    others: list[tuple[str, Role]] | None = None,
    medications: list[tuple[str, str | None]] | None = None,
    own_channel: bool = False,
) -> CaseSummary:
    """A new case. Its home is `channel` (where it was asked for), or with `own_channel` a
    private channel the app makes for it (bot/cases/own_channel.py)."""
    if not own_channel and (not channel or channel.startswith("D")):
        raise BadInput(
            "A case needs a home channel. Run `/case create` in the care-team channel where "
            "the case thread should live (invite the app there first).",
            usage=CASE_USAGE["create"],
        )
    me = unit.actor.user_id
    check_new_case(creator=me, role=role, others=others or [], medications=medications or [])
    if not own_channel:
        audience.require_private_home(unit, channel)
    for user_id, member_role in [(me, role), *(others or [])]:
        # A new case has no prescriber yet, so whoever creates it may name the first ones;
        # the clinic's list of who may prescribe still applies.
        if member_role == Role.PRESCRIBER:
            refused = policy.not_listed(user_id, _allowed_prescribers(unit, user_id))
            if refused is not None:
                raise _refusal(refused, None)
    case = Case(
        team_id=unit.actor.team_id or "",
        label_enc=unit.deps.cipher.encrypt(label),
        home_channel="" if own_channel else channel,
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
    if own_channel:
        channel = channels.create(unit, case)
        channels.invite_team(unit, case)  # queued first: the channel keeps its order
    card = unit.post(channel=channel, message=_card(unit, case), purpose="case_card", case_id=case.id)
    case.card_outbox_id = card.id
    unit.session.add(case)
    unit.audit(
        "case.created",
        case_id=case.id,
        target=case.ref,
        role=str(role),
        own_channel=own_channel,
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
    check_team_change(unit, access.case, target=user_id, new_role=role)
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
    check_team_change(unit, access.case, target=user_id, new_role=None)
    member = leave_team(unit, access.case, user_id=user_id)
    refresh_case(unit, access.case)
    return member


def check_team_change(
    unit: Unit, case: Case, *, target: str, new_role: Role | None, granted_by: str | None = None
) -> None:
    """The role rules (bot/cases/policy.py) and the consent on record, for every path that
    puts someone on a team, changes their role or takes them off: `/case add` and `remove`,
    and a handoff (whose sender is the one granting, `granted_by`, checked when it is sent
    and again when it is accepted). Raises NotAllowed with the reason; the refusal is audited
    with its code by the caller's reply (handlers/replies.py)."""
    by = granted_by or unit.actor.user_id
    held = {m.user_id: m.role for m in repo.members(session=unit.session, case_id=case.id)}
    new = str(new_role) if new_role is not None else None
    allowed = None
    if new == Role.PRESCRIBER and held.get(target) != Role.PRESCRIBER:
        allowed = _allowed_prescribers(unit, target)
    refused = policy.refusal(
        policy.TeamChangeFacts(
            granted_by=by,
            granted_by_role=held.get(by),
            granted_by_admin=by in unit.deps.settings.admins,
            target=target,
            target_role=held.get(target),
            new_role=new,
            prescribers=frozenset(u for u, r in held.items() if r == Role.PRESCRIBER),
            allowed_prescribers=allowed,
        )
    )
    if refused is None and new is not None and new != held.get(target):
        consent = repo.current_consent(session=unit.session, case_id=case.id)
        consented = consent.role_list if consent else None
        if policy.uncovered_role(new, consented):
            covered = ", ".join(Role(r).display.lower() for r in consented or ()) or "no role"
            refused = policy.Refusal(
                "consent_not_covering",
                f"The patient's consent on record for {case.ref} does not cover sharing with a "
                f"{Role(new).display.lower()} (it covers: {covered}). If the patient has agreed, record "
                f"the new consent with `/case consent {case.ref}` first.",
            )
    if refused is not None:
        raise _refusal(refused, case.id)


def _allowed_prescribers(unit: Unit, user_id: str) -> frozenset[str] | None:
    """Who may hold the prescriber role (CARETHREAD_PRESCRIBERS: user ids and the members of
    user groups), enough of it to decide for `user_id`; None when the setting is unset. A
    group Slack cannot list right now refuses the grant: fail closed."""
    rules = case_settings(unit.deps.settings)
    if not rules.limits_prescribers:
        return None
    allowed: set[str] = set(rules.prescriber_users or ())
    for group in rules.prescriber_groups:
        if user_id in allowed:
            break
        try:
            allowed |= unit.deps.gateway.usergroup_members(group)
        except SlackUnavailable:
            raise _refusal(
                policy.Refusal(
                    "prescriber_list_unreadable",
                    "CareThread could not read the clinic's prescriber group from Slack just now, so "
                    "it can't check who may hold the prescriber role. Nothing changed; try again in a "
                    "minute.",
                ),
                None,
            ) from None
    return frozenset(allowed)


def _refusal(refused: policy.Refusal, case_id: int | None) -> NotAllowed:
    error = NotAllowed(refused.message, case_id=case_id)
    error.reason = refused.code  # type: ignore[attr-defined]  # audited by replying()
    return error


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
            thread_note(
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
        thread_note(unit, case, "member_added", user=user_id, role=role.display)
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
        thread_note(unit, case, "member_removed", user=user_id, role=Role(role).display)
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
                m.kind,
            )
            for m in repo.medications(session=unit.session, case_id=case_id)
        ],
        my_role=access.role,
        duties=duties.holders(unit.session, case_id),
        extra_sections=[
            text
            for workflow in unit.deps.workflows
            for section in workflow.show_sections
            for text in section(unit, case)
        ],
        buttons=[
            button
            for workflow in unit.deps.workflows
            for offer in workflow.case_buttons
            for button in offer(unit.session, case, unit.now)
        ]
        if case.status == CaseStatus.OPEN
        else [],
    )


def list_cases(unit: Unit, *, everything: bool = False) -> list[CaseSummary]:
    if everything and not unit.is_admin:
        raise NotAllowed("Only CareThread admins can list every case. `/case list` shows yours.")
    rows: Sequence[tuple[Case, str | None]]
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
    ids = [case.id for case, _ in rows]
    urgent: dict[int, int] = {}
    for workflow in unit.deps.workflows:
        for provider in workflow.urgent_items:
            for case_id, count in provider(unit.session, ids).items():
                urgent[case_id] = urgent.get(case_id, 0) + int(count)
    summaries = [
        CaseSummary(
            case.id,
            case.ref,
            unit.deps.cipher.decrypt(case.label_enc),
            case.status,
            role,
            case.home_channel,
            urgent.get(case.id, 0),
        )
        for case, role in rows
    ]
    # Cases with urgent open items (urgent side effects, high or imminent suicide risk) first;
    # otherwise newest first, as the query returned them.
    return sorted(summaries, key=lambda s: s.urgent == 0)


@dataclass(frozen=True)
class OpenRisksFound:
    """`/case close` found what must not be left behind; nothing was closed. The person sees
    the list and a button that closes the case anyway (bot/contributions.py OpenRisks)."""

    case_id: int
    ref: str
    risks: list[str]
    reason: str | None


def open_risks(unit: Unit, case: Case) -> list[str]:
    """Every workflow's open risks on the case: mrkdwn lines, ids and statuses only."""
    return [
        line
        for workflow in unit.deps.workflows
        for risk in workflow.open_risks
        for line in risk(unit.session, case)
    ]


def close_case(
    unit: Unit, *, case_id: int, reason: str | None, confirmed: bool = False
) -> CaseSummary | OpenRisksFound:
    """Close the case. With open urgent items, a high risk level or a pending handoff, it is
    closed only once the person has seen them and confirmed (`confirmed`, the button): a
    case closed by mistake must not leave a risk with nobody watching it. Closing tells
    every workflow (on_case_closed): pending handoffs are canceled, coverage ends."""
    access = open_case(unit, case_id, lock=True)
    case = access.case
    if case.status == CaseStatus.CLOSED:
        raise Conflict(f"{case.ref} is already closed.", case_id=case_id)
    risks = open_risks(unit, case)
    if risks and not confirmed:
        unit.audit("case.close_held", case_id=case_id, target=case.ref, open_risks=len(risks))
        return OpenRisksFound(case_id, case.ref, risks, reason)
    case.status, case.closed_at = CaseStatus.CLOSED, unit.now
    case.close_reason_enc = unit.deps.cipher.encrypt_optional(reason)
    thread_note(unit, case, "closed", reason=reason)
    unit.audit(
        "case.closed",
        case_id=case_id,
        target=case.ref,
        with_reason=reason is not None,
        open_risks=len(risks),
        confirmed=confirmed,
    )
    for workflow in unit.deps.workflows:
        for hook in workflow.on_case_closed:
            hook(unit, case)
    _touch_and_refresh(unit, case)
    channels.closed(unit, case)
    return _summary(unit, access)


def reopen_case(unit: Unit, *, case_id: int) -> CaseSummary:
    access = open_case(unit, case_id, lock=True)
    case = access.case
    if case.status == CaseStatus.OPEN:
        raise Conflict(f"{case.ref} is already open.", case_id=case_id)
    case.status, case.closed_at, case.close_reason_enc = CaseStatus.OPEN, None, None
    channels.reopened(unit, case)
    thread_note(unit, case, "reopened")
    unit.audit("case.reopened", case_id=case_id, target=case.ref)
    for workflow in unit.deps.workflows:
        for hook in workflow.on_case_reopened:
            hook(unit, case)
    _touch_and_refresh(unit, case)
    return _summary(unit, access)


def assign_responsibility(unit: Unit, *, case_id: int, duty: Duty, user_id: str) -> duties.DutyLine:
    """`/case roles <case> <responsibility> @person`: a team member (or admin) says who holds
    it. The person must be on the team; the thread is told and the card updated."""
    access = open_case(unit, case_id, lock=True, require_open=True)
    case = access.case
    if repo.membership(session=unit.session, case_id=case_id, user_id=user_id) is None:
        raise BadInput(
            f"<@{user_id}> is not on {case.ref}'s care team, so they can't hold a responsibility on it. "
            f"Add them first with `/case add {case.ref} @person <role>`.",
            usage=duties.ROLES_USAGE,
            case_id=case_id,
        )
    current = next(line for line in duties.holders(unit.session, case_id) if line.duty == duty)
    if current.user_id == user_id:
        raise Conflict(f"<@{user_id}> already holds “{duty.display}” on {case.ref}.", case_id=case_id)
    duties.set_holder(unit, case, [duty], user_id)
    thread_note(unit, case, "duty_changed", user=user_id, duty=duty.display, previous=current.user_id)
    unit.audit(
        "responsibility.assigned",
        case_id=case_id,
        target=f"user:{user_id}",
        duty=duty.value,
        previous=current.user_id,
    )
    refresh_case(unit, case)
    return duties.DutyLine(duty.value, duty.display, user_id, True)


def show_responsibilities(unit: Unit, *, case_id: int) -> tuple[str, list[duties.DutyLine]]:
    """`/case roles <case>`: who does what (a read, audited like every read of a case)."""
    access = open_case(unit, case_id)
    unit.audit("responsibility.viewed", case_id=case_id, target=access.case.ref)
    return access.case.ref, duties.holders(unit.session, case_id)


# -- the case thread ---------------------------------------------------------------------------


def post_in_thread(unit: Unit, case: Case, message: dict, *, purpose: str) -> OutboxMessage:
    """Queue a reply in the case thread (after the card, in order). For every workflow."""
    post = thread_post(case, message, purpose=purpose)
    return unit.post(
        channel=post.channel,
        message=post.message,
        purpose=post.purpose,
        case_id=post.case_id,
        thread_of=post.thread_of,
    )


def thread_post(case: Case, message: dict, *, purpose: str) -> Post:
    """A reply in the case thread as a Post, for Unit.post_all (many case threads at once)."""
    return Post(
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


def thread_note(unit: Unit, case: Case, kind: str, **fields) -> None:
    """A short note in the case thread (templates/cases/case_note) for a change to the case."""
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
        consent=_consent_line(unit, case),
        # What other workflows show on the card (e.g. open adherence reports).
        extra_lines=[
            line
            for workflow in unit.deps.workflows
            for lines in workflow.card_lines
            for line in lines(unit, case)
        ],
        duties=duties.holders(unit.session, case.id),
    )


def _consent_line(unit: Unit, case: Case) -> ConsentLine:
    consent = repo.current_consent(session=unit.session, case_id=case.id)
    if consent is None:
        return ConsentLine(recorded=False)
    return ConsentLine(True, consent.expires_on, consent.expires_on < unit.now.date())


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
