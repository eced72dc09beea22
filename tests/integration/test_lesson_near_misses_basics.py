"""Section A of Module 15 (15.0-15.5) on the local cluster, as the student: the answer tasks
solved end to end (the answer found with the student's own commands and typed in), and
near misses told what is wrong.

tests/lessons.py evaluates with no typed answers and runs setup with the platform's
identity, so here answer tasks are opened with the student's token (as the platform
does when a student opens a task) and evaluated with the answers a student would type.
The lessons are read from their folders, so these tests do not depend on course.yaml."""

import datetime
import functools
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from labplatform.cluster.students import student_token
from lessons.grading.engine import checks_evaluate
from lessons.grading.results import Evaluation
from lessons.grading.setup import task_setup_run
from lessons.loading import course_read
from lessons.loading.data import LessonData, TaskData
from tests.lessons import (
    CLUSTER,
    COURSE,
    SETTLE_SECONDS,
    OpenTask,
    Student,
    describe,
    failure_messages,
    provisioned_student,
    solution_apply,
    task_evaluate_settled,
    task_play,
)

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster]

SECTION_A = [
    "15.0-the-scale-problem",
    "15.1-what-is-kubernetes",
    "15.2-architecture",
    "15.3-local-kubernetes",
    "15.4-kubectl-basics",
    "15.5-basics-qa",
]

# What a student runs to find each answer, one command per answer check, in order; its
# output, trimmed, is what they type.
ANSWER_COMMANDS = {
    ("15.1-what-is-kubernetes", "meet-the-cluster"): [
        "kubectl get nodes --no-headers | wc -l",
        "kubectl get nodes --no-headers | awk '$1 ~ /^node-/ {print $5; exit}'",
    ],
    ("15.2-architecture", "explore-nodes"): [
        "kubectl describe node \"$(kubectl get nodes -o jsonpath='{.items[0].metadata.name}')\""
        " | awk '/^Capacity:/ {c=1} c && $1==\"pods:\" {print $2; exit}'",
        "kubectl get nodes -o wide --no-headers | awk 'NR==1 {print $6}'",
    ],
    ("15.2-architecture", "api-groups"): [
        "kubectl api-resources --no-headers | awk '$NF==\"Deployment\" {print $(NF-2)}' | cut -d/ -f1",
    ],
    ("15.4-kubectl-basics", "read-logs"): [
        "kubectl logs indexer | grep 'index build id:' | sed 's/.*: //'",
    ],
}


@functools.cache
def section_a() -> dict[str, LessonData]:
    """Section A's lessons, validated by the loader from a course folder of their own."""
    folder = Path(tempfile.mkdtemp(prefix="section-a-"))
    try:
        lines = "".join(f"  - {slug}\n" for slug in SECTION_A)
        (folder / "course.yaml").write_text(f"slug: section-a\ntitle: Section A\nlessons:\n{lines}")
        for slug in SECTION_A:
            (folder / slug).symlink_to(COURSE / slug)
        return {item.slug: item for item in course_read(path=folder).lessons}
    finally:
        shutil.rmtree(folder)


def task_of(lesson_slug: str, task_slug: str) -> TaskData:
    return next(task for task in section_a()[lesson_slug].tasks if task.slug == task_slug)


def open_as_platform_does(student: Student, task: TaskData) -> OpenTask:
    """Opens a task as the platform does for a student: setup objects applied with the
    student's own token."""
    opened_at = datetime.datetime.now(datetime.UTC)
    setup_data = task_setup_run(
        setup=task.spec.get("setup") or {},
        cluster=CLUSTER,
        namespace=student.namespace,
        local_kwok=True,
        student_token=student_token(student.spec, seconds=600),
    )
    return OpenTask(task=task, setup_data=setup_data, opened_at=opened_at)


def evaluate(student: Student, opened: OpenTask, answers: list[str]) -> Evaluation:
    return checks_evaluate(
        checks=opened.task.spec["checks"],
        cluster=CLUSTER,
        namespace=student.namespace,
        setup_data=opened.setup_data,
        answers=answers,
        opened_at=opened.opened_at,
    )


