"""Where the grading benchmark runs: its own PostgreSQL database and Redis database, the
local cluster as the platform's own identity (grading, the kubectl baseline) and as
cluster-admin (making and removing the students' namespaces). Everything is on 127.0.0.1."""

from bench import stores
from bench.kube import PLATFORM_KUBECONFIG

DATABASE_NAME = "labplatform_bench_grading"
REDIS_URL = "redis://127.0.0.1:6379/8"

# A run's cohort (and the label on its namespaces) is benchgrade-<run>; an aborted run's
# leftovers are found by this prefix. Not "bench-": the provisioning benchmark removes
# whatever carries that prefix. The course, lesson and task rows a run makes in its own
# database carry the same prefix.
COHORT_PREFIX = "benchgrade-"


def django_start() -> dict[str, str]:
    """Django, and the Celery workers the benchmark starts, on the benchmark's own stores."""
    return stores.django_start(
        database=DATABASE_NAME,
        redis=REDIS_URL,
        settings={
            "LABPLATFORM_KUBECONFIG": str(PLATFORM_KUBECONFIG),
            # Students in a burst press Check again at once; the rate limit is not measured.
            "LESSONS_CHECK_INTERVAL_SECONDS": "0",
        },
        drop=("KUBERNETES_SERVICE_HOST",),
    )
