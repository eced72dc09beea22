"""A student's environment on a cluster: everything provisioning creates, applied and
deleted as a whole. Names all derive from the student's opaque id."""

import base64
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
import yaml

from labplatform.cluster import manifests
from labplatform.cluster.apply import object_apply, object_delete, object_exists, object_get
from labplatform.cluster.clients import sync_client
from labplatform.cluster.errors import ClusterUnavailable, ObjectRefused
from labplatform.cluster.exec import exec_run
from labplatform.cluster.info import api_server_peers
from labplatform.cluster.kwok_logs import pod_logs_remove
from labplatform.cluster.rest import request, resource_for
from labplatform.tracing import traced

# Objects in a new namespace are independent of each other, so they go in together.
_PARALLEL_WRITES = 8
WORKSTATION_TOKEN_SECONDS = 24 * 3600
RBAC_PROPAGATION_SECONDS = 10


@dataclass(frozen=True)
class StudentEnvironmentSpec:
    cluster: str
    cohort: str
    student: str
    ingress_domain: str
    quota_hard: dict[str, str]
    default_request: dict[str, str]
    default_limit: dict[str, str]
    workstation_namespace: str
    workstation: manifests.WorkstationRuntime
    local: bool  # the local KWOK cluster, where the platform writes simulated pods' log files
    workstation_annotations: dict[str, str] = field(default_factory=dict)
    namespace: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", manifests.student_namespace_name(self.student))


def student_namespace_objects(spec: StudentEnvironmentSpec) -> list[dict]:
    """What goes into (or is bound to) the student's namespace, the Namespace first."""
    common = {"namespace": spec.namespace, "cohort": spec.cohort, "student": spec.student}
    return [
        manifests.namespace(
            name=spec.namespace,
            cohort=spec.cohort,
            student=spec.student,
            ingress_host=manifests.student_ingress_host(namespace=spec.namespace, ingress_domain=spec.ingress_domain),
        ),
        manifests.service_account(**common),
        manifests.student_role_binding(**common),
        manifests.grader_role_binding(**common),
        manifests.token_minter_role_binding(**common),
        manifests.node_reader_binding(**common),
        manifests.student_flow_schema(**common),
        manifests.student_writes_flow_schema(**common),
        manifests.resource_quota(**common, hard=spec.quota_hard),
        manifests.limit_range(**common, default_request=spec.default_request, default_limit=spec.default_limit),
        *manifests.network_policies(**common),
    ]


def _workstation_refs(spec: StudentEnvironmentSpec) -> list[dict]:
    metadata = {"namespace": spec.workstation_namespace}
    pod = manifests.workstation_pod_name(spec.student)
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**metadata, "name": pod}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {**metadata, "name": f"ws-{spec.student}-kubeconfig"}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {**metadata, "name": pod},
        },
    ]


@traced("cluster.apply_parallel")
def _apply_all(objects: list[dict], cluster: str) -> None:
    with ThreadPoolExecutor(max_workers=_PARALLEL_WRITES) as pool:
        for result in [pool.submit(object_apply, obj, cluster=cluster) for obj in objects]:
            result.result()


@traced("cluster.student_token")
def student_token(spec: StudentEnvironmentSpec, *, seconds: int = WORKSTATION_TOKEN_SECONDS) -> str:
    """A short-lived token of the student's ServiceAccount (TokenRequest). The platform may
    ask through the token-minter RoleBinding made moments before, which the API server's
    RBAC cache can take a moment to see: a 403 then is retried briefly."""
    account = resource_for(api_version="v1", kind="ServiceAccount")
    name = manifests.STUDENT_SERVICE_ACCOUNT
    path = account.path(namespace=spec.namespace, name=name, subresource="token")
    what = f"token for {account.describe(namespace=spec.namespace, name=name)}"
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": seconds}}
    deadline = time.monotonic() + RBAC_PROPAGATION_SECONDS
    while True:
        try:
            granted = request(spec.cluster, "POST", path, what=what, body=body)
            break
        except ObjectRefused as exc:
            if exc.status == 403 and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise
    token = ((granted or {}).get("status") or {}).get("token")
    if not isinstance(token, str) or not token:
        raise ObjectRefused(f"{what}: the API server granted no token")
    return token


@traced("cluster.student_kubeconfig")
def student_kubeconfig(spec: StudentEnvironmentSpec, token: str, *, server: str = "") -> dict:
    """A kubeconfig with only the server, its CA and the student's token. The server is
    the platform's own address unless given (a workstation reaches the API server at the
    address its cluster sets, which may be reachable only from the workstation)."""
    configuration = sync_client(spec.cluster).configuration
    ca_data = base64.b64encode(Path(configuration.ssl_ca_cert).read_bytes()).decode()
    return manifests.workstation_kubeconfig(
        server=server or configuration.host,
        ca_data=ca_data,
        token=token,
        namespace=spec.namespace,
    )


def _workstation_common(spec: StudentEnvironmentSpec) -> dict:
    return {
        "workstation_namespace": spec.workstation_namespace,
        "student_namespace": spec.namespace,
        "cohort": spec.cohort,
        "student": spec.student,
    }


