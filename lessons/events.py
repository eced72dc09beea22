"""Task states pushed live: a graded attempt to the student's pages and to the cohort's
dashboard, and a change made outside grading (opened, marked passed) to the dashboard.
Both are best effort (labplatform.push): the result is stored, and pages that miss a
push catch up when they poll or reconnect."""

from labplatform import push
from labplatform.tracing import traced
from lessons.models import Attempt, TaskProgress
from lessons.selectors import attempt_payload


def cell_event(progress: TaskProgress) -> dict:
    """A task's state for one student, as the cohort dashboard's cell shows it."""
    task = progress.task
    return {
        "type": "grade.update",
        "student": progress.enrollment.student_id,
        "task": f"{task.lesson.slug}/{task.slug}",
        "state": progress.state,
        "attempts": progress.attempts_count,
    }


@traced("grading.attempt_push")
def attempt_result_push(*, attempt: Attempt) -> None:
    """A graded attempt: its checks to the student's pages, its cell to the dashboard."""
    enrollment = attempt.progress.enrollment
    push.send(
        push.to_user(enrollment.user_id, {"type": "attempt", **attempt_payload(attempt)}),
        (enrollment.cohort.grades_group, cell_event(attempt.progress)),
        what=f"attempt {attempt.pk}",
    )


def task_state_push(*, progress: TaskProgress) -> None:
    """The task's cell on the dashboard, after a change made outside grading."""
    push.send((progress.enrollment.cohort.grades_group, cell_event(progress)), what=f"progress {progress.pk}")
