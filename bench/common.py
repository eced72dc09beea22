"""Pieces both benchmarks use: their own database, a cohort of students made in bulk,
and CPU seconds read from /proc."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_TICK = os.sysconf("SC_CLK_TCK")


def database_ensure(env: dict[str, str], *, maintenance_url: str, name: str) -> None:
    """Creates the benchmark's database if needed and migrates it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"], cwd=REPO, env=env, check=True
    )


def cohort_with_students(*, slug: str, students: int):
    """A cohort on the local cluster with `students` new users enrolled, made in bulk.
    Needs Django set up."""
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


def process_cpu(pid: int) -> tuple[str, int, float, float] | None:
    """(comm, ppid, own CPU seconds, waited-for children's CPU seconds); None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    ppid = int(fields[1])
    own = (int(fields[11]) + int(fields[12])) / _TICK
    children = (int(fields[13]) + int(fields[14])) / _TICK
    return comm, ppid, own, children


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _TICK, total / _TICK
