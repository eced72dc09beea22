"""The check engine against the real local cluster: objects checks pass, fail with the
near-miss message, read each kind once, redact Secrets, grade typed answers, and let an
unreachable cluster through to the caller."""

import datetime
import json

import pytest

from labplatform.cluster.errors import ClusterUnavailable
from lessons.grading import reads
from lessons.grading.engine import checks_evaluate
from tests.kube import deployment_rolled_out, pods_ready, wait_for, write_token_kubeconfig

pytestmark = pytest.mark.usefixtures("gateway_as_admin")
OPENED = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def deployment(name: str, *, replicas: int = 2, image: str = "nginx:1.27", annotations=None) -> dict:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def evaluate(namespace: str, checks: list[dict], *, answers=(), setup_data=None):
    return checks_evaluate(
        checks=checks,
        cluster="local",
        namespace=namespace,
        setup_data=setup_data or {},
        answers=list(answers),
        opened_at=OPENED,
    )


REPLICAS_3 = {
    "title": "Deployment web has 3 replicas",
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "assert": [{"path": "spec.replicas", "op": "==", "value": 3}],
}


@pytest.fixture
def web(apps, core, namespace) -> str:
    apps.create_namespaced_deployment(namespace, deployment("web", replicas=2))
    wait_for("2 Ready pods of web", lambda: pods_ready(core, namespace, "app=web", 2))
    wait_for("web's status to report it", lambda: deployment_rolled_out(apps, namespace, "web", 2))
    return "web"


def test_a_missing_object_fails_naming_it_and_the_namespace(namespace):
    evaluation = evaluate(namespace, [REPLICAS_3])
    assert evaluation.status == "failed"
    assert evaluation.results[0].message == f"Deployment web: not found in namespace {namespace}"


def test_a_near_miss_fails_with_the_expected_and_found_values(namespace, web):
    evaluation = evaluate(namespace, [REPLICAS_3])
    result = evaluation.results[0]
    assert (evaluation.status, result.title, result.status) == ("failed", "Deployment web has 3 replicas", "failed")
    assert result.message == "Deployment web: expected spec.replicas == 3, found 2"
    assert result.evidence == {"Deployment web": {"spec.replicas": 2}}


def test_it_passes_once_the_student_fixed_it(apps, namespace, web):
    apps.patch_namespaced_deployment_scale(web, namespace, {"spec": {"replicas": 3}})
    evaluation = evaluate(namespace, [REPLICAS_3])
    assert evaluation.status == "passed"
    assert evaluation.as_dict()["results"] == [
        {
            "title": "Deployment web has 3 replicas",
            "status": "passed",
            "message": "",
            "evidence": {"Deployment web": {"spec.replicas": 3}},
        }
    ]


def test_checks_read_what_the_student_declared_in_the_pod_template(namespace, web):
    check = {
        "target": {"apiVersion": "apps/v1", "kind": "Deployment", "selector": {"app": "web"}},
        "assert": [
            {"path": "spec.template.spec.containers[0].image", "op": "matches", "value": "^nginx:1\\.2[0-9]$"},
            {"path": "spec.template.spec.containers[0].resources.limits", "op": "absent"},
        ],
    }
    assert evaluate(namespace, [check]).status == "passed"


def test_match_modes_count_the_objects_that_pass(namespace, web):
    pods = {"apiVersion": "v1", "kind": "Pod", "selector": {"app": "web"}}
    ready = [{"path": "status.conditions[?type=='Ready'].status | [0]", "op": "==", "value": "True"}]
    named_first = [{"path": "metadata.name", "op": "==", "value": "not-this-one"}]
    evaluation = evaluate(
        namespace,
        [
            {"target": pods, "assert": ready},
            {"target": pods, "match": "any", "assert": named_first},
            {"target": pods, "match": "count", "count": {"op": ">=", "value": 3}, "assert": ready},
            {"target": pods, "match": "count", "count": {"op": "==", "value": 2}},
        ],
    )
    assert [r.status for r in evaluation.results] == ["passed", "failed", "failed", "passed"]
    assert evaluation.results[1].message.startswith("none of the 2 Pod objects with labels app=web passes: Pod web-")
    assert evaluation.results[2].message == (
        "expected >= 3 Pod objects with labels app=web passing every assertion, found 2"
    )
    assert evaluation.results[3].evidence["count"] == 2


