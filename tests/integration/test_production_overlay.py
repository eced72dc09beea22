"""k8s/platform/overlays/production: it renders with the cluster's own kubectl, passes a
server-side dry run against the real local API server (Kubernetes 1.36) as cluster-admin,
and holds what running the platform for real needs. Also overlays/compose, which
docker-compose.yml's bootstrap applies to its k3s."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.kube import KUBECTL, cluster_state_dir

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "k8s" / "platform" / "overlays" / "production"
COMPOSE = ROOT / "k8s" / "platform" / "overlays" / "compose"
SYSTEM, WORKSTATIONS = "labplatform-system", "labplatform-workstations"


def kubectl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing; run `make cluster-build`")
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    command = [str(KUBECTL), f"--kubeconfig={cluster_state_dir() / 'kubeconfig'}", "--request-timeout=30s", *args]
    result = subprocess.run(command, input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed:\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def rendered() -> str:
    return kubectl("kustomize", str(PRODUCTION)).stdout


@pytest.fixture(scope="module")
def objects(rendered) -> dict[tuple[str, str], dict]:
    by_kind_and_name: dict[tuple[str, str], dict] = {}
    for document in yaml.safe_load_all(rendered):
        key = (document["kind"], document["metadata"]["name"])
        assert key not in by_kind_and_name, f"{key} is defined twice"
        by_kind_and_name[key] = document
    return by_kind_and_name


@pytest.mark.local_cluster
def test_it_passes_a_server_side_dry_run_as_cluster_admin(rendered):
    result = kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-", stdin=rendered)
    # A Warning would be a Pod Security (restricted) or deprecation warning about these manifests.
    assert "Warning" not in result.stderr, result.stderr
    assert "deployment.apps/labplatform-web serverside-applied (server dry run)" in result.stdout


@pytest.mark.local_cluster
def test_the_compose_overlay_passes_a_server_side_dry_run_and_adds_only_the_platforms_token():
    """And sets k3s's ingress class (Traefik's) for students' Ingresses."""
    rendered = kubectl("kustomize", str(COMPOSE)).stdout
    base = kubectl("kustomize", str(ROOT / "k8s" / "platform")).stdout
    added = [d for d in yaml.safe_load_all(rendered) if d not in list(yaml.safe_load_all(base))]
    assert [(d["kind"], d.get("type"), d["metadata"].get("annotations")) for d in added] == [
        ("ConfigMap", None, None),
        ("Secret", "kubernetes.io/service-account-token", {"kubernetes.io/service-account.name": "labplatform"}),
    ]
    assert (added[0]["metadata"]["name"], added[0]["data"]) == (
        "labplatform-student-classes",
        {"ingressClassName": "traefik", "loadBalancerClass": "labplatform.io/none"},
    )
    result = kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-", stdin=rendered)
    assert "secret/labplatform-token serverside-applied (server dry run)" in result.stdout


def test_the_platforms_identity_comes_from_the_base_only(objects):
    overlay_kinds = {
        document["kind"]
        for path in PRODUCTION.glob("*.yaml")
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
    }
    assert not overlay_kinds & {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    assert ("ServiceAccount", "labplatform") in objects
    assert ("ClusterRole", "labplatform-platform") in objects


def pod_spec(objects, kind: str, name: str) -> dict:
    return objects[(kind, name)]["spec"]["template"]["spec"]


def test_web_worker_and_beat_run_with_the_replicas_and_strategy_they_need(objects):
    assert objects[("Deployment", "labplatform-web")]["spec"]["replicas"] == 2
    assert objects[("Deployment", "labplatform-worker")]["spec"]["replicas"] == 2
    beat = objects[("Deployment", "labplatform-beat")]["spec"]
    assert beat["replicas"] == 1
    assert beat["strategy"] == {"type": "Recreate"}
    roles = {
        name: pod_spec(objects, kind, name)["containers"][0]["args"]
        for kind, name in objects
        if kind in {"Deployment", "Job"}
    }
    assert roles == {
        "labplatform-web": ["web"],
        "labplatform-worker": ["worker"],
        "labplatform-beat": ["beat"],
        "labplatform-migrate": ["migrate"],
    }
    for kind, name in [("Deployment", "labplatform-web"), ("Deployment", "labplatform-worker")]:
        pdb = objects[("PodDisruptionBudget", name)]["spec"]
        assert pdb["selector"]["matchLabels"] == objects[(kind, name)]["spec"]["selector"]["matchLabels"]


def test_every_pod_is_restricted_read_only_and_bounded(objects):
    for kind, name in [(k, n) for k, n in objects if k in {"Deployment", "Job"}]:
        spec = pod_spec(objects, kind, name)
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        (container,) = spec["containers"]
        assert container["image"] == "registry.example.com/labplatform/platform:0.1.0", name
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        }, name
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
        assert [ref for source in container["envFrom"] for ref in source.values()] == [
            {"name": "labplatform"},
            {"name": "labplatform"},
        ], name


def test_web_is_live_on_livez_and_ready_on_healthz(objects):
    (web,) = pod_spec(objects, "Deployment", "labplatform-web")["containers"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    # Probes reach the pod by IP: the Host they send must be an allowed host.
    allowed = objects[("ConfigMap", "labplatform")]["data"]["ALLOWED_HOSTS"].split(",")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in web[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in allowed


def test_the_ingress_keeps_websockets_open_for_an_hour(objects):
    ingress = objects[("Ingress", "labplatform-web")]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] == "3600"
    assert annotations["nginx.ingress.kubernetes.io/proxy-http-version"] == "1.1"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert ("Service", backend["name"]) in objects


def test_students_ingresses_use_the_platforms_ingress_class_and_their_load_balancers_cost_nothing(objects):
    """The classes students' objects get (k8s/platform/README.md, "Ingress and load balancers"):
    the controller that serves the platform's own Ingress, and a load-balancer class no
    controller serves, so no cloud load balancer is made for a student's Service."""
    classes = objects[("ConfigMap", "labplatform-student-classes")]["data"]
    assert classes["ingressClassName"] == objects[("Ingress", "labplatform-web")]["spec"]["ingressClassName"]
    assert classes["loadBalancerClass"] == "labplatform.io/none"


def test_the_secret_is_a_template_of_placeholders(objects):
    secret = objects[("Secret", "labplatform")]["stringData"]
    assert set(secret) == {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    assert all("REPLACE-ME" in value for value in secret.values())


def test_workstations_reach_dns_and_the_api_server_ports_but_never_the_metadata_service(objects):
    policies = {name: p["spec"] for (kind, name), p in objects.items() if kind == "NetworkPolicy"}
    assert all(objects[("NetworkPolicy", name)]["metadata"]["namespace"] == WORKSTATIONS for name in policies)
    assert policies["workstations-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = policies["workstations-dns-and-api-server"]["egress"]
    ports = [{(p["protocol"], p["port"]) for p in rule["ports"]} for rule in egress]
    assert ports == [{("UDP", 53), ("TCP", 53)}, {("TCP", 443), ("TCP", 6443)}]
    ip_blocks = [peer["ipBlock"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
    assert ip_blocks and all("169.254.169.254/32" in block["except"] for block in ip_blocks)
    assert "ingress" not in policies["workstations-dns-and-api-server"]
