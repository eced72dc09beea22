"""The platform's manifests against the real local API server (Kubernetes 1.36).

k8s/platform is applied for real; every builder's output then passes a server-side dry run
made as the platform's own ServiceAccount, which proves both that the manifests are valid
and that the platform holds the rights provisioning needs. The rights it must not hold, and
the admission policies, are checked with impersonation.
"""

import base64
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from labplatform.cluster import manifests
from tests.kube import KUBECTL, cluster_state_dir

pytestmark = pytest.mark.local_cluster

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_DIR = ROOT / "k8s" / "platform"
LOCAL_OVERLAY = PLATFORM_DIR / "overlays" / "local"
PLATFORM = "system:serviceaccount:labplatform-system:labplatform"
WORKSTATIONS = "labplatform-workstations"
COHORT = "test-cohort"


def admin_kubeconfig() -> Path:
    return cluster_state_dir() / "kubeconfig"


def kubectl(*args: str, stdin: str | None = None, kubeconfig: Path | None = None) -> subprocess.CompletedProcess:
    """Runs kubectl as the cluster's admin unless `--as` is among `args` or another
    kubeconfig is given. Never raises on a non-zero exit: tests assert on refusals."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    command = [str(KUBECTL), f"--kubeconfig={kubeconfig or admin_kubeconfig()}", "--request-timeout=30s", *args]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{' '.join(result.args[1:])} failed:\n{result.stderr}"
    return result


def apply(manifest: dict, *flags: str) -> subprocess.CompletedProcess:
    """Server-side apply under the platform's field manager, as provisioning does."""
    return kubectl(
        "apply",
        "--server-side",
        f"--field-manager={manifests.FIELD_MANAGER}",
        *flags,
        "-f",
        "-",
        stdin=json.dumps(manifest),
    )


def dry_run_as_platform(manifest: dict) -> subprocess.CompletedProcess:
    return apply(manifest, "--dry-run=server", f"--as={PLATFORM}", "-o", "json")


def dry_run_as_admin(manifest: dict) -> subprocess.CompletedProcess:
    return apply(manifest, "--dry-run=server")


def can_i(*args: str) -> str:
    return kubectl("auth", "can-i", *args, f"--as={PLATFORM}").stdout.strip()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def platform_applied():
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing; run `make cluster-build`")
    # The repository's files are the source of truth for the platform's identity, so they
    # win any conflict with an earlier apply.
    ok(kubectl("apply", "--server-side", "--force-conflicts", "-k", str(LOCAL_OVERLAY)))


def delete_namespace(name: str) -> None:
    result = kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")
    assert result.returncode == 0, result.stderr


@pytest.fixture
def student() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def managed_namespace(student):
    """A real namespace built by the namespace builder, as provisioning makes it."""
    name = unique("test-manifests")
    manifest = manifests.namespace(name=name, cohort=COHORT, student=student, ingress_host=f"{name}.labs.example.com")
    ok(apply(manifest))
    yield name
    delete_namespace(name)


@pytest.fixture
def unmanaged_namespace():
    name = unique("test-manifests-unlabelled")
    ok(kubectl("create", "namespace", name))
    yield name
    delete_namespace(name)


def test_the_local_overlay_passes_a_server_dry_run():
    ok(kubectl("apply", "-k", str(LOCAL_OVERLAY), "--dry-run=server"))
    ok(kubectl("apply", "-k", str(PLATFORM_DIR), "--dry-run=server"))


def test_kwok_rights_appear_only_in_the_local_overlay():
    base = ok(kubectl("kustomize", str(PLATFORM_DIR))).stdout
    local = ok(kubectl("kustomize", str(LOCAL_OVERLAY))).stdout
    assert "kwok.x-k8s.io" not in base
    assert "kwok.x-k8s.io" in local


def test_the_platform_can_create_namespaces_and_bind_the_student_role():
    assert can_i("create", "namespaces") == "yes"
    assert can_i("bind", "clusterroles/labplatform-student") == "yes"
    assert can_i("create", "clusterexecs.kwok.x-k8s.io") == "no", "KWOK would run an exec rule's commands on this host"
    assert can_i("create", "pods", "-n", WORKSTATIONS) == "yes"


def test_the_platform_cannot_read_secrets_escalate_or_impersonate():
    assert can_i("get", "secrets", "-n", "kube-system") == "no"
    assert can_i("list", "secrets", "--all-namespaces") == "no"
    assert can_i("escalate", "roles") == "no"
    assert can_i("escalate", "clusterroles") == "no"
    assert can_i("bind", "clusterroles/cluster-admin") == "no"
    assert can_i("impersonate", "users") == "no"
    assert can_i("update", "namespaces", "--subresource=finalize") == "no"
    assert can_i("create", "pods", "-n", "kube-system") == "no"