def evaluate_settled(student: Student, opened: OpenTask, answers: list[str]) -> Evaluation:
    """Evaluates again while the result is pending (pods still starting), as grading does."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        evaluation = evaluate(student, opened, answers)
        if evaluation.status != "pending" or time.monotonic() > deadline:
            return evaluation
        time.sleep(0.5)


def found_answers(student: Student, lesson_slug: str, task_slug: str) -> list[str]:
    return [student.run(command).strip() for command in ANSWER_COMMANDS[(lesson_slug, task_slug)]]


def play_before(student: Student, lesson_slug: str, task_slug: str) -> None:
    """Plays the lesson's tasks before `task_slug` to passed, answers included."""
    for task in section_a()[lesson_slug].tasks:
        if task.slug == task_slug:
            return
        opened = open_as_platform_does(student, task)
        solution_apply(student, task)
        answers = found_answers(student, lesson_slug, task.slug) if (lesson_slug, task.slug) in ANSWER_COMMANDS else []
        evaluation = evaluate_settled(student, opened, answers)
        assert evaluation.status == "passed", f"{task.slug}:\n{describe(evaluation)}"
    raise AssertionError(f"no task {task_slug} in {lesson_slug}")


def test_every_answer_check_of_section_a_has_a_way_to_find_its_answer():
    answer_tasks = {
        (item.slug, task.slug): sum(check.get("kind") == "answer" for check in task.spec["checks"])
        for item in section_a().values()
        for task in item.tasks
        if any(check.get("kind") == "answer" for check in task.spec["checks"])
    }
    assert {key: len(commands) for key, commands in ANSWER_COMMANDS.items()} == answer_tasks


@pytest.mark.parametrize(
    ("lesson_slug", "task_slug"), [pytest.param(*key, id="/".join(key)) for key in ANSWER_COMMANDS]
)
def test_the_answer_a_student_finds_passes_and_nothing_else_does(lesson_slug, task_slug, tmp_path):
    with provisioned_student(tmp_path) as student:
        play_before(student, lesson_slug, task_slug)
        task = task_of(lesson_slug, task_slug)
        opened = open_as_platform_does(student, task)
        count = len(ANSWER_COMMANDS[(lesson_slug, task_slug)])

        assert set(failure_messages(evaluate(student, opened, []))) == {"no answer given"}
        assert evaluate(student, opened, ["not-it"] * count).status == "failed"

        solution_apply(student, task)
        answers = found_answers(student, lesson_slug, task_slug)
        evaluation = evaluate_settled(student, opened, answers)
        assert evaluation.status == "passed", f"answers {answers}:\n{describe(evaluation)}"


