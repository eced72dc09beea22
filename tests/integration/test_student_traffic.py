"""What a student's Services and Ingresses may ask of the cluster's shared networking
(k8s/platform/base/student-traffic.yaml), tried as the student with their own
ServiceAccount token against the real local API server: no externalIPs or ExternalName
Services, LoadBalancer Services of the platform's class (filled in for them), Ingresses
of the platform's class with plain paths and only the allowed annotations. The lessons'
own Services and Ingresses are admitted as the lessons make them."""

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.kube import admin_kubeconfig, kubectl
from tests.lessons import Student, provisioned_student

pytestmark = pytest.mark.local_cluster
SERVICES_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-services'"
INGRESS_POLICY = "ValidatingAdmissionPolicy 'labplatform-student-ingress'"
NONE = "labplatform.io/none"  # the local overlay's loadBalancerClass
INGRESS_CLASS = "nginx"  # and its ingressClassName


@pytest.fixture(scope="module")
def student(kube, tmp_path_factory) -> Student:
    with provisioned_student(tmp_path_factory.mktemp("student"), cohort="student-traffic") as student:
        yield student


@pytest.fixture(scope="module")
def as_student(student) -> client.ApiClient:
    import kubernetes

    return kubernetes.config.new_client_from_config(config_file=str(student.kubeconfig))


@pytest.fixture(scope="module")
def host(student) -> str:
    """The student's own host, found as lesson 15.10 has them find it."""
    return student.run(
        "export MY_HOST=$(kubectl create ingress probe --rule='probe.invalid/=probe:80' --dry-run=server 2>&1"
        " | grep -o 'outside [^;]*' | cut -d' ' -f2)\necho $MY_HOST"
    ).strip()


def test_the_classes_are_the_local_overlays():
    data = json.loads(
        kubectl(
            admin_kubeconfig(),
            "-n",
            "labplatform-system",
            "get",
            "configmap",
            "labplatform-student-classes",
            "-o",
            "json",
        ).stdout
    )["data"]
    assert data == {"ingressClassName": INGRESS_CLASS, "loadBalancerClass": NONE}


def service(name: str, **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8000}], **spec},
    }


def test_a_service_with_external_ips_is_refused_at_create_and_at_update(as_student, student):
    result = student.shell(
        f"kubectl apply -f - <<'EOF'\n{json.dumps(service('takeover', externalIPs=['203.0.113.7']))}\nEOF"
    )
    assert result.returncode != 0
    assert f'services "takeover" is forbidden: {SERVICES_POLICY}' in result.stderr, result.stderr
    assert (
        "Service takeover sets spec.externalIPs (203.0.113.7), which is not allowed: every node of the shared"
        " cluster would answer for those addresses, for everyone's pods. Remove spec.externalIPs"
    ) in result.stderr
    core = client.CoreV1Api(as_student)
    core.create_namespaced_service(student.namespace, service("plain"))
    with pytest.raises(ApiException) as refused:
        core.patch_namespaced_service("plain", student.namespace, {"spec": {"externalIPs": ["10.0.0.1"]}})
    assert refused.value.status == 403
    assert "Service plain sets spec.externalIPs (10.0.0.1), which is not allowed" in refused.value.body
    assert not core.read_namespaced_service("plain", student.namespace).spec.external_ips


def test_an_external_name_service_is_refused(student):
    result = student.shell("kubectl create service externalname metadata --external-name=metadata.google.internal")
    assert result.returncode != 0
    assert f'services "metadata" is forbidden: {SERVICES_POLICY}' in result.stderr, result.stderr
    assert (
        "Service metadata is of type ExternalName (metadata.google.internal), which is not allowed: the shared"
        " ingress controller would fetch whatever address that name leads to, past your namespace's network policies."
        " Use a Service that selects your pods (type ClusterIP, the default)"
    ) in result.stderr


def load_balancer_class(student: Student, name: str) -> str:
    return student.run(f"kubectl get service {name} -o jsonpath='{{.spec.type}} {{.spec.loadBalancerClass}}'")


