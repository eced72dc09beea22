"""Each lesson played through as one student would, in a single namespace with the default
quota preset: every command the lesson shows, then every task in order (setup, reference
solution, checks pass). Proves the lesson's commands work with the student's rights and
that a whole lesson, and the whole module, fits the quota."""

import json

import pytest

from tests.lessons import Student, course, describe, provisioned_student, run_blocks, task_play

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster]


def refusals(student: Student) -> list[str]:
    """Pods a ReplicaSet could not create during the play (the quota refused them). A bare
    pod over the quota is refused to `kubectl apply` itself, which fails the play at once."""
    events = json.loads(student.run("kubectl get events -o json"))["items"]
    return [f"{e['involvedObject']['name']}: {e['message']}" for e in events if e["reason"] == "FailedCreate"]


@pytest.mark.parametrize("lesson_data", [pytest.param(item, id=item.slug) for item in course().lessons])
def test_the_lesson_plays_through_in_one_namespace(lesson_data, tmp_path):
    with provisioned_student(tmp_path) as student:
        blocks = run_blocks(lesson_data)
        assert blocks and lesson_data.tasks, f"{lesson_data.slug} has no commands or no tasks"
        for block in blocks:
            student.run(block.commands)
            student.settle()
        for task in lesson_data.tasks:
            evaluation = task_play(student, task)
            assert evaluation.status == "passed", f"{lesson_data.slug}/{task.slug}:\n{describe(evaluation)}"
        assert refusals(student) == []


def test_the_tasks_of_every_lesson_fit_the_default_quota_together_without_cleaning_up(tmp_path):
    """A student who skips every "Clean up" section still fits: all tasks, and what each
    lesson's examples leave behind, in one namespace, without a pod refused."""
    with provisioned_student(tmp_path) as student:
        for lesson_data in course().lessons:
            for block in run_blocks(lesson_data):
                if not block.section.startswith("Clean up"):
                    student.run(block.commands)
                    student.settle()
            for task in lesson_data.tasks:
                evaluation = task_play(student, task)
                assert evaluation.status == "passed", f"{lesson_data.slug}/{task.slug}:\n{describe(evaluation)}"
        assert refusals(student) == []
