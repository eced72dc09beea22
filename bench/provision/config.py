"""Where the benchmark runs: its own PostgreSQL database and Redis database, the local
cluster's kubeconfigs and kubectl. Everything is on 127.0.0.1.

`configure()` must run before Django is imported; the same environment is handed to the
Celery workers the benchmark starts."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
VENV_BIN = Path(sys.executable).parent

DATABASE_NAME = "bench_provision"
DATABASE_URL = f"postgres://labplatform:labplatform@127.0.0.1:5433/{DATABASE_NAME}"
# Connecting here creates the benchmark's database when it is missing.
MAINTENANCE_DATABASE_URL = "postgresql://labplatform:labplatform@127.0.0.1:5433/postgres"
# Flushed at the start of a run; BENCH_PROVISION_REDIS_URL picks another database when 5 is
# someone else's on this machine.
REDIS_URL = os.environ.get("BENCH_PROVISION_REDIS_URL", "redis://127.0.0.1:6379/5")

STATE = Path.home() / ".local" / "state" / "labplatform" / "cluster"
PLATFORM_KUBECONFIG = STATE / "platform-kubeconfig"
ADMIN_KUBECONFIG = STATE / "kubeconfig"
KUBECTL = Path.home() / ".cache" / "labplatform" / "kubernetes-v1.36.3" / "bin" / "kubectl"

# The baselines' workstation kubeconfig holds this instead of a TokenRequest's token.
PLACEHOLDER_TOKEN = "bench-placeholder-token"  # a placeholder, not a credential

# A run's cohorts are named bench-<run>-<phase>; leftovers of an aborted run are found by
# this prefix on the cohort label.
COHORT_PREFIX = "bench-"


# Settings that would send workstations elsewhere than the local cluster's real node, or
# make the platform take another cluster for the local one.
OVERRIDES_DROPPED = (
    "KUBERNETES_SERVICE_HOST",
    "LABPLATFORM_KUBECONFIG",
    "WORKSTATION_IMAGE",
    "WORKSTATION_IMAGE_PULL_POLICY",
    "WORKSTATION_NODE_POOL",
    "WORKSTATION_API_SERVER",
    "WORKSTATION_POD_ANNOTATIONS",
    "WORKSTATION_NAMESPACE",
)


def configure() -> dict[str, str]:
    """Points Django, Celery and the cluster clients at the benchmark's own stores. These
    override the caller's environment on purpose: the benchmark deletes what it made, and
    must never do that in the platform's own database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-provision-not-secret"),
            "DEBUG": "false",
            # The platform finds the local cluster's kubeconfig here, and, because it is not
            # given LABPLATFORM_KUBECONFIG, knows the cluster is the local one and sends
            # workstations to its real node (settings read node/workstation.json).
            "LABPLATFORM_CLUSTER_STATE": str(STATE),
        }
    )
    for name in OVERRIDES_DROPPED:
        os.environ.pop(name, None)
    return dict(os.environ)


def workstations_on_the_node() -> None:
    """Refuses to run when the settings would not put workstations on the real node (a
    KWOK node runs nothing, and answers an exec with "no exec found"). Needs Django."""
    from django.conf import settings

    if not settings.WORKSTATION_NODE_POOL:
        raise SystemExit(
            f"no workstation node pool: {STATE}/node/workstation.json is missing or empty; "
            "is the local cluster up with its node (make cluster-up)?"
        )


def py_spy() -> str | None:
    """py-spy, if installed (see bench/README.md); it is optional."""
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), "/tmp/bench-tools/bin/py-spy"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def code_identity() -> dict:
    """Which labplatform code is measured: others edit it while benchmarks run."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "labplatform").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "labplatform"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return {
        "git_head": head.stdout.strip(),
        "labplatform_uncommitted_changes": dirty.stdout.splitlines()[:20],
        "labplatform_py_sha256": digest.hexdigest()[:16],
    }
