"""Steps of the safety and on-call tests: opening and filling in the /safety form."""

from __future__ import annotations

from typing import Any

from bot.ids import BlockId, Callback
from devtools.slackreq import date_value, select_value, text_value

#: Plan text the tests type in. "Vomited twice" is one of the clinical strings that must never
#: reach a notification's text (tests/conftest.py).
WARNING_SIGNS = "Vomited twice, stopped answering texts <!channel>"


def user_value(user: str | None) -> dict[str, Any]:
    return {"type": "users_select", "selected_user": user}


def safety_values(
    *,
    method: str | None = "clinical",
    level: str | None = "high",
    warning_signs: str = WARNING_SIGNS,
    coping: str = "Walks with the dog",
    owner: str | None,
    follow_up: str | None = "2026-11-25",
) -> dict[str, dict[str, Any]]:
    return {
        BlockId.SAFETY_METHOD: select_value(method),
        BlockId.SAFETY_RISK: select_value(level),
        BlockId.SAFETY_WARNING_SIGNS: text_value(warning_signs),
        BlockId.SAFETY_COPING: text_value(coping),
        BlockId.SAFETY_DISTRACTION: text_value(""),
        BlockId.SAFETY_HELP: text_value(""),
        BlockId.SAFETY_PROFESSIONALS: text_value("988"),
        BlockId.SAFETY_ENVIRONMENT: text_value(""),
        BlockId.SAFETY_OWNER: user_value(owner),
        BlockId.SAFETY_FOLLOW_UP: date_value(follow_up),
    }


def open_safety_form(h, user: str, case_id: int) -> dict[str, Any]:
    before = len(h.slack.calls_to("views.open"))
    h.command(user, f"C-{case_id}", command="/safety")
    opened = h.slack.calls_to("views.open")
    assert len(opened) == before + 1, f"no modal opened; reply: {h.replies()[-1:]}"
    return opened[-1].args["view"]


def submit_safety(h, user: str, case_id: int, **fields: Any):
    return h.submit(user, Callback.SAFETY_FORM, safety_values(**fields), private_metadata=str(case_id))
