"""Words and marks for task and check states, for the lesson templates and, rendered into
the lesson page once by lesson_states (json_script "lesson-states"), for lesson.js, which
draws results that arrive live with them."""

from datetime import datetime

from django import template
from django.utils.dateparse import parse_datetime

register = template.Library()

TASK_STATES = {
    "not_started": "Not started",
    "open": "Not checked yet",
    "pending": "Checking…",
    "failed": "Not passed yet",
    "passed": "Passed",
}
ATTEMPT_STATES = {"pending": "Checking…", "passed": "Passed", "failed": "Not passed", "error": "Could not check"}
# A pending check's mark is drawn by lesson.css (a ring), the same in every font.
CHECK_MARKS = {"passed": ("✓", "Passed"), "failed": ("✗", "Failed"), "pending": ("", "Still waiting")}


@register.simple_tag
def lesson_states() -> dict:
    """Every word and mark lesson.js draws, for json_script."""
    return {"task": TASK_STATES, "attempt": ATTEMPT_STATES, "check_marks": CHECK_MARKS}


@register.filter
def task_state_label(state: str) -> str:
    return TASK_STATES.get(state, state)


@register.filter
def attempt_state_label(state: str) -> str:
    return ATTEMPT_STATES.get(state, state)


@register.filter
def check_mark(status: str) -> str:
    return CHECK_MARKS.get(status, ("!", status))[0]


@register.filter
def check_word(status: str) -> str:
    return CHECK_MARKS.get(status, ("!", status.capitalize()))[1]


@register.filter
def iso_datetime(value: str) -> datetime | None:
    """An attempt payload's ISO time, for the `date` and `time` filters."""
    return parse_datetime(value) if value else None
