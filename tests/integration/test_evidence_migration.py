"""Attempts stored before evidence was bounded are brought within the bounds by migration
0007: each value cut with its marker, a task's attempts past its latest
LESSONS_EVIDENCE_ATTEMPTS without evidence; rows, states and messages kept. Real
PostgreSQL; the migration's function run on rows made as an older version stored them."""

import importlib
import json

import pytest
from django.apps import apps
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.grading.evidence import ATTEMPT_BYTES, json_size
from lessons.models import Attempt, Course, Lesson, Task, TaskProgress

pytestmark = pytest.mark.django_db

migration = importlib.import_module("lessons.migrations.0007_attempt_evidence_bounded")


def test_rows_stored_before_are_bounded_and_older_ones_lose_their_evidence(django_user_model, settings):
    settings.LESSONS_EVIDENCE_ATTEMPTS = 2
    course = Course.objects.create(slug="old", title="Old")
    lesson = Lesson.objects.create(course=course, slug="l", number="1", title="L", order=1, body_html="")
    tasks = [Task.objects.create(lesson=lesson, slug=f"t{n}", order=n, title="T", instructions_html="") for n in (1, 2)]
    cohort = Cohort.objects.create(name="Old", slug="old", course="old", cluster=Cluster.objects.get(name="local"))
    user = django_user_model.objects.create_user(username="old", email="old@example.com")
    enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=Enrollment.Role.STUDENT)
    big = {"ConfigMap rag-config": {"data": {"blob": "z" * 900_000}}}
    start = timezone.now() - timezone.timedelta(hours=1)
    made = {}
    for task in tasks:
        progress = TaskProgress.objects.create(enrollment=enrollment, task=task, attempts_count=4)
        made[task.pk] = [
            Attempt.objects.create(
                progress=progress,
                state=Attempt.State.FAILED,
                message=f"1 of 2 checks failed ({n})",
                results=[
                    {"title": "exists", "status": "passed", "message": "", "evidence": big},
                    {"title": "sample", "status": "failed", "message": "m" * 5000},
                ],
                created_at=start + timezone.timedelta(minutes=n),
            )
            for n in range(4)
        ]

    migration.evidence_bound(apps, None)

    for attempts in made.values():
        rows = [Attempt.objects.get(pk=attempt.pk) for attempt in attempts]
        assert [row.evidence_dropped for row in rows] == [True, True, False, False]
        assert [row.message for row in rows] == [f"1 of 2 checks failed ({n})" for n in range(4)]
        for row in rows:
            assert [r["title"] for r in row.results] == ["exists", "sample"]
            assert row.results[1]["message"].endswith(" … (truncated, 5000 bytes in all)")
            assert sum(json_size(r["evidence"]) for r in row.results) <= ATTEMPT_BYTES
        assert rows[0].results[0]["evidence"] == {}
        shown = rows[3].results[0]["evidence"]["ConfigMap rag-config"]["data"]
        assert shown.endswith(f" … (truncated, {len(json.dumps(big['ConfigMap rag-config']['data']))} bytes in all)")
    assert Attempt.objects.count() == 8
