"""Where the provisioning benchmark runs: its own PostgreSQL database and Redis database,
the local cluster with its real node. Everything is on 127.0.0.1."""

import os
import shutil
from pathlib import Path

from bench import stores
from bench.kube import STATE

DATABASE_NAME = "bench_provision"
# Flushed at the start of a run; BENCH_PROVISION_REDIS_URL picks another database when 5 is
# someone else's on this machine.
REDIS_URL = os.environ.get("BENCH_PROVISION_REDIS_URL", "redis://127.0.0.1:6379/5")

# The baselines' workstation kubeconfig holds this instead of a TokenRequest's token.
PLACEHOLDER_TOKEN = "bench-placeholder-token"  # a placeholder, not a credential

# A run's cohorts are named bench-<run>-<phase>; leftovers of an aborted run are found by
# this prefix on the cohort label.
COHORT_PREFIX = "bench-"


def django_start() -> dict[str, str]:
    """Django, Celery and the cluster clients (and the Celery workers the benchmark starts)
    on the benchmark's own stores."""
    return stores.django_start(
        database=DATABASE_NAME,
        redis=REDIS_URL,
        settings={
            # The platform finds the local cluster's kubeconfig here, and, because it is not
            # given LABPLATFORM_KUBECONFIG, knows the cluster is the local one and sends
            # workstations to its real node (settings read node/workstation.json).
            "LABPLATFORM_CLUSTER_STATE": str(STATE),
        },
        drop=stores.CLUSTER_OVERRIDES,
    )


def py_spy() -> str | None:
    """py-spy, if installed (see bench/README.md); it is optional."""
    for candidate in (os.environ.get("PY_SPY"), shutil.which("py-spy"), "/tmp/bench-tools/bin/py-spy"):
        if candidate and Path(candidate).is_file():
            return candidate
    return None
