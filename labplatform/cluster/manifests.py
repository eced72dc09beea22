"""Pure builders of the Kubernetes objects the platform manages, as plain dicts.

Nothing here talks to a cluster, so every builder is tested by comparing whole values, and
the code that sends them stays small. Every object carries the same three labels, so the
platform's state on a cluster can be rebuilt from a label selector.
"""

import re
from dataclasses import dataclass, field

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "labplatform"
COHORT_LABEL = "labplatform.io/cohort"
STUDENT_LABEL = "labplatform.io/student"
INGRESS_HOST_ANNOTATION = "labplatform.io/ingress-host"
STUDENT_NAMESPACE_ANNOTATION = "labplatform.io/student-namespace"
PLATFORM_NAMESPACE = "labplatform-system"
PLATFORM_SERVICE_ACCOUNT = "labplatform"
STUDENT_SERVICE_ACCOUNT = "student"
STUDENT_CLUSTER_ROLE = "labplatform-student"
GRADER_CLUSTER_ROLE = "labplatform-grader"
TOKEN_MINTER_CLUSTER_ROLE = "labplatform-token-minter"  # noqa: S105 (a role name, not a secret)
NODE_READER_CLUSTER_ROLE = "labplatform-node-reader"
# API Priority and Fairness (k8s/platform/base/flow-control.yaml): students' requests are
# served in this limited level, each student a flow of their own.
STUDENT_PRIORITY_LEVEL = "labplatform-students"
STUDENT_FLOW_PRECEDENCE = 8000
# Their ConfigMap and Secret writes, the objects with the most data, in a level of a few seats.
STUDENT_WRITES_PRIORITY_LEVEL = "labplatform-student-writes"
STUDENT_WRITES_FLOW_PRECEDENCE = 7900
FIELD_MANAGER = "labplatform"

STUDENT_NAMESPACE_PREFIX = "lab-"
WORKSTATION_HOME = "/home/student"
WORKSTATION_KUBECONFIG = f"{WORKSTATION_HOME}/.kube/config"
# The digest of the kubeconfig a workstation pod should have mounted (cluster/students.py).
KUBECONFIG_DIGEST_ANNOTATION = "labplatform.io/kubeconfig-digest"
WORKSTATION_USER = 1000
KWOK_API_VERSION = "kwok.x-k8s.io/v1alpha1"

_RBAC_GROUP = "rbac.authorization.k8s.io"
_STUDENT_ID = re.compile(r"[a-z0-9]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")


def _check_student(student: str) -> None:
    if not isinstance(student, str) or not _STUDENT_ID.fullmatch(student):
        raise ValueError(f"student id {student!r} must be an opaque id of lowercase letters and digits")


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r} is not a DNS label (lowercase letters, digits, '-'; 63 at most)")


def student_namespace_name(student: str) -> str:
    """The student's namespace, derived from the opaque id alone, so two students never share one
    and no personal data (an email) ends up in a name on the cluster."""
    _check_student(student)
    name = STUDENT_NAMESPACE_PREFIX + student
    if len(name) > 63:
        raise ValueError(f"namespace {name!r} for student id {student!r} is longer than 63 characters")
    return name


def workstation_pod_name(student: str) -> str:
    """The student's workstation pod (and its NetworkPolicy) in the workstation namespace."""
    _check_student(student)
    return f"ws-{student}"


def labels(*, cohort: str, student: str) -> dict[str, str]:
    """The labels every managed object carries; a selector on them finds all of a student's objects."""
    if not isinstance(cohort, str) or not cohort or len(cohort) > 63 or not _LABEL_VALUE.fullmatch(cohort):
        raise ValueError(f"cohort slug {cohort!r} is not a valid label value")
    _check_student(student)
    return {MANAGED_BY_LABEL: MANAGED_BY, COHORT_LABEL: cohort, STUDENT_LABEL: student}


def _metadata(*, name: str, namespace: str | None = None, cohort: str, student: str) -> dict:
    metadata: dict = {"name": name}
    if namespace is not None:
        _check_namespace(namespace)
        metadata["namespace"] = namespace
    metadata["labels"] = labels(cohort=cohort, student=student)
    return metadata


