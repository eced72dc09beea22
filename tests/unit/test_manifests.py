"""The manifest builders, compared as whole values: what is sent to the cluster is exactly this."""

import re

import pytest

from labplatform.cluster import manifests

COHORT = "spring-2026"
STUDENT = "s4k2j9x0ab"
NAMESPACE = "lab-s4k2j9x0ab"
WORKSTATIONS = "labplatform-workstations"
LABELS = {
    "app.kubernetes.io/managed-by": "labplatform",
    "labplatform.io/cohort": COHORT,
    "labplatform.io/student": STUDENT,
}
PLATFORM_SUBJECT = {"kind": "ServiceAccount", "name": "labplatform", "namespace": "labplatform-system"}
STUDENT_SUBJECT = {"kind": "ServiceAccount", "name": "student", "namespace": NAMESPACE}


def test_the_constants_are_the_names_the_cluster_side_uses():
    assert (manifests.MANAGED_BY_LABEL, manifests.MANAGED_BY) == ("app.kubernetes.io/managed-by", "labplatform")
    assert (manifests.COHORT_LABEL, manifests.STUDENT_LABEL) == ("labplatform.io/cohort", "labplatform.io/student")
    assert manifests.INGRESS_HOST_ANNOTATION == "labplatform.io/ingress-host"
    assert (manifests.PLATFORM_NAMESPACE, manifests.PLATFORM_SERVICE_ACCOUNT) == ("labplatform-system", "labplatform")
    assert manifests.STUDENT_SERVICE_ACCOUNT == "student"
    assert [
        manifests.STUDENT_CLUSTER_ROLE,
        manifests.GRADER_CLUSTER_ROLE,
        manifests.TOKEN_MINTER_CLUSTER_ROLE,
        manifests.NODE_READER_CLUSTER_ROLE,
    ] == ["labplatform-student", "labplatform-grader", "labplatform-token-minter", "labplatform-node-reader"]
    assert manifests.FIELD_MANAGER == "labplatform"


def test_the_namespace_name_is_derived_from_the_opaque_student_id():
    assert manifests.student_namespace_name(STUDENT) == NAMESPACE
    assert manifests.student_namespace_name(student=STUDENT) == NAMESPACE


@pytest.mark.parametrize("student", ["", "Ann", "ann@example.com", "s-1", "s_1", "s.1", "ä1"])
def test_a_student_id_that_is_not_lowercase_letters_and_digits_is_refused(student):
    with pytest.raises(ValueError, match=re.escape(f"student id {student!r}")):
        manifests.student_namespace_name(student)


def test_a_namespace_name_longer_than_a_dns_label_is_refused():
    assert manifests.student_namespace_name("a" * 59) == "lab-" + "a" * 59
    with pytest.raises(ValueError, match="longer than 63 characters"):
        manifests.student_namespace_name("a" * 60)


def test_every_object_carries_the_managed_by_cohort_and_student_labels():
    assert manifests.labels(cohort=COHORT, student=STUDENT) == LABELS


@pytest.mark.parametrize("cohort", ["", "-spring", "spring 2026", "x" * 64])
def test_a_cohort_slug_that_is_not_a_label_value_is_refused(cohort):
    with pytest.raises(ValueError, match="cohort slug"):
        manifests.labels(cohort=cohort, student=STUDENT)


def test_the_namespace_enforces_baseline_and_warns_restricted():
    assert manifests.namespace(
        name=NAMESPACE, cohort=COHORT, student=STUDENT, ingress_host="lab-s4k2j9x0ab.labs.example.com"
    ) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                **LABELS,
                "pod-security.kubernetes.io/enforce": "baseline",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/audit-version": "latest",
            },
            "annotations": {"labplatform.io/ingress-host": "lab-s4k2j9x0ab.labs.example.com"},
        },
    }


@pytest.mark.parametrize("host", ["", ".labs.example.com", "*.labs.example.com"])
def test_the_namespace_refuses_an_ingress_host_that_is_not_a_plain_name(host):
    with pytest.raises(ValueError, match="ingress host"):
        manifests.namespace(name=NAMESPACE, cohort=COHORT, student=STUDENT, ingress_host=host)


