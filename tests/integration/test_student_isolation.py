"""What a student may do, proven with the student's own ServiceAccount token (minted the
way workstations get theirs) against the real API server: real requests where they
matter, SelfSubjectAccessReview for breadth, and the kubectl commands the lessons use."""

import json
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
)
from tests.cohorts import local_student_spec, workstation_ready_within
from tests.kube import kubectl, pods_ready, wait_for

pytestmark = pytest.mark.local_cluster
WORKSTATIONS = "labplatform-workstations"
DOMAIN = "labs.example.test"


def spec_for(student: str) -> StudentEnvironmentSpec:
    return local_student_spec(student, cohort="isolation")


@pytest.fixture(scope="module")
def students(kube):
    """Two students provisioned as the platform does it (the platform's own identity)."""
    specs = [spec_for("s" + uuid.uuid4().hex[:9]) for _ in range(2)]
    for spec in specs:
        student_environment_apply(spec)
        workstation_ready_within(spec)
    yield specs
    for spec in specs:
        student_environment_delete(spec)


@pytest.fixture(scope="module")
def me(students) -> StudentEnvironmentSpec:
    return students[0]


@pytest.fixture(scope="module")
def other(students) -> StudentEnvironmentSpec:
    return students[1]


@pytest.fixture(scope="module")
def my_kubeconfig(me, tmp_path_factory) -> Path:
    """Only server, CA and the student's token: a client certificate would silently win."""
    config = student_kubeconfig(me, student_token(me, seconds=3600))
    assert "client-certificate-data" not in json.dumps(config)
    path = tmp_path_factory.mktemp("student") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def as_me(my_kubeconfig) -> client.ApiClient:
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=str(my_kubeconfig))


def can_i(api: client.ApiClient, *, verb: str, resource: str, namespace: str | None, group: str = "",
          subresource: str = "") -> bool:  # fmt: skip
    attributes = {"verb": verb, "resource": resource, "group": group, "subresource": subresource}
    if namespace:
        attributes["namespace"] = namespace
    review = client.AuthorizationV1Api(api).create_self_subject_access_review(
        {"spec": {"resourceAttributes": attributes}}
    )
    return review.status.allowed


