"""Threat: a student turns their own token into more rights. Every attempt is a real
request with the student's own ServiceAccount token (as their workstation's kubeconfig
holds it) against the real API server, and each is refused there, server-side: by RBAC,
by Pod Security admission, or by the platform's ValidatingAdmissionPolicies
(k8s/platform/base/admission.yaml). After the attempts, the platform's objects in the
student's namespace are read back, as cluster-admin, unchanged.

Not repeated here (they stay where they are, see tests/security/README.md):
SelfSubjectAccessReview breadth and the four classic dangerous pods (privileged,
hostPath, hostNetwork, hostPID) in tests/integration/test_student_isolation.py; pods
steered onto the workstations' node (nodeName, tolerations, selectors, affinity) in
tests/integration/test_node_admission.py."""

import pytest
from kubernetes import client

from tests.kube import wait_for
from tests.security.tokens import (
    PLATFORM_NAMESPACE,
    WORKSTATIONS,
    answer_of,
    api_client,
    kubeconfig_file,
    remove,
    two_students,
)

pytestmark = pytest.mark.local_cluster
RBAC = "/apis/rbac.authorization.k8s.io/v1"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


@pytest.fixture(scope="module")
def pair(kube, tmp_path_factory):
    """(attacker, other student, the attacker's client)."""
    attacker, other = two_students("escalation")
    config = kubeconfig_file(attacker, tmp_path_factory.mktemp("attacker"))
    yield attacker, other, api_client(config)
    remove([attacker, other])