@pytest.mark.parametrize("name", ["Lab-x", "lab_x", "-lab", "lab-", "x" * 64])
def test_a_namespace_that_is_not_a_dns_label_is_refused(name):
    with pytest.raises(ValueError, match="is not a DNS label"):
        manifests.service_account(namespace=name, cohort=COHORT, student=STUDENT)


def test_the_student_service_account_never_mounts_its_token():
    assert manifests.service_account(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "student", "namespace": NAMESPACE, "labels": LABELS},
        "automountServiceAccountToken": False,
    }


def test_the_student_role_binding_grants_the_student_role_to_the_student_in_its_namespace():
    assert manifests.student_role_binding(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "labplatform-student", "namespace": NAMESPACE, "labels": LABELS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "labplatform-student"},
        "subjects": [STUDENT_SUBJECT],
    }


def test_the_grader_role_binding_lets_the_platform_read_this_namespace():
    assert manifests.grader_role_binding(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "labplatform-grader", "namespace": NAMESPACE, "labels": LABELS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "labplatform-grader"},
        "subjects": [PLATFORM_SUBJECT],
    }


def test_the_token_minter_role_binding_lets_the_platform_mint_the_students_tokens():
    assert manifests.token_minter_role_binding(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "labplatform-token-minter", "namespace": NAMESPACE, "labels": LABELS},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "labplatform-token-minter",
        },
        "subjects": [PLATFORM_SUBJECT],
    }


def test_the_node_reader_binding_is_cluster_wide_and_named_after_the_namespace():
    assert manifests.node_reader_binding(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"labplatform-nodes-{NAMESPACE}", "labels": LABELS},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "labplatform-node-reader",
        },
        "subjects": [STUDENT_SUBJECT],
    }


def test_the_students_writes_flow_schema_puts_their_config_map_and_secret_writes_into_the_writes_level():
    """Matched before the students' schema (7900 < 8000); the shape admission.yaml admits."""
    schema = manifests.student_writes_flow_schema(namespace=NAMESPACE, cohort=COHORT, student=STUDENT)
    assert schema["metadata"] == {"name": f"labplatform-student-writes-{NAMESPACE}", "labels": LABELS}
    assert schema["spec"] == {
        "matchingPrecedence": 7900,
        "priorityLevelConfiguration": {"name": "labplatform-student-writes"},
        "distinguisherMethod": {"type": "ByUser"},
        "rules": [
            {
                "subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": "student", "namespace": NAMESPACE}}],
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "resources": ["configmaps", "secrets"],
                        "verbs": ["create", "update", "patch"],
                        "namespaces": ["*"],
                    }
                ],
            }
        ],
    }


def test_the_students_flow_schema_puts_their_service_account_alone_into_the_students_level():
    """The shape admission.yaml's labplatform-platform-flow-schemas admits: named after the
    namespace, precedence 8000 (before the built-in service-accounts, 9000), one subject."""
    assert manifests.student_flow_schema(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1",
        "kind": "FlowSchema",
        "metadata": {"name": f"labplatform-student-{NAMESPACE}", "labels": LABELS},
        "spec": {
            "matchingPrecedence": 8000,
            "priorityLevelConfiguration": {"name": "labplatform-students"},
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [
                {
                    "subjects": [
                        {"kind": "ServiceAccount", "serviceAccount": {"name": "student", "namespace": NAMESPACE}}
                    ],
                    "resourceRules": [
                        {
                            "apiGroups": ["*"],
                            "resources": ["*"],
                            "verbs": ["*"],
                            "clusterScope": True,
                            "namespaces": ["*"],
                        }
                    ],
                    "nonResourceRules": [{"nonResourceURLs": ["*"], "verbs": ["*"]}],
                }
            ],
        },
    }


def test_the_resource_quota_holds_the_presets_limits():
    hard = {"pods": "30", "requests.cpu": "4", "count/deployments.apps": "10"}
    quota = manifests.resource_quota(namespace=NAMESPACE, cohort=COHORT, student=STUDENT, hard=hard)
    assert quota == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "student-quota", "namespace": NAMESPACE, "labels": LABELS},
        "spec": {"hard": {"pods": "30", "requests.cpu": "4", "count/deployments.apps": "10"}},
    }
    assert quota["spec"]["hard"] is not hard, "the preset's dict is copied, so editing the manifest cannot change it"


