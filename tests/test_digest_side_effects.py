"""The two workflows together: an urgent side-effect report still open puts its case at
the top of the caseload digest, and stops counting once the loop is closed."""

from __future__ import annotations

import re

from bot.ids import Action, BlockId, Callback
from devtools.slackreq import select_value, text_value
from storage.side_effects import SideEffectReport
from tests.side_effect_helpers import (
    MEDS,
    P1,
    TEAM,
    THERAPIST,
    medication_value,
    open_form,
    submit_report,
)
from tests.support import care_team


def digest(h, user: str) -> str:
    h.command(user, "digest", command="/review")
    return h.last_reply_text()


def ranked(text: str) -> list[str]:
    return re.findall(r"^\d+\. \*(C-\d+)\*", text, flags=re.MULTILINE)


def test_urgent_open_report_ranks_its_case_first_until_the_plan_is_recorded(harness):
    quiet = care_team(harness, TEAM, label="Quiet", meds=MEDS)
    loud = care_team(harness, TEAM, label="Loud", meds=MEDS)
    view = open_form(harness, THERAPIST, f"C-{loud}")
    submit_report(harness, THERAPIST, loud, medication=medication_value(view, "sertraline"), red_flags=("0",))
    [report] = harness.rows(SideEffectReport)
    assert report.severity == "urgent"

    text = digest(harness, THERAPIST)
    assert ranked(text)[0] == f"C-{loud}" and f"C-{quiet}" in ranked(text)
    assert "1 urgent item open" in text

    harness.action(P1, Action.SIDE_EFFECT_ACK, str(report.id))
    assert "1 urgent item open" in digest(harness, THERAPIST)  # acknowledged is not closed

    values = {
        BlockId.SE_PLAN: select_value("urgent_evaluation"),
        BlockId.SE_PLAN_NOTE: text_value("seen today"),
    }
    harness.submit(P1, Callback.SIDE_EFFECT_PLAN, values, private_metadata=str(report.id), view_id="VPLAN9")
    assert harness.rows(SideEffectReport)[0].status == "planned"
    after = digest(harness, THERAPIST)
    assert "*0* with urgent items" in after and "urgent item open" not in after
