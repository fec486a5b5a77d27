"""Steps of the review tests: a review, updates, decisions, driven through the real app (signed
requests) or, for bulk setup, the real services. Cases come from tests/support.py care_team()."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.auditlog import Source
from bot.cases import service as case_service
from bot.ids import Action, BlockId, Callback, Command
from bot.reviews import service as review_service
from bot.reviews.fields import Decision
from bot.unit import Actor
from devtools import slackreq
from storage.cases import Role
from storage.reviews import Review
from tests.support import ALICE, BOB, Harness


def review(h: Harness, user: str, text: str, **kwargs: Any) -> str:
    h.command(user, text, command=Command.REVIEW, **kwargs)
    return h.last_reply_text()


def prompts(h: Harness) -> list[dict[str, Any]]:
    return [p for p in h.posts() if p["text"].startswith("Case review due on")]


def thread_posts(h: Harness, text: str) -> list[dict[str, Any]]:
    return [p for p in h.posts() if p["text"] == text]


def latest_review(h: Harness) -> Review:
    with h.db() as session:
        return session.execute(select(Review).order_by(Review.id.desc())).scalars().first()


def submit_update(
    h: Harness, user: str, review_id: int, view_id: str | None = None, **fields: str
) -> tuple[int, str]:
    """Submit the update modal; `fields` maps BlockId names (e.g. REVIEW_PHQ9) to typed text."""
    values = {}
    for name, value in fields.items():
        block = BlockId[name]
        if block == BlockId.REVIEW_ADHERENCE:
            values[block.value] = slackreq.select_value(value)
        elif block == BlockId.REVIEW_SCORES_TAKEN:
            values[block.value] = slackreq.date_value(value)
        else:
            values[block.value] = slackreq.text_value(value)
    response = h.submit(
        user, Callback.REVIEW_UPDATE, values, private_metadata=str(review_id), view_id=view_id
    )
    return response.status, response.body


PLAN = {
    "REVIEW_PLAN_WARNING_SIGNS": "Sleeping badly for a week; withdrawing from friends",
    "REVIEW_PLAN_MEDICATION": "Continue sertraline 100 mg for at least 9 more months",
    "REVIEW_PLAN_CONTACTS": "Call the clinic's nurse line first; crisis line after hours",
}


def submit_decision(
    h: Harness,
    user: str,
    review_id: int,
    decision: str | None,
    note: str,
    view_id: str | None = None,
    plan: dict[str, str] | None = None,
) -> str:
    """Submit the decision modal; `plan` maps the relapse-plan BlockId names to typed text."""
    values = {
        BlockId.REVIEW_DECISION.value: slackreq.select_value(decision),
        BlockId.REVIEW_DECISION_NOTE.value: slackreq.text_value(note),
    }
    for name, text in (plan or {}).items():
        values[BlockId[name].value] = slackreq.text_value(text)
    return h.submit(
        user, Callback.REVIEW_DECISION, values, private_metadata=str(review_id), view_id=view_id
    ).body


def click(h: Harness, user: str, action: Action, review_id: int, channel: str = "C0CARE") -> None:
    h.action(user, action, str(review_id), channel=channel)


# -- bulk setup through the services (same code paths, without HTTP round trips) --------------


def actor(user: str) -> Actor:
    return Actor(user_id=user, team_id=slackreq.TEAM, source=Source.CLI)


def quick_case(h: Harness, label: str, channel: str = "C0CARE") -> int:
    with h.deps.unit(actor(ALICE)) as unit:
        created = case_service.create_case(
            unit, label=label, role=Role.PRESCRIBER, channel=channel, others=[(BOB, Role.THERAPIST)]
        )
    return created.id


def quick_review(h: Harness, case_id: int, *, phq9: int | None = None, decide: bool = True) -> int:
    with h.deps.unit(actor(ALICE)) as unit:
        review_id = review_service.start_now(unit, case_id=case_id).id
    if phq9 is not None:
        with h.deps.unit(actor(BOB)) as unit:
            review_service.add_update(
                unit, review_id=review_id, values=review_service.UpdateValues(answers={}, phq9=phq9)
            )
    if decide:
        with h.deps.unit(actor(ALICE)) as unit:
            review_service.decide(unit, review_id=review_id, decision=Decision.CONTINUE, note="ok")
    return review_id
