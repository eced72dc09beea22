"""/livez, the liveness probe: it says only that the process serves. It answers 200 with
no queries, and keeps answering while the database, Redis and the cluster are unreachable
(when /healthz, the readiness probe, answers 503), so an outage never restarts web pods."""

import socket
import subprocess

import pytest
import requests

from tests.kube import wait_for
from tests.processes import ROOT, stop, subprocess_environment

TOKEN = "livez-test-healthz-token-0123456789abcdef"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.django_db
def test_it_answers_200_without_a_query(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/livez")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_200_while_the_database_redis_and_cluster_are_unreachable(tmp_path):
    port, unreachable = closed_port(), closed_port()
    log = tmp_path / "web.log"
    environment = subprocess_environment(
        DEBUG="false",
        SECRET_KEY="livez-test-not-secret",
        DATABASE_URL=f"postgres://labplatform:x@127.0.0.1:{unreachable}/labplatform",
        REDIS_URL=f"redis://127.0.0.1:{unreachable}/0",
        LABPLATFORM_KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        HEALTHZ_TOKEN=TOKEN,
        BIND="127.0.0.1",
        PORT=str(port),
    )
    web = subprocess.Popen(
        [str(ROOT / "scripts" / "entrypoint.sh"), "web"],
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    try:

        def livez() -> requests.Response | None:
            assert web.poll() is None, f"the web role exited:\n{log.read_text()}"
            try:
                return requests.get(f"http://127.0.0.1:{port}/livez", timeout=5)
            except requests.RequestException:  # not up yet, slow to start, or answering half-started
                return None

        assert wait_for(f"/livez on port {port}", livez, timeout=60).status_code == 200
        readiness = requests.get(
            f"http://127.0.0.1:{port}/healthz", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        assert readiness.status_code == 503
        assert set(readiness.json()["down"]) == {"database", "redis", "cluster"}
    finally:
        stop(web)
