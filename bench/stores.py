"""Each benchmark's own stores: a PostgreSQL database and a Redis database on 127.0.0.1,
never the platform's (a benchmark deletes what it made), Django set up on them, and the
cohorts of made-up students the benchmarks fill them with."""

import os

POSTGRES = "postgres://labplatform:labplatform@127.0.0.1:5433"
# Settings that would point the platform at another cluster than the local one, or send
# workstations elsewhere than the local cluster's real node.
CLUSTER_OVERRIDES = (
    "KUBERNETES_SERVICE_HOST",
    "LABPLATFORM_KUBECONFIG",
    "WORKSTATION_IMAGE",
    "WORKSTATION_IMAGE_PULL_POLICY",
    "WORKSTATION_NODE_POOL",
    "WORKSTATION_API_SERVER",
    "WORKSTATION_POD_ANNOTATIONS",
    "WORKSTATION_NAMESPACE",
)


def database_url(name: str) -> str:
    return f"{POSTGRES}/{name}"


def shown(url: str) -> str:
    """A store's URL as reports show it."""
    return url.replace("labplatform:labplatform@", "labplatform:***@")


def _database_create(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(database_url("postgres"), autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_start(*, database: str, redis: str, settings: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, str]:
    """Points Django (and what the benchmark starts: workers, daphne) at the database
    `database`, created and migrated if needed, and at `redis`, with `settings` on top and
    the variables in `drop` removed, overriding the caller's environment on purpose; sets
    Django up and returns the environment."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "labplatform.settings",
            "DATABASE_URL": database_url(database),
            "REDIS_URL": redis,
            "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY", "bench-not-secret"),
            "DEBUG": "false",
            **settings,
        }
    )
    for name in drop:
        os.environ.pop(name, None)
    _database_create(database)

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    return dict(os.environ)


def cohort_with_students(*, slug: str, students: int):
    """A cohort on the local cluster with `students` new users enrolled, made in bulk."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from labplatform.cohorts.models import Cluster, Cohort, Enrollment

    cohort = Cohort.objects.create(name=slug, slug=slug, cluster=Cluster.objects.get(name="local"))
    user_model = get_user_model()
    password = make_password(None)
    users = user_model.objects.bulk_create(
        [user_model(username=f"{slug}-{i:05d}", password=password) for i in range(students)]
    )
    Enrollment.objects.bulk_create([Enrollment(user=user, cohort=cohort) for user in users])
    return cohort


def cohort_rows_remove(slug: str) -> None:
    """The cohort, its enrollments and environments, and its users."""
    from django.contrib.auth import get_user_model

    from labplatform.cohorts.models import Cohort

    Cohort.objects.filter(slug=slug).delete()
    get_user_model().objects.filter(username__startswith=f"{slug}-").delete()
