"""Shared steps for the review tests: a care team, a review, updates, decisions, all driven
through the real app (signed requests) or, for bulk setup, the real services."""

from __future__ import annotations

from pathlib import Path
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
from storage.core import AuditEvent
from storage.reviews import Review
from tests.conftest import Harness, make_settings, reply_text

ALICE, BOB, CAROL, DAN, MALLORY, ADMIN = "U0ALICE", "U0BOB", "U0CAROL", "U0DAN", "U0MALLORY", "U0ADMIN"


def build_harness(tmp_path: Path, engine, slack, clock, **env: str) -> Harness:
    return Harness(make_settings(tmp_path, slack, **env), engine, slack, clock)


def review(h: Harness, user: str, text: str, **kwargs: Any) -> str:
    h.command(user, text, command=Command.REVIEW, **kwargs)
    return h.last_reply_text()


def care_team(h: Harness, label: str = "Blue Heron", channel: str = "C0CARE") -> int:
    """A case with Alice (prescriber), Bob (therapist) and Carol (case manager)."""
    h.command(ALICE, f"create {label} as prescriber", channel=channel)
    text = h.last_reply_text()
    case_id = int(text.split("*C-")[1].split("*")[0])
    h.command(ALICE, f"add C-{case_id} <@{BOB}> therapist", channel=channel)
    h.command(ALICE, f"add C-{case_id} <@{CAROL}> case-manager", channel=channel)
    return case_id


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
        else:
            values[block.value] = slackreq.text_value(value)
    response = h.submit(
        user, Callback.REVIEW_UPDATE, values, private_metadata=str(review_id), view_id=view_id
    )
    return response.status, response.body


def submit_decision(
    h: Harness, user: str, review_id: int, decision: str | None, note: str, view_id: str | None = None
) -> str:
    values = {
        BlockId.REVIEW_DECISION.value: slackreq.select_value(decision),
        BlockId.REVIEW_DECISION_NOTE.value: slackreq.text_value(note),
    }
    return h.submit(
        user, Callback.REVIEW_DECISION, values, private_metadata=str(review_id), view_id=view_id
    ).body


def click(h: Harness, user: str, action: Action, review_id: int, channel: str = "C0CARE") -> None:
    h.action(user, action, str(review_id), channel=channel)


def audit(h: Harness, **where: Any) -> list[AuditEvent]:
    with h.db() as session:
        query = select(AuditEvent).order_by(AuditEvent.seq)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return list(session.execute(query).scalars())


def actions(h: Harness, **where: Any) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in audit(h, **where)]


def ephemerals(h: Harness, user: str) -> list[str]:
    return [reply_text(c.args) for c in h.slack.calls_to("chat.postEphemeral") if c.args.get("user") == user]


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
