"""What the safety workflow knows: how risk was assessed, the four risk levels, and the six
sections of a Stanley-Brown safety plan (the design guide's wording). Pure.

The app records and routes what a clinician assessed; it does not assess risk itself and
gives no advice. Every level shown names how it was assessed (the screen or judgment).
"""

from __future__ import annotations

from storage.safety import Method, RiskLevel

METHODS: dict[str, str] = {
    Method.CSSRS: "C-SSRS screen",
    Method.PHQ9_ITEM9: "PHQ-9 item 9",
    Method.CLINICAL: "Clinical judgment",
}

LEVELS: dict[str, str] = {
    RiskLevel.LOW: "Low",
    RiskLevel.MODERATE: "Moderate",
    RiskLevel.HIGH: "High",
    RiskLevel.IMMINENT: "Imminent",
}
LEVEL_RANK: dict[str, int] = {
    RiskLevel.IMMINENT: 0,
    RiskLevel.HIGH: 1,
    RiskLevel.MODERATE: 2,
    RiskLevel.LOW: 3,
}

# The Stanley-Brown Safety Planning Intervention, in its order: (key, heading, hint).
PLAN_SECTIONS: tuple[tuple[str, str, str], ...] = (
    (
        "warning_signs",
        "Warning signs",
        "Thoughts, images, moods, situations or behavior that signal a crisis",
    ),
    (
        "coping",
        "Internal coping strategies",
        "Things the person can do alone to take their mind off problems",
    ),
    (
        "distraction",
        "People and places for distraction",
        "People and social settings that provide distraction",
    ),
    ("help", "People to ask for help", "Family members or friends the person can ask for help"),
    (
        "professionals",
        "Professionals and crisis lines",
        "Clinicians, the clinic's urgent line, 988 or local crisis line",
    ),
    ("environment", "Making the environment safe", "Steps to limit access to lethal means"),
)
PLAN_KEYS = tuple(key for key, _, _ in PLAN_SECTIONS)
MAX_SECTION = 1000
MAX_FOLLOW_UP_DAYS = 90