def _service_account_subject(*, name: str, namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def student_ingress_host(*, namespace: str, ingress_domain: str) -> str:
    """The host a student's Ingresses may claim (it, or names under it)."""
    return f"{namespace}.{ingress_domain}"


def namespace(*, name: str, cohort: str, student: str, ingress_host: str) -> dict:
    """The student's namespace. Pod Security Admission enforces `baseline` (lessons use ordinary
    images that run as root) and warns about and audits `restricted`, so students see good
    practice without being blocked. The admission policy on Ingress reads the host annotation."""
    _check_namespace(name)
    if not ingress_host or ingress_host.startswith(".") or "*" in ingress_host:
        raise ValueError(f"ingress host {ingress_host!r} must be a plain DNS name")
    metadata = _metadata(name=name, cohort=cohort, student=student)
    metadata["labels"].update(
        {
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/warn-version": "latest",
            "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/audit-version": "latest",
        }
    )
    metadata["annotations"] = {INGRESS_HOST_ANNOTATION: ingress_host}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def service_account(*, namespace: str, cohort: str, student: str) -> dict:
    """The identity the student acts as. Its token is minted short-lived for the workstation,
    never mounted into the student's own pods."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(name=STUDENT_SERVICE_ACCOUNT, namespace=namespace, cohort=cohort, student=student),
        "automountServiceAccountToken": False,
    }


def _role_binding(*, name: str, namespace: str, cohort: str, student: str, cluster_role: str, subject: dict) -> dict:
    return {
        "apiVersion": f"{_RBAC_GROUP}/v1",
        "kind": "RoleBinding",
        "metadata": _metadata(name=name, namespace=namespace, cohort=cohort, student=student),
        "roleRef": {"apiGroup": _RBAC_GROUP, "kind": "ClusterRole", "name": cluster_role},
        "subjects": [subject],
    }


def student_role_binding(*, namespace: str, cohort: str, student: str) -> dict:
    """Grants the student's ServiceAccount the fixed student role inside this namespace only."""
    return _role_binding(
        name=STUDENT_CLUSTER_ROLE,
        namespace=namespace,
        cohort=cohort,
        student=student,
        cluster_role=STUDENT_CLUSTER_ROLE,
        subject=_service_account_subject(name=STUDENT_SERVICE_ACCOUNT, namespace=namespace),
    )


def grader_role_binding(*, namespace: str, cohort: str, student: str) -> dict:
    """Lets the platform read this namespace for grading, without any cluster-wide read."""
    return _role_binding(
        name=GRADER_CLUSTER_ROLE,
        namespace=namespace,
        cohort=cohort,
        student=student,
        cluster_role=GRADER_CLUSTER_ROLE,
        subject=_service_account_subject(name=PLATFORM_SERVICE_ACCOUNT, namespace=PLATFORM_NAMESPACE),
    )


def token_minter_role_binding(*, namespace: str, cohort: str, student: str) -> dict:
    """Lets the platform mint tokens for the student's ServiceAccount here, and for no other."""
    return _role_binding(
        name=TOKEN_MINTER_CLUSTER_ROLE,
        namespace=namespace,
        cohort=cohort,
        student=student,
        cluster_role=TOKEN_MINTER_CLUSTER_ROLE,
        subject=_service_account_subject(name=PLATFORM_SERVICE_ACCOUNT, namespace=PLATFORM_NAMESPACE),
    )


def node_reader_binding(*, namespace: str, cohort: str, student: str) -> dict:
    """Nodes are cluster-scoped, so `kubectl get nodes` needs a ClusterRoleBinding; one per
    student, named after the namespace so teardown finds it."""
    _check_namespace(namespace)
    return {
        "apiVersion": f"{_RBAC_GROUP}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(name=f"labplatform-nodes-{namespace}", cohort=cohort, student=student),
        "roleRef": {"apiGroup": _RBAC_GROUP, "kind": "ClusterRole", "name": NODE_READER_CLUSTER_ROLE},
        "subjects": [_service_account_subject(name=STUDENT_SERVICE_ACCOUNT, namespace=namespace)],
    }


def _flow_schema_subject(namespace: str) -> dict:
    return {"kind": "ServiceAccount", "serviceAccount": {"name": STUDENT_SERVICE_ACCOUNT, "namespace": namespace}}


def _flow_schema(*, name: str, cohort: str, student: str, precedence: int, level: str, rule: dict) -> dict:
    return {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": _metadata(name=name, cohort=cohort, student=student),
        "spec": {
            "matchingPrecedence": precedence,
            "priorityLevelConfiguration": {"name": level},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [rule],
        },
    }


def student_flow_schema(*, namespace: str, cohort: str, student: str) -> dict:
    """Puts the student's requests (their ServiceAccount's, from the workstation) into the
    limited priority level of students. A FlowSchema names a ServiceAccount with its
    namespace and cannot select namespaces by label, so each student has one, named after
    the namespace so teardown finds it; its precedence comes before the built-in
    `service-accounts` schema (9000), which would otherwise match."""
    _check_namespace(namespace)
    every_request = {
        "resourceRules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"], "clusterScope": True, "namespaces": ["*"]}
        ],
        "nonResourceRules": [{"nonResourceURLs": ["*"], "verbs": ["*"]}],
    }
    return _flow_schema(
        name=f"labplatform-student-{namespace}",
        cohort=cohort,
        student=student,
        precedence=STUDENT_FLOW_PRECEDENCE,
        level=STUDENT_PRIORITY_LEVEL,
        rule={"subjects": [_flow_schema_subject(namespace)], **every_request},
    )


