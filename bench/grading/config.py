"""Where the grading benchmark runs: its own PostgreSQL database and Redis database, the
local cluster as the platform's own identity (grading, the kubectl baseline) and as
cluster-admin (making and removing the students' namespaces). Everything is on 127.0.0.1.

`configure()` must run before Django is imported; the same environment is handed to the
Celery workers the benchmark starts."""

import os

from bench.provision.config import (
    ADMIN_KUBECONFIG,
    KUBECTL,
    MAINTENANCE_DATABASE_URL,
    PLATFORM_KUBECONFIG,
    REPO,
    RESULTS,
    VENV_BIN,
    code_identity,
)

__all__ = [
    "ADMIN_KUBECONFIG", "KUBECTL", "MAINTENANCE_DATABASE_URL", "PLATFORM_KUBECONFIG", "REPO", "RESULTS",
    "VENV_BIN", "code_identity", "configure",
]  # fmt: skip

DATABASE_NAME = "labplatform_bench_grading"
DATABASE_URL = f"postgres://labplatform:labplatform@127.0.0.1:5433/{DATABASE_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/8"

# A run's cohort (and the label on its namespaces) is benchgrade-<run>; an aborted run's
# leftovers are found by this prefix. Not "bench-": the provisioning benchmark removes
# whatever carries that prefix.
COHORT_PREFIX = "benchgrade-"
# The course, lesson and task rows a run makes in its own database carry the same prefix.
COURSE_PREFIX = COHORT_PREFIX


def configure() -> dict[str, str]:
    """Points Django, Celery and the cluster clients at the benchmark's own stores. These
    override the caller's environment on purpose: the benchmark deletes what it made, and
    must never do that in the platform's own database."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-grading-not-secret"),
            "DEBUG": "false",
            "LABPLATFORM_KUBECONFIG": str(PLATFORM_KUBECONFIG),
            # Students in a burst press Check again at once; the rate limit is not measured.
            "LESSONS_CHECK_INTERVAL_SECONDS": "0",
        }
    )
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    return dict(os.environ)
