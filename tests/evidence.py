"""Measuring what grading stores of an attempt: its evidence bytes as stored, what one
evaluation holds before anything is bounded, and the bytes PostgreSQL keeps for them."""

import base64
import json

from django.db import connection
from django.test import Client

from lessons.grading.engine import checks_evaluate
from lessons.grading.evidence import json_size
from lessons.loading import course_read
from lessons.models import Attempt, TaskProgress
from lessons.services import attempt_create
from tests.kube import wait_for
from tests.lessons import COURSE

# Lesson 15.11's project (ConfigMap rag-config, Secret rag-secrets, Deployment and Service
# rag-api), whose first check asserts the `data` of a ConfigMap the student controls.
PROJECT = next(item for item in course_read(path=COURSE).lessons if item.slug == "15.11-module-review").tasks[0]
SECRET_VALUE = "sk-flood-" + "7" * 24


def evidence_bytes(results: list[dict]) -> int:
    return sum(json_size(result.get("evidence") or {}) for result in results)


def evaluated(enrollment, task) -> list[dict]:
    """One evaluation's results as the checks make them, whole: what an attempt stored
    before evidence was bounded."""
    progress = TaskProgress.objects.get(enrollment=enrollment, task=task)
    evaluation = checks_evaluate(
        checks=task.checks,
        cluster=enrollment.cohort.cluster.name,
        namespace=enrollment.environment.namespace,
        setup_data=progress.setup_data,
        answers=[],
        opened_at=progress.opened_at,
    )
    return [result.as_dict() for result in evaluation.results]


def on_disk(results: list[dict]) -> int:
    """Bytes PostgreSQL keeps for one attempt's results (jsonb, compressed as stored)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS evidence_sizes (results jsonb)")
        cursor.execute("TRUNCATE evidence_sizes")
        cursor.execute("INSERT INTO evidence_sizes VALUES (%s::jsonb)", [json.dumps(results)])
        cursor.execute("SELECT pg_column_size(results) FROM evidence_sizes")
        return cursor.fetchone()[0]


def graded(attempt: Attempt, grade=None, *, timeout: float = 120) -> Attempt:
    """The attempt once graded: by a worker, or here by `grade(attempt)` for each round."""

    def done():
        attempt.refresh_from_db()
        if attempt.state == Attempt.State.PENDING and grade is not None:
            grade(attempt)
            attempt.refresh_from_db()
        return attempt if attempt.state != Attempt.State.PENDING else None

    return wait_for(f"attempt {attempt.pk} graded", done, timeout=timeout, interval=0.5)


def checked(enrollment, task, grade=None) -> Attempt:
    """Check, as the student presses it, and its result."""
    return graded(attempt_create(enrollment=enrollment, task=task, answers=[]), grade)


def secret_forms() -> tuple[str, str]:
    """SECRET_VALUE as written and in base64, as the API server keeps it."""
    return SECRET_VALUE, base64.b64encode(SECRET_VALUE.encode()).decode()


def stored_text(attempts: list[Attempt]) -> str:
    """Everything the attempts stored: results and messages, as text."""
    return json.dumps([attempt.results for attempt in attempts]) + "".join(a.message for a in attempts)


def drilldown_html(instructor, enrollment) -> str:
    """The student's drill-down page as their instructor gets it (asserting 200)."""
    web = Client()
    web.force_login(instructor)
    page = web.get(f"/teach/{enrollment.cohort.slug}/students/{enrollment.student_id}/")
    assert page.status_code == 200
    return page.content.decode()
