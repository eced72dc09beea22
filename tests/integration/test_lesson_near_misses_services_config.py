"""Near misses in lessons 15.8 (Services) and 15.9 (ConfigMaps and Secrets): what a student
gets almost right is answered with the message that teaches the fix."""

import re

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

SERVICES = "15.8-services"
CONFIG = "15.9-configmaps-secrets"


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


def told(messages: list[str], templates: list[str]) -> bool:
    """Whether `messages` are `templates` with the observed values ({selector}, {pods},
    {ready}, {pod_labels}) filled in: the grader reads them in the same evaluation, and
    these tests hold everything around them."""
    patterns = []
    for template in templates:
        pattern = re.escape(template)
        for name in ("selector", "pods", "ready", "pod_labels"):
            pattern = pattern.replace(re.escape(f"{{{name}}}"), ".+?")
        patterns.append(pattern)
    return len(messages) == len(patterns) and all(map(re.fullmatch, patterns, messages))


def endpoints_ready(student: Student, service: str, count: int) -> None:
    """Waits, as a student reading `kubectl get endpointslices` would, for `count` ready endpoints."""
    student.settle()
    student.run(
        f'until [ "$(kubectl get endpointslices -l kubernetes.io/service-name={service} '
        "-o jsonpath='{.items[*].endpoints[?(@.conditions.ready==true)].targetRef.name}' | wc -w)\" "
        f"= {count} ]; do sleep 1; done"
    )


# 15.8 Services


def test_a_nodeport_service_instead_of_clusterip_is_told_the_type_it_has(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "clusterip-service")
        student.run("kubectl create deployment frontend --image=nginx:1.27 --replicas=2")
        student.run("kubectl expose deployment frontend --type=NodePort --port=80")
        endpoints_ready(student, "frontend", 2)
        assert settled_failure(student, opened) == [
            'Service frontend is of type "NodePort"; this task wants ClusterIP, reachable only inside the cluster. '
            "Delete it and create it again without --type (or with type: ClusterIP)."
        ]


def test_a_service_whose_selector_matches_no_pod_has_no_endpoints(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "clusterip-service")
        student.run("kubectl create deployment frontend --image=nginx:1.27 --replicas=2")
        student.run("kubectl create service clusterip frontend --tcp=80:80")
        student.run("kubectl set selector service frontend app=front-end && kubectl rollout status deployment/frontend")
        messages = settled_failure(student, opened)
        assert told(
            messages,
            [
                "Service frontend selects {selector}, and the pods here are labelled {pod_labels}; this task wants "
                "it to select app=frontend, the label the instructions give Deployment frontend's pods.",
                "Service frontend has 0 ready endpoint(s): its selector {selector} matches {pods} pod(s), "
                "{ready} of them Ready; the pods here are labelled {pod_labels}. "
                "If the Service's selector does not match the pods' labels, it finds none.",
            ],
        ), messages


def test_the_teammates_service_as_applied_selects_nothing(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "fix-selector")
        student.run("kubectl rollout status deployment/rag-api --timeout=60s")
        messages = settled_failure(student, opened)
        assert told(
            messages,
            [
                "Service rag-api selects {selector}, but the pods here are labelled {pod_labels}. "
                "Compare kubectl describe service rag-api with kubectl get pods --show-labels.",
                "Service rag-api has 0 ready endpoint(s): its selector {selector} matches {pods} pod(s), "
                "{ready} of them Ready; the pods here are labelled {pod_labels}. "
                "Every label in the Service's selector must be on the pods.",
            ],
        ), messages


def test_fixing_the_selector_by_adding_a_label_still_finds_no_pods(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "fix-selector")
        student.run("kubectl rollout status deployment/rag-api --timeout=60s")
        # A merge patch adds to the selector: app=rag-api AND tier=api, which no pod has.
        student.run("""kubectl patch service rag-api -p '{"spec":{"selector":{"app":"rag-api","tier":"api"}}}'""")
        messages = settled_failure(student, opened)
        assert told(
            messages,
            [
                "Service rag-api has 0 ready endpoint(s): its selector {selector} matches {pods} pod(s), "
                "{ready} of them Ready; the pods here are labelled {pod_labels}. "
                "Every label in the Service's selector must be on the pods."
            ],
        ), messages


def test_a_loadbalancer_to_port_80_instead_of_8000_is_told_where_the_api_listens(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "loadbalancer-service")
        student.run("kubectl expose deployment rag-api --name=rag-api-public --type=LoadBalancer --port=80")
        endpoints_ready(student, "rag-api-public", 2)
        assert settled_failure(student, opened) == [
            "Service rag-api-public sends port 80 to port 80 on the pods (targetPort: 80); the check wants 8000. "
            "The RAG API listens on 8000: set targetPort: 8000 (port stays 80)."
        ]