def test_a_resource_quota_without_limits_is_refused():
    with pytest.raises(ValueError, match=f"resource quota for {NAMESPACE!r} has no limits"):
        manifests.resource_quota(namespace=NAMESPACE, cohort=COHORT, student=STUDENT, hard={})


def test_the_limit_range_gives_containers_default_requests_and_limits():
    assert manifests.limit_range(
        namespace=NAMESPACE,
        cohort=COHORT,
        student=STUDENT,
        default_request={"cpu": "50m", "memory": "64Mi"},
        default_limit={"cpu": "500m", "memory": "256Mi"},
    ) == {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "student-defaults", "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                }
            ]
        },
    }


def test_the_network_policies_deny_all_but_dns_and_the_same_namespace():
    metadata = {"namespace": NAMESPACE, "labels": LABELS}
    assert manifests.network_policies(namespace=NAMESPACE, cohort=COHORT, student=STUDENT) == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", **metadata},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-dns", **metadata},
            "spec": {
                "podSelector": {},
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
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-same-namespace", **metadata},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
        },
    ]


def test_the_workstation_kubeconfig_holds_only_the_server_its_ca_the_token_and_the_namespace():
    assert manifests.workstation_kubeconfig(
        server="https://127.0.0.1:6443", ca_data="Q0EgZGF0YQ==", token="t0ken", namespace=NAMESPACE
    ) == {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "labplatform",
                "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0EgZGF0YQ=="},
            }
        ],
        "users": [{"name": "student", "user": {"token": "t0ken"}}],
        "contexts": [
            {"name": "labplatform", "context": {"cluster": "labplatform", "user": "student", "namespace": NAMESPACE}}
        ],
        "current-context": "labplatform",
        "preferences": {},
    }


@pytest.mark.parametrize(
    ("server", "token", "message"),
    [
        ("http://127.0.0.1:6443", "t0ken", "API server address 'http://127.0.0.1:6443' must be https://"),
        ("https://127.0.0.1:6443", "", "the kubeconfig for 'lab-s4k2j9x0ab' has an empty token"),
    ],
)
def test_a_workstation_kubeconfig_without_tls_or_token_is_refused(server, token, message):
    with pytest.raises(ValueError, match=message):
        manifests.workstation_kubeconfig(server=server, ca_data="Q0E=", token=token, namespace=NAMESPACE)


def test_the_workstation_kubeconfig_secret_lives_in_the_workstation_namespace():
    assert manifests.workstation_kubeconfig_secret(
        workstation_namespace=WORKSTATIONS,
        student_namespace=NAMESPACE,
        cohort=COHORT,
        student=STUDENT,
        kubeconfig_yaml="apiVersion: v1\nkind: Config\n",
    ) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "ws-s4k2j9x0ab-kubeconfig",
            "namespace": WORKSTATIONS,
            "labels": LABELS,
            "annotations": {"labplatform.io/student-namespace": NAMESPACE},
        },
        "type": "Opaque",
        "stringData": {"config": "apiVersion: v1\nkind: Config\n"},
    }


