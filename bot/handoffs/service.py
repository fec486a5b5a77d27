"""Threaded handoffs: a clinician hands a case (or cover for it) to a colleague with an
I-PASS note; the receiver accepts with a synthesis (read-back) or declines with a reason.

The closed loop, step by step:
- `start` checks the request before the I-PASS form opens; `create` checks it again and
  saves the handoff (I-PASS text encrypted), posts it in the case thread (details in
  blocks, the case id only in the notification text) and DMs the receiver Accept/Decline.
- Nothing about the team changes until `accept`: then the receiver joins the team in the
  role (through bot/cases/service.py's team functions), the sender leaves it (transfer)
  or stays (coverage), the thread records the synthesis, the card is refreshed and the
  sender is told. `decline` records the reason and tells the sender and the thread.
- The sweep step reminds the receiver once (waiting for the receiver's working hours, in
  their own time zone, as review nudges do), tells the sender once if still pending, and
  ends coverage on its end date. Each step clears its due time in the same transaction as
  its messages and audit events, so it fires once, also after a restart.

Who may do what: only a member of the case's team can hand off (an admin who is not on the
team holds no role to hand over); only to a workspace user who is not a bot or deactivated,
not to oneself, and not to someone who already holds that exact role (unless they hold it
only as cover and this is a transfer: that makes the cover permanent). Only the named
receiver can answer; an answered handoff cannot be answered again.

When coverage ends (at the start of its end date in the sender's time zone):
- the covering member is taken off the team, or given back the role they held before
  accepting (if they were on the team already);
- unless someone changed their role in the meantime, or they already left the team, or
  they are the team's last member: then the team is left as it is, and the thread says so.
A transfer accepted by the covering member ends their coverage at once ("superseded"), so
it never takes them off the team later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.access import CaseAccess, case_ref, open_case
from bot.cases import responsibilities as duties
from bot.cases import service as cases
from bot.contributions import WaitingItem
from bot.deps import Deps
from bot.errors import BadInput, Conflict, NotAllowed
from bot.handoffs.commands import HANDOFF_USAGE
from bot.handoffs.settings import HandoffSettings
from bot.ids import Action, BlockId
from bot.render import slack_through
from bot.slack import SlackUnavailable
from bot.unit import Actor, Unit
from storage import cases as cases_repo
from storage import handoffs as repo
from storage.cases import Case, CaseStatus, Role
from storage.core import OutboxMessage, SlackUser
from storage.handoffs import Handoff, HandoffKind, HandoffStatus, Severity

# -- what the handlers and templates get ---------------------------------------------------------


@dataclass(frozen=True)
class IPass:
    severity: Severity
    summary: str
    actions: str
    awareness: str


@dataclass(frozen=True)
class Draft:
    """A checked request, for the I-PASS form."""

    case_id: int
    ref: str
    to_user: str
    role: Role


@dataclass(frozen=True)
class HandoffView:
    """One handoff as templates show it; `ipass` only where the reader may see it."""

    id: int
    ref: str
    from_user: str
    to_user: str
    role: str
    role_title: str
    kind: str
    severity: str
    status: str
    created_at: datetime
    coverage_until: datetime | None
    decided_at: datetime | None
    previous_role_title: str | None = None
    ipass: IPass | None = None
    ended_at: datetime | None = None
    end_outcome: str | None = None
    duties: list[str] = field(default_factory=list)  # responsibilities carried (their titles)


@dataclass(frozen=True)
class Listing:
    given: list[HandoffView]
    received: list[HandoffView]
    coverage: list[HandoffView]


UNKNOWN_USER_ERRORS = frozenset({"user_not_found", "user_not_visible"})


def lookup_user(deps: Deps, user_id: str) -> SlackUser:
    """users.info facts (bot? deactivated? time zone?). Call it before opening a unit: the
    lookup writes its cache in its own transaction.

    Slack answering that there is no such user is the user's mistake, not an outage, so it
    becomes a BadInput instead of "Slack did not answer".
    """
    try:
        return deps.gateway.user(user_id)
    except SlackUnavailable as exc:
        if exc.error in UNKNOWN_USER_ERRORS:
            raise BadInput(
                f"<@{user_id}> is not a member of this Slack workspace. Hand off to a colleague here.",
                usage=HANDOFF_USAGE["start"],
            ) from None
        raise


# -- asking --------------------------------------------------------------------------------------


def start(unit: Unit, *, case_id: int, receiver: SlackUser, role: Role | None) -> Draft:
    """Check a `/handoff` request before its form opens, so mistakes show at once."""
    access, resolved = _check_request(unit, case_id=case_id, receiver=receiver, role=role, kind=None)
    unit.audit(
        "handoff.started",
        case_id=case_id,
        target=f"user:{receiver.user_id}",
        role=str(resolved),
    )
    return Draft(case_id, access.case.ref, receiver.user_id, resolved)


def create(
    unit: Unit,
    *,
    case_id: int,
    receiver: SlackUser,
    role: Role | None,
    kind: HandoffKind,
    ipass: IPass,
    coverage_until: datetime | None,
) -> Handoff:
    """Save the handoff, post it in the case thread and ask the receiver."""
    access, resolved = _check_request(
        unit, case_id=case_id, receiver=receiver, role=role, kind=kind, lock=True
    )
    if kind == HandoffKind.COVERAGE and (coverage_until is None or coverage_until <= unit.now):
        raise BadInput(
            "Coverage needs an end date in the future.", field=BlockId.COVERAGE_END, case_id=case_id
        )
    cipher = unit.deps.cipher
    timing = unit.deps.settings.section(HandoffSettings)
    handoff = Handoff(
        case_id=case_id,
        from_user=unit.actor.user_id,
        to_user=receiver.user_id,
        role=resolved,
        kind=kind,
        severity=ipass.severity,
        summary_enc=cipher.encrypt(ipass.summary),
        actions_enc=cipher.encrypt(ipass.actions),
        awareness_enc=cipher.encrypt(ipass.awareness),
        created_at=unit.now,
        coverage_until=coverage_until if kind == HandoffKind.COVERAGE else None,
        remind_at=unit.now + timing.remind_after,
        tell_sender_at=unit.now + timing.tell_sender_after,
    )
    unit.session.add(handoff)
    unit.session.flush()
    view = _view(unit, handoff, with_ipass=True)
    render = unit.deps.renderer.message
    thread = cases.post_in_thread(
        unit, access.case, render("handoffs/handoff_posted", h=view), purpose="handoff:posted"
    )
    request = unit.post(
        channel=receiver.user_id,
        message=_request_message(unit, view, access.case, reminder=False),
        purpose="handoff:request",
        case_id=case_id,
    )
    unit.post(
        channel=unit.actor.user_id,
        message=_notice(unit, view, "sent", "sender"),
        purpose="handoff:sent",
        case_id=case_id,
    )
    handoff.thread_outbox_id, handoff.request_outbox_id = thread.id, request.id
    unit.session.add(handoff)
    unit.audit(
        "handoff.requested",
        case_id=case_id,
        target=f"handoff:{handoff.id}",
        to_user=receiver.user_id,
        kind=str(kind),
        role=str(resolved),
        severity=str(ipass.severity),
        coverage_until=handoff.coverage_until.isoformat() if handoff.coverage_until else None,
    )
    return handoff


def _check_request(
    unit: Unit,
    *,
    case_id: int,
    receiver: SlackUser,
    role: Role | None,
    kind: HandoffKind | None,
    lock: bool = False,
) -> tuple[CaseAccess, Role]:
    access = open_case(unit, case_id, lock=lock, require_open=True)
    ref = case_ref(case_id)
    usage = HANDOFF_USAGE["start"]
    if access.member is None:
        raise NotAllowed(
            f"Only a member of {ref}'s care team can hand it off. You can see it as an admin, but you "
            "hold no role on it to hand over.",
            case_id=case_id,
        )
    me = unit.actor.user_id
    if receiver.user_id == me:
        raise BadInput(
            "You can't hand a case off to yourself; name the colleague taking it.",
            usage=usage,
            case_id=case_id,
        )
    if receiver.is_bot or receiver.deleted:
        raise BadInput(
            f"<@{receiver.user_id}> is a bot or a deactivated account, so they can't take over a case. "
            "Hand off to a colleague.",
            usage=usage,
            case_id=case_id,
        )
    resolved = role or Role(access.member.role)
    _check_not_holding(unit, case_id=case_id, user_id=receiver.user_id, role=resolved, kind=kind)
    held = cases_repo.membership(session=unit.session, case_id=case_id, user_id=receiver.user_id)
    if held is None or held.role != resolved:
        # The sender grants the role: the same rules as /case add (prescriber, consent).
        cases.check_team_change(unit, access.case, target=receiver.user_id, new_role=resolved)
    if repo.pending_between(session=unit.session, case_id=case_id, from_user=me, to_user=receiver.user_id):
        raise Conflict(
            f"You already have a handoff of {ref} to <@{receiver.user_id}> waiting for their answer. "
            "`/handoff list` shows it.",
            case_id=case_id,
        )
    return access, resolved


def _check_not_holding(
    unit: Unit, *, case_id: int, user_id: str, role: Role, kind: HandoffKind | None
) -> None:
    """The receiver must not hold the role already, except as cover being made permanent."""
    current = cases_repo.membership(session=unit.session, case_id=case_id, user_id=user_id)
    if current is None or current.role != role:
        return
    covering = repo.active_coverage(session=unit.session, case_id=case_id, user_id=user_id, role=role)
    if covering is not None and kind in (None, HandoffKind.TRANSFER):
        return
    ref = case_ref(case_id)
    if covering is not None:
        message = (
            f"<@{user_id}> already covers {ref} as {role.display.lower()}. To keep them on for good, "
            "choose *Transfer*."
        )
    else:
        message = f"<@{user_id}> is already on {ref}'s care team as {role.display.lower()}."
    raise Conflict(message, case_id=case_id)


# -- answering -----------------------------------------------------------------------------------


def open_answer(unit: Unit, *, handoff_id: int, accepting: bool) -> HandoffView:
    """The receiver clicked Accept or Decline: what their modal shows (the I-PASS to read
    back, when accepting, and the responsibilities the sender holds now, which accepting
    takes over)."""
    handoff = _pending_for_me(unit, handoff_id, lock=False)
    unit.audit(
        "handoff.accept_opened" if accepting else "handoff.decline_opened",
        case_id=handoff.case_id,
        target=f"handoff:{handoff.id}",
    )
    view = _view(unit, handoff, with_ipass=accepting)
    if not accepting:
        return view
    taking = duties.held_by(unit.session, handoff.case_id, handoff.from_user)
    return replace(view, duties=[d.display for d in taking])


def accept(unit: Unit, *, handoff_id: int, synthesis: str) -> Handoff:
    """The receiver's synthesis closes the loop: the team changes now, and only now.

    If the sender has left the team since sending, the handoff no longer carries anyone's
    authority: it becomes void and nothing about the team changes.
    """
    handoff = _pending_for_me(unit, handoff_id, lock=True)
    case = _case_of(unit, handoff, lock=True)
    ref = case.ref
    if case.status != CaseStatus.OPEN:
        raise Conflict(
            f"{ref} is closed, so its team can't change. Ask <@{handoff.from_user}> to reopen it, or "
            "decline the handoff.",
            case_id=case.id,
        )
    if cases_repo.membership(session=unit.session, case_id=case.id, user_id=handoff.from_user) is None:
        _void(unit, case, handoff)
        return handoff
    role = Role(handoff.role)
    _check_not_holding(
        unit, case_id=case.id, user_id=handoff.to_user, role=role, kind=HandoffKind(handoff.kind)
    )
    via = f"handoff:{handoff.id}"
    # What the sender is responsible for now goes with the handoff (issue 15).
    carried = duties.held_by(unit.session, case.id, handoff.from_user)
    superseded = _supersede_coverage(unit, case, handoff)
    current = cases_repo.membership(session=unit.session, case_id=case.id, user_id=handoff.to_user)
    if current is None or current.role != role:
        # Checked again now: the team or the consent may have changed since it was sent.
        cases.check_team_change(
            unit, case, target=handoff.to_user, new_role=role, granted_by=handoff.from_user
        )
        handoff.previous_role = cases.join_team(
            unit, case, user_id=handoff.to_user, role=role, note=False, via=via
        )
    sender_left = handoff.kind == HandoffKind.TRANSFER
    if sender_left:
        cases.leave_team(unit, case, user_id=handoff.from_user, note=False, via=via)
    handoff.duties = duties.encode(duties.carry(unit, case, carried, to_user=handoff.to_user, via=via))
    cases.refresh_case(unit, case)

    handoff.status, handoff.decided_at = HandoffStatus.ACCEPTED, unit.now
    handoff.synthesis_enc = unit.deps.cipher.encrypt(synthesis)
    handoff.remind_at = handoff.tell_sender_at = None
    unit.session.add(handoff)
    view = _view(unit, handoff)
    _tell(unit, case, handoff, view, "accepted", note=synthesis, outcome="superseded" if superseded else None)
    unit.audit(
        "handoff.accepted",
        case_id=case.id,
        target=via,
        kind=handoff.kind,
        role=handoff.role,
        previous_role=handoff.previous_role,
        sender_left=sender_left,
        superseded_coverage=superseded.id if superseded else None,
        duties=[d.value for d in carried],
    )
    return handoff


def decline(unit: Unit, *, handoff_id: int, reason: str) -> Handoff:
    """The receiver says no, with a reason the sender and the thread see."""
    handoff = _pending_for_me(unit, handoff_id, lock=True)
    case = _case_of(unit, handoff)
    handoff.status, handoff.decided_at = HandoffStatus.DECLINED, unit.now
    handoff.decline_reason_enc = unit.deps.cipher.encrypt(reason)
    handoff.remind_at = handoff.tell_sender_at = None
    unit.session.add(handoff)
    _tell(unit, case, handoff, _view(unit, handoff), "declined", note=reason)
    unit.audit("handoff.declined", case_id=case.id, target=f"handoff:{handoff.id}", kind=handoff.kind)
    return handoff


def _pending_for_me(unit: Unit, handoff_id: int, *, lock: bool) -> Handoff:
    handoff = repo.get(session=unit.session, handoff_id=handoff_id, lock=lock)
    if handoff is None or handoff.to_user != unit.actor.user_id:
        error = NotAllowed(
            "This handoff was not sent to you, so only the colleague it names can answer it.",
            case_id=handoff.case_id if handoff else None,
        )
        error.reason = "not_found" if handoff is None else "not_receiver"  # type: ignore[attr-defined]
        raise error
    if handoff.status != HandoffStatus.PENDING:
        raise Conflict(_already(handoff), case_id=handoff.case_id)
    return handoff


def _already(handoff: Handoff) -> str:
    ref = handoff.case_ref
    if handoff.status == HandoffStatus.DECLINED:
        return f"You already declined this handoff of {ref}; nothing more to do."
    if handoff.status == HandoffStatus.CANCELED:
        return f"This handoff of {ref} was canceled; nothing more to do."
    if handoff.status == HandoffStatus.VOID:
        return (
            f"This handoff of {ref} no longer applies: <@{handoff.from_user}> left the care team before "
            "it was accepted."
        )
    return f"You already accepted this handoff of {ref}; nothing more to do."


def _void(unit: Unit, case: Case, handoff: Handoff) -> None:
    handoff.status, handoff.decided_at = HandoffStatus.VOID, unit.now
    handoff.remind_at = handoff.tell_sender_at = None
    unit.session.add(handoff)
    _tell(unit, case, handoff, _view(unit, handoff), "void", note=None, to_sender=False)
    unit.audit("handoff.voided", case_id=case.id, target=f"handoff:{handoff.id}", reason="sender_left_team")


def _supersede_coverage(unit: Unit, case: Case, handoff: Handoff) -> Handoff | None:
    """A transfer to someone covering the same role makes their cover permanent."""
    if handoff.kind != HandoffKind.TRANSFER:
        return None
    covering = repo.active_coverage(
        session=unit.session, case_id=case.id, user_id=handoff.to_user, role=handoff.role
    )
    if covering is None:
        return None
    covering.status, covering.ended_at, covering.end_outcome = HandoffStatus.ENDED, unit.now, "superseded"
    unit.session.add(covering)
    unit.audit(
        "handoff.coverage_ended",
        case_id=case.id,
        target=f"handoff:{covering.id}",
        outcome_detail="superseded",
        by=f"handoff:{handoff.id}",
    )
    refresh_post(unit, case, covering)
    return covering


def _tell(
    unit: Unit,
    case: Case,
    handoff: Handoff,
    view: HandoffView,
    event: str,
    *,
    note: str | None,
    outcome: str | None = None,
    to_sender: bool = True,
) -> None:
    """An answer or a change: in the thread, to the sender, and on the receiver's DMs."""
    cases.post_in_thread(
        unit,
        case,
        _notice(unit, view, event, "thread", note=note, outcome=outcome),
        purpose=f"handoff:{event}",
    )
    if to_sender:
        unit.post(
            channel=handoff.from_user,
            message=_notice(unit, view, event, "sender", note=note, outcome=outcome),
            purpose=f"handoff:{event}",
            case_id=case.id,
        )
    _settle_requests(unit, case, handoff, view)
    refresh_post(unit, case, handoff)


