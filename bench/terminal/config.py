"""Where the terminal benchmark runs: its own PostgreSQL database and Redis database, the
local cluster as the platform's own identity. Everything is on 127.0.0.1."""

import os

from bench import stores
from bench.kube import STATE

DATABASE_NAME = "bench_terminal"
# Flushed at the start of a run; BENCH_TERMINAL_REDIS_URL picks another database when 6 is
# someone else's on this machine.
REDIS_URL = os.environ.get("BENCH_TERMINAL_REDIS_URL", "redis://127.0.0.1:6379/6")

# Changes to try in daphne (--experiment), made by experiment_settings.py.
EXPERIMENTS = ("no-dispatch-db-close",)

# A run's cohort is bench-term-<run>; leftovers of an aborted run are found by this prefix.
COHORT_PREFIX = "bench-term-"


def django_start() -> dict[str, str]:
    """Django, Channels and the cluster clients (and the daphne processes the benchmark
    starts) on the benchmark's own stores."""
    return stores.django_start(
        database=DATABASE_NAME,
        redis=REDIS_URL,
        settings={
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The platform finds the local cluster's kubeconfig here, and, because it is not
            # given LABPLATFORM_KUBECONFIG, knows the cluster is the local one and sends
            # workstations to its real node (settings read node/workstation.json).
            "LABPLATFORM_CLUSTER_STATE": str(STATE),
        },
        drop=(*stores.CLUSTER_OVERRIDES, "DJANGO_ALLOW_ASYNC_UNSAFE"),
    )
