"""A reply commits with the work it reports: queued inside the unit open on the thread, it
is sent only if that unit commits, and never lost between two commits (handlers/replies.py)."""

from __future__ import annotations

import pytest

from bot.auditlog import Source
from bot.unit import Actor
from handlers.replies import dm, ephemeral, in_channel
from storage.core import OutboxMessage
from tests.support import ALICE, CHANNEL

ACTOR = Actor(ALICE, "T0CLINIC", Source.COMMAND)
MESSAGE = {"text": "Done.", "blocks": []}

REPLIES = {
    "dm": lambda deps: dm(deps, ALICE),
    "in_channel": lambda deps: in_channel(deps, ALICE, CHANNEL),
    "response_url": lambda deps: ephemeral(
        deps, {"response_url": "http://127.0.0.1:9/respond/x", "user_id": ALICE}
    ),
}


@pytest.mark.parametrize("kind", REPLIES)
def test_a_reply_inside_a_unit_is_queued_in_it_and_rolls_back_with_it(harness, kind):
    reply = REPLIES[kind](harness.deps)
    with pytest.raises(RuntimeError), harness.deps.unit(ACTOR) as unit:
        reply(MESSAGE)
        assert len(unit.queued) == 1  # in this unit, not in one of its own already committed
        raise RuntimeError("the work failed after the reply was queued")
    assert harness.rows(OutboxMessage) == []

    reply(MESSAGE)  # with no unit open: in one of its own
    assert len(harness.rows(OutboxMessage)) == 1
