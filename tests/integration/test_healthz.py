"""/healthz against the real PostgreSQL, Redis and cluster, and with each one made
unreachable: it answers 503 naming what is down, quickly; the names and reasons only to a
staff session or the bearer of HEALTHZ_TOKEN."""

import socket

import pytest

from tests.kube import write_token_kubeconfig

pytestmark = pytest.mark.django_db

TOKEN = "healthz-token-for-the-tests-0123456789abcdef"


@pytest.fixture
def staff(admin_client):
    """A staff session (pytest-django's admin_client), which reads the details."""
    return admin_client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_it_reports_every_dependency_up(staff, kube, settings):
    response = staff.get("/healthz")
    assert response.status_code == 200, response.content
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True, "detail": "postgresql"}
    assert checks["redis"] == {"ok": True, "detail": "PONG"}
    assert checks["cluster"]["ok"] is True
    assert checks["cluster"]["detail"].startswith("v1.36.")


def test_it_names_redis_when_redis_is_down(staff, kube, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = staff.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis"]
    assert "Connection refused" in body["checks"]["redis"]["detail"]


def test_it_names_the_cluster_when_the_cluster_is_down(staff, settings, tmp_path):
    kubeconfig = write_token_kubeconfig(tmp_path / "kubeconfig", server=f"https://127.0.0.1:{closed_port()}")
    settings.LABPLATFORM_KUBECONFIG = kubeconfig
    response = staff.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["cluster"]
    assert "unreachable: connection refused" in body["checks"]["cluster"]["detail"]
    assert "make cluster-up" in body["checks"]["cluster"]["detail"]
    assert "Traceback" not in response.content.decode()


def test_it_says_what_to_run_when_there_is_no_kubeconfig(staff, settings, tmp_path):
    settings.LABPLATFORM_KUBECONFIG = tmp_path / "missing"
    body = staff.get("/healthz").json()
    assert body["down"] == ["cluster"]
    assert "does not exist; run `make cluster-up`" in body["checks"]["cluster"]["detail"]


def test_a_student_or_a_visitor_reads_the_status_alone(client, kube, settings, django_user_model):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    assert client.get("/healthz").json() == {"status": "unavailable"}
    client.force_login(django_user_model.objects.create_user(username="sam"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_the_bearer_of_the_token_reads_the_details(client, kube, settings):
    settings.HEALTHZ_TOKEN = TOKEN
    response = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["database"] == {"ok": True, "detail": "postgresql"}
    assert client.get("/healthz", headers={"Authorization": "Bearer not-it"}).json() == {"status": "ok"}