def student_writes_flow_schema(*, namespace: str, cohort: str, student: str) -> dict:
    """Puts the student's writes of ConfigMaps and Secrets (each up to 64 KiB of data and
    192 KiB of annotations) into a level of a few seats for every student together, matched
    before student_flow_schema's: what a student rewriting large objects in a loop can push
    into etcd is bounded by what those seats serve, and it does not take the seats of the
    other students' requests (k8s/platform/base/flow-control.yaml)."""
    _check_namespace(namespace)
    writes = {
        "apiGroups": [""],
        "resources": ["configmaps", "secrets"],
        "verbs": ["create", "update", "patch"],
        "namespaces": ["*"],
    }
    return _flow_schema(
        name=f"labplatform-student-writes-{namespace}",
        cohort=cohort,
        student=student,
        precedence=STUDENT_WRITES_FLOW_PRECEDENCE,
        level=STUDENT_WRITES_PRIORITY_LEVEL,
        rule={"subjects": [_flow_schema_subject(namespace)], "resourceRules": [writes]},
    )


def resource_quota(*, namespace: str, cohort: str, student: str, hard: dict[str, str]) -> dict:
    """Caps compute and object counts, from the cohort's preset, so one student cannot starve the rest."""
    if not hard:
        raise ValueError(f"the resource quota for {namespace!r} has no limits")
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _metadata(name="student-quota", namespace=namespace, cohort=cohort, student=student),
        "spec": {"hard": dict(hard)},
    }


def limit_range(
    *, namespace: str, cohort: str, student: str, default_request: dict[str, str], default_limit: dict[str, str]
) -> dict:
    """Defaults for containers that declare no resources: with a compute quota in place, the API
    server would otherwise refuse the lessons' plain `kubectl create deployment`."""
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _metadata(name="student-defaults", namespace=namespace, cohort=cohort, student=student),
        "spec": {
            "limits": [{"type": "Container", "default": dict(default_limit), "defaultRequest": dict(default_request)}]
        },
    }


def _network_policy(*, name: str, namespace: str, cohort: str, student: str, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata(name=name, namespace=namespace, cohort=cohort, student=student),
        "spec": {"podSelector": {}, **spec},
    }


