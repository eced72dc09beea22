"""The local cluster behaves like a real one for what the lessons teach: Deployments,
ReplicaSets, rollouts, Services and quotas, through the real control plane."""

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube import pods_ready, wait_for


def deployment(name: str, image: str, replicas: int = 3) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
            },
        },
    }


def current_replica_set(apps: client.AppsV1Api, namespace: str, name: str) -> client.V1ReplicaSet | None:
    """The ReplicaSet whose revision matches the Deployment's, once the rollout is complete."""
    deploy = apps.read_namespaced_deployment(name, namespace)
    status = deploy.status
    if (
        status.observed_generation != deploy.metadata.generation
        or status.updated_replicas != deploy.spec.replicas
        or status.ready_replicas != deploy.spec.replicas
        or status.replicas != deploy.spec.replicas
    ):
        return None
    revision = deploy.metadata.annotations.get("deployment.kubernetes.io/revision")
    for replica_set in apps.list_namespaced_replica_set(namespace, label_selector=f"app={name}").items:
        if replica_set.metadata.annotations.get("deployment.kubernetes.io/revision") == revision:
            return replica_set
    return None


@pytest.fixture
def web(apps, core, namespace) -> str:
    apps.create_namespaced_deployment(namespace, deployment("web", "nginx:1.27"))
    wait_for("3 Ready pods of web", lambda: pods_ready(core, namespace, "app=web", 3))
    return "web"


def test_a_deployment_of_three_replicas_gets_three_ready_pods(apps, core, namespace, web):
    pods = pods_ready(core, namespace, "app=web", 3)
    assert len({pod.spec.node_name for pod in pods if pod.spec.node_name}) >= 1
    assert all(pod.status.pod_ip for pod in pods)
    status = apps.read_namespaced_deployment_status(web, namespace).status
    assert status.ready_replicas == 3
    assert status.available_replicas == 3


def test_a_deleted_pod_is_replaced(core, namespace, web):
    before = {pod.metadata.name for pod in pods_ready(core, namespace, "app=web", 3)}
    victim = sorted(before)[0]
    core.delete_namespaced_pod(victim, namespace)

    def replaced():
        pods = pods_ready(core, namespace, "app=web", 3)
        names = {pod.metadata.name for pod in pods or []}
        return names if names and victim not in names else None

    after = wait_for("a replacement pod", replaced)
    assert len(after - before) == 1


def test_changing_the_image_rolls_out_a_new_replica_set_and_rollback_restores_it(apps, core, namespace, web):
    first = wait_for("the first rollout", lambda: current_replica_set(apps, namespace, web))
    apps.patch_namespaced_deployment(
        web, namespace, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}}}}
    )

    def rolled_to_new_image():
        replica_set = current_replica_set(apps, namespace, web)
        if replica_set and replica_set.spec.template.spec.containers[0].image == "nginx:1.28":
            return replica_set
        return None

    second = wait_for("the rollout to nginx:1.28", rolled_to_new_image)
    assert second.metadata.name != first.metadata.name
    wait_for("old pods gone", lambda: pods_ready(core, namespace, "app=web", 3))
    images = {pod.spec.containers[0].image for pod in pods_ready(core, namespace, "app=web", 3)}
    assert images == {"nginx:1.28"}

    # What `kubectl rollout undo` does: put the previous ReplicaSet's template back.
    previous = apps.read_namespaced_replica_set(first.metadata.name, namespace)
    template = client.ApiClient().sanitize_for_serialization(previous.spec.template)
    template["metadata"]["labels"].pop("pod-template-hash", None)
    apps.patch_namespaced_deployment(web, namespace, {"spec": {"template": template}})

    def rolled_back():
        replica_set = current_replica_set(apps, namespace, web)
        return replica_set if replica_set and replica_set.metadata.name == first.metadata.name else None

    restored = wait_for("the rollback to the first ReplicaSet", rolled_back)
    assert restored.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert apps.read_namespaced_replica_set(second.metadata.name, namespace).spec.replicas == 0
    pods = wait_for(
        "pods back on nginx:1.27",
        lambda: (
            (ready := pods_ready(core, namespace, "app=web", 3))
            and all(pod.spec.containers[0].image == "nginx:1.27" for pod in ready)
            and ready
        ),
    )
    assert len(pods) == 3


def test_a_service_gets_an_endpoint_slice_with_the_ready_pods_addresses(core, kube, namespace, web):
    core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 80}]},
        },
    )
    discovery = client.DiscoveryV1Api(kube)
    pod_ips = sorted(pod.status.pod_ip for pod in pods_ready(core, namespace, "app=web", 3))

    def slice_addresses():
        slices = discovery.list_namespaced_endpoint_slice(
            namespace, label_selector="kubernetes.io/service-name=web"
        ).items
        addresses = sorted(
            address
            for endpoint_slice in slices
            for endpoint in endpoint_slice.endpoints or []
            if endpoint.conditions.ready
            for address in endpoint.addresses
        )
        return addresses if addresses == pod_ips else None

    assert wait_for("the EndpointSlice to list the 3 pods", slice_addresses) == pod_ips
    service = core.read_namespaced_service("web", namespace)
    assert service.spec.cluster_ip


def test_a_resource_quota_refuses_a_pod_over_quota(core, namespace):
    core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "small"}, "spec": {"hard": {"pods": "1"}}})
    wait_for(
        "the quota to be counted",
        lambda: core.read_namespaced_resource_quota("small", namespace).status.hard,
    )
    pod = {"spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    core.create_namespaced_pod(namespace, {**pod, "metadata": {"name": "first"}})
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, {**pod, "metadata": {"name": "second"}})
    assert refused.value.status == 403
    assert "exceeded quota: small" in refused.value.body