def test_a_clusterip_service_instead_of_a_loadbalancer_is_told_the_type_it_needs(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, SERVICES, "loadbalancer-service")
        student.run("kubectl expose deployment rag-api --name=rag-api-public --port=80 --target-port=8000")
        endpoints_ready(student, "rag-api-public", 2)
        assert settled_failure(student, opened) == [
            'Service rag-api-public is of type "ClusterIP"; to be reachable from outside the cluster through '
            "a cloud load balancer it needs type: LoadBalancer."
        ]


# 15.9 ConfigMaps and Secrets


def test_a_configmap_holding_the_api_key_is_told_keys_belong_in_a_secret(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, CONFIG, "rag-config")
        student.run(
            "kubectl create configmap rag-config --from-literal=MODEL_NAME=gpt-4o-mini "
            "--from-literal=VECTOR_DB_URL=http://qdrant:6333 --from-literal=TOP_K=5 "
            "--from-literal=OPENAI_API_KEY=sk-test-1234"
        )
        assert settled_failure(student, opened) == [
            "rag-config holds OPENAI_API_KEY: API keys belong in a Secret, not in a ConfigMap that anyone who "
            "reads config can see. Recreate rag-config without it; the next task puts the key in a Secret."
        ]


def test_a_configmap_with_a_lowercase_key_is_told_keys_are_case_sensitive(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, CONFIG, "rag-config")
        student.run(
            "kubectl create configmap rag-config --from-literal=model_name=gpt-4o-mini "
            "--from-literal=VECTOR_DB_URL=http://qdrant:6333 --from-literal=TOP_K=5"
        )
        assert settled_failure(student, opened) == [
            'ConfigMap rag-config: MODEL_NAME is nothing; expected "gpt-4o-mini". '
            "Keys are case-sensitive and go under data."
        ]


def test_a_secret_with_a_lowercase_key_is_told_the_exact_name_and_its_value_is_never_shown(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, CONFIG, "rag-secrets")
        student.run("kubectl create secret generic rag-secrets --from-literal=openai_api_key=sk-test-1234")
        evaluation = task_evaluate_settled(student, opened)
        assert failure_messages(evaluation) == [
            "Secret rag-secrets has no key OPENAI_API_KEY. Variable names are case-sensitive: the key must be "
            "exactly OPENAI_API_KEY (kubectl describe secret rag-secrets lists the keys)."
        ]
        student.run(
            "kubectl create secret generic rag-secrets --from-literal=OPENAI_API_KEY=sk-test-1234 "
            "--dry-run=client -o yaml | kubectl apply -f -"
        )
        evaluation = task_evaluate_settled(student, opened)
        assert evaluation.status == "passed", describe(evaluation)
        shown = repr([result.evidence for result in evaluation.results]) + describe(evaluation)
        assert "<redacted>" in shown
        assert "sk-test-1234" not in shown and "c2stdGVzdC0xMjM0" not in shown


def test_set_env_from_instead_of_envfrom_is_told_the_difference(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, CONFIG, "envfrom-deployment")
        student.run(
            "kubectl create deployment rag-app --image=python:3.12-slim --replicas=2 -- python -m http.server 8000"
        )
        student.run(
            "kubectl set env deployment/rag-app --from=configmap/rag-config && "
            "kubectl set env deployment/rag-app --from=secret/rag-secrets && "
            "kubectl rollout status deployment/rag-app --timeout=60s"
        )
        assert settled_failure(student, opened) == [
            "Deployment rag-app does not load the ConfigMap rag-config with envFrom (its envFrom ConfigMaps: "
            "nothing). Add envFrom: - configMapRef: {name: rag-config} to the container. "
            "(kubectl set env --from writes env entries, one per key, not envFrom.)"
        ]


def test_a_secret_loaded_as_a_configmap_is_told_to_use_secretref(tmp_path):
    with provisioned_student(tmp_path) as student:
        opened = play_until(student, CONFIG, "envfrom-deployment")
        manifest = next(task for task in lesson(CONFIG).tasks if task.slug == "envfrom-deployment").spec["solution"]
        wrong = manifest["commands"].replace("- secretRef:", "- configMapRef:")
        assert wrong != manifest["commands"]
        student.run(wrong)
        assert settled_failure(student, opened) == [
            "Deployment rag-app does not load the Secret rag-secrets with envFrom (its envFrom Secrets: []). "
            "A Secret is loaded with secretRef, not configMapRef: add - secretRef: {name: rag-secrets}."
        ]
