"""The local cluster as the benchmarks reach it: its kubeconfigs (cluster-admin, and the
platform's own identity), kubectl, and plain HTTP to its API server for the benchmarks'
own needs (watching, setting up and cleaning up). Raw JSON rather than the generated
client's models, so observing costs little CPU on a 2-core machine."""

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import kubernetes
import urllib3

from labplatform.cluster.manifests import COHORT_LABEL

# The local cluster's state folder, as cluster.sh and the platform's settings take it.
DEFAULT_STATE = Path.home() / ".local" / "state" / "labplatform" / "cluster"
STATE = Path(os.environ.get("LABPLATFORM_CLUSTER_STATE") or DEFAULT_STATE)
PLATFORM_KUBECONFIG = STATE / "platform-kubeconfig"
ADMIN_KUBECONFIG = STATE / "kubeconfig"
KUBECTL = Path.home() / ".cache" / "labplatform" / "kubernetes-v1.36.3" / "bin" / "kubectl"


@dataclass(frozen=True)
class Credentials:
    host: str
    ca_file: str
    cert_file: str | None
    key_file: str | None
    authorization: str | None  # "Bearer …"


def credentials(kubeconfig: Path) -> Credentials:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
    token = configuration.api_key.get("BearerToken") or configuration.api_key.get("authorization")
    if token and not token.startswith("Bearer "):
        token = f"Bearer {token}"
    host = configuration.host
    if not host.startswith("https://127."):
        raise SystemExit(f"{kubeconfig} points at {host}; the benchmark only talks to the local cluster on 127.0.0.0/8")
    return Credentials(
        host=host,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        authorization=token,
    )


class Kube:
    def __init__(self, kubeconfig: Path, *, pool: int = 16):
        self.credentials = credentials(kubeconfig)
        self.http = urllib3.PoolManager(
            maxsize=pool,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self.credentials.ca_file,
            cert_file=self.credentials.cert_file,
            key_file=self.credentials.key_file,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=120),
        )

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.credentials.authorization:
            headers["Authorization"] = self.credentials.authorization
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def request(self, method: str, path: str, query: dict | None = None, body: dict | None = None, **kw):
        url = self.credentials.host + path + (f"?{urlencode(query)}" if query else "")
        content_type = "application/json" if body is not None else None
        data = json.dumps(body).encode() if body is not None else None
        return self.http.request(method, url, body=data, headers=self._headers(content_type), **kw)

    def json(self, method: str, path: str, query: dict | None = None, body: dict | None = None, ok=(200,)) -> dict:
        response = self.request(method, path, query, body)
        if response.status not in ok:
            raise RuntimeError(f"{method} {path}: {response.status} {response.data[:300]!r}")
        return json.loads(response.data) if response.data else {}

    def list_names(self, path: str, selector: str) -> list[str]:
        items = self.json("GET", path, {"labelSelector": selector})["items"]
        return [item["metadata"]["name"] for item in items]


def cohort_selector(cohort: str) -> str:
    return f"{COHORT_LABEL}={cohort}"