def refresh_post(unit: Unit, case: Case, handoff: Handoff) -> None:
    """The handoff's post in the case thread says where it stands (accepted, declined,
    withdrawn, canceled, coverage ended), updated in place instead of "Waiting for …"."""
    if handoff.thread_outbox_id is None:
        return
    unit.update(
        of=handoff.thread_outbox_id,
        message=unit.deps.renderer.message(
            "handoffs/handoff_posted", h=_view(unit, handoff, with_ipass=True)
        ),
        purpose="handoff:posted",
        case_id=case.id,
    )


def _settle_requests(unit: Unit, case: Case, handoff: Handoff, view: HandoffView) -> None:
    """The receiver's DMs lose their buttons and say how the handoff ended."""
    message = _request_message(unit, view, case, reminder=False)
    for outbox_id in (handoff.request_outbox_id, handoff.reminder_outbox_id):
        if outbox_id is not None:
            unit.update(of=outbox_id, message=message, purpose="handoff:settled", case_id=case.id)


def _notice(
    unit: Unit,
    view: HandoffView,
    event: str,
    audience: str,
    *,
    note: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    return unit.deps.renderer.message(
        "handoffs/handoff_notice", h=view, event=event, audience=audience, note=note, outcome=outcome
    )


def _request_message(unit: Unit, view: HandoffView, case: Case, *, reminder: bool) -> dict[str, Any]:
    return unit.deps.renderer.message(
        "handoffs/handoff_request", h=view, reminder=reminder, home_channel=case.home_channel, actions=Action
    )


# -- withdrawing ---------------------------------------------------------------------------------


def cancel(unit: Unit, *, case_id: int) -> list[Handoff]:
    """`/handoff cancel <case>`: the sender withdraws their pending handoffs of the case.
    Both people and the thread are told, the receiver's buttons go, nothing about the team
    changes. Only the sender may; a receiver declines instead."""
    access = open_case(unit, case_id, lock=True)
    mine = repo.pending_on_case(session=unit.session, case_id=case_id, from_user=unit.actor.user_id)
    if not mine:
        raise Conflict(
            f"You have no handoff of {access.case.ref} waiting for an answer, so there is nothing to cancel. "
            "`/handoff list` shows yours; a handoff sent to you is answered with Decline.",
            case_id=case_id,
        )
    for handoff in mine:
        _cancel_one(unit, access.case, handoff, "by_sender")
    return mine


def _cancel_one(unit: Unit, case: Case, handoff: Handoff, why: str) -> None:
    handoff.status, handoff.decided_at, handoff.end_outcome = HandoffStatus.CANCELED, unit.now, why
    handoff.remind_at = handoff.tell_sender_at = None
    unit.session.add(handoff)
    view = _view(unit, handoff)
    _tell(unit, case, handoff, view, "canceled", note=None, outcome=why)
    unit.post(
        channel=handoff.to_user,
        message=_notice(unit, view, "canceled", "receiver", outcome=why),
        purpose="handoff:canceled",
        case_id=case.id,
    )
    unit.audit("handoff.canceled", case_id=case.id, target=f"handoff:{handoff.id}", reason=why)


def on_case_closed(unit: Unit, case: Case) -> None:
    """A closed case leaves nothing pending: its pending handoffs are canceled (both people
    told) and running coverage ends (the covering member is told; the team is left as it
    was, for the record of who was on it when it closed)."""
    for handoff in repo.pending_on_case(session=unit.session, case_id=case.id):
        _cancel_one(unit, case, handoff, "case_closed")
    for handoff in repo.open_on_case(session=unit.session, case_id=case.id):
        if handoff.status == HandoffStatus.ACCEPTED and handoff.kind == HandoffKind.COVERAGE:
            _finish_coverage(unit, case, handoff, "case_closed")


def open_risks(session: Session, case: Case) -> list[str]:
    """What closing the case would leave behind: its pending handoffs (closing cancels them)."""
    return [
        f"• Handoff of *{h.case_ref}* from <@{h.from_user}> to <@{h.to_user}> "
        f"({'cover' if h.kind == HandoffKind.COVERAGE else 'transfer'} as {Role(h.role).display.lower()}): "
        "waiting for an answer; closing cancels it"
        for h in repo.pending_on_case(session=session, case_id=case.id)
    ]


# -- reading -------------------------------------------------------------------------------------


def list_mine(unit: Unit) -> Listing:
    """`/handoff list`: my pending handoffs, given and received, and running coverage."""
    me = unit.actor.user_id
    session = unit.session
    listing = Listing(
        given=[_view(unit, h) for h in repo.pending_of(session=session, user_id=me, received=False)],
        received=[_view(unit, h) for h in repo.pending_of(session=session, user_id=me, received=True)],
        coverage=[_view(unit, h) for h in repo.active_coverages_of(session=session, user_id=me)],
    )
    unit.audit(
        "handoff.listed",
        given=len(listing.given),
        received=len(listing.received),
        coverage=len(listing.coverage),
    )
    return listing


def handoff_reader(session: Session, message: OutboxMessage, now: datetime) -> bool:
    """Who may read a handoff message though not on the team (the relay's send-time check asks,
    Workflow.readers): the receiver of a pending handoff (its request, the I-PASS note), and
    either party of a handoff about the message that tells them how it ended (queued in the
    unit that settled it: accepted, declined, withdrawn, coverage ended)."""
    if message.case_id is None or message.reader is None:
        return False
    user_id = message.reader
    if any(
        h.case_id == message.case_id for h in repo.pending_of(session=session, user_id=user_id, received=True)
    ):
        return True
    if not message.purpose.startswith("handoff:"):
        return False
    return repo.settled_with(session=session, case_id=message.case_id, user_id=user_id, at=message.created_at)


def waiting_handoffs(unit: Unit) -> list[WaitingItem]:
    """App Home: handoffs sent to me that wait for my answer (link: the request DM)."""
    items = []
    for handoff in repo.pending_of(session=unit.session, user_id=unit.actor.user_id, received=True):
        request = (
            unit.session.get(OutboxMessage, handoff.request_outbox_id) if handoff.request_outbox_id else None
        )
        kind = "cover" if handoff.kind == HandoffKind.COVERAGE else "transfer"
        items.append(
            WaitingItem(
                case_ref=handoff.case_ref,
                text=f"Handoff ({kind}, as {Role(handoff.role).display.lower()}) waiting for your answer",
                url=cases.thread_url(request),
                sort_key=(2, handoff.created_at.timestamp(), handoff.id or 0),
            )
        )
    return items


def handoff_section(unit: Unit, case: Case) -> list[str]:
    """`/case show`: pending handoffs and running coverage on the case."""
    lines = []
    for handoff in repo.open_on_case(session=unit.session, case_id=case.id):
        role = Role(handoff.role).display.lower()
        if handoff.status == HandoffStatus.PENDING:
            what = "cover" if handoff.kind == HandoffKind.COVERAGE else "transfer"
            lines.append(
                f"• <@{handoff.from_user}> → <@{handoff.to_user}>: {what} as {role}, waiting for an answer"
            )
        elif handoff.coverage_until is not None:
            lines.append(
                f"• <@{handoff.to_user}> covers for <@{handoff.from_user}> as {role} through "
                f"{slack_through(handoff.coverage_until)}"
            )
    return ["*Handoffs*\n" + "\n".join(lines)] if lines else []


def _view(unit: Unit, handoff: Handoff, *, with_ipass: bool = False) -> HandoffView:
    ipass = None
    if with_ipass:
        decrypt = unit.deps.cipher.decrypt
        ipass = IPass(
            Severity(handoff.severity),
            decrypt(handoff.summary_enc),
            decrypt(handoff.actions_enc),
            decrypt(handoff.awareness_enc),
        )
    return HandoffView(
        id=handoff.id or 0,
        ref=handoff.case_ref,
        from_user=handoff.from_user,
        to_user=handoff.to_user,
        role=handoff.role,
        role_title=Role(handoff.role).display,
        kind=handoff.kind,
        severity=handoff.severity,
        status=handoff.status,
        created_at=handoff.created_at,
        coverage_until=handoff.coverage_until,
        decided_at=handoff.decided_at,
        previous_role_title=Role(handoff.previous_role).display if handoff.previous_role else None,
        ipass=ipass,
        ended_at=handoff.ended_at,
        end_outcome=handoff.end_outcome,
        duties=[d.display for d in duties.decode(handoff.duties)],
    )


# -- the sweep -----------------------------------------------------------------------------------


def sweep(deps: Deps) -> dict[str, int]:
    """Reminders, sender notices and coverage ends that are due, each in its own unit."""
    return {
        "reminded": remind_receivers(deps),
        "senders_told": tell_senders(deps),
        "coverage_ended": end_coverage(deps),
    }


def remind_receivers(deps: Deps) -> int:
    return _fire_due(deps, repo.claim_due_reminders, _remind)


def tell_senders(deps: Deps) -> int:
    return _fire_due(deps, repo.claim_due_sender_notices, _tell_sender)


def end_coverage(deps: Deps) -> int:
    return _fire_due(deps, repo.claim_ending_coverage, _end_coverage)


def _fire_due(deps: Deps, claim: Callable[..., list[Handoff]], fire: Callable[[Unit, Handoff], bool]) -> int:
    """Claim what is due and fire each in one unit, with the state change that makes it
    no longer due (or due later), its messages and its audit event: once, across replicas
    and restarts. Returns how many fired now."""
    with deps.unit(Actor.app()) as unit:
        due = claim(session=unit.session, now=unit.now)
        fired = 0
        for handoff in due:
            fired += fire(unit, handoff)
            unit.session.add(handoff)
        return fired


def _remind(unit: Unit, handoff: Handoff) -> bool:
    """Remind the receiver, inside their working hours in their own time zone (as review
    nudges do); outside them, move the reminder to when their working hours begin."""
    opens = _working_hours_open(unit, handoff, handoff.to_user, "handoff.reminder_deferred")
    if opens is not None:
        handoff.remind_at = opens
        return False
    handoff.remind_at, handoff.reminded_at = None, unit.now
    case = _case_of(unit, handoff)
    reminder = unit.post(
        channel=handoff.to_user,
        message=_request_message(unit, _view(unit, handoff), case, reminder=True),
        purpose="handoff:reminder",
        case_id=case.id,
    )
    handoff.reminder_outbox_id = reminder.id
    unit.audit("handoff.reminded", case_id=case.id, target=f"handoff:{handoff.id}", to_user=handoff.to_user)
    return True


def _tell_sender(unit: Unit, handoff: Handoff) -> bool:
    """Tell the sender it is still pending, inside their working hours (a non-urgent nudge
    waits for its reader's working hours, like the receiver's reminder)."""
    opens = _working_hours_open(unit, handoff, handoff.from_user, "handoff.sender_notice_deferred")
    if opens is not None:
        handoff.tell_sender_at = opens
        return False
    handoff.tell_sender_at, handoff.sender_told_at = None, unit.now
    unit.post(
        channel=handoff.from_user,
        message=_notice(unit, _view(unit, handoff), "still_pending", "sender"),
        purpose="handoff:still_pending",
        case_id=handoff.case_id,
    )
    unit.audit(
        "handoff.sender_told",
        case_id=handoff.case_id,
        target=f"handoff:{handoff.id}",
        to_user=handoff.from_user,
    )
    return True


def _working_hours_open(unit: Unit, handoff: Handoff, user_id: str, deferred: str) -> datetime | None:
    """None inside `user_id`'s working hours (the clinic's hours and days, in their own zone;
    the clinic's when Slack gave none); outside them, when they next begin, audited as
    `deferred`."""
    clinic = unit.deps.settings.clinic
    person = unit.session.get(SlackUser, user_id)
    zone = clinic.zone_of(person.tz if person else None)
    opens = clinic.working_hours.next_open(unit.now, zone)
    if opens <= unit.now:
        return None
    unit.audit(
        deferred,
        case_id=handoff.case_id,
        target=f"handoff:{handoff.id}",
        until=opens.isoformat(),
        tz=zone.key,
    )
    return opens


def _end_coverage(unit: Unit, handoff: Handoff) -> bool:
    case = _case_of(unit, handoff, lock=True)
    back = duties.give_back(
        unit,
        case,
        duties.decode(handoff.duties),
        from_user=handoff.to_user,
        to_user=handoff.from_user,
        via=f"handoff:{handoff.id}",
    )
    outcome = _end_one(unit, case, handoff)
    if back and outcome not in ("removed", "restored"):  # those refreshed the card already
        cases.refresh_case(unit, case)
    _finish_coverage(unit, case, handoff, outcome)
    return True


def _finish_coverage(unit: Unit, case: Case, handoff: Handoff, outcome: str) -> None:
    """Coverage is over (its end date, or its case closed): record it, tell the thread and
    the covering member, and update the handoff's post in place."""
    handoff.status, handoff.ended_at, handoff.end_outcome = HandoffStatus.ENDED, unit.now, outcome
    unit.session.add(handoff)
    view = _view(unit, handoff)
    cases.post_in_thread(
        unit,
        case,
        _notice(unit, view, "coverage_ended", "thread", outcome=outcome),
        purpose="handoff:coverage_ended",
    )
    unit.post(
        channel=handoff.to_user,
        message=_notice(unit, view, "coverage_ended", "receiver", outcome=outcome),
        purpose="handoff:coverage_ended",
        case_id=case.id,
    )
    unit.audit(
        "handoff.coverage_ended",
        case_id=case.id,
        target=f"handoff:{handoff.id}",
        outcome_detail=outcome,
        user=handoff.to_user,
    )
    refresh_post(unit, case, handoff)


def _case_of(unit: Unit, handoff: Handoff, *, lock: bool = False) -> Case:
    case = cases_repo.get_case(session=unit.session, case_id=handoff.case_id, lock=lock)
    assert case is not None  # cases are never deleted; handoffs reference theirs
    return case


def _end_one(unit: Unit, case: Case, handoff: Handoff) -> str:
    """Apply the end of one coverage to the team; returns what happened (see module doc)."""
    member = cases_repo.membership(session=unit.session, case_id=case.id, user_id=handoff.to_user)
    via = f"handoff:{handoff.id}"
    if member is None:
        return "already_off"
    if member.role != handoff.role:
        return "role_changed"
    if handoff.previous_role:
        cases.join_team(
            unit, case, user_id=handoff.to_user, role=Role(handoff.previous_role), note=False, via=via
        )
        cases.refresh_case(unit, case)
        return "restored"
    if len(cases_repo.members(session=unit.session, case_id=case.id)) <= 1:
        return "kept_last"
    cases.leave_team(unit, case, user_id=handoff.to_user, note=False, via=via)
    cases.refresh_case(unit, case)
    return "removed"