def test_the_student_role_grants_no_rbac_proxies_endpoint_writes_or_tokens():
    rules = json.loads(ok(kubectl("get", "clusterrole", "labplatform-student", "-o", "json")).stdout)["rules"]
    granted = {
        (resource, verb)
        for rule in rules
        for resource in rule["resources"]
        for verb in rule["verbs"]
        if not rule.get("resourceNames")
    }
    forbidden = {"roles", "rolebindings", "namespaces", "pods/proxy", "services/proxy", "serviceaccounts/token"}
    assert not {resource for resource, _ in granted} & forbidden
    assert not {verb for _, verb in granted} & {"escalate", "bind", "impersonate", "*"}
    assert {verb for resource, verb in granted if resource in {"endpoints", "endpointslices"}} == {
        "get",
        "list",
        "watch",
    }


def test_the_student_acts_in_their_own_namespace_only(managed_namespace, student):
    binding = manifests.student_role_binding(namespace=managed_namespace, cohort=COHORT, student=student)
    ok(apply(binding))
    as_student = f"--as=system:serviceaccount:{managed_namespace}:student"

    def student_can(*args: str) -> str:
        return kubectl("auth", "can-i", *args, "-n", managed_namespace, as_student).stdout.strip()

    expected = {
        ("create", "deployments.apps"): "yes",
        ("patch", "deployments.apps", "--subresource=scale"): "yes",
        ("create", "pods", "--subresource=exec"): "yes",
        ("get", "pods", "--subresource=log"): "yes",
        ("create", "secrets"): "yes",
        ("create", "ingresses.networking.k8s.io"): "yes",
        ("create", "horizontalpodautoscalers.autoscaling"): "yes",
        ("create", "jobs.batch"): "yes",
        ("list", "endpointslices.discovery.k8s.io"): "yes",
        ("create", "endpoints"): "no",
        ("update", "endpointslices.discovery.k8s.io"): "no",
        ("get", "pods", "--subresource=proxy"): "no",
        ("get", "services", "--subresource=proxy"): "no",
        ("create", "serviceaccounts", "--subresource=token"): "no",
        ("create", "rolebindings.rbac.authorization.k8s.io"): "no",
        ("patch", "namespaces"): "no",
        ("patch", "resourcequotas"): "no",
        ("delete", "networkpolicies.networking.k8s.io"): "no",
    }
    assert {args: student_can(*args) for args in expected} == expected
    assert kubectl("auth", "can-i", "list", "pods", "-n", "default", as_student).stdout.strip() == "no"


def test_the_platform_cannot_delete_a_namespace_it_does_not_manage(unmanaged_namespace):
    refused = kubectl("delete", "namespace", unmanaged_namespace, f"--as={PLATFORM}", "--wait=false")
    assert refused.returncode != 0
    assert "ValidatingAdmissionPolicy 'labplatform-managed-namespaces'" in refused.stderr
    assert f"namespace {unmanaged_namespace} is not labelled app.kubernetes.io/managed-by=labplatform" in refused.stderr
    phase = ok(kubectl("get", "namespace", unmanaged_namespace, "-o", "jsonpath={.status.phase}")).stdout
    assert phase == "Active"


def test_the_platform_cannot_adopt_a_namespace_by_labelling_it(unmanaged_namespace):
    refused = kubectl(
        "label", "namespace", unmanaged_namespace, "app.kubernetes.io/managed-by=labplatform", f"--as={PLATFORM}"
    )
    assert refused.returncode != 0
    assert f"namespace {unmanaged_namespace} is not labelled" in refused.stderr
    assert "may not update it" in refused.stderr


def test_the_platform_cannot_delete_its_own_namespaces():
    for name in (manifests.PLATFORM_NAMESPACE, WORKSTATIONS):
        refused = kubectl("delete", "namespace", name, f"--as={PLATFORM}", "--dry-run=server")
        assert refused.returncode != 0
        assert "labplatform-managed-namespaces" in refused.stderr


def test_the_platform_cannot_bind_its_roles_outside_the_namespaces_it_manages():
    grader_in_kube_system = manifests.grader_role_binding(namespace="kube-system", cohort=COHORT, student="x1")
    refused = dry_run_as_platform(grader_in_kube_system)
    assert refused.returncode != 0
    assert "namespace kube-system is not labelled app.kubernetes.io/managed-by=labplatform" in refused.stderr

    grader_everywhere = manifests.node_reader_binding(namespace="kube-system", cohort=COHORT, student="x1")
    grader_everywhere["roleRef"]["name"] = manifests.GRADER_CLUSTER_ROLE
    refused = dry_run_as_platform(grader_everywhere)
    assert refused.returncode != 0
    assert "the platform may create only labplatform-nodes-* bindings to labplatform-node-reader" in refused.stderr


