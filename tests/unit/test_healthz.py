"""/healthz's shape, status codes and who sees its details, with the gateway's answers
stubbed. The integration tests check it against the real database, Redis and cluster."""

import pytest

from labplatform import health
from labplatform.cluster.errors import ClusterUnavailable

TOKEN = "t0ken-for-the-tests-only-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def all_up(monkeypatch, settings):
    settings.HEALTHZ_TOKEN = TOKEN
    monkeypatch.setattr(health, "check_database", lambda: health.Check(True, "postgresql"))
    monkeypatch.setattr(health, "check_redis", lambda: health.Check(True, "PONG"))
    monkeypatch.setattr(health, "check_workers", lambda: health.Check(True, "heartbeat 3s ago from w1"))
    monkeypatch.setattr(health, "cluster_version", lambda **_: "v1.36.3")


@pytest.fixture
def cluster_down(all_up, monkeypatch):
    def unreachable(**_):
        raise ClusterUnavailable("cluster 'local' is unreachable: connection refused")

    monkeypatch.setattr(health, "cluster_version", unreachable)


def test_it_answers_200_with_the_details_to_the_tokens_bearer(client, all_up):
    response = client.get("/healthz", headers=BEARER)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["cluster"] == {"ok": True, "detail": "v1.36.3"}
    assert body["workers"] == {"ok": True, "detail": "heartbeat 3s ago from w1"}


def test_it_answers_503_naming_the_cluster_to_the_tokens_bearer(client, cluster_down):
    response = client.get("/healthz", headers=BEARER)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["cluster"]
    assert body["checks"]["cluster"]["detail"] == "cluster 'local' is unreachable: connection refused"
    assert body["checks"]["redis"]["ok"] is True


def test_anyone_else_gets_the_status_alone(client, all_up):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_anyone_else_gets_503_alone_when_a_dependency_is_down(client, cluster_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}
    assert b"cluster" not in response.content


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-token-of-the-same-length-0123456789ab",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Basic {TOKEN}",
        TOKEN,
        "Bearer",
        "Bearer ",
    ],
)
def test_a_wrong_token_or_scheme_gets_the_status_alone(client, cluster_down, authorization):
    response = client.get("/healthz", headers={"Authorization": authorization})
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable"}


def test_the_scheme_is_case_insensitive(client, all_up):
    assert "checks" in client.get("/healthz", headers={"Authorization": f"bearer {TOKEN}"}).json()


def test_with_no_token_set_no_bearer_gets_the_details(client, all_up, settings):
    settings.HEALTHZ_TOKEN = ""
    for authorization in ("Bearer ", "Bearer", f"Bearer {TOKEN}"):
        assert client.get("/healthz", headers={"Authorization": authorization}).json() == {"status": "ok"}


def test_a_local_or_forwarded_address_gets_no_details(client, cluster_down):
    """Behind the ingress every caller looks local: the address opens nothing."""
    for address, forwarded in [("127.0.0.1", ""), ("::1", ""), ("10.0.0.5", "127.0.0.1")]:
        response = client.get("/healthz", REMOTE_ADDR=address, headers={"X-Forwarded-For": forwarded})
        assert response.json() == {"status": "unavailable"}


def test_it_is_never_cached(client, all_up):
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
    assert "no-cache" in client.get("/healthz", headers=BEARER)["Cache-Control"]
