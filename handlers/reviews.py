"""Slack listeners for scheduled case reviews: `/review ...`, the prompt's buttons and the
update and decision modals. Thin: read the payload, call one service, reply."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse

from bot import forms
from bot.auditlog import Source
from bot.deps import Deps
from bot.errors import BadInput
from bot.ids import Action, BlockId, Callback, Command
from bot.inbox import Processor
from bot.inputs import FieldCheck, Help, clean_text, parse_id, whole_number
from bot.measures.scales import GAD7, PHQ9, parse_item9, parse_score
from bot.render import Renderer
from bot.reviews import caseload
from bot.reviews import commands as parsing
from bot.reviews import service as reviews
from bot.reviews.commands import REVIEW_USAGE
from bot.reviews.fields import (
    ALL_FIELDS,
    BY_BLOCK,
    MAX_NOTE,
    MAX_PLAN_PART,
    PLAN_PARTS,
    Decision,
    Kind,
    RelapsePlan,
    UpdateField,
    decision_options,
)
from bot.unit import Actor, Unit
from handlers import actors
from handlers.replies import Reply, dm, ephemeral, read_submission, replying, where_clicked


def register(app: App, deps: Deps) -> None:
    inbox = deps.inbox
    app.command(Command.REVIEW)(inbox.listener("reviews.command", _command))
    app.action(Action.REVIEW_ADD_UPDATE)(
        inbox.listener(
            "reviews.add_update_clicked",
            _form_opener("button:review_add_update", reviews.update_form, update_view),
            opens_form=lambda _body: True,
        )
    )
    app.action(Action.REVIEW_DECIDE)(
        inbox.listener(
            "reviews.decide_clicked",
            _form_opener("button:review_decide", reviews.decision_form, decision_view),
            opens_form=lambda _body: True,
        )
    )
    app.view(Callback.REVIEW_UPDATE)(
        _submission(
            deps,
            "reviews.update_submitted",
            "modal:review_update",
            _read_update,
            _apply_update,
            fallback=BlockId.REVIEW_PHQ9,
        )
    )
    app.view(Callback.REVIEW_DECISION)(
        _submission(
            deps,
            "reviews.decision_submitted",
            "modal:review_decision",
            _read_decision,
            _apply_decision,
            fallback=BlockId.REVIEW_DECISION,
        )
    )


def _form_opener(
    name: str, load: Callable[..., Any], build: Callable[[Renderer, Any], dict[str, Any]]
) -> Processor:
    """A prompt button: check the clicker may act on the review, then open its modal."""

    def open_form(deps: Deps, body: dict[str, Any]) -> None:
        actor = actors.from_interaction(body, Source.BUTTON)
        with replying(deps, actor, name, where_clicked(deps, body, actor.user_id)):
            review_id = _review_id(((body.get("actions") or [{}])[0]).get("value"))
            with deps.unit(actor) as unit:
                form = load(unit, review_id=review_id)
            deps.gateway.open_view(body["trigger_id"], build(deps.renderer, form))

    return open_form


def _submission(
    deps: Deps,
    key: str,
    name: str,
    read: Callable[[dict[str, Any]], Any],
    apply: Callable[[Unit, int, Any], None],
    *,
    fallback: str,
) -> Callable[..., BoltResponse | None]:
    """A modal submission: field errors back on the modal in the ack (read_submission);
    then saved to the inbox, and the work done once per submission, errors by DM (the
    modal is gone)."""

    def listener(ack: Ack, body: dict[str, Any], view: dict[str, Any], request: BoltRequest):
        actor = actors.from_interaction(body, Source.MODAL)
        if read_submission(deps, ack, actor, name, lambda: read(view), fallback=fallback) is None:
            return None
        return deps.inbox.accept(key, request, ack)

    def submit(deps: Deps, body: dict[str, Any]) -> None:
        actor = actors.from_interaction(body, Source.MODAL)
        view = body.get("view") or {}
        with replying(deps, actor, name, dm(deps, actor.user_id)):
            values = read(view)
            with deps.unit(actor) as unit:
                unit.once(f"view:{view.get('id')}")
                apply(unit, _review_id(forms.metadata(view)), values)

    deps.inbox.route(key, submit)
    return listener


def _command(deps: Deps, body: dict[str, Any]) -> None:
    actor = actors.from_command(body)
    reply = ephemeral(deps, body)
    with replying(deps, actor, "command:/review", reply):
        command = parsing.parse_review_command(body.get("text") or "")
        _run(deps, actor, command, reply)


def _apply_update(unit: Unit, review_id: int, values: reviews.UpdateValues) -> None:
    reviews.add_update(unit, review_id=review_id, values=values)


def _apply_decision(unit: Unit, review_id: int, values: tuple[Decision, str, RelapsePlan | None]) -> None:
    decision, note, plan = values
    reviews.decide(unit, review_id=review_id, decision=decision, note=note, plan=plan)


# `/review` commands that only read (and audit that they did): their units read in a snapshot.
VIEWS = (parsing.ListReviews, parsing.ShowDigest, parsing.ShowSchedule)


def _run(deps: Deps, actor: Actor, command: parsing.ReviewCommand, reply: Reply) -> None:
    render = deps.renderer.message
    if isinstance(command, Help):
        reply(render("reviews/review_help", usage=list(REVIEW_USAGE.values())))
        return
    # The caller's Slack time zone, read before the unit opens: the gateway has its own session.
    tz = deps.gateway.user(actor.user_id).tz if isinstance(command, parsing.SetCadence) else None
    with deps.unit(actor, reads_only=isinstance(command, VIEWS)) as unit:
        match command:
            case parsing.ListReviews():
                message = render("reviews/review_list", lines=reviews.list_reviews(unit))
            case parsing.ShowDigest(all=everything):
                digest = caseload.digest_for(unit, everything=everything)
                message = render(
                    "reviews/review_digest",
                    digest=digest,
                    scope="all" if everything else "mine",
                    now=unit.now,
                )
            case parsing.ShowSchedule(case_id=case_id):
                message = render(
                    "reviews/review_schedule", s=reviews.show_schedule(unit, case_id=case_id), changed=None
                )
            case parsing.SetCadence(case_id=case_id, cadence=cadence):
                info = reviews.set_cadence(unit, case_id=case_id, cadence=cadence, tz=tz)
                message = render("reviews/review_schedule", s=info, changed="set")
            case parsing.TurnOff(case_id=case_id):
                message = render(
                    "reviews/review_schedule", s=reviews.turn_off(unit, case_id=case_id), changed="off"
                )
            case parsing.StartNow(case_id=case_id):
                reviews.start_now(unit, case_id=case_id)
                message = render(
                    "core/reply",
                    text=f"Started a review of C-{case_id}: its prompt is in the case thread.",
                    hint="Each member adds an update there; then the prescriber, therapist or case manager "
                    "records the decision.",
                )
            case _:  # pragma: no cover - the parser returns only the types above
                raise BadInput("Unknown command.", usage=REVIEW_USAGE["help"])
        reply(message)  # in the unit: the reply is queued in the same commit as what it reports


def _review_id(raw: Any) -> int:
    return parse_id(
        raw, stale="That review form is out of date. Open it again from the review prompt in the case thread."
    )


def update_view(renderer: Renderer, form: reviews.UpdateForm) -> dict[str, Any]:
    """The "Add my update" modal (also rendered by the template tests)."""
    return renderer.view(
        "reviews/review_update_form",
        callback_id=Callback.REVIEW_UPDATE,
        form=form,
        kind=Kind,
        block=BlockId,
        max_note=MAX_NOTE,
        phq9_max=PHQ9.maximum,
        gad7_max=GAD7.maximum,
    )


def decision_view(renderer: Renderer, form: reviews.DecisionForm) -> dict[str, Any]:
    """The "Record decision" modal."""
    return renderer.view(
        "reviews/review_decision",
        callback_id=Callback.REVIEW_DECISION,
        form=form,
        options=decision_options(),
        block=BlockId,
        max_note=MAX_NOTE,
        plan_parts=PLAN_PARTS,
        max_plan=MAX_PLAN_PART,
    )


def _read_update(view: dict[str, Any]) -> reviews.UpdateValues:
    """Every update question present in the submitted modal, validated; scores in range.
    Every problem is reported at once."""
    present = [b for b in ((view.get("state") or {}).get("values") or {}) if b in BY_BLOCK]
    check = FieldCheck()
    answers: dict[str, str] = {}
    for field in ALL_FIELDS:
        value = check(field.block, _answer, view, field)
        if value:
            answers[field.block.value] = value
    phq9, gad7 = (
        check(block, parse_score, forms.text(view, block), scale, field=block)
        for block, scale in ((BlockId.REVIEW_PHQ9, PHQ9), (BlockId.REVIEW_GAD7, GAD7))
    )
    item9 = check(
        BlockId.REVIEW_ITEM9, parse_item9, forms.text(view, BlockId.REVIEW_ITEM9), field=BlockId.REVIEW_ITEM9
    )
    if item9 is not None and phq9 is None and forms.text(view, BlockId.REVIEW_PHQ9).strip() == "":
        check.add(BlockId.REVIEW_ITEM9, "Give the PHQ-9 total with item 9.")
    taken_on = check(BlockId.REVIEW_SCORES_TAKEN, _taken_on, view)
    if taken_on is not None and phq9 is None and gad7 is None:
        check.add(
            BlockId.REVIEW_SCORES_TAKEN,
            "Give a PHQ-9 or GAD-7 with the date it was taken, or clear the date.",
        )
    check.done()
    values = reviews.UpdateValues(answers=answers, phq9=phq9, gad7=gad7, item9=item9, taken_on=taken_on)
    if values.empty:
        raise BadInput(
            "Answer at least one question, or give a score.",
            field=present[0] if present else BlockId.REVIEW_PHQ9,
        )
    return values


def _taken_on(view: dict[str, Any]) -> date | None:
    """The date the scores were taken (the service checks it against today and the episode)."""
    raw = forms.date(view, BlockId.REVIEW_SCORES_TAKEN)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadInput(
            "That is not a date; pick one from the calendar.", field=BlockId.REVIEW_SCORES_TAKEN
        ) from None


def _answer(view: dict[str, Any], field: UpdateField) -> str:
    """One update question's answer, by its kind; empty when left blank."""
    block = field.block.value
    if field.kind == Kind.SELECT:
        value = forms.option(view, block) or ""
        if value and value not in dict(field.options):
            raise BadInput(f"Pick one of the listed {field.what} options.", field=block)
        return value
    if field.kind == Kind.NUMBER:
        value = forms.text(view, block).strip()
        number = whole_number(value)
        if value and (number is None or number > (field.maximum or 0)):
            raise BadInput(f"{field.label}: a whole number from 0 to {field.maximum}.", field=block)
        return str(number) if value else ""
    return clean_text(forms.text(view, block), what=field.what, limit=MAX_NOTE, lines=True, field=block)


