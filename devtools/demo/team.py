"""The demo workspace: a care team, an admin, someone outside the team, and three channels."""

from __future__ import annotations

from dataclasses import dataclass

from devtools.standin import BOT_USER


@dataclass(frozen=True)
class Person:
    id: str
    handle: str
    name: str
    title: str
    tz: str


PEOPLE = (
    Person("U0PRIYA", "priya", "Dr. Priya Shah", "Psychiatrist (prescriber)", "America/New_York"),
    Person("U0TOM", "tom", "Tom Rivera", "Therapist", "America/New_York"),
    Person("U0CARMEN", "carmen", "Carmen Lopez", "Case manager", "America/Chicago"),
    Person("U0PAUL", "paul", "Dr. Paul Chen", "Primary care", "America/New_York"),
    Person("U0FIONA", "fiona", "Fiona Adeyemi", "Pharmacist", "America/Los_Angeles"),
    Person("U0ADMIN", "ada", "Ada Okafor", "CareThread admin", "America/New_York"),
    Person("U0OMAR", "omar", "Dr. Omar Haddad", "Psychiatrist, not on this team", "America/Denver"),
)
ADMINS = ("U0ADMIN",)
TEAM = tuple(p.id for p in PEOPLE[:5])
EVERYONE = tuple(p.id for p in PEOPLE)
BOT_NAME = "CareThread"


@dataclass(frozen=True)
class ChannelSpec:
    id: str
    name: str
    is_private: bool
    members: tuple[str, ...]
    topic: str


CHANNELS = (
    ChannelSpec(
        "C0CARE",
        "care-team",
        True,
        (*TEAM, "U0ADMIN", BOT_USER),
        "Integrated care team: case cards and threads",
    ),
    ChannelSpec("C0GENERAL", "general", False, EVERYONE, "Everyone at the clinic"),
    ChannelSpec("C0OPS", "carethread-ops", True, ("U0ADMIN", BOT_USER), "CareThread operational alerts"),
)
ADMIN_CHANNEL = "C0OPS"


def person(user_id: str) -> Person | None:
    return next((p for p in PEOPLE if p.id == user_id), None)


def by_handle(handle: str) -> Person | None:
    return next((p for p in PEOPLE if p.handle == handle.lower()), None)
