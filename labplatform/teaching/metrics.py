"""The instructor dashboard's numbers, each defined once: the page's help text is
DEFINITIONS, and the functions below compute exactly what it says. Pure functions over
plain values, so the heatmap, the summary and the grade export cannot disagree."""

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

DEFINITIONS = {
    "completion": (
        "Percent of tasks completed: passed (student, task) pairs over all (student, task) pairs, "
        "counting every student still enrolled in the cohort and every task of the course."
    ),
    "median_time": (
        "Median time to pass a task: from the moment a student opened the task to its first pass, "
        "over the students who have passed it."
    ),
    "most_failed": (
        "Tasks with the most failed attempts (Checks that came back failed), with the failing check "
        "message seen most often in them: what to explain to the room."
    ),
    "stuck": (
        "Stuck: a student with {attempts} or more Checks on one task that has not passed, or idle "
        "for {idle} minutes or more while a task is open (started, not passed). Idle counts from their "
        "last keystroke in the terminal or their last use of a lesson page, whichever is later."
    ),
}


def completion_percent(*, passed_pairs: int, total_pairs: int) -> float:
    return 100.0 * passed_pairs / total_pairs if total_pairs else 0.0


def median_seconds(durations: list[timedelta]) -> float | None:
    if not durations:
        return None
    return statistics.median(d.total_seconds() for d in durations)


def message_normalised(message: str, *, namespace: str) -> str:
    """A check message with the student's own namespace taken out, so that the same
    mistake made by many students counts as one message."""
    return message.replace(namespace, "<namespace>") if namespace else message


def most_common(messages: Counter) -> tuple[str, int]:
    if not messages:
        return "", 0
    # Ties go to the message that sorts first, so the page is stable between reloads.
    return min(messages.items(), key=lambda item: (-item[1], item[0]))


@dataclass(frozen=True)
class StuckRule:
    attempts: int
    idle: timedelta

    def reasons(
        self,
        *,
        now: datetime,
        unpassed_attempts: dict[str, int],
        open_tasks: list[str],
        last_activity: datetime | None,
    ) -> list[str]:
        """Why a student is stuck, in words; empty when they are not. unpassed_attempts maps a
        task's title to the Checks on it (tasks not passed); open_tasks are titles."""
        reasons = [
            f"{count} Checks on {title} without a pass"
            for title, count in unpassed_attempts.items()
            if count >= self.attempts
        ]
        if open_tasks and last_activity is not None and now - last_activity >= self.idle:
            minutes = int((now - last_activity).total_seconds() // 60)
            reasons.append(f"idle {minutes} min with {open_tasks[0]} open")
        return reasons

    def help_text(self) -> str:
        return DEFINITIONS["stuck"].format(attempts=self.attempts, idle=int(self.idle.total_seconds() // 60))


def duration_words(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