def _read_decision(view: dict[str, Any]) -> tuple[Decision, str, RelapsePlan | None]:
    """The decision and its note; with Discharge / close, every part of the relapse-prevention
    plan too. Every problem is reported at once."""
    check = FieldCheck()
    raw = forms.option(view, BlockId.REVIEW_DECISION) or ""
    if raw not in {d.value for d in Decision}:
        check.add(BlockId.REVIEW_DECISION, "Pick the team's decision.")
    note = check(
        BlockId.REVIEW_DECISION_NOTE,
        clean_text,
        forms.text(view, BlockId.REVIEW_DECISION_NOTE),
        what="note",
        limit=MAX_NOTE,
        lines=True,
        field=BlockId.REVIEW_DECISION_NOTE,
    )
    if note == "":
        check.add(BlockId.REVIEW_DECISION_NOTE, "Add a short note: what the team decided and why.")
    parts: dict[str, str] = {}
    if raw == Decision.DISCHARGE:
        for block, name, title in PLAN_PARTS:
            text = check(
                block,
                clean_text,
                forms.text(view, block),
                what=title.lower(),
                limit=MAX_PLAN_PART,
                lines=True,
                field=block,
            )
            if text == "":
                check.add(block, f"Discharge needs a relapse-prevention plan: fill in “{title}”.")
            parts[name] = text or ""
    check.done()
    plan = RelapsePlan(**parts) if raw == Decision.DISCHARGE else None
    return Decision(raw), note or "", plan