def test_the_lessons_load_balancer_gets_the_platforms_class_and_costs_nothing(student):
    """Lesson 15.8's command, as its solution runs it: the Service is a LoadBalancer as the
    check wants, of a class no controller serves, so nothing makes a cloud load balancer."""
    student.run(
        "kubectl create deployment rag-api --image=python:3.12-slim --replicas=1\n"
        "kubectl expose deployment rag-api --name=rag-api-public --type=LoadBalancer --port=80 --target-port=8000"
    )
    assert load_balancer_class(student, "rag-api-public") == f"LoadBalancer {NONE}"
    # Applied again, changed or replaced without the field, it keeps the class (which the
    # API server would refuse to change).
    student.run(
        "kubectl label service rag-api-public tier=api\n"
        "kubectl get service rag-api-public -o json | python3 -c 'import json,sys; o=json.load(sys.stdin);"
        ' del o["spec"]["loadBalancerClass"]; print(json.dumps(o))\' | kubectl replace -f -'
    )
    assert load_balancer_class(student, "rag-api-public") == f"LoadBalancer {NONE}"
    # The lesson's manifest (15.11), applied twice, client-side and server-side.
    manifest = json.dumps(service("rag-api", type="LoadBalancer"))
    student.run(f"kubectl apply -f - <<'EOF'\n{manifest}\nEOF\nkubectl apply -f - <<'EOF'\n{manifest}\nEOF")
    assert load_balancer_class(student, "rag-api") == f"LoadBalancer {NONE}"
    student.run(f"kubectl delete service rag-api\nkubectl apply --server-side -f - <<'EOF'\n{manifest}\nEOF")
    student.run(f"kubectl apply --server-side -f - <<'EOF'\n{manifest}\nEOF")
    assert load_balancer_class(student, "rag-api") == f"LoadBalancer {NONE}"
    student.run("kubectl delete service rag-api rag-api-public")  # the quota holds 2 LoadBalancers


def test_a_service_turned_into_a_load_balancer_gets_the_class_and_loses_it_going_back(student):
    student.run(
        "kubectl create service clusterip turned --tcp=80:8000\n"
        'kubectl patch service turned -p \'{"spec":{"type":"LoadBalancer"}}\''
    )
    assert load_balancer_class(student, "turned") == f"LoadBalancer {NONE}"
    student.run('kubectl patch service turned -p \'{"spec":{"type":"ClusterIP"}}\'')
    assert load_balancer_class(student, "turned") == "ClusterIP "
    student.run("kubectl delete service turned")


def test_a_load_balancer_of_another_class_is_refused(as_student, student):
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(as_student).create_namespaced_service(
            student.namespace, service("billed", type="LoadBalancer", loadBalancerClass="service.k8s.aws/nlb")
        )
    assert refused.value.status == 403
    assert SERVICES_POLICY in refused.value.body
    assert (
        f"Service billed is a LoadBalancer of class service.k8s.aws/nlb, which is not allowed: LoadBalancer Services"
        f" here are of class {NONE}, which the platform fills in. Remove spec.loadBalancerClass"
    ) in refused.value.body


