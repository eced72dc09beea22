"""How large a student's objects may be (k8s/platform/base/student-object-sizes.yaml), tried
as the student with their own ServiceAccount token against the real local API server: a
ConfigMap or Secret holds at most 64 KiB, an object's annotations at most 192 KiB, which
`kubectl apply`'s copy of a 64 KiB ConfigMap fits in."""

import base64
import itertools
import json
import os
import string

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.lessons import Student, provisioned_student

pytestmark = pytest.mark.local_cluster
DATA_LIMIT = 64 * 1024
ANNOTATION_LIMIT = 192 * 1024
CONFIGMAP_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-configmap-size'"
SECRET_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-secret-size'"
ANNOTATIONS_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-annotations'"


@pytest.fixture(scope="module")
def student(kube, tmp_path_factory) -> Student:
    with provisioned_student(tmp_path_factory.mktemp("student"), cohort="object-sizes") as student:
        yield student


@pytest.fixture(scope="module")
def as_student(student) -> client.ApiClient:
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=str(student.kubeconfig))


def file_of(student: Student, name: str, content: bytes) -> str:
    (student.workdir / name).write_bytes(content)
    return name


def filling(key: str, total: int, unit: bytes) -> bytes:
    """`unit` repeated so that the key and the value hold `total` bytes together."""
    size = total - len(key)
    return (unit * (size // len(unit) + 1))[:size]


def last_applied_bytes(student: Student, kind: str, name: str) -> int:
    stored = json.loads(student.run(f"kubectl get {kind} {name} -o json"))
    return len(stored["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].encode())


# What a student keeps in a ConfigMap or Secret at the limit, applied as lesson 15.9 does
# (`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`), and how large
# kubectl's copy of it in the last-applied-configuration annotation is then.
AT_THE_LIMIT = [
    ("configmap", "prompt.txt", b'You answer "questions" about the handbook.\n', 67_000),
    ("configmap", "index.html", b'<li class="x"><a href="/a?b=1&c=2">A & B</a></li>\n', 128 * 1024),
    ("configmap", "model.bin", None, 87_000),
    ("secret generic", "tls.pem", None, 87_000),
]


@pytest.mark.parametrize(("kind", "key", "unit", "copy_over"), AT_THE_LIMIT, ids=[row[1] for row in AT_THE_LIMIT])
def test_64_kib_applied_with_kubectl_apply_is_admitted(student, kind, key, unit, copy_over):
    content = filling(key, DATA_LIMIT, unit) if unit else os.urandom(DATA_LIMIT - len(key))
    name = key.replace(".", "-")
    path = file_of(student, key, content)
    student.run(f"kubectl create {kind} {name} --from-file={path} --dry-run=client -o yaml | kubectl apply -f -")
    copy = last_applied_bytes(student, kind.split()[0], name)
    assert copy_over < copy < ANNOTATION_LIMIT, f"kubectl's copy of {key} is {copy} bytes"


@pytest.mark.parametrize(
    ("kind", "policy"),
    [("configmap", CONFIGMAP_POLICY), ("secret generic", SECRET_POLICY)],
    ids=["configmap", "secret"],
)
def test_one_byte_over_64_kib_is_refused_saying_the_limit(student, kind, policy):
    noun = "ConfigMap" if kind == "configmap" else "Secret"
    name = f"over-{kind.split()[0]}"
    path = file_of(student, "data.bin", os.urandom(DATA_LIMIT + 1 - len("data.bin")))
    result = student.shell(f"kubectl create {kind} {name} --from-file={path}")
    assert result.returncode != 0
    assert f"{policy} with binding" in result.stderr, result.stderr
    assert (
        f"{noun} {name} holds 65537 bytes (65 KiB) in its keys and values; a {noun} here may hold at most"
        " 65536 bytes (64 KiB). Every version of every object is kept in the cluster's shared database"
    ) in result.stderr, result.stderr
    assert student.shell(f"kubectl get {kind.split()[0]} {name}").returncode != 0, "nothing was stored"


def test_the_900_kb_configmap_that_used_to_be_accepted_is_refused(student):
    path = file_of(student, "handbook.md", filling("handbook.md", 900_000, b"# Chapter\nSome text.\n"))
    # (kubectl apply could not send it: its copy would pass the API server's 256 KiB of annotations.)
    result = student.shell(f"kubectl create configmap handbook --from-file={path}")
    assert result.returncode != 0
    assert "ConfigMap handbook holds 900000 bytes (879 KiB) in its keys and values" in result.stderr, result.stderr
    assert "keep documents, data sets and model files out of ConfigMaps" in result.stderr


def test_a_secrets_string_data_counts_decoded_and_the_limit_holds_on_update(as_student, student):
    core = client.CoreV1Api(as_student)
    core.create_namespaced_secret(
        student.namespace, {"metadata": {"name": "api-keys"}, "stringData": {"OPENAI_API_KEY": "sk-test-1234"}}
    )
    grown = {"stringData": {"BUNDLE": "x" * DATA_LIMIT}}
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_secret("api-keys", student.namespace, grown)
    assert refused.value.status == 403
    assert (
        f"Secret api-keys holds {len('OPENAI_API_KEY') + 12 + len('BUNDLE') + DATA_LIMIT} bytes" in refused.value.body
    )
    stored = core.read_namespaced_secret("api-keys", student.namespace).data
    assert base64.b64decode(stored["OPENAI_API_KEY"]) == b"sk-test-1234"
    assert "BUNDLE" not in stored


def test_many_small_keys_are_refused_by_their_count(as_student, student):
    data = {f"k{i}": "" for i in range(1001)}
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_student).create_namespaced_config_map(
            student.namespace, {"metadata": {"name": "keys"}, "data": data}
        )
    assert refused.value.status == 403
    assert "ConfigMap keys has 1001 keys; a ConfigMap here may have at most 1000 (and 64 KiB in all)" in (
        refused.value.body
    )


def service(name: str, annotations: dict[str, str]) -> dict:
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
    }


def test_annotations_over_192_kib_on_any_object_are_refused(as_student, student):
    core = client.CoreV1Api(as_student)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_service(student.namespace, service("notes", {"example.com/notes": "x" * 200_000}))
    assert refused.value.status == 403
    assert ANNOTATIONS_POLICY in refused.value.body
    assert (
        f"Service notes carries {len('example.com/notes') + 200_000} bytes (196 KiB) of annotations; an object here"
        " may carry at most 196608 bytes (192 KiB)"
    ) in refused.value.body

    core.create_namespaced_service(student.namespace, service("described", {"example.com/owner": "me"}))
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_service(
            "described",
            student.namespace,
            {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "x" * 200_000}}},
        )
    assert refused.value.status == 403
    assert "`kubectl apply --server-side` keeps none" in refused.value.body
    kept = core.read_namespaced_service("described", student.namespace).metadata.annotations
    assert kept == {"example.com/owner": "me"}