LESSON_RIGHTS = [
    (verb, group, resource, "")
    for group, resource in [
        ("", "pods"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("", "services"),
        ("", "configmaps"),
        ("", "secrets"),
        ("networking.k8s.io", "ingresses"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("batch", "jobs"),
    ]
    for verb in ["get", "list", "watch", "create", "update", "patch", "delete"]
] + [
    ("create", "", "pods", "exec"),
    ("get", "", "pods", "log"),
    ("create", "", "pods", "portforward"),
    ("patch", "apps", "deployments", "scale"),
    ("list", "", "endpoints", ""),
    ("list", "discovery.k8s.io", "endpointslices", ""),
    ("list", "", "events", ""),
    # `kubectl top pods` (metrics-server)
    ("get", "metrics.k8s.io", "pods", ""),
    ("list", "metrics.k8s.io", "pods", ""),
]


@pytest.mark.parametrize(("verb", "group", "resource", "subresource"), LESSON_RIGHTS)
def test_a_student_may_do_what_the_lessons_need_in_their_own_namespace(as_me, me, verb, group, resource, subresource):
    assert can_i(as_me, verb=verb, group=group, resource=resource, subresource=subresource, namespace=me.namespace)


@pytest.mark.parametrize(("verb", "group", "resource", "subresource"), LESSON_RIGHTS)
def test_a_student_may_do_none_of_it_in_another_students_namespace(as_me, other, verb, group, resource, subresource):
    assert not can_i(
        as_me, verb=verb, group=group, resource=resource, subresource=subresource, namespace=other.namespace
    )


DENIED = [
    ("create a Role", "create", "rbac.authorization.k8s.io", "roles", "", "own"),
    ("create a RoleBinding", "create", "rbac.authorization.k8s.io", "rolebindings", "", "own"),
    ("escalate", "escalate", "rbac.authorization.k8s.io", "roles", "", "own"),
    ("bind", "bind", "rbac.authorization.k8s.io", "clusterroles", "", None),
    ("impersonate", "impersonate", "", "serviceaccounts", "", "own"),
    ("mint a token", "create", "", "serviceaccounts", "token", "own"),
    ("patch their own Namespace", "patch", "", "namespaces", "", None),
    ("delete their own Namespace", "delete", "", "namespaces", "", None),
    ("list namespaces", "list", "", "namespaces", "", None),
    ("create a namespace", "create", "", "namespaces", "", None),
    ("create a ClusterRoleBinding", "create", "rbac.authorization.k8s.io", "clusterrolebindings", "", None),
    ("patch a node", "patch", "", "nodes", "", None),
    ("proxy to a node", "get", "", "nodes", "proxy", None),
    ("proxy to a pod", "get", "", "pods", "proxy", "own"),
    ("proxy to a service", "get", "", "services", "proxy", "own"),
    ("create endpoints", "create", "", "endpoints", "", "own"),
    ("update endpoints", "update", "", "endpoints", "", "own"),
    ("create an EndpointSlice", "create", "discovery.k8s.io", "endpointslices", "", "own"),
    ("read secrets in another namespace", "get", "", "secrets", "", "other"),
    ("read secrets in kube-system", "list", "", "secrets", "", "kube-system"),
    ("touch KWOK's exec rules", "list", "kwok.x-k8s.io", "clusterexecs", "", None),
    ("create a KWOK exec rule", "create", "kwok.x-k8s.io", "clusterexecs", "", None),
    ("see workstations", "list", "", "pods", "", "workstations"),
    ("exec into their own workstation", "create", "", "pods", "exec", "workstations"),
    ("read workstation kubeconfigs", "get", "", "secrets", "", "workstations"),
    ("read pod metrics in every namespace", "list", "metrics.k8s.io", "pods", "", None),
    ("read node metrics", "list", "metrics.k8s.io", "nodes", "", None),
]


@pytest.mark.parametrize(
    ("what", "verb", "group", "resource", "subresource", "where"), DENIED, ids=[row[0] for row in DENIED]
)
def test_a_student_may_not(as_me, me, other, what, verb, group, resource, subresource, where):
    namespace = {"own": me.namespace, "other": other.namespace, "workstations": WORKSTATIONS}.get(where, where)
    assert not can_i(as_me, verb=verb, group=group, resource=resource, subresource=subresource, namespace=namespace)


def test_real_requests_into_another_namespace_are_forbidden(as_me, other):
    core = client.CoreV1Api(as_me)
    for attempt in [
        lambda: core.list_namespaced_pod(other.namespace),
        lambda: core.list_namespaced_secret(other.namespace),
        lambda: core.create_namespaced_config_map(other.namespace, {"metadata": {"name": "x"}}),
        lambda: core.list_namespaced_pod(WORKSTATIONS),
        lambda: core.list_namespace(),
        lambda: core.patch_namespace(other.namespace, {"metadata": {"labels": {"x": "y"}}}),
    ]:
        with pytest.raises(ApiException) as refused:
            attempt()
        assert refused.value.status == 403


def test_the_lessons_kubectl_commands_work_for_the_student(my_kubeconfig, me):
    for command in [
        ["version"],
        ["get", "nodes", "-o", "wide"],
        ["api-resources"],
        ["get", "pods"],
        ["auth", "can-i", "create", "deployments"],
    ]:
        result = kubectl(my_kubeconfig, *command)
        assert result.returncode == 0, f"kubectl {' '.join(command)}: {result.stderr}"
        assert "Forbidden" not in result.stderr


def test_a_student_deploys_nginx_in_their_own_namespace(my_kubeconfig, me, kube):
    result = kubectl(my_kubeconfig, "create", "deployment", "web", "--image=nginx", "--replicas=2")
    assert result.returncode == 0, result.stderr
    assert f"namespace/{me.namespace}" not in result.stdout
    wait_for("2 Ready pods", lambda: pods_ready(client.CoreV1Api(kube), me.namespace, "app=web", 2))
    listed = kubectl(my_kubeconfig, "get", "pods", "-l", "app=web", "-o", "name")
    assert len(listed.stdout.split()) == 2
    assert kubectl(my_kubeconfig, "get", "pods", "-n", "kube-system").returncode != 0


@pytest.mark.parametrize(
    ("what", "pod_spec"),
    [
        ("privileged", {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]}),
        (
            "hostPath",
            {
                "containers": [{"name": "c", "image": "busybox", "volumeMounts": [{"name": "h", "mountPath": "/h"}]}],
                "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
            },
        ),
        ("hostNetwork", {"hostNetwork": True, "containers": [{"name": "c", "image": "busybox"}]}),
        ("hostPID", {"hostPID": True, "containers": [{"name": "c", "image": "busybox"}]}),
    ],
)
def test_pod_security_baseline_refuses_dangerous_pods(as_me, me, what, pod_spec):
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_me).create_namespaced_pod(
            me.namespace, {"metadata": {"name": f"bad-{what.lower()}"}, "spec": pod_spec}
        )
    assert refused.value.status == 403
    assert "violates PodSecurity" in refused.value.body