def platform_objects(kube, namespace: str) -> dict:
    """What the platform made in the student's namespace, and the namespace's labels."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    networking = client.NetworkingV1Api(kube)
    return {
        "namespace": core.read_namespace(namespace).metadata.labels,
        "annotations": core.read_namespace(namespace).metadata.annotations,
        "rolebindings": {
            b.metadata.name: (b.role_ref.name, [(s.kind, s.name, s.namespace) for s in b.subjects or []])
            for b in rbac.list_namespaced_role_binding(namespace).items
        },
        "roles": [r.metadata.name for r in rbac.list_namespaced_role(namespace).items],
        "policies": {
            p.metadata.name: p.metadata.resource_version
            for p in networking.list_namespaced_network_policy(namespace).items
        },
        "quotas": {q.metadata.name: q.spec.hard for q in core.list_namespaced_resource_quota(namespace).items},
        "limits": [r.metadata.name for r in core.list_namespaced_limit_range(namespace).items],
        "serviceaccounts": {
            s.metadata.name: s.metadata.resource_version for s in core.list_namespaced_service_account(namespace).items
        },
    }


def refused(api, method: str, path: str, *, words: str = '" cannot ', **kwargs) -> str:
    """The request is refused (403) with these words (RBAC's by default); returns them."""
    status, said = answer_of(api, method, path, **kwargs)
    assert status == 403 and words in said, f"{method} {path}: {status} {said[:400]}"
    return said


def binding(name: str, role_kind: str, role: str, subject: dict) -> dict:
    return {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [subject],
    }


def test_rbac_objects_granting_more_are_refused(kube, pair):
    attacker, other, api = pair
    ns = attacker.namespace
    me = {"kind": "ServiceAccount", "name": "student", "namespace": ns}
    before = platform_objects(kube, ns)
    everything = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    refused(api, "POST", f"{RBAC}/namespaces/{ns}/roles", body={"metadata": {"name": "all"}, "rules": [everything]})
    for name, kind, role in [("admin", "ClusterRole", "cluster-admin"), ("edit", "ClusterRole", "edit"),
                             ("platform", "ClusterRole", "labplatform-platform"), ("own", "Role", "all")]:  # fmt: skip
        refused(api, "POST", f"{RBAC}/namespaces/{ns}/rolebindings", body=binding(name, kind, role, me))
    everyone = {"kind": "Group", "name": "system:serviceaccounts", "apiGroup": "rbac.authorization.k8s.io"}
    refused(api, "POST", f"{RBAC}/namespaces/{ns}/rolebindings", body=binding("all", "ClusterRole", "admin", everyone))
    # Bind themselves into the other student's namespace, or cluster-wide.
    refused(
        api, "POST", f"{RBAC}/namespaces/{other.namespace}/rolebindings",
        body=binding("in", "ClusterRole", "labplatform-student", me),
    )  # fmt: skip
    refused(api, "POST", f"{RBAC}/clusterroles", body={"metadata": {"name": "mine"}, "rules": [everything]})
    refused(api, "POST", f"{RBAC}/clusterrolebindings", body=binding("mine", "ClusterRole", "cluster-admin", me))
    # Widen the platform's own: the student's binding, the student role.
    refused(
        api, "PATCH", f"{RBAC}/namespaces/{ns}/rolebindings/labplatform-student",
        body={"roleRef": {"name": "cluster-admin"}},
    )  # fmt: skip
    refused(api, "DELETE", f"{RBAC}/namespaces/{ns}/rolebindings/labplatform-grader")
    refused(api, "PATCH", f"{RBAC}/clusterroles/labplatform-student", body={"rules": [everything]})
    assert platform_objects(kube, ns) == before


IMPERSONATIONS = [
    {"Impersonate-User": "system:admin"},
    {"Impersonate-User": "kubernetes-admin", "Impersonate-Group": "system:masters"},
    {"Impersonate-User": "system:serviceaccount:labplatform-system:labplatform"},
    {"Impersonate-User": "system:kube-controller-manager"},
    {"Impersonate-Uid": "0", "Impersonate-User": "system:anonymous"},
]


@pytest.mark.parametrize("headers", IMPERSONATIONS, ids=[h["Impersonate-User"] for h in IMPERSONATIONS])
def test_impersonation_is_refused(pair, headers):
    _attacker, _other, api = pair
    said = refused(api, "GET", "/api/v1/namespaces/kube-system/secrets", headers=headers)
    assert "impersonate" in said


def test_impersonating_the_other_student_is_refused(pair):
    _attacker, other, api = pair
    headers = {"Impersonate-User": f"system:serviceaccount:{other.namespace}:student"}
    assert "impersonate" in refused(api, "GET", f"/api/v1/namespaces/{other.namespace}/secrets", headers=headers)


def test_no_token_for_any_service_account(pair):
    """TokenRequests for another identity (the namespace's default, the other student, the
    platform, kube-system's controllers), and for their own: only the platform mints."""
    attacker, other, api = pair
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    for namespace, account in [
        (attacker.namespace, "student"),
        (attacker.namespace, "default"),
        (other.namespace, "student"),
        (PLATFORM_NAMESPACE, "labplatform"),
        ("kube-system", "replicaset-controller"),
        ("kube-system", "clusterrole-aggregation-controller"),
    ]:
        refused(api, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=request)
    refused(
        api, "POST", f"/api/v1/namespaces/{attacker.namespace}/serviceaccounts",
        body={"metadata": {"name": "mine"}},
    )  # fmt: skip


def test_no_certificate_signing_requests(pair):
    """A CSR for a client certificate (system:masters) would be an identity outside RBAC's
    reach; the student may neither create nor approve one."""
    _attacker, _other, api = pair
    csr = {
        "metadata": {"name": "mine"},
        "spec": {
            "request": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
    }
    path = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
    refused(api, "POST", path, body=csr)
    refused(api, "GET", path)
    refused(api, "PUT", f"{path}/mine/approval", body=csr)


def test_no_node_proxy_and_no_node_changes(pair):
    """The node proxy reaches the kubelet's API (exec in any pod, every pod's logs)."""
    _attacker, _other, api = pair
    for node in ("labplatform-node", "node-000000"):
        for sub in ("proxy/pods", "proxy/configz", "proxy/stats/summary", "proxy/logs/", "proxy/run/x/y/z"):
            refused(api, "GET", f"/api/v1/nodes/{node}/{sub}")
        refused(api, "PATCH", f"/api/v1/nodes/{node}", body={"spec": {"unschedulable": True}})
        refused(api, "PATCH", f"/api/v1/nodes/{node}/status", body={"metadata": {"labels": {"x": "y"}}})
        refused(api, "DELETE", f"/api/v1/nodes/{node}")


def test_no_reach_into_the_workstations(pair):
    """The workstations' namespace holds every student's shell and kubeconfig: the student
    may not exec into, read, delete or list any of it, their own included."""
    attacker, other, api = pair
    base = f"/api/v1/namespaces/{WORKSTATIONS}"
    for student in (other.student, attacker.student):
        pod = f"{base}/pods/ws-{student}"
        refused(api, "POST", f"{pod}/exec", query=[("command", "sh"), ("stdin", "true"), ("tty", "true")])
        refused(api, "POST", f"{pod}/attach", query=[("stdout", "true")])
        refused(api, "GET", f"{pod}/log")
        refused(api, "GET", pod)
        refused(api, "DELETE", pod)
        refused(api, "PATCH", f"{pod}/ephemeralcontainers", body={"spec": {"ephemeralContainers": []}})
    refused(api, "GET", f"{base}/secrets")
    refused(api, "GET", f"{base}/pods")


def test_the_namespace_cannot_be_relabelled_out_of_its_policies(kube, pair):
    """Pod Security's level, the managed-by label that the admission policies match on,
    and the ingress host annotation are the platform's: the student may change none."""
    attacker, other, api = pair
    ns = attacker.namespace
    before = platform_objects(kube, ns)
    for patch in [
        {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}},
        {"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}},
        {"metadata": {"labels": {"labplatform.io/student": other.student}}},
        {"metadata": {"annotations": {"labplatform.io/ingress-host": "example.com"}}},
    ]:
        refused(api, "PATCH", f"/api/v1/namespaces/{ns}", body=patch)
    refused(api, "DELETE", f"/api/v1/namespaces/{ns}")
    refused(api, "POST", "/api/v1/namespaces", body={"metadata": {"name": f"{ns}-free"}})
    assert platform_objects(kube, ns) == before


def test_the_platforms_objects_are_read_only_to_the_student(kube, pair):
    """In their namespace: the NetworkPolicies (default deny), the quota and limits, the
    ServiceAccount; outside it: the admission policies and their parameters."""
    attacker, _other, api = pair
    ns = attacker.namespace
    before = platform_objects(kube, ns)
    netpol = f"/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies"
    refused(api, "DELETE", f"{netpol}/default-deny")
    refused(api, "PATCH", f"{netpol}/default-deny", body={"spec": {"policyTypes": []}})
    refused(api, "POST", netpol, body={"metadata": {"name": "allow-all"}, "spec": {"podSelector": {}, "egress": [{}]}})
    refused(
        api, "PATCH", f"/api/v1/namespaces/{ns}/resourcequotas/student-quota", body={"spec": {"hard": {"pods": "999"}}}
    )
    refused(api, "DELETE", f"/api/v1/namespaces/{ns}/resourcequotas/student-quota")
    refused(api, "DELETE", f"/api/v1/namespaces/{ns}/limitranges/student-defaults")
    refused(
        api, "PATCH", f"/api/v1/namespaces/{ns}/serviceaccounts/student", body={"automountServiceAccountToken": True}
    )
    for kind in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        refused(api, "DELETE", f"{ADMISSION}/{kind}/labplatform-student-pod-nodes")
    refused(
        api, "POST", f"{ADMISSION}/mutatingwebhookconfigurations", body={"metadata": {"name": "mine"}, "webhooks": []}
    )
    refused(
        api,
        "PATCH",
        f"/api/v1/namespaces/{PLATFORM_NAMESPACE}/configmaps/labplatform-workstation-nodes",
        body={"data": {"poolKey": "nothing"}},
    )
    refused(api, "GET", f"/api/v1/namespaces/{PLATFORM_NAMESPACE}/secrets")
    assert platform_objects(kube, ns) == before  # fmt: skip


def pod(name: str, spec: dict, container: dict | None = None) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", **(container or {})}], **spec},
    }


# What Pod Security "baseline" refuses beyond the four cases of test_student_isolation.
# (Not procMount Unmasked: the API server refuses it without hostUsers: false, and with it
# baseline allows it, the pod's /proc being its own user namespace's.)
BASELINE_REFUSALS = {
    "hostIPC": pod("host-ipc", {"hostIPC": True}),
    "hostPort": pod("host-port", {}, {"ports": [{"containerPort": 80, "hostPort": 80}]}),
    "SYS_ADMIN": pod("caps", {}, {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}),
    "NET_ADMIN": pod("net-admin", {}, {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}),
    "unsafe sysctl": pod("sysctl", {"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}}),
    "seccomp Unconfined": pod("seccomp", {"securityContext": {"seccompProfile": {"type": "Unconfined"}}}),
    "AppArmor unconfined": pod("apparmor", {}, {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}}),
    "SELinux type": pod("selinux", {}, {"securityContext": {"seLinuxOptions": {"type": "spc_t"}}}),
    "windows hostProcess": pod(
        "hostprocess", {"hostNetwork": True, "securityContext": {"windowsOptions": {"hostProcess": True}}}
    ),
}


@pytest.mark.parametrize("what", sorted(BASELINE_REFUSALS))
def test_pod_security_refuses_more_dangerous_pods(pair, what):
    attacker, _other, api = pair
    said = refused(
        api, "POST", f"/api/v1/namespaces/{attacker.namespace}/pods", body=BASELINE_REFUSALS[what],
        words="violates PodSecurity",
    )  # fmt: skip
    assert "baseline:latest" in said


def test_a_privileged_workload_never_gets_a_pod(kube, pair):
    """Pod Security only warns on a Deployment or Job; their controllers' pod creates are
    what is refused, so the workload is there and no pod of it ever runs."""
    attacker, _other, api = pair
    ns = attacker.namespace
    template = {
        "metadata": {"labels": {"app": "escape"}},
        "spec": {
            "restartPolicy": "Never",
            "hostPID": True,
            "containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}],
        },
    }
    status, said = answer_of(
        api, "POST", f"/apis/batch/v1/namespaces/{ns}/jobs",
        body={"metadata": {"name": "escape"}, "spec": {"backoffLimit": 0, "template": template}},
    )  # fmt: skip
    assert status == 201, said
    core = client.CoreV1Api(kube)

    def refused_event() -> list:
        events = core.list_namespaced_event(ns, field_selector="involvedObject.name=escape").items
        return [e.message for e in events if e.reason == "FailedCreate" and "violates PodSecurity" in e.message]

    wait_for("the Job's pod create refused by Pod Security", refused_event)
    assert core.list_namespaced_pod(ns, label_selector="app=escape").items == []


def test_no_service_account_token_secret_for_another_namespaces_account(kube, pair):
    """A Secret of type service-account-token makes the token controller write a
    non-expiring token of the named account into it; it works only for an account of the
    Secret's own namespace, and the student may write Secrets in their own namespace only,
    where the accounts are theirs and the namespace's default (which is bound to nothing)."""
    attacker, other, api = pair
    ns = attacker.namespace
    for account, namespace in [("labplatform", PLATFORM_NAMESPACE), ("student", other.namespace)]:
        secret = {
            "metadata": {"name": f"steal-{account}", "annotations": {"kubernetes.io/service-account.name": account}},
            "type": "kubernetes.io/service-account-token",
        }
        status, said = answer_of(api, "POST", f"/api/v1/namespaces/{namespace}/secrets", body=secret)
        assert status == 403, said
    # In their own namespace the only accounts are theirs and the namespace's default.
    names = {s.metadata.name for s in client.CoreV1Api(kube).list_namespaced_service_account(ns).items}
    assert names == {"default", "student"}


def test_no_non_expiring_token_for_their_own_namespaces_accounts(kube, pair):
    """Threat: a student mints a token of their own account that never expires (a
    service-account-token Secret), a credential that outlives their workstation's
    short-lived one and works from anywhere the API server answers. The policy
    labplatform-student-token-secrets refuses the Secret, for either account there; a
    Secret of another type is still theirs to make."""
    attacker, _other, api = pair
    ns = attacker.namespace
    for account in ("student", "default"):
        secret = {
            "metadata": {"name": f"forever-{account}", "annotations": {"kubernetes.io/service-account.name": account}},
            "type": "kubernetes.io/service-account-token",
        }
        status, said = answer_of(api, "POST", f"/api/v1/namespaces/{ns}/secrets", body=secret)
        assert status == 403, said
        assert "labplatform-student-token-secrets" in said, said
        assert "never expires" in said, said
    assert (
        client.CoreV1Api(kube)
        .list_namespaced_secret(ns, field_selector="type=kubernetes.io/service-account-token")
        .items
        == []
    )
    plain = {"metadata": {"name": "plain"}, "type": "Opaque", "stringData": {"k": "v"}}
    status, said = answer_of(api, "POST", f"/api/v1/namespaces/{ns}/secrets", body=plain)
    assert status == 201, said
    client.CoreV1Api(kube).delete_namespaced_secret("plain", ns)