def student_objects(namespace: str, student: str) -> list[dict]:
    common = {"namespace": namespace, "cohort": COHORT, "student": student}
    return [
        manifests.namespace(name=namespace, cohort=COHORT, student=student, ingress_host=f"{namespace}.example.com"),
        manifests.service_account(**common),
        manifests.student_role_binding(**common),
        manifests.grader_role_binding(**common),
        manifests.token_minter_role_binding(**common),
        manifests.node_reader_binding(**common),
        # For a student's own namespace name (lab-<id>): the platform may route only those.
        manifests.student_flow_schema(**{**common, "namespace": manifests.student_namespace_name(student)}),
        manifests.student_writes_flow_schema(**{**common, "namespace": manifests.student_namespace_name(student)}),
        manifests.resource_quota(**common, hard={"pods": "30", "requests.cpu": "4", "count/deployments.apps": "10"}),
        manifests.limit_range(
            **common,
            default_request={"cpu": "50m", "memory": "64Mi"},
            default_limit={"cpu": "500m", "memory": "256Mi"},
        ),
        *manifests.network_policies(**common),
        manifests.workstation_kubeconfig_secret(
            workstation_namespace=WORKSTATIONS,
            student_namespace=namespace,
            cohort=COHORT,
            student=student,
            kubeconfig_yaml="apiVersion: v1\nkind: Config\n",
        ),
        manifests.workstation_pod(
            workstation_namespace=WORKSTATIONS,
            student_namespace=namespace,
            cohort=COHORT,
            student=student,
            runtime=manifests.WorkstationRuntime(
                image="registry.example.com/labplatform/workstation:test", node_pool="labplatform.io/workstations"
            ),
        ),
    ]


def test_every_builders_output_passes_a_server_dry_run_as_the_platform(managed_namespace, student):
    for manifest in student_objects(managed_namespace, student):
        what = f"{manifest['kind']} {manifest['metadata']['name']}"
        result = dry_run_as_platform(manifest)
        assert result.returncode == 0, f"{what}: {result.stderr}"
        # A Warning would be a Pod Security or deprecation warning about our own manifest.
        assert "Warning" not in result.stderr, f"{what}: {result.stderr}"
        applied = json.loads(result.stdout)
        assert applied["metadata"]["labels"].items() >= manifest["metadata"]["labels"].items(), what


def test_a_new_student_namespace_passes_a_server_dry_run_as_the_platform(student):
    name = unique("test-manifests")
    manifest = manifests.namespace(name=name, cohort=COHORT, student=student, ingress_host=f"{name}.example.com")
    result = dry_run_as_platform(manifest)
    assert result.returncode == 0, result.stderr


def test_the_workstation_kubeconfig_authenticates_as_the_student_only(managed_namespace, student, tmp_path):
    common = {"namespace": managed_namespace, "cohort": COHORT, "student": student}
    for manifest in (
        manifests.service_account(**common),
        manifests.student_role_binding(**common),
        manifests.token_minter_role_binding(**common),
    ):
        ok(apply(manifest, f"--as={PLATFORM}"))
    token = ok(
        kubectl("create", "token", "student", "-n", managed_namespace, "--duration=10m", f"--as={PLATFORM}")
    ).stdout.strip()
    refused = kubectl("create", "token", "default", "-n", managed_namespace, f"--as={PLATFORM}")
    assert refused.returncode != 0, "the platform mints tokens for the student's ServiceAccount only"

    admin = yaml.safe_load(admin_kubeconfig().read_text())["clusters"][0]["cluster"]
    ca_data = (
        admin.get("certificate-authority-data")
        or base64.b64encode(Path(admin["certificate-authority"]).read_bytes()).decode()
    )
    config = manifests.workstation_kubeconfig(
        server=admin["server"], ca_data=ca_data, token=token, namespace=managed_namespace
    )
    workstation = tmp_path / "config"
    workstation.write_text(yaml.safe_dump(config))

    whoami = ok(kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}", kubeconfig=workstation))
    assert whoami.stdout == f"system:serviceaccount:{managed_namespace}:student"
    as_student = [("create", "deployments", "yes"), ("delete", "pods", "yes"), ("create", "rolebindings", "no")]
    for verb, resource, expected in as_student:
        answer = kubectl("auth", "can-i", verb, resource, kubeconfig=workstation).stdout.strip()
        assert answer == expected, f"{verb} {resource}"
    other = kubectl("auth", "can-i", "list", "pods", "-n", "kube-system", kubeconfig=workstation).stdout.strip()
    assert other == "no"