@traced("cluster.workstation_kubeconfig_apply")
def workstation_kubeconfig_apply(spec: StudentEnvironmentSpec) -> str:
    """Mints a fresh token for the student and puts it in the workstation's kubeconfig;
    the running shell sees it, as the Secret is mounted as a folder, once the kubelet
    has rewritten that folder. Returns the kubeconfig's digest (see
    workstation_kubeconfig_mounted)."""
    kubeconfig = yaml.safe_dump(student_kubeconfig(spec, student_token(spec), server=spec.workstation.api_server))
    secret = manifests.workstation_kubeconfig_secret(**_workstation_common(spec), kubeconfig_yaml=kubeconfig)
    object_apply(secret, cluster=spec.cluster)
    return hashlib.sha256(kubeconfig.encode()).hexdigest()


@traced("cluster.workstation_kubeconfig_mounted")
def workstation_kubeconfig_mounted(spec: StudentEnvironmentSpec, digest: str) -> bool:
    """Whether the running workstation's shell reads the kubeconfig of that digest. The
    container checks it (sha256sum, given the digest); only the exit status is read, never
    what the container prints, and a student who shaped it would only shorten their own wait."""
    check = 'echo "$1  $2" | sha256sum --check --status'
    try:
        return exec_run(
            cluster=spec.cluster,
            namespace=spec.workstation_namespace,
            pod=manifests.workstation_pod_name(spec.student),
            command=["sh", "-c", check, "sh", digest, manifests.WORKSTATION_KUBECONFIG],
        )
    except ClusterUnavailable:
        return False  # a kubelet that does not serve the pod yet


def _workstation_api_server(spec: StudentEnvironmentSpec) -> list[manifests.ApiServerPeer]:
    """Where the workstation reaches the API server: the address it is given, if any, as well
    as the API server's own (the `kubernetes` Service and its endpoints)."""
    peers = api_server_peers(name=spec.cluster)
    if spec.workstation.api_server:
        address = urllib3.util.parse_url(spec.workstation.api_server)
        host = (address.host or "").strip("[]")
        prefix = 128 if ":" in host else 32
        peers = [manifests.ApiServerPeer(cidr=f"{host}/{prefix}", port=address.port or 443), *peers]
    return peers


@traced("cluster.workstation_apply")
def workstation_apply(spec: StudentEnvironmentSpec) -> str | None:
    """The workstation and its kubeconfig. A workstation already running (a reset keeps it)
    sees a new kubeconfig only when the kubelet next syncs its pod, up to a minute later;
    the kubeconfig's digest on the pod asks for that at once. For such a workstation this
    returns the digest to wait for (workstation_kubeconfig_mounted); None for a new one."""
    policy = manifests.workstation_network_policy(**_workstation_common(spec), api_server=_workstation_api_server(spec))
    object_apply(policy, cluster=spec.cluster)
    digest = workstation_kubeconfig_apply(spec)
    pod = manifests.workstation_pod(**_workstation_common(spec), runtime=spec.workstation)
    annotations = pod["metadata"].setdefault("annotations", {})
    annotations.update({**spec.workstation_annotations, manifests.KUBECONFIG_DIGEST_ANNOTATION: digest})
    stored = object_apply(pod, cluster=spec.cluster)
    # A pod this apply created has no conditions yet (not even PodScheduled): only one
    # that was already on a node can have mounted the old kubeconfig.
    running = bool((stored or {}).get("status", {}).get("conditions"))
    return digest if running else None


@traced("cluster.workstation_ready")
def workstation_ready(spec: StudentEnvironmentSpec) -> bool:
    pod = object_get(_workstation_refs(spec)[0], cluster=spec.cluster)
    conditions = (pod or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@traced("cluster.student_environment_apply")
def student_environment_apply(spec: StudentEnvironmentSpec) -> str | None:
    """Creates or repairs everything the student has; applying twice changes nothing.
    The workstation may still be starting when this returns (see workstation_ready), or,
    if it was running, still have its old kubeconfig: then this returns the new one's
    digest (see workstation_apply)."""
    namespace, *rest = student_namespace_objects(spec)
    object_apply(namespace, cluster=spec.cluster)
    _apply_all(rest, spec.cluster)
    return workstation_apply(spec)


def student_namespace_delete(spec: StudentEnvironmentSpec) -> None:
    """Deletes what the student made (the namespace and all in it); keeps the workstation."""
    namespace = student_namespace_objects(spec)[0]
    object_delete(namespace, cluster=spec.cluster)


def student_namespace_gone(spec: StudentEnvironmentSpec) -> bool:
    namespace = student_namespace_objects(spec)[0]
    return not object_exists(namespace, cluster=spec.cluster)


def student_environment_delete(spec: StudentEnvironmentSpec) -> None:
    """Deletes the namespace, the cluster-scoped objects bound to it, the workstation and,
    on the local cluster, the simulated pods' log files. Deleting what is gone is success."""
    namespace, *rest = student_namespace_objects(spec)
    cluster_scoped = [obj for obj in rest if "namespace" not in obj["metadata"]]
    for obj in [namespace, *cluster_scoped, *_workstation_refs(spec)]:
        object_delete(obj, cluster=spec.cluster)
    if spec.local:
        pod_logs_remove(namespace=spec.namespace)
