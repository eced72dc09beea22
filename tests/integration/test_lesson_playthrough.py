"""Each lesson played through as one student would, in a single namespace with the default
quota preset: every command the lesson shows, then every task in order (setup, reference
solution, checks pass). Proves the lesson's commands work with the student's rights and
that a whole lesson, and the whole module, fits the quota."""

import json

import pytest

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from lessons.loading.service import course_load
from lessons.models import Lesson
from lessons.services import quiz_submit
from tests.lessons import COURSE, Student, course, describe, provisioned_student, run_blocks, task_play

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster]


def refusals(student: Student) -> list[str]:
    """Pods a ReplicaSet could not create during the play (the quota refused them). A bare
    pod over the quota is refused to `kubectl apply` itself, which fails the play at once."""
    events = json.loads(student.run("kubectl get events -o json"))["items"]
    return [f"{e['involvedObject']['name']}: {e['message']}" for e in events if e["reason"] == "FailedCreate"]


@pytest.mark.parametrize("lesson_data", [pytest.param(item, id=item.slug) for item in course().lessons])
def test_the_lesson_plays_through_in_one_namespace(lesson_data, tmp_path):
    with provisioned_student(tmp_path) as student:
        assert lesson_data.tasks or lesson_data.questions, f"{lesson_data.slug} has neither tasks nor a quiz"
        for block in run_blocks(lesson_data):
            student.run(block.commands)
            student.settle()
        for task in lesson_data.tasks:
            evaluation = task_play(student, task)
            assert evaluation.status == "passed", f"{lesson_data.slug}/{task.slug}:\n{describe(evaluation)}"
        assert refusals(student) == []


@pytest.mark.django_db
def test_the_whole_module_plays_in_order_in_one_namespace_without_cleaning_up(tmp_path, django_user_model):
    """The module from its first lesson to its last, as one student: every command (but the
    "Clean up" sections: a student who skips them still fits), every task, every quiz
    answered; in one namespace with the default quota, without a pod refused."""
    course_load(path=COURSE)
    cohort = Cohort.objects.create(
        name="Module", slug="module-play", course=course().slug, cluster=Cluster.objects.get(name="local")
    )
    enrollment = Enrollment.objects.create(user=django_user_model.objects.create_user(username="player"), cohort=cohort)
    with provisioned_student(tmp_path) as student:
        for lesson_data in course().lessons:
            for block in run_blocks(lesson_data):
                if not block.section.startswith("Clean up"):
                    student.run(block.commands)
                    student.settle()
            for task in lesson_data.tasks:
                evaluation = task_play(student, task)
                assert evaluation.status == "passed", f"{lesson_data.slug}/{task.slug}:\n{describe(evaluation)}"
            if lesson_data.questions:
                answers = {question.slug: question.correct for question in lesson_data.questions}
                lesson = Lesson.objects.get(slug=lesson_data.slug)
                submission = quiz_submit(enrollment=enrollment, lesson=lesson, answers=answers)
                assert submission.score == submission.max_score == len(lesson_data.questions)
        assert refusals(student) == []
