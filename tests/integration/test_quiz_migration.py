"""Migration 0008 on a database that holds retakes (several submissions of one student for
one lesson, from before the one-submission policy): every row is kept, the earliest of
each student's counts, and the unique index then refuses a second counted one. Real
PostgreSQL, migrated back and forth with Django's migration executor."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("lessons", "0007_attempt_evidence_bounded")
AFTER = ("lessons", "0008_quiz_first_submission_counts")


def migrate(target: tuple[str, str]):
    """Every app at its latest migration but lessons, at `target`; the models as they are then."""
    executor = MigrationExecutor(connection)
    nodes = [leaf for leaf in executor.loader.graph.leaf_nodes() if leaf[0] != target[0]] + [target]
    executor.migrate(nodes)
    return MigrationExecutor(connection).loader.project_state(nodes).apps


@pytest.fixture
def before_the_policy():
    apps = migrate(BEFORE)
    yield apps
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_retakes_are_kept_and_the_earliest_counts(before_the_policy):
    apps = before_the_policy
    User = apps.get_model("auth", "User")
    Cluster, Cohort, Enrollment = (apps.get_model("cohorts", name) for name in ("Cluster", "Cohort", "Enrollment"))
    Course, Lesson, QuizSubmission = (
        apps.get_model("lessons", name) for name in ("Course", "Lesson", "QuizSubmission")
    )
    course = Course.objects.create(slug="old", title="Old")
    one, two = (
        Lesson.objects.create(course=course, slug=slug, number=slug, title=slug, order=i, body_html="")
        for i, slug in enumerate(["1.1-one", "1.2-two"], start=1)
    )
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    cohort = Cohort.objects.create(name="Old", slug="old", course="old", cluster=cluster)
    ada, bo = (
        Enrollment.objects.create(user=User.objects.create(username=name), cohort=cohort, student_id=name)
        for name in ("ada", "bo")
    )
    start = timezone.now() - timedelta(days=3)

    def submitted(enrollment, lesson, score, hours):
        return QuizSubmission.objects.create(
            enrollment=enrollment, lesson=lesson, score=score, max_score=3, created_at=start + timedelta(hours=hours)
        ).pk

    # ada took lesson one three times (inserted out of order), bo once; ada's two retakes of
    # lesson two share one timestamp, so the id breaks the tie.
    ada_second = submitted(ada, one, 2, hours=2)
    ada_first = submitted(ada, one, 1, hours=1)
    ada_third = submitted(ada, one, 3, hours=3)
    bo_only = submitted(bo, one, 0, hours=1)
    ada_two_first = submitted(ada, two, 3, hours=5)
    ada_two_second = submitted(ada, two, 1, hours=5)

    apps = migrate(AFTER)
    QuizSubmission = apps.get_model("lessons", "QuizSubmission")
    counted = dict(QuizSubmission.objects.values_list("pk", "counts"))
    assert counted == {
        ada_first: True,
        ada_second: False,
        ada_third: False,
        bo_only: True,
        ada_two_first: True,
        ada_two_second: False,
    }
    assert QuizSubmission.objects.get(pk=ada_first).score == 1
    # A second counted submission of bo's for lesson one is refused by the index.
    with pytest.raises(IntegrityError), transaction.atomic():
        QuizSubmission.objects.create(enrollment_id=bo.pk, lesson_id=one.pk, score=3, max_score=3)

    # Reversed, the column and index go and every row stays.
    apps = migrate(BEFORE)
    assert apps.get_model("lessons", "QuizSubmission").objects.count() == 6
