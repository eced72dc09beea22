"""What the local cluster carries for later work: KWOK's exec and logs resources, and pod
readiness that a test can slow down with an annotation."""

import pytest
from kubernetes import client

from tests.kube import KWOK_GROUP, pods_ready, wait_for

pytestmark = pytest.mark.local_cluster


def test_kwoks_exec_and_logs_resources_are_served(kube):
    resources = client.ApisApi(kube).get_api_versions()
    assert KWOK_GROUP in {group.name for group in resources.groups}
    served = {r.name for r in client.CustomObjectsApi(kube).get_api_resources(KWOK_GROUP, "v1alpha1").resources}
    assert {"execs", "clusterexecs", "logs", "clusterlogs"} <= served


def test_a_pod_annotated_with_a_ready_delay_becomes_ready_later(core, namespace):
    def pod(name: str, annotations: dict) -> dict:
        return {
            "metadata": {"name": name, "labels": {"app": name}, "annotations": annotations},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
        }

    core.create_namespaced_pod(namespace, pod("slow", {"labplatform.io/ready-delay": "12s"}))
    core.create_namespaced_pod(namespace, pod("fast", {}))

    wait_for("the fast pod to be Ready", lambda: pods_ready(core, namespace, "app=fast", 1))
    slow = core.read_namespaced_pod("slow", namespace)
    assert slow.spec.node_name, "the slow pod is scheduled"
    assert slow.status.phase == "Pending"
    wait_for("the slow pod to be Ready", lambda: pods_ready(core, namespace, "app=slow", 1), timeout=60)