def network_policies(*, namespace: str, cohort: str, student: str) -> list[dict]:
    """Pods talk to each other within the namespace and resolve names, and reach nothing else:
    not other students, not the platform."""
    return [
        _network_policy(
            name="default-deny",
            namespace=namespace,
            cohort=cohort,
            student=student,
            spec={"policyTypes": ["Ingress", "Egress"]},
        ),
        _network_policy(
            name="allow-dns",
            namespace=namespace,
            cohort=cohort,
            student=student,
            spec={
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _network_policy(
            name="allow-same-namespace",
            namespace=namespace,
            cohort=cohort,
            student=student,
            spec={
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        ),
    ]


@dataclass(frozen=True)
class ApiServerPeer:
    """An address and port the API server is reached at: its Service's ClusterIP and its
    endpoints, since CNIs differ in whether policies see traffic before or after DNAT."""

    cidr: str
    port: int


def workstation_network_policy(
    *, workstation_namespace: str, student_namespace: str, cohort: str, student: str, api_server: list[ApiServerPeer]
) -> dict:
    """The student's workstation reaches the API server, DNS and the student's own
    namespace, nothing else; nothing reaches it."""
    if not api_server:
        raise ValueError(f"workstation of {student!r}: no API server address to allow")
    return _network_policy(
        name=workstation_pod_name(student),
        namespace=workstation_namespace,
        cohort=cohort,
        student=student,
        spec={
            "podSelector": {"matchLabels": labels(cohort=cohort, student=student)},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                *[
                    {"to": [{"ipBlock": {"cidr": peer.cidr}}], "ports": [{"protocol": "TCP", "port": peer.port}]}
                    for peer in api_server
                ],
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": student_namespace}}}]},
            ],
        },
    )


def workstation_kubeconfig(*, server: str, ca_data: str, token: str, namespace: str) -> dict:
    """A kubeconfig holding only the student's token. A client certificate would take precedence
    over the token and act as someone else, so none is ever copied in."""
    _check_namespace(namespace)
    if not server.startswith("https://"):
        raise ValueError(f"API server address {server!r} must be https://")
    if not token:
        raise ValueError(f"the kubeconfig for {namespace!r} has an empty token")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "labplatform", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": STUDENT_SERVICE_ACCOUNT, "user": {"token": token}}],
        "contexts": [
            {
                "name": "labplatform",
                "context": {"cluster": "labplatform", "user": STUDENT_SERVICE_ACCOUNT, "namespace": namespace},
            }
        ],
        "current-context": "labplatform",
        "preferences": {},
    }


def _workstation_metadata(
    *, name: str, workstation_namespace: str, student_namespace: str, cohort: str, student: str
) -> dict:
    _check_namespace(student_namespace)
    metadata = _metadata(name=name, namespace=workstation_namespace, cohort=cohort, student=student)
    metadata["annotations"] = {STUDENT_NAMESPACE_ANNOTATION: student_namespace}
    return metadata


def workstation_kubeconfig_secret(
    *, workstation_namespace: str, student_namespace: str, cohort: str, student: str, kubeconfig_yaml: str
) -> dict:
    """The workstation's kubeconfig. It lives in the platform's workstation namespace, where the
    student has no rights, and is rewritten when the short-lived token is renewed."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _workstation_metadata(
            name=f"ws-{student}-kubeconfig",
            workstation_namespace=workstation_namespace,
            student_namespace=student_namespace,
            cohort=cohort,
            student=student,
        ),
        "type": "Opaque",
        "stringData": {"config": kubeconfig_yaml},
    }


@dataclass(frozen=True)
class WorkstationRuntime:
    """How a cluster runs workstations: the image and whether it may be pulled, the node
    pool they go to (nodes labelled and tainted NODE_POOL=true; "" for any node), and the
    container's bounds (from the cohort's preset)."""

    image: str
    pull_policy: str = "IfNotPresent"
    node_pool: str = ""
    # The API server as the pod reaches it ("": the platform's own address); the address
    # must be in the API server certificate's names.
    api_server: str = ""
    requests: dict[str, str] = field(default_factory=lambda: dict(WORKSTATION_REQUESTS))
    limits: dict[str, str] = field(default_factory=lambda: dict(WORKSTATION_LIMITS))


# What a node reserves for a workstation: an idle shell uses next to no CPU (about 5m
# while its student types, bench/terminal) and under 10 MiB with terminals open, so a
# 2-core node holds about 100 by requests (the local node's maxPods is 110).
WORKSTATION_REQUESTS: dict[str, str] = {"cpu": "20m", "memory": "64Mi", "ephemeral-storage": "64Mi"}
WORKSTATION_LIMITS: dict[str, str] = {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "1Gi"}
# The home and /tmp are the pod's own; /tmp (tmux's socket, kubectl's cache) is in memory.
WORKSTATION_HOME_SIZE = "1Gi"
WORKSTATION_TMP_SIZE = "64Mi"


def _workstation_container(runtime: WorkstationRuntime, *, student_namespace: str) -> dict:
    """The shell's container: tini, then nothing until a terminal execs the session command."""
    return {
        "name": "shell",
        "image": runtime.image,
        "imagePullPolicy": runtime.pull_policy,
        "command": ["/usr/bin/tini", "--"],
        "args": ["sleep", "infinity"],
        "env": [
            {"name": "KUBECONFIG", "value": WORKSTATION_KUBECONFIG},
            {"name": "KUBECACHEDIR", "value": "/tmp/.kube-cache"},  # noqa: S108 (the container's own /tmp)
            {"name": "LAB_NAMESPACE", "value": student_namespace},
        ],
        "volumeMounts": [
            {"name": "home", "mountPath": WORKSTATION_HOME},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (the container's own /tmp)
            {"name": "kubeconfig", "mountPath": f"{WORKSTATION_HOME}/.kube", "readOnly": True},
        ],
        "resources": {"requests": dict(runtime.requests), "limits": dict(runtime.limits)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def _workstation_volumes(student: str) -> list[dict]:
    """Its home and /tmp, the pod's own, and the kubeconfig Secret as a folder."""
    return [
        {"name": "home", "emptyDir": {"sizeLimit": WORKSTATION_HOME_SIZE}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": WORKSTATION_TMP_SIZE}},
        {"name": "kubeconfig", "secret": {"secretName": f"ws-{student}-kubeconfig", "defaultMode": 0o440}},
    ]


def workstation_pod(
    *, workstation_namespace: str, student_namespace: str, cohort: str, student: str, runtime: WorkstationRuntime
) -> dict:
    """The student's shell: a container, on every cluster the same. It runs outside the
    student's namespace so `kubectl delete pods --all` cannot kill the terminal, holds no
    token of the platform's own, meets the `restricted` Pod Security Standard, runs in a
    user namespace (root in it is no one outside) with a read-only root filesystem, and
    writes only to its home and /tmp. tini is PID 1 and reaps orphans, which would count
    against the pid limit. The kubeconfig Secret is mounted as a folder, not by subPath,
    so a renewed token reaches the running shell; kubectl's cache therefore goes to /tmp."""
    if not runtime.image:
        raise ValueError(f"the workstation image for student {student!r} is empty")
    if runtime.pull_policy not in ("Always", "IfNotPresent", "Never"):
        raise ValueError(f"workstation image pull policy {runtime.pull_policy!r} is not Always, IfNotPresent or Never")
    spec = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "hostUsers": False,
        # The shell ends at once on SIGTERM (tini passes it on); a reset does not wait long.
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": WORKSTATION_USER,
            "runAsGroup": WORKSTATION_USER,
            "fsGroup": WORKSTATION_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_workstation_container(runtime, student_namespace=student_namespace)],
        "volumes": _workstation_volumes(student),
    }
    if runtime.node_pool:
        spec["nodeSelector"] = {runtime.node_pool: "true"}
        spec["tolerations"] = [{"key": runtime.node_pool, "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _workstation_metadata(
            name=workstation_pod_name(student),
            workstation_namespace=workstation_namespace,
            student_namespace=student_namespace,
            cohort=cohort,
            student=student,
        ),
        "spec": spec,
    }
