"""Simulated pods' logs on the local KWOK cluster: a log file per pod, in the CRI format
kubelets write, and a KWOK Logs object naming it, so `kubectl logs POD` prints it."""

import datetime
import os
from pathlib import Path

from django.conf import settings

from labplatform.cluster.apply import object_apply_into
from labplatform.cluster.manifests import FIELD_MANAGER, KWOK_API_VERSION
from labplatform.cluster.registry import LOCAL


def pod_logs_dir() -> Path:
    return Path(settings.LOCAL_CLUSTER_STATE_DIR) / "pod-logs"


def pod_logs_write(*, cluster: str = LOCAL, namespace: str, pod: str, text: str) -> Path:
    """Makes `kubectl logs POD` print `text` on the local KWOK cluster: a log file in the
    CRI format kubelets write, and a KWOK Logs object naming it. KWOK runs as root and
    reads it; the folders are root's only, so no student's shell can read another's logs."""
    folder = pod_logs_dir() / namespace
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    pod_logs_dir().chmod(0o700)
    folder.chmod(0o700)
    path = folder / f"{pod}.log"
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())
    partial = path.with_suffix(".new")
    # Replaced in one step, so kwok never serves half a file.
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(lines)
    partial.replace(path)
    logs = {
        "apiVersion": KWOK_API_VERSION,
        "kind": "Logs",
        "metadata": {"name": pod, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}},
        "spec": {"logs": [{"containers": [], "logsFile": str(path), "follow": False}]},
    }
    object_apply_into(logs, cluster=cluster, namespace=namespace)
    return path


def pod_logs_remove(*, namespace: str) -> None:
    """Removes a namespace's pod log files (their Logs objects go with the namespace)."""
    folder = pod_logs_dir() / namespace
    for path in folder.glob("*"):
        path.unlink(missing_ok=True)
    if folder.exists():
        folder.rmdir()
