"""The cohort's grades as CSV: one row per enrolled student, built from the same reads as
the dashboard (a fixed number of queries, not one per student), plus one for quiz scores:
each student's first submission of each quiz, the one that counts."""

import csv
import io
from collections.abc import Iterator

from labplatform.teaching.dashboard import Dashboard
from lessons.models import QuizQuestion, QuizSubmission


def _text(value: str) -> str:
    """A name as text: a spreadsheet would run a leading = + - or @ as a formula."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _when(moment) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def grade_rows(dashboard: Dashboard) -> Iterator[list[str]]:
    enrollments = [row.enrollment for row in dashboard.rows]
    quiz_lessons = list(
        QuizQuestion.objects.filter(
            lesson__course__slug=dashboard.cohort.course, retired_at__isnull=True, lesson__retired_at__isnull=True
        )
        .values_list("lesson_id", "lesson__number")
        .distinct()
        .order_by("lesson__order")
    )
    # A quiz's score is the student's first submission, the one that counts (at most one
    # per student and lesson; lessons/services.py quiz_submit).
    scored = {
        (submission.enrollment_id, submission.lesson_id): submission
        for submission in QuizSubmission.objects.filter(
            enrollment__in=enrollments, lesson_id__in=[lesson_id for lesson_id, _ in quiz_lessons], counts=True
        )
    }

    header = ["student_id", "username", "name", "email", "tasks_passed", "tasks_total", "percent_passed"]
    for column in dashboard.columns:
        header += [
            f"{column.key} passed",
            f"{column.key} first_passed_at",
            f"{column.key} attempts",
            f"{column.key} hints_used",
        ]
    header += [f"{number} quiz score (first submission)" for _, number in quiz_lessons]
    yield header
    for row in dashboard.rows:
        user = row.enrollment.user
        total = len(dashboard.columns)
        line = [
            row.student_id,
            _text(user.get_username()),
            _text(row.name),
            _text(user.email),
            str(row.passed),
            str(total),
            f"{100.0 * row.passed / total:.1f}" if total else "0.0",
        ]
        for cell in row.cells:
            line += [
                "yes" if cell.state == "passed" else "no",
                _when(cell.first_passed_at),
                str(cell.attempts),
                str(cell.hints),
            ]
        for lesson_id, _ in quiz_lessons:
            submission = scored.get((row.enrollment.pk, lesson_id))
            line.append(f"{submission.score}/{submission.max_score}" if submission else "")
        yield line


def grades_csv(dashboard: Dashboard) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for line in grade_rows(dashboard):
        writer.writerow(line)
    return out.getvalue()
