"""What grading stores, as a student makes it: a provisioned student's own objects, made
with their token, Checks graded by a real Celery worker against the real cluster. A normal
attempt at lesson 15.11's project keeps all its evidence (the Secret's value redacted);
a flood of Checks on the largest ConfigMap their namespace admits (64 KiB: the platform's
labplatform-student-configmap-size policy) stores bounded evidence, and the Secret's
value reaches neither the database nor the instructor's page. Prints the evidence bytes
per attempt before (what an evaluation holds whole, which attempts stored until now) and
after (as stored):

    .venv/bin/python -m pytest tests/integration/test_grading_evidence.py -s

(A 900 KB ConfigMap: test_grading_evidence_flood.py.)"""

import base64
import json
import os

import pytest
import yaml

from labplatform.cluster.students import student_kubeconfig, student_token
from labplatform.environments.steps import environment_spec
from lessons.grading.evidence import ATTEMPT_BYTES, VALUE_BYTES, json_size
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
from tests.kube import kubectl
from tests.lessons_rows import course_with_task
from tests.terminals import provision_ready

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.local_cluster,
    pytest.mark.usefixtures("celery_worker_process"),
]

CHECKS = 12
# What the policy admits: at most 65,536 bytes of keys and values.
LARGEST = 64_000


@pytest.fixture
def student(make_cohort, settings, tmp_path):
    """A provisioned student, their cohort's instructor, and a kubeconfig holding only the
    student's token."""
    settings.LESSONS_CHECK_INTERVAL_SECONDS = 0  # the next Check as soon as the last is graded
    cohort = make_cohort(students=1, instructors=1)
    (enrollment,) = provision_ready(cohort)
    enrollment.refresh_from_db()
    spec = environment_spec(enrollment.environment)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(student_kubeconfig(spec, student_token(spec, seconds=1800))))
    return enrollment, kubeconfig, cohort.enrollments.get(role="instructor").user


def as_student(kubeconfig, *args: str) -> str:
    done = kubectl(kubeconfig, *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def secret_create(kubeconfig) -> None:
    key = f"--from-literal=OPENAI_API_KEY={SECRET_VALUE}"
    as_student(kubeconfig, "create", "secret", "generic", "rag-secrets", key)


def test_a_normal_project_attempt_keeps_all_its_evidence(student):
    enrollment, kubeconfig, _ = student
    task = course_with_task(checks=PROJECT.spec["checks"])
    task_open(enrollment=enrollment, task=task)
    as_student(kubeconfig, "create", "configmap", "rag-config", "--from-literal=MODEL_NAME=gpt-4o-mini",
               "--from-literal=VECTOR_DB_URL=http://qdrant:6333", "--from-literal=TOP_K=5")  # fmt: skip
    secret_create(kubeconfig)
    manifests = kubeconfig.parent / "rag-api.yaml"
    manifests.write_text(yaml.safe_dump_all(PROJECT.spec["solution"]["manifests"]))
    as_student(kubeconfig, "apply", "-f", str(manifests))
    as_student(kubeconfig, "rollout", "status", "deployment/rag-api", "--timeout=90s")

    attempt = checked(enrollment, task)
    whole = evaluated(enrollment, task)
    assert attempt.state == Attempt.State.PASSED, attempt.results
    # Nothing of a normal attempt is cut; the Secret's value is redacted, as it always was.
    assert attempt.results == whole
    by_title = {result["title"]: result for result in attempt.results}
    assert by_title["ConfigMap rag-config exists"]["evidence"] == {
        "ConfigMap rag-config": {
            "data": {"MODEL_NAME": "gpt-4o-mini", "TOP_K": "5", "VECTOR_DB_URL": "http://qdrant:6333"}
        }
    }
    assert by_title["Secret rag-secrets exists"]["evidence"] == {"Secret rag-secrets": {"data": "<redacted>"}}
    assert SECRET_VALUE not in json.dumps(attempt.results)
    print(
        f"\nnormal 15.11 project attempt: evidence bytes per attempt before {evidence_bytes(whole):,}, "
        f"after {evidence_bytes(attempt.results):,}; results on disk (jsonb) before {on_disk(whole):,}, "
        f"after {on_disk(attempt.results):,}"
    )


def test_a_flood_of_checks_on_the_largest_configmap_a_student_may_make(student, tmp_path, settings):
    enrollment, kubeconfig, instructor = student
    blob = tmp_path / "blob.txt"
    blob.write_text(base64.b64encode(os.urandom(LARGEST * 3 // 4)).decode())  # does not compress
    as_student(kubeconfig, "create", "configmap", "rag-config", f"--from-file=blob={blob}",
               "--from-literal=MODEL_NAME=gpt-4o-mini")  # fmt: skip
    secret_create(kubeconfig)
    task = course_with_task(checks=PROJECT.spec["checks"])
    task_open(enrollment=enrollment, task=task)
    whole = evaluated(enrollment, task)

    attempts = [checked(enrollment, task) for _ in range(CHECKS)]

    for attempt in attempts:
        attempt.refresh_from_db()
    latest = attempts[-1]
    by_title = {result["title"]: result for result in latest.results}
    assert by_title["ConfigMap rag-config exists"]["status"] == "passed"
    shown = by_title["ConfigMap rag-config exists"]["evidence"]["ConfigMap rag-config"]["data"]
    assert json_size(shown) <= VALUE_BYTES and shown.endswith(" bytes in all)")
    after = [evidence_bytes(attempt.results) for attempt in attempts]
    keep = settings.LESSONS_EVIDENCE_ATTEMPTS
    assert max(after) <= ATTEMPT_BYTES and sum(after) <= keep * ATTEMPT_BYTES
    assert [attempt.evidence_dropped for attempt in attempts] == [True] * (CHECKS - keep) + [False] * keep
    assert TaskProgress.objects.get(enrollment=enrollment, task=task).attempts_count == CHECKS
    assert all(attempt.state == Attempt.State.FAILED for attempt in attempts)

    _, encoded = secret_forms()
    stored = stored_text(attempts)
    assert SECRET_VALUE not in stored and encoded not in stored
    html = drilldown_html(instructor, enrollment)
    assert f"1\N{EN DASH}{CHECKS} of {CHECKS}" in html and SECRET_VALUE not in html and encoded not in html
    before = evidence_bytes(whole)
    print(
        f"\n{LARGEST // 1000} KB ConfigMap as the student, {CHECKS} Checks: evidence bytes per attempt before "
        f"{before:,}, after {after[-1]:,} (the latest {keep}) and {after[0]:,} (older); all {CHECKS} attempts' "
        f"evidence before {before * CHECKS:,}, after {sum(after):,}; drill-down page {len(html.encode()):,} bytes"
    )