def test_the_workstation_pod_is_unprivileged_and_mounts_only_the_students_kubeconfig():
    assert manifests.workstation_pod(
        workstation_namespace=WORKSTATIONS,
        student_namespace=NAMESPACE,
        cohort=COHORT,
        student=STUDENT,
        runtime=manifests.WorkstationRuntime(image="ghcr.io/example/workstation:1.0"),
    ) == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "ws-s4k2j9x0ab",
            "namespace": WORKSTATIONS,
            "labels": LABELS,
            "annotations": {"labplatform.io/student-namespace": NAMESPACE},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "hostUsers": False,
            "terminationGracePeriodSeconds": 5,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "runAsGroup": 1000,
                "fsGroup": 1000,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "shell",
                    "image": "ghcr.io/example/workstation:1.0",
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["/usr/bin/tini", "--"],
                    "args": ["sleep", "infinity"],
                    "env": [
                        {"name": "KUBECONFIG", "value": "/home/student/.kube/config"},
                        {"name": "KUBECACHEDIR", "value": "/tmp/.kube-cache"},
                        {"name": "LAB_NAMESPACE", "value": NAMESPACE},
                    ],
                    "volumeMounts": [
                        {"name": "home", "mountPath": "/home/student"},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "kubeconfig", "mountPath": "/home/student/.kube", "readOnly": True},
                    ],
                    "resources": {
                        "requests": {"cpu": "20m", "memory": "64Mi", "ephemeral-storage": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "1Gi"},
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
            "volumes": [
                {"name": "home", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                {"name": "kubeconfig", "secret": {"secretName": "ws-s4k2j9x0ab-kubeconfig", "defaultMode": 0o440}},
            ],
        },
    }


def test_a_workstation_pod_goes_to_its_node_pool_and_is_never_pulled_where_it_cannot_be():
    pod = manifests.workstation_pod(
        workstation_namespace=WORKSTATIONS,
        student_namespace=NAMESPACE,
        cohort=COHORT,
        student=STUDENT,
        runtime=manifests.WorkstationRuntime(
            image="localhost/labplatform/workstation:abc", pull_policy="Never", node_pool="labplatform.io/workstations"
        ),
    )
    assert pod["spec"]["nodeSelector"] == {"labplatform.io/workstations": "true"}
    assert pod["spec"]["tolerations"] == [
        {"key": "labplatform.io/workstations", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"


def test_a_workstation_pod_with_an_unknown_pull_policy_is_refused():
    with pytest.raises(ValueError, match="pull policy 'Sometimes'"):
        manifests.workstation_pod(
            workstation_namespace=WORKSTATIONS,
            student_namespace=NAMESPACE,
            cohort=COHORT,
            student=STUDENT,
            runtime=manifests.WorkstationRuntime(image="x", pull_policy="Sometimes"),
        )


def test_a_workstation_pod_without_an_image_is_refused():
    with pytest.raises(ValueError, match="workstation image for student 's4k2j9x0ab' is empty"):
        manifests.workstation_pod(
            workstation_namespace=WORKSTATIONS,
            student_namespace=NAMESPACE,
            cohort=COHORT,
            student=STUDENT,
            runtime=manifests.WorkstationRuntime(image=""),
        )


def test_builders_return_fresh_dicts_so_callers_may_change_them():
    first = manifests.service_account(namespace=NAMESPACE, cohort=COHORT, student=STUDENT)
    first["metadata"]["labels"]["extra"] = "x"
    assert (
        manifests.service_account(namespace=NAMESPACE, cohort=COHORT, student=STUDENT)["metadata"]["labels"] == LABELS
    )


def test_a_workstation_reaches_only_the_api_server_dns_and_its_students_namespace():
    policy = manifests.workstation_network_policy(
        workstation_namespace="labplatform-workstations",
        student_namespace="lab-s123456789",
        cohort="spring",
        student="s123456789",
        api_server=[manifests.ApiServerPeer(cidr="10.0.0.1/32", port=443)],
    )
    student_labels = {
        "app.kubernetes.io/managed-by": "labplatform",
        "labplatform.io/cohort": "spring",
        "labplatform.io/student": "s123456789",
    }
    assert policy == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "ws-s123456789", "namespace": "labplatform-workstations", "labels": student_labels},
        "spec": {
            "podSelector": {"matchLabels": student_labels},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [
                {"to": [{"ipBlock": {"cidr": "10.0.0.1/32"}}], "ports": [{"protocol": "TCP", "port": 443}]},
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "lab-s123456789"}}}]},
            ],
        },
    }


def test_a_workstation_policy_without_the_api_servers_address_is_refused():
    with pytest.raises(ValueError, match="no API server address"):
        manifests.workstation_network_policy(
            workstation_namespace="labplatform-workstations",
            student_namespace="lab-s123456789",
            cohort="spring",
            student="s123456789",
            api_server=[],
        )