def test_each_kind_is_read_once_per_evaluation(monkeypatch, namespace, web):
    calls = []
    real = reads.objects_list

    def counting(**kwargs):
        calls.append((kwargs["kind"], kwargs["namespace"]))
        return real(**kwargs)

    monkeypatch.setattr(reads, "objects_list", counting)
    replicas_2 = {**REPLICAS_3, "assert": [{"path": "spec.replicas", "op": "==", "value": 2}]}
    pods = {"target": {"kind": "Pod", "selector": {"app": "web"}}, "wait": "rollout"}
    evaluation = evaluate(namespace, [replicas_2, {**replicas_2, "wait": "rollout"}, pods, pods])
    assert evaluation.status == "passed"
    # Events are read too when a ReplicaSet's status still lags its pods (to find a refusal).
    assert len(calls) == len(set(calls)), calls
    assert {("Deployment", namespace), ("Pod", namespace)} <= set(calls)


def test_values_read_from_secrets_are_redacted(core, namespace):
    core.create_namespaced_secret(namespace, {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
    check = {
        "target": {"kind": "Secret", "name": "db"},
        "assert": [
            {"path": "data.password", "op": "==", "value": "c2VjcmV0"},
            {"path": "data.username", "op": "exists"},
        ],
    }
    evaluation = evaluate(namespace, [check])
    result = evaluation.results[0]
    assert result.message == 'Secret db: expected data.password == "c2VjcmV0", found <redacted>'
    assert result.evidence == {"Secret db": {"data.password": "<redacted>", "data.username": None}}
    assert "aHVudGVyMg" not in json.dumps(evaluation.as_dict())


def test_answers_are_compared_with_a_literal_a_template_or_the_cluster(kube, core, namespace):
    node_count = len(core.list_node().items)
    checks = [
        {"kind": "answer", "prompt": "Which port?", "expected": "8080"},
        {"kind": "answer", "prompt": "The code?", "expected": "{{ values.code }}", "normalize": "lower"},
        {
            "kind": "answer",
            "prompt": "How many nodes?",
            "expected_from": {"target": {"kind": "Node"}, "select": "length(@)"},
            "normalize": "number",
        },
    ]
    setup_data = {"values": {"code": "amber-otter"}}
    right = evaluate(namespace, checks, answers=[" 8080 ", "Amber-Otter", f"{node_count}.0"], setup_data=setup_data)
    assert [r.status for r in right.results] == ["passed", "passed", "passed"]
    assert right.results[2].title == "How many nodes?"
    wrong = evaluate(namespace, checks, answers=["80", "amber-falcon", "many"], setup_data=setup_data)
    assert [r.message for r in wrong.results] == [
        "'80' is not the right answer",
        "'amber-falcon' is not the right answer",
        "'many' is not a number",
    ]
    assert "amber-otter" not in json.dumps(wrong.as_dict())
    unanswered = evaluate(namespace, checks, answers=["8080"], setup_data=setup_data)
    assert [r.status for r in unanswered.results] == ["passed", "failed", "failed"]
    assert unanswered.results[1].message == "no answer given"


def test_an_unreachable_cluster_reaches_the_caller(settings, tmp_path, namespace):
    settings.LABPLATFORM_KUBECONFIG = write_token_kubeconfig(tmp_path / "kubeconfig", server="https://127.0.0.1:9")
    with pytest.raises(ClusterUnavailable):
        evaluate(namespace, [REPLICAS_3])
