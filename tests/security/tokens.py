"""Two students provisioned on the local cluster as the platform does it (the platform's
own identity), and the attacker's client: only the API server, its CA and the student's own
ServiceAccount token, minted the way their workstation's kubeconfig gets it."""

import json
import uuid
from pathlib import Path

import kubernetes
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labplatform.cluster.students import (
    StudentEnvironmentSpec,
    student_environment_apply,
    student_environment_delete,
    student_kubeconfig,
    student_token,
)
from tests.cohorts import local_student_spec

WORKSTATIONS = "labplatform-workstations"
PLATFORM_NAMESPACE = "labplatform-system"


def two_students(cohort: str) -> list[StudentEnvironmentSpec]:
    specs = [local_student_spec("s" + uuid.uuid4().hex[:9], cohort=cohort) for _ in range(2)]
    for spec in specs:
        student_environment_apply(spec)
    return specs


def remove(specs: list[StudentEnvironmentSpec]) -> None:
    for spec in specs:
        student_environment_delete(spec)


def kubeconfig_file(spec: StudentEnvironmentSpec, directory: Path) -> Path:
    """The student's kubeconfig as their workstation has it: server, CA and token only (a
    client certificate would silently win over the token)."""
    config = student_kubeconfig(spec, student_token(spec, seconds=3600))
    assert "client-certificate-data" not in json.dumps(config)
    path = directory / f"{spec.student}.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def api_client(kubeconfig: Path) -> client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def refused(call, *, status: int = 403) -> ApiException:
    """Runs a request that must be refused; returns the refusal for its words."""
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == status, f"{caught.value.status} {caught.value.reason}: {caught.value.body}"
    return caught.value


def answer_of(
    api: client.ApiClient, method: str, path: str, *, body: dict | None = None, query=(), headers: dict | None = None
) -> tuple[int, str]:
    """The API server's status and words for one request sent with the client's own
    credentials (no exception: a refusal is an answer)."""
    header_params = {
        "Content-Type": "application/merge-patch+json" if method == "PATCH" else "application/json",
        "Accept": "application/json",
        **(headers or {}),
    }
    serialized = api.param_serialize(
        method, path, query_params=list(query), header_params=header_params, body=body, auth_settings=["BearerToken"]
    )
    response = api.call_api(*serialized, _request_timeout=20)
    response.read()
    return response.status, (response.data or b"").decode(errors="replace")


def status_of(api: client.ApiClient, method: str, path: str, **kwargs) -> int:
    return answer_of(api, method, path, **kwargs)[0]
