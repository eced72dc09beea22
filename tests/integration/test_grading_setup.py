"""A task's setup on the real local cluster: per-student values, objects applied into the
namespace, baselines read, and pod logs that `kubectl logs` prints."""

import stat

import pytest

from labplatform.cluster.errors import ObjectRefused
from labplatform.cluster.kwok_logs import pod_logs_dir, pod_logs_remove
from lessons.grading.setup import task_setup_run
from tests.kube import pods_ready, wait_for

pytestmark = pytest.mark.usefixtures("gateway_as_admin", "log_files_removed")


@pytest.fixture
def log_files_removed(namespace):
    yield
    pod_logs_remove(namespace=namespace)


SETUP = {
    "values": {"code": {"generate": "word"}, "port": {"generate": "number"}, "token": {"generate": "hex"}},
    "objects": [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": "somewhere-else"},
            "data": {"code": "{{ values.code }}", "where": "{{ namespace }}"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "logger", "labels": {"app": "logger"}},
            "spec": {"containers": [{"name": "logger", "image": "busybox:1.36"}]},
        },
    ],
    "pod_logs": [{"pod": "logger", "text": "started\nyour code is {{ values.code }}\n"}],
}


def test_values_are_generated_per_student(namespace):
    first = task_setup_run(setup={"values": SETUP["values"]}, cluster="local", namespace=namespace, local_kwok=True)
    second = task_setup_run(setup={"values": SETUP["values"]}, cluster="local", namespace=namespace, local_kwok=True)
    values = first["values"]
    assert set(values) == {"code", "port", "token"}
    assert values["code"].count("-") == 1 and values["code"].replace("-", "").isalpha()
    assert 1000 <= int(values["port"]) <= 9999
    assert len(values["token"]) == 8 and int(values["token"], 16) >= 0
    assert first["values"] != second["values"]
    assert first["baseline"] == {}


def test_objects_are_applied_into_the_students_namespace_with_templates(core, apps, namespace):
    data = task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=False)
    config = core.read_namespaced_config_map("settings", namespace)
    assert config.data == {"code": data["values"]["code"], "where": namespace}
    assert {field.manager for field in config.metadata.managed_fields} == {"labplatform"}
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 2


def test_running_setup_again_puts_objects_back(core, namespace):
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=False)
    core.patch_namespaced_config_map("settings", namespace, {"data": {"where": "changed"}})
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=False)
    assert core.read_namespaced_config_map("settings", namespace).data["where"] == namespace


def test_cluster_scoped_objects_are_refused(namespace):
    setup = {"objects": [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"}}]}
    with pytest.raises(ObjectRefused, match="Node x: is cluster-scoped"):
        task_setup_run(setup=setup, cluster="local", namespace=namespace, local_kwok=False)


def test_baselines_are_read_with_a_selector_and_a_jmespath(core, namespace):
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=False)
    pods = wait_for("2 Ready pods of web", lambda: pods_ready(core, namespace, "app=web", 2))
    pods_target = {"apiVersion": "v1", "kind": "Pod", "selector": {"app": "web"}}
    web_target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    baseline = {
        "pod_uids": {"target": pods_target, "select": "[].metadata.uid"},
        "replicas": {"target": web_target, "select": "[0].spec.replicas"},
    }
    data = task_setup_run(setup={"baseline": baseline}, cluster="local", namespace=namespace, local_kwok=False)
    assert sorted(data["baseline"]["pod_uids"]) == sorted(pod.metadata.uid for pod in pods)
    assert data["baseline"]["replicas"] == 2


def test_pod_logs_are_what_kubectl_logs_prints(core, namespace):
    data = task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=True)
    wait_for("pod logger Ready", lambda: pods_ready(core, namespace, "app=logger", 1))
    logs = core.read_namespaced_pod_log("logger", namespace)
    assert logs == f"started\nyour code is {data['values']['code']}\n"
    assert core.read_namespaced_pod_log("logger", namespace, tail_lines=1) == f"your code is {data['values']['code']}\n"


def test_pod_log_files_are_roots_alone(namespace):
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=True)
    log_file = pod_logs_dir() / namespace / "logger.log"
    for path, mode in [(pod_logs_dir(), 0o700), (log_file.parent, 0o700), (log_file, 0o600)]:
        status = path.stat()
        assert (stat.S_IMODE(status.st_mode), status.st_uid) == (mode, 0), path


def test_pod_log_files_go_with_the_namespace(namespace):
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=True)
    pod_logs_remove(namespace=namespace)
    assert not (pod_logs_dir() / namespace).exists()
    pod_logs_remove(namespace=namespace)


def test_pod_logs_are_skipped_on_a_cluster_that_is_not_local(core, namespace):
    task_setup_run(setup=SETUP, cluster="local", namespace=namespace, local_kwok=False)
    assert not (pod_logs_dir() / namespace).exists()
