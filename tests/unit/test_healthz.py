"""/healthz's shape and status codes, with the gateway's answers stubbed. The
integration tests check it against the real database, Redis and cluster."""

import pytest

from labplatform import health
from labplatform.cluster.errors import ClusterUnavailable


@pytest.fixture
def all_up(monkeypatch):
    monkeypatch.setattr(health, "check_database", lambda: health.Check(True, "postgresql"))
    monkeypatch.setattr(health, "check_redis", lambda: health.Check(True, "PONG"))
    monkeypatch.setattr(health, "cluster_version", lambda **_: "v1.36.3")


def test_it_answers_200_when_everything_is_up(client, all_up):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["cluster"] == {"ok": True, "detail": "v1.36.3"}


def test_it_answers_503_naming_the_cluster_when_the_cluster_is_down(client, all_up, monkeypatch):
    def unreachable(**_):
        raise ClusterUnavailable("cluster 'local' is unreachable: connection refused")

    monkeypatch.setattr(health, "cluster_version", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["down"] == ["cluster"]
    assert body["checks"]["cluster"]["detail"] == "cluster 'local' is unreachable: connection refused"
    assert body["checks"]["redis"]["ok"] is True


def test_it_is_never_cached(client, all_up):
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