def test_counting_the_header_line_of_kubectl_get_nodes_is_not_the_node_count(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = open_as_platform_does(student, task_of("15.1-what-is-kubernetes", "meet-the-cluster"))
        with_header = student.run("kubectl get nodes | wc -l").strip()
        kubelet = found_answers(student, "15.1-what-is-kubernetes", "meet-the-cluster")[1]
        assert failure_messages(evaluate(student, opened, [with_header, kubelet])) == [
            f"{with_header} is not the node count. Count the nodes' rows in kubectl get nodes, not its header "
            "line (--no-headers leaves it out)."
        ]


def test_the_server_version_is_not_what_the_nodes_report(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = open_as_platform_does(student, task_of("15.1-what-is-kubernetes", "meet-the-cluster"))
        server = student.run("kubectl version | sed -n 's/^Server Version: //p'").strip()
        nodes = found_answers(student, "15.1-what-is-kubernetes", "meet-the-cluster")[0]
        assert server.startswith("v1.")
        assert failure_messages(evaluate(student, opened, [nodes, server])) == [
            f"{server} is not what the simulated nodes report. Read the VERSION column of kubectl get nodes on a "
            "node-... row: it is each node's kubelet version, which is not always the API server's (Server Version "
            "in kubectl version)."
        ]


def test_capacity_with_its_unit_is_not_a_number_and_another_nodes_ip_is_wrong(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = open_as_platform_does(student, task_of("15.2-architecture", "explore-nodes"))
        last_ip = student.run("kubectl get nodes -o wide --no-headers | awk 'END {print $6}'").strip()
        first_ip = found_answers(student, "15.2-architecture", "explore-nodes")[1]
        assert last_ip != first_ip
        assert failure_messages(evaluate(student, opened, ["400 pods", last_ip])) == [
            "'400 pods' is not a number",
            f"{last_ip} is not the InternalIP of the first node listed. Use the INTERNAL-IP column of "
            "kubectl get nodes -o wide, on the first row.",
        ]


def test_the_api_version_is_not_the_api_group(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = open_as_platform_does(student, task_of("15.2-architecture", "api-groups"))
        assert failure_messages(evaluate(student, opened, ["apps/v1"])) == [
            "apps/v1 is not the group alone. kubectl api-resources shows APIVERSION as group/version: the group "
            "is the part before the slash."
        ]
        assert evaluate(student, opened, [" Apps "]).status == "passed"


def test_a_pod_made_with_kubectl_run_is_told_to_use_apply(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = open_as_platform_does(student, task_of("15.4-kubectl-basics", "apply-pod"))
        student.run("kubectl run docs-site --image=nginx:1.27 --labels=app=docs-site --port=80")
        assert failure_messages(task_evaluate_settled(student, opened)) == [
            "Pod docs-site was not created with kubectl apply -f (it has no last-applied-configuration "
            "annotation). Delete it and apply your manifest."
        ]


def test_a_pod_with_the_wrong_image_is_told_which_image_it_runs(tmp_path):
    with provisioned_student(tmp_path) as student:
        task = task_of("15.4-kubectl-basics", "apply-pod")
        opened = open_as_platform_does(student, task)
        manifest = task.spec["solution"]["manifests"][0]
        student.apply({**manifest, "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]}})
        assert failure_messages(task_evaluate_settled(student, opened)) == [
            'Pod docs-site runs "nginx:latest"; expected "nginx:1.27". Fix the image in the file and apply it again.'
        ]


def test_a_pod_labelled_for_the_wrong_environment_is_told_how_to_change_it(tmp_path):
    with provisioned_student(tmp_path) as student:
        assert task_play(student, task_of("15.4-kubectl-basics", "apply-pod")).status == "passed"
        opened = open_as_platform_does(student, task_of("15.4-kubectl-basics", "label-pod"))
        student.run("kubectl label pod docs-site env=dev")
        assert failure_messages(task_evaluate_settled(student, opened)) == [
            'Pod docs-site: expected label env="staging", found "dev". Run kubectl label pod docs-site '
            "env=staging (add --overwrite to change an existing value)."
        ]


def test_the_whole_log_line_is_not_the_build_id_and_each_student_has_their_own(tmp_path):
    with provisioned_student(tmp_path) as student:
        task = task_of("15.4-kubectl-basics", "read-logs")
        opened = open_as_platform_does(student, task)
        line = student.run("kubectl logs indexer | grep 'index build id:'").strip()
        assert failure_messages(evaluate(student, opened, [line])) == [
            f"{line} is not the build id. Find the line 'index build id:' in kubectl logs indexer and enter only "
            "the id after the colon."
        ]
        build = line.split(": ", 1)[1]
        assert evaluate(student, opened, [build.upper()]).status == "passed"

        reopened = open_as_platform_does(student, task)
        rebuilt = reopened.setup_data["values"]["build"]
        assert f"index build id: {rebuilt}" in student.run("kubectl logs indexer")
        assert evaluate(student, reopened, [rebuilt]).status == "passed"
        assert student.run("kubectl get pods -o jsonpath='{.items[*].metadata.name}'").split() == ["indexer"]
