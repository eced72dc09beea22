"""Where the terminal benchmark runs: its own PostgreSQL database and Redis database, the
local cluster as the platform's own identity. Everything is on 127.0.0.1.

`configure()` must run before Django is imported; the same environment is handed to the
daphne processes the benchmark starts."""

import os

from bench.provision.config import (
    OVERRIDES_DROPPED,
    REPO,
    RESULTS,
    STATE,
    VENV_BIN,
    code_identity,
    workstations_on_the_node,
)

__all__ = ["REPO", "RESULTS", "VENV_BIN", "code_identity", "configure", "workstations_on_the_node"]

DATABASE_NAME = "bench_terminal"
DATABASE_URL = f"postgres://labplatform:labplatform@127.0.0.1:5433/{DATABASE_NAME}"
MAINTENANCE_DATABASE_URL = "postgresql://labplatform:labplatform@127.0.0.1:5433/postgres"
# Flushed at the start of a run; BENCH_TERMINAL_REDIS_URL picks another database when 6 is
# someone else's on this machine.
REDIS_URL = os.environ.get("BENCH_TERMINAL_REDIS_URL", "redis://127.0.0.1:6379/6")

# Changes to try in daphne (--experiment), made by experiment_settings.py.
EXPERIMENTS = ("no-dispatch-db-close",)

# A run's cohort is bench-term-<run>; leftovers of an aborted run are found by this prefix.
COHORT_PREFIX = "bench-term-"


def configure() -> dict[str, str]:
    """Points Django, Channels and the cluster clients at the benchmark's own stores. These
    override the caller's environment on purpose: the benchmark deletes what it made."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-terminal-not-secret"),
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            # The platform finds the local cluster's kubeconfig here, and, because it is not
            # given LABPLATFORM_KUBECONFIG, knows the cluster is the local one and sends
            # workstations to its real node (settings read node/workstation.json).
            "LABPLATFORM_CLUSTER_STATE": str(STATE),
        }
    )
    for name in (*OVERRIDES_DROPPED, "DJANGO_ALLOW_ASYNC_UNSAFE"):
        os.environ.pop(name, None)
    return dict(os.environ)