def ingress(
    namespace: str, *, hosts: list[str | None], tls_hosts: list[str] | None = None, annotations: dict | None = None
) -> dict:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    rules = []
    for host in hosts:
        rule = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
        if host is not None:
            rule["host"] = host
        rules.append(rule)
    spec: dict = {"rules": rules}
    if tls_hosts:
        spec["tls"] = [{"hosts": list(tls_hosts), "secretName": "web-tls"}]
    metadata = {"name": "web", "namespace": namespace, "annotations": annotations or {}}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": metadata, "spec": spec}


def test_an_ingress_for_the_students_own_host_or_a_name_under_it_is_admitted(managed_namespace):
    own = f"{managed_namespace}.labs.example.com"
    manifest = ingress(managed_namespace, hosts=[own, f"api.{own}"], tls_hosts=[own, f"*.{own}"])
    ok(dry_run_as_admin(manifest))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hosts": ["evil.example.com"]}, "host evil.example.com is outside {own}"),
        ({"hosts": ["x{own}"]}, "host x{own} is outside {own}"),
        ({"hosts": [None]}, "every rule needs a host"),
        ({"tls_hosts": ["evil.example.com"]}, "TLS host evil.example.com is outside {own}"),
        (
            {"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "return 200;"}},
            "annotation nginx.ingress.kubernetes.io/server-snippet is not allowed",
        ),
    ],
)
def test_an_ingress_outside_the_students_host_is_refused(managed_namespace, change, message):
    own = f"{managed_namespace}.labs.example.com"
    arguments = {"hosts": [own], **change}
    arguments["hosts"] = [h.format(own=own) if h else h for h in arguments["hosts"]]
    refused = dry_run_as_admin(ingress(managed_namespace, **arguments))
    assert refused.returncode != 0
    assert "ValidatingAdmissionPolicy 'labplatform-student-ingress'" in refused.stderr
    assert message.format(own=own) in refused.stderr


def test_an_ingress_with_a_default_backend_is_refused(managed_namespace):
    manifest = ingress(managed_namespace, hosts=[f"{managed_namespace}.labs.example.com"])
    manifest["spec"]["defaultBackend"] = {"service": {"name": "web", "port": {"number": 80}}}
    refused = dry_run_as_admin(manifest)
    assert refused.returncode != 0
    assert "a default backend answers for every host" in refused.stderr


def test_ingresses_outside_student_namespaces_are_not_restricted(unmanaged_namespace):
    ok(dry_run_as_admin(ingress(unmanaged_namespace, hosts=["anything.example.com", None])))


@pytest.mark.parametrize("kind", ["ClusterExec", "Exec"])
def test_the_platform_may_write_no_kwok_exec_rule(managed_namespace, kind):
    """KWOK runs an exec rule's commands on this host; students' shells are containers."""
    rule = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "anything", **({"namespace": managed_namespace} if kind == "Exec" else {})},
        "spec": {
            "selector": {"matchNamespaces": [managed_namespace]},
            "execs": [{"local": {"securityContext": {"runAsUser": 65534, "runAsGroup": 65534}}}],
        },
    }
    if kind == "Exec":
        rule["spec"] = {"execs": rule["spec"]["execs"]}
    refused = dry_run_as_platform(rule)
    assert refused.returncode != 0
    assert "Forbidden" in refused.stderr or "forbidden" in refused.stderr, refused.stderr


def kwok_logs(namespace: str, logs_file: str) -> dict:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": "logger", "namespace": namespace},
        "spec": {"logs": [{"containers": ["logger"], "logsFile": logs_file}]},
    }


def test_the_platform_may_name_a_pod_log_file_only_under_the_namespaces_own_folder(managed_namespace):
    ok(dry_run_as_platform(kwok_logs(managed_namespace, f"/state/pod-logs/{managed_namespace}/logger.log")))
    for logs_file in ["/etc/shadow", f"/state/pod-logs/{managed_namespace}/../other/logger.log"]:
        refused = dry_run_as_platform(kwok_logs(managed_namespace, logs_file))
        assert refused.returncode != 0
        assert "ValidatingAdmissionPolicy 'labplatform-kwok-logs'" in refused.stderr
        assert f"naming files under pod-logs/{managed_namespace}/" in refused.stderr


def test_the_platform_may_not_write_pod_logs_outside_student_namespaces(unmanaged_namespace):
    refused = dry_run_as_platform(kwok_logs(unmanaged_namespace, f"/state/pod-logs/{unmanaged_namespace}/x.log"))
    assert refused.returncode != 0
    assert "only in a managed namespace" in refused.stderr