def test_tens_of_thousands_of_annotations_are_refused_by_their_count_not_the_cel_cost_limit(as_student, student):
    """Summing the sizes of 60,000 annotations costs more than the API server lets one CEL
    expression spend; the count is checked first, so the refusal still says why."""
    # Keys of 1 to 4 letters and digits: 60,000 of them hold 190 KB, under the API
    # server's own 256 KiB limit, which is checked before admission.
    keys = (
        "".join(p) for n in range(1, 5) for p in itertools.product(string.ascii_lowercase + string.digits, repeat=n)
    )
    annotations = {key: "" for key in itertools.islice(keys, 60_000)}
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_student).create_namespaced_config_map(
            student.namespace, {"metadata": {"name": "crowded", "annotations": annotations}}
        )
    assert refused.value.status == 403
    assert "ConfigMap crowded has 60000 annotations; an object here may have at most 1000" in refused.value.body
    assert "cost" not in refused.value.body


def test_the_lessons_own_configuration_is_admitted(student):
    """Lesson 15.9's objects, made as it makes them."""
    student.run(
        "kubectl create configmap rag-config --from-literal=MODEL_NAME=gpt-4o-mini"
        " --from-literal=VECTOR_DB_URL=http://qdrant:6333 --from-literal=TOP_K=5\n"
        "kubectl create secret generic rag-secrets --from-literal=OPENAI_API_KEY=sk-test-1234\n"
        "printf 'You answer questions about the course handbook.\\n' > system-prompt.txt\n"
        "kubectl create configmap demo-prompt --from-file=system-prompt.txt\n"
        "kubectl create configmap rag-config --from-literal=MODEL_NAME=gpt-4o --from-literal=TOP_K=5"
        " --dry-run=client -o yaml | kubectl apply -f -\n"
        "kubectl annotate configmap rag-config kubernetes.io/change-cause='new model'"
    )
