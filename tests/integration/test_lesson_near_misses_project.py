"""Near misses in lessons 15.10 (Ingress) and 15.11 (the RAG API project): each gets the
message that teaches the fix, on the local cluster, as the student."""

import copy

import pytest

from tests.lessons import (
    Student,
    describe,
    failure_messages,
    lesson,
    provisioned_student,
    task_evaluate_settled,
    task_open,
    task_play,
)

pytestmark = [pytest.mark.usefixtures("kube"), pytest.mark.local_cluster]

MY_HOST = (
    'export MY_HOST=$(kubectl create ingress probe --rule="probe.invalid/=probe:80" --dry-run=server 2>&1 '
    "| grep -o 'outside [^;]*' | cut -d' ' -f2)"
)


def opened_task(student: Student, lesson_slug: str, task_slug: str):
    """Plays the lesson's tasks before `task_slug` with their solutions, then opens it."""
    for task in lesson(lesson_slug).tasks:
        if task.slug == task_slug:
            return task, task_open(student, task)
        evaluation = task_play(student, task)
        assert evaluation.status == "passed", f"{task.slug}:\n{describe(evaluation)}"
    raise AssertionError(f"no task {task_slug} in {lesson_slug}")


def failed_with(student: Student, opened) -> list[str]:
    evaluation = task_evaluate_settled(student, opened)
    assert evaluation.status == "failed", describe(evaluation)
    return failure_messages(evaluation)


def project_with(student: Student, task, change) -> None:
    """The project's reference solution with one mistake made by `change(deployment, service)`."""
    solution = task.spec["solution"]
    student.run(solution["commands"])
    deployment, service = (copy.deepcopy(manifest) for manifest in solution["manifests"])
    change(deployment, service)
    student.apply(deployment)
    student.apply(service)


def test_the_api_key_in_the_configmap_and_no_secret_is_told_keys_belong_in_a_secret(tmp_path):
    with provisioned_student(tmp_path) as student:
        task, opened = opened_task(student, "15.11-module-review", "deploy-rag-api")
        student.run(
            "kubectl create configmap rag-config --from-literal=MODEL_NAME=gpt-4o-mini "
            "--from-literal=VECTOR_DB_URL=http://qdrant:6333 --from-literal=TOP_K=5 "
            "--from-literal=OPENAI_API_KEY=sk-test-1234"
        )
        for manifest in task.spec["solution"]["manifests"]:
            student.apply(manifest)
        # Before "Secret rag-secrets: not found": why the key does not belong where it is.
        assert failed_with(student, opened) == [
            "rag-config holds OPENAI_API_KEY: API keys belong in a Secret, not in a ConfigMap that anyone who "
            "reads config can see. Put the key in the Secret rag-secrets, then delete rag-config and create it "
            "again with only MODEL_NAME, VECTOR_DB_URL and TOP_K.",
            f"Secret rag-secrets: not found in namespace {student.namespace}",
        ]


def test_a_service_sending_to_port_80_is_told_the_app_listens_on_8000(tmp_path):
    def target_port_80(deployment, service):
        service["spec"]["ports"][0]["targetPort"] = 80

    with provisioned_student(tmp_path) as student:
        task, opened = opened_task(student, "15.11-module-review", "deploy-rag-api")
        project_with(student, task, target_port_80)
        assert failed_with(student, opened) == [
            "Service rag-api sends port 80 to port 80 on the pods (targetPort: 80); the check wants 8000. "
            "rag-api listens on 8000: set targetPort: 8000."
        ]


