"""A flood of Checks on lesson 15.11's project while the namespace holds a ConfigMap of
~900 KB: the real grading flow (Check, every grading round, stored by the conditional
UPDATE) on the real cluster and PostgreSQL keeps each attempt's evidence within its cap,
and only the task's latest LESSONS_EVIDENCE_ATTEMPTS attempts keep any, while every
attempt, verdict and count stays. Prints the evidence bytes per attempt before (what an
evaluation holds whole, which attempts stored until now) and after (as stored):

    .venv/bin/python -m pytest tests/integration/test_grading_evidence_flood.py -s

Students' namespaces on this cluster refuse a ConfigMap over 64 KiB at admission (the
platform's labplatform-student-configmap-size policy), so this one is made by the admin
in a namespace outside it, as on a cluster without that policy; grading reads it as the
admin too (gateway_as_admin). test_grading_evidence.py floods as a student, through a
worker, with what their namespace admits."""

import base64
import json
import os
import re

import pytest

from labplatform.environments.models import StudentEnvironment
from lessons.grading.evidence import ATTEMPT_BYTES, VALUE_BYTES, json_size
from lessons.grading.flow import attempt_grade
from lessons.models import Attempt, TaskProgress
from lessons.services import task_open
from tests.evidence import (
    PROJECT,
    SECRET_VALUE,
    checked,
    drilldown_html,
    evaluated,
    evidence_bytes,
    on_disk,
    secret_forms,
    stored_text,
)
from tests.lessons_rows import course_with_task

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.local_cluster,
    pytest.mark.usefixtures("gateway_as_admin"),
]

CHECKS = 25
PROJECT_CONFIG_CHECKS = ["ConfigMap rag-config exists", "rag-config holds no API key", "Secret rag-secrets exists"]


def grade_round(attempt: Attempt) -> None:
    attempt_grade(attempt_id=attempt.pk, round=attempt.round)


@pytest.fixture
def student(make_cohort, namespace, settings):
    settings.LESSONS_CHECK_INTERVAL_SECONDS = 0  # the flood: the next Check as soon as the last is graded
    cohort = make_cohort(students=1, instructors=1)
    enrollment = cohort.enrollments.get(role="student")
    StudentEnvironment.objects.create(enrollment=enrollment, namespace=namespace, state=StudentEnvironment.State.READY)
    enrollment.refresh_from_db()
    return enrollment, cohort.enrollments.get(role="instructor").user


def test_a_flood_of_checks_on_a_900_kb_configmap_stores_bounded_evidence(student, core, namespace, settings):
    enrollment, instructor = student
    # 900,000 characters that do not compress, as a student's own file would be.
    data = {"MODEL_NAME": "gpt-4o-mini", "blob": base64.b64encode(os.urandom(675_000)).decode()}
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "rag-config"}, "data": data})
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "rag-secrets"}, "stringData": {"OPENAI_API_KEY": SECRET_VALUE}}
    )
    task = course_with_task(checks=PROJECT.spec["checks"])
    task_open(enrollment=enrollment, task=task)
    whole = evaluated(enrollment, task)

    attempts = [checked(enrollment, task, grade_round) for _ in range(CHECKS)]

    for attempt in attempts:
        attempt.refresh_from_db()
    latest = attempts[-1]
    assert latest.state == Attempt.State.FAILED  # no Deployment or Service yet
    by_title = {result["title"]: result for result in latest.results}
    # Messages stay true and say what was read: the ConfigMap exists and holds no API key,
    # the Secret exists; the Service is not there yet.
    assert [by_title[title]["status"] for title in PROJECT_CONFIG_CHECKS] == ["passed"] * 3
    assert by_title["Service rag-api is a LoadBalancer"]["message"] == (
        f"Service rag-api: not found in namespace {namespace}"
    )
    # The ConfigMap's data: the start of it, and how big it was in all.
    shown = by_title["ConfigMap rag-config exists"]["evidence"]["ConfigMap rag-config"]["data"]
    size = len(json.dumps(data, ensure_ascii=False, sort_keys=True).encode())
    assert shown.startswith('{"MODEL_NAME": "gpt-4o-mini", "blob": "' + data["blob"][:100])
    assert shown.endswith(f" … (truncated, {size} bytes in all)")
    assert json_size(shown) <= VALUE_BYTES
    assert by_title["Secret rag-secrets exists"]["evidence"] == {"Secret rag-secrets": {"data": "<redacted>"}}

    # Each attempt within its cap; only the latest few keep evidence; every row, verdict
    # and count is there.
    after = [evidence_bytes(attempt.results) for attempt in attempts]
    assert max(after) <= ATTEMPT_BYTES
    keep = settings.LESSONS_EVIDENCE_ATTEMPTS
    assert [attempt.evidence_dropped for attempt in attempts] == [True] * (CHECKS - keep) + [False] * keep
    assert sum(after) <= keep * ATTEMPT_BYTES
    for attempt in attempts[: CHECKS - keep]:
        assert [(r["title"], r["status"], r["message"]) for r in attempt.results] == [
            (r["title"], r["status"], r["message"]) for r in latest.results
        ]
    assert all(attempt.state == Attempt.State.FAILED for attempt in attempts)
    assert TaskProgress.objects.get(enrollment=enrollment, task=task).attempts_count == CHECKS
    assert Attempt.objects.filter(progress__enrollment=enrollment).count() == CHECKS

    # The Secret's value is in nothing stored, nor in base64 as the API server keeps it.
    _, encoded = secret_forms()
    stored = stored_text(attempts)
    assert SECRET_VALUE not in stored and encoded not in stored

    # The instructor's drill-down: the latest 20 of the 25, each kept value truncated.
    html = drilldown_html(instructor, enrollment)
    assert "1\N{EN DASH}20 of 25" in html and SECRET_VALUE not in html and encoded not in html
    # Two checks assert on rag-config's data (exists; holds no OPENAI_API_KEY, absent).
    assert len(re.findall(r"truncated, \d+ bytes in all", html)) == keep

    before = evidence_bytes(whole)
    print(
        f"\n900 KB ConfigMap, {CHECKS} Checks: evidence bytes per attempt before {before:,}, after "
        f"{after[-1]:,} (the latest {keep}) and {after[0]:,} (older); all {CHECKS} attempts' evidence before "
        f"{before * CHECKS:,}, after {sum(after):,}; results on disk (jsonb) per attempt before "
        f"{on_disk(whole):,}, after {on_disk(latest.results):,} and {on_disk(attempts[0].results):,}; "
        f"drill-down page {len(html.encode()):,} bytes"
    )
