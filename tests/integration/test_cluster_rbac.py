"""RBAC on the local cluster is the real one: a ServiceAccount's own token, bound to a
Role in one namespace, cannot reach another namespace."""

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException


def token_only_client(kube: client.ApiClient, token: str) -> client.ApiClient:
    """A client holding only the server, its CA and the token. A client certificate would
    win over the token and silently act as cluster-admin, so none is copied."""
    admin = kube.configuration
    configuration = client.Configuration()
    configuration.host = admin.host
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    assert configuration.cert_file is None and configuration.key_file is None
    return client.ApiClient(configuration)


@pytest.fixture
def reader_token(kube, core, namespace) -> str:
    rbac = client.RbacAuthorizationV1Api(kube)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    request = core.create_namespaced_service_account_token("reader", namespace, {"spec": {"expirationSeconds": 600}})
    return request.status.token


def test_a_service_account_lists_pods_in_its_own_namespace_only(kube, namespace, other_namespace, reader_token):
    as_reader = client.CoreV1Api(token_only_client(kube, reader_token))
    assert as_reader.list_namespaced_pod(namespace).items == []

    with pytest.raises(ApiException) as denied:
        as_reader.list_namespaced_pod(other_namespace)
    assert denied.value.status == 403
    message = json.loads(denied.value.body)["message"]
    assert f'"system:serviceaccount:{namespace}:reader" cannot list resource "pods"' in message
    assert f'in the namespace "{other_namespace}"' in message


def test_the_role_grants_reads_not_writes(kube, namespace, reader_token):
    as_reader = client.CoreV1Api(token_only_client(kube, reader_token))
    with pytest.raises(ApiException) as denied:
        as_reader.create_namespaced_pod(
            namespace, {"metadata": {"name": "x"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        )
    assert denied.value.status == 403


def test_self_subject_access_review_agrees(kube, namespace, other_namespace, reader_token):
    authz = client.AuthorizationV1Api(token_only_client(kube, reader_token))

    def allowed(ns: str, verb: str) -> bool:
        review = authz.create_self_subject_access_review(
            {"spec": {"resourceAttributes": {"namespace": ns, "verb": verb, "resource": "pods"}}}
        )
        return review.status.allowed

    assert allowed(namespace, "list") is True
    assert allowed(other_namespace, "list") is False
    assert allowed(namespace, "delete") is False