def test_a_named_target_port_the_pods_give_8000_is_right(tmp_path):
    def named_port(deployment, service):
        deployment["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 8000}]
        service["spec"]["ports"][0]["targetPort"] = "http"

    with provisioned_student(tmp_path) as student:
        task, opened = opened_task(student, "15.11-module-review", "deploy-rag-api")
        project_with(student, task, named_port)
        evaluation = task_evaluate_settled(student, opened)
        assert evaluation.status == "passed", describe(evaluation)


def test_a_deployment_with_2_replicas_is_told_the_project_wants_3(tmp_path):
    def two_replicas(deployment, service):
        deployment["spec"]["replicas"] = 2

    with provisioned_student(tmp_path) as student:
        task, opened = opened_task(student, "15.11-module-review", "deploy-rag-api")
        project_with(student, task, two_replicas)
        assert failed_with(student, opened) == [
            "Deployment rag-api asks for 2 replicas; the project wants 3. Set spec.replicas: 3 and apply again."
        ]


def test_a_deployment_without_envfrom_secret_and_requests_gets_one_message_each(tmp_path):
    def no_secret_no_requests(deployment, service):
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        container["envFrom"] = [item for item in container["envFrom"] if "secretRef" not in item]
        del container["resources"]

    with provisioned_student(tmp_path) as student:
        task, opened = opened_task(student, "15.11-module-review", "deploy-rag-api")
        project_with(student, task, no_secret_no_requests)
        assert failed_with(student, opened) == [
            "Deployment rag-api's container does not load the Secret rag-secrets: "
            "add - secretRef: {name: rag-secrets} under its envFrom.",
            "Deployment rag-api's container declares no CPU request (the namespace's defaults do not count here): "
            "add resources.requests.cpu, for example 100m.",
        ]


def test_an_ingress_on_a_name_under_the_own_host_is_told_to_use_the_host_itself(tmp_path):
    with provisioned_student(tmp_path) as student:
        _, opened = opened_task(student, "15.10-resources-qa", "api-ingress")
        student.run(f'{MY_HOST}\nkubectl create ingress rag-api --rule="api.$MY_HOST/api*=rag-api:80"')
        host = f"api.{student.namespace}.{student.spec.ingress_domain}"
        assert failed_with(student, opened) == [
            f"Ingress rag-api's host is \"{host}\"; this task wants your namespace's own host, "
            f"{student.namespace}.<the lab's domain>, not a name under it. The lesson's MY_HOST block finds it."
        ]


def test_an_ingress_on_a_foreign_host_is_refused_with_the_host_to_use(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened_task(student, "15.10-resources-qa", "api-ingress")
        result = student.shell('kubectl create ingress rag-api --rule="rag.example.com/api*=rag-api:80"')
        own = f"{student.namespace}.{student.spec.ingress_domain}"
        assert result.returncode != 0
        assert f"host rag.example.com is outside {own}; use it or a name ending in .{own}" in result.stderr
        assert "rag-api" not in student.run("kubectl get ingress -o name")


def test_an_ingress_to_the_container_port_is_told_to_use_the_service_port(tmp_path):
    with provisioned_student(tmp_path) as student:
        _, opened = opened_task(student, "15.10-resources-qa", "api-ingress")
        student.run(f'{MY_HOST}\nkubectl create ingress rag-api --rule="$MY_HOST/api*=rag-api:8000"')
        assert failed_with(student, opened) == [
            "Ingress rag-api sends /api to port 8000; use the Service's port, 80, not the container's 8000."
        ]


def test_an_hpa_with_the_wrong_minimum_names_it(tmp_path):
    with provisioned_student(tmp_path) as student:
        _, opened = opened_task(student, "15.11-module-review", "autoscale-rag-api")
        student.run("kubectl autoscale deployment rag-api --min=1 --max=10 --cpu=70%")
        assert failed_with(student, opened) == [
            "HPA rag-api's minReplicas is 1; expected 3, the replicas the project started with, "
            "so the API never runs on fewer."
        ]


def test_too_little_load_is_told_the_hpa_has_not_reached_10(tmp_path):
    """100m per pod is 100% of the request: the HPA scales 5 pods to ceil(5 x 100 / 70) = 8;
    the new pods idle at 1m, the average falls to about 63%, and ceil(8 x 63 / 70) is 8 again."""
    with provisioned_student(tmp_path) as student:
        _, opened = opened_task(student, "15.11-module-review", "load-rag-api")
        student.run(
            "kubectl annotate pods -l app=rag-api kwok.x-k8s.io/usage-cpu=100m --overwrite\n"
            "kubectl wait hpa/rag-api --for=jsonpath='{.status.desiredReplicas}'=8 --timeout=100s\n"
            "kubectl rollout status deployment/rag-api --timeout=15s"
        )
        assert failed_with(student, opened) == [
            "HPA rag-api wants 8 replicas so far, not 10. It re-checks every 15 seconds once the metrics server "
            "has read the pods: wait a minute, and make sure `kubectl top pods -l app=rag-api` shows 300m on the "
            "annotated pods.",
            "Deployment rag-api asks for 8 replicas; the HPA sets 10 once it sees the load. Wait for it rather "
            "than scaling by hand: it would undo a kubectl scale.",
        ]