def ingress(host: str, annotations: dict | None = None) -> dict:
    return {
        "metadata": {"name": "web", "annotations": annotations or {}},
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }


def test_an_ingress_may_use_only_the_students_own_subdomain(as_me, me, other):
    networking = client.NetworkingV1Api(as_me)
    for host in [f"{other.namespace}.{DOMAIN}", "example.com", f"evil{me.namespace}.{DOMAIN}"]:
        with pytest.raises(ApiException) as refused:
            networking.create_namespaced_ingress(me.namespace, ingress(host))
        assert refused.value.status in (403, 422), host
        assert host in refused.value.body
    created = networking.create_namespaced_ingress(me.namespace, ingress(f"api.{me.namespace}.{DOMAIN}"))
    assert created.spec.rules[0].host == f"api.{me.namespace}.{DOMAIN}"
    networking.delete_namespaced_ingress("web", me.namespace)


def test_an_ingress_with_a_snippet_annotation_is_refused(as_me, me):
    snippet = {"nginx.ingress.kubernetes.io/configuration-snippet": "return 200;"}
    with pytest.raises(ApiException) as refused:
        client.NetworkingV1Api(as_me).create_namespaced_ingress(
            me.namespace, ingress(f"{me.namespace}.{DOMAIN}", snippet)
        )
    assert "snippet" in refused.value.body


def test_a_pod_over_quota_is_refused_with_the_quotas_message(as_me, me):
    greedy = {
        "metadata": {"name": "greedy"},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}}}
            ]
        },
    }
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_me).create_namespaced_pod(me.namespace, greedy)
    assert refused.value.status == 403
    assert "exceeded quota: student-quota" in refused.value.body


def test_the_platform_cannot_read_kube_system_secrets():
    from labplatform.cluster.clients import sync_client

    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(sync_client()).list_namespaced_secret("kube-system")
    assert refused.value.status == 403


def test_a_student_sees_the_cpu_of_their_own_pods_only(my_kubeconfig, me, other, kube):
    """`kubectl top pods` in their own namespace shows the simulated usage; another
    student's namespace and the nodes are refused."""
    core = client.CoreV1Api(kube)
    result = kubectl(
        my_kubeconfig,
        "run",
        "busy",
        "--image=busybox",
        "--annotations=kwok.x-k8s.io/usage-cpu=200m",
        "--restart=Never",
    )
    assert result.returncode == 0, result.stderr
    wait_for("pod busy to be Ready", lambda: pods_ready(core, me.namespace, "run=busy", 1))

    def busy_cpu() -> str | None:
        # The first reading may average over the pod's first seconds; the next is the rate.
        shown = kubectl(my_kubeconfig, "top", "pods", "--no-headers")
        rows = [line.split() for line in shown.stdout.splitlines()] if shown.returncode == 0 else []
        cpu = next((row[1] for row in rows if row[0] == "busy"), None)
        return cpu if cpu in {"199m", "200m", "201m"} else None

    wait_for("kubectl top pods to show pod busy at 200m", busy_cpu, timeout=90, interval=2)

    refused = kubectl(my_kubeconfig, "top", "pods", "-n", other.namespace)
    assert refused.returncode != 0 and "forbidden" in refused.stderr.lower(), refused.stderr
    assert kubectl(my_kubeconfig, "top", "nodes").returncode != 0