def ingress(name: str, host: str, *, path: str = "/api", annotations: dict | None = None, **spec) -> dict:
    backend = {"service": {"name": "rag-api", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations or {}},
        "spec": {
            "rules": [{"host": host, "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]}}],
            **spec,
        },
    }


def test_the_lessons_ingress_is_admitted_as_the_lesson_makes_it(student, host):
    """Lesson 15.10: kubectl create ingress, then a second path patched in; and an Ingress
    naming the platform's class with the annotations an HTTP API may need."""
    student.run(
        f"kubectl create ingress rag-api --rule='{host}/api*=rag-api:80'\n"
        'kubectl patch ingress rag-api --type=json -p=\'[{"op": "add", "path": "/spec/rules/0/http/paths/-",'
        ' "value": {"path": "/", "pathType": "Prefix",'
        ' "backend": {"service": {"name": "chat-ui", "port": {"number": 80}}}}}]\''
    )
    tuned = ingress(
        "tuned",
        f"api.{host}",
        path="/v1",
        ingressClassName=INGRESS_CLASS,
        annotations={
            "nginx.ingress.kubernetes.io/rewrite-target": "/",
            "nginx.ingress.kubernetes.io/proxy-body-size": "16m",
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
            "nginx.ingress.kubernetes.io/backend-protocol": "HTTPS",
            "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        },
    )
    student.run(f"kubectl apply -f - <<'EOF'\n{json.dumps(tuned)}\nEOF")
    student.run("kubectl annotate ingress tuned kubernetes.io/change-cause='longer timeout'")


INJECTION = "/ break; } location /x { proxy_pass http://169.254.169.254; }"
REFUSED_INGRESSES = [
    (
        "another class",
        {"ingressClassName": "alb"},
        f"Ingress web is for the ingress class alb, which is not allowed: Ingresses here are served by the class"
        f" {INGRESS_CLASS}. Set spec.ingressClassName: {INGRESS_CLASS} or leave it out",
    ),
    (
        "the old class annotation",
        {"annotations": {"kubernetes.io/ingress.class": "alb"}},
        "Ingress web: annotation kubernetes.io/ingress.class is not allowed: the shared ingress controller takes its"
        " annotations as configuration. Allowed are nginx.ingress.kubernetes.io/backend-protocol,",
    ),
    (
        "a server alias",
        {"annotations": {"nginx.ingress.kubernetes.io/server-alias": "www.example.com"}},
        "annotation nginx.ingress.kubernetes.io/server-alias is not allowed",
    ),
    (
        "an auth-url to the metadata address",
        {"annotations": {"nginx.ingress.kubernetes.io/auth-url": "http://169.254.169.254/latest/meta-data/"}},
        "annotation nginx.ingress.kubernetes.io/auth-url is not allowed",
    ),
    (
        "a mirror and a snippet",
        {
            "annotations": {
                "nginx.ingress.kubernetes.io/mirror-target": "http://attacker.example/",
                "nginx.ingress.kubernetes.io/configuration-snippet": "more_set_headers 'X: y';",
            }
        },
        "annotations nginx.ingress.kubernetes.io/configuration-snippet, nginx.ingress.kubernetes.io/mirror-target"
        " are not allowed",
    ),
    (
        "a certificate request",
        {"annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"}},
        "annotation cert-manager.io/cluster-issuer is not allowed",
    ),
    (
        "configuration in an allowed annotation's value",
        {"annotations": {"nginx.ingress.kubernetes.io/rewrite-target": INJECTION}},
        # The value quoted up to its 40th character.
        f"Ingress web: annotation nginx.ingress.kubernetes.io/rewrite-target: {INJECTION[:40]}..."
        " (it takes a plain path, such as /) is not allowed",
    ),
    (
        "a body size past the bound",
        {"annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "10g"}},
        "annotation nginx.ingress.kubernetes.io/proxy-body-size: 10g (it takes a size of at most 99m, such as 8m)"
        " is not allowed",
    ),
    (
        "configuration in a path",
        {"path": "/api{ return 200; }"},
        "Ingress web: path /api{ return 200; } is not allowed: a path here is plain, / and then letters, digits and"
        " / . _ ~ - (the shared ingress controller writes it into its configuration). Use a Prefix path such as /api",
    ),
]


@pytest.mark.parametrize(("what", "change", "message"), REFUSED_INGRESSES, ids=[row[0] for row in REFUSED_INGRESSES])
def test_an_ingress_that_configures_the_shared_controller_is_refused(student, host, what, change, message):
    manifest = ingress("web", host, **change)
    result = student.shell(f"kubectl apply -f - <<'EOF'\n{json.dumps(manifest)}\nEOF")
    assert result.returncode != 0, f"{what} was admitted"
    assert f'ingresses.networking.k8s.io "web" is forbidden: {INGRESS_POLICY}' in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert student.shell("kubectl get ingress web").returncode != 0


def test_an_annotation_added_to_an_admitted_ingress_is_refused(as_student, student, host):
    networking = client.NetworkingV1Api(as_student)
    networking.create_namespaced_ingress(student.namespace, ingress("later", host))
    with pytest.raises(ApiException) as refused:
        networking.patch_namespaced_ingress(
            "later",
            student.namespace,
            {"metadata": {"annotations": {"nginx.ingress.kubernetes.io/server-snippet": "x"}}},
        )
    assert refused.value.status == 403
    assert "Ingress later: annotation nginx.ingress.kubernetes.io/server-snippet is not allowed" in refused.value.body
    assert not networking.read_namespaced_ingress("later", student.namespace).metadata.annotations
