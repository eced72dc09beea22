"""Every call through the gateway has a timeout: an API server that accepts the
connection and never answers cannot hang a view or a task."""

import socket

import pytest

from labplatform.cluster.errors import ClusterUnavailable
from labplatform.cluster.info import cluster_version
from tests.kube import write_token_kubeconfig


@pytest.fixture
def silent_api_server():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_silent_api_server_times_out_instead_of_hanging(settings, tmp_path, silent_api_server):
    kubeconfig = write_token_kubeconfig(tmp_path / "kubeconfig", server=f"http://127.0.0.1:{silent_api_server}")
    settings.LABPLATFORM_KUBECONFIG = kubeconfig
    settings.KUBERNETES_TIMEOUT_SECONDS = 1
    with pytest.raises(ClusterUnavailable, match="timed out"):
        cluster_version()
