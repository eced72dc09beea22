"""Every task ships a reference solution that really solves it (DESIGN.md, "Lessons and
grading"): in a fresh student namespace, the task's checks fail before the solution and
pass after it, applied with the student's own token. Tasks are read from the course files,
so a new task is covered without touching this file. Near misses get the message that
teaches the fix."""

import pytest

from tests.kube import wait_for
from tests.lessons import (
    Student,
    describe,
    failure_messages,
    lesson,
    provisioned_student,
    solution_apply,
    task_cases,
    task_evaluate,
    task_evaluate_settled,
    task_open,
    task_play,
)

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster]


@pytest.mark.parametrize(
    ("lesson_data", "index"),
    [pytest.param(item, index, id=f"{item.slug}/{item.tasks[index].slug}") for item, index in task_cases()],
)
def test_the_reference_solution_turns_the_checks_from_failed_to_passed(lesson_data, index, tmp_path):
    with provisioned_student(tmp_path) as student:
        for earlier in lesson_data.tasks[:index]:
            evaluation = task_play(student, earlier)
            assert evaluation.status == "passed", f"earlier task {earlier.slug}:\n{describe(evaluation)}"
        task = lesson_data.tasks[index]

        opened = task_open(student, task)
        # Once what the earlier tasks made has settled: an autoscaler just made has no
        # metrics until metrics-server has scraped its pods twice (its checks are pending,
        # not failed, until then).
        before = task_evaluate_settled(student, opened, seconds=120)
        assert before.status == "failed", f"{task.slug} before its solution:\n{describe(before)}"

        solution_apply(student, task)
        after = task_evaluate_settled(student, opened)
        assert after.status == "passed", f"{task.slug} after its solution:\n{describe(after)}"


def play_until(student: Student, lesson_slug: str, task_slug: str):
    """Plays the lesson's tasks before `task_slug`, then opens that one; returns it opened."""
    item = lesson(lesson_slug)
    for task in item.tasks:
        if task.slug == task_slug:
            return task_open(student, task)
        evaluation = task_play(student, task)
        assert evaluation.status == "passed", f"{task.slug}:\n{describe(evaluation)}"
    raise AssertionError(f"no task {task_slug} in {lesson_slug}")


def settled_failure(student: Student, opened) -> list[str]:
    evaluation = task_evaluate_settled(student, opened)
    assert evaluation.status == "failed", describe(evaluation)
    return failure_messages(evaluation)


def test_a_deployment_with_2_replicas_instead_of_3_is_told_to_set_3(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.7-deployments", "create-deployment")
        student.run("kubectl create deployment web --image=nginx:1.27 --replicas=2")
        assert settled_failure(student, opened) == [
            "Deployment web asks for 2 replicas; this task wants 3. "
            "Set spec.replicas, or run kubectl scale deployment web --replicas=3."
        ]


def test_a_deployment_with_the_wrong_image_tag_names_the_tag_it_found(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.7-deployments", "create-deployment")
        student.run("kubectl create deployment web --image=nginx:latest --replicas=3")
        assert settled_failure(student, opened) == [
            'Deployment web\'s pods run "nginx:latest"; expected "nginx:1.27". Check the image name and tag.'
        ]


def test_a_rollout_to_the_wrong_image_names_both_images(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.7-deployments", "rolling-update")
        student.run("kubectl set image deployment/web nginx=nginx:1.29 && kubectl rollout status deployment/web")
        assert settled_failure(student, opened) == [
            'Deployment web\'s pods run "nginx:1.29"; expected "nginx:1.28". Check the image name and tag.',
            "Deployment web: expected image nginx:1.28, found nginx:1.29",
        ]


def test_scaling_down_instead_of_deleting_a_pod_is_not_self_healing(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.7-deployments", "self-healing")
        student.run("kubectl scale deployment web --replicas=4 && kubectl rollout status deployment/web")
        told = "Deployment web asks for 4 replicas; leave it at 5 and let the ReplicaSet replace the pod you delete."
        # pod_replaced stays pending (it waits for a replacement that a scale-down never
        # makes), so wait for the replicas check to have settled rather than for the task.
        wait_for("the replicas check to fail", lambda: told in failure_messages(task_evaluate(student, opened)))
        assert task_evaluate(student, opened).status == "failed"


def test_a_pod_with_a_wrong_label_is_told_which_label_and_where(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.6-pods", "labelled-pod")
        student.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "chat-ui", "labels": {"app": "chat-ui", "tier": "backend"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            }
        )
        assert settled_failure(student, opened) == [
            'Pod chat-ui: expected label tier="frontend", found "backend". Labels go under metadata.labels.'
        ]


def test_a_pod_without_limits_is_told_the_limits_it_has_are_the_namespace_defaults(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.6-pods", "pod-resources")
        student.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "embedder"},
                "spec": {
                    "containers": [
                        {
                            "name": "embedder",
                            "image": "python:3.12-slim",
                            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        }
                    ]
                },
            }
        )
        assert settled_failure(student, opened) == [
            'Pod embedder\'s CPU limit is "500m"; expected "250m". '
            "(500m is the namespace's default, used when no CPU limit is set: add resources.limits.cpu.)"
        ]


def test_a_pod_with_only_limits_is_told_its_requests_copied_them(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.6-pods", "pod-resources")
        student.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "embedder"},
                "spec": {
                    "containers": [
                        {
                            "name": "embedder",
                            "image": "python:3.12-slim",
                            "resources": {"limits": {"cpu": "250m", "memory": "192Mi"}},
                        }
                    ]
                },
            }
        )
        messages = settled_failure(student, opened)
        assert len(messages) == 1
        assert messages[0].startswith('Pod embedder requests "250m" CPU; expected "100m".')
        assert messages[0].endswith("if you set only limits, requests copy them.)")


def test_a_sidecar_pod_with_one_container_is_told_it_needs_two(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, "15.6-pods", "sidecar-pod")
        student.apply(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "sidecar-demo"},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            }
        )
        messages = settled_failure(student, opened)
        assert messages[0] == "Pod sidecar-demo has 1 container(s); it needs 2, both listed under spec.containers."
