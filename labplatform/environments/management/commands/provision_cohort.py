"""`manage.py provision_cohort SLUG`: warns when the cohort's pods may not fit on its cluster
(environments/capacity.py), queues every pending or failed environment of the
cohort and shows a progress bar until none is left in flight. Celery workers do the work."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from labplatform.celery import app
from labplatform.cohorts.models import Cohort
from labplatform.environments.capacity import cohort_capacity
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.progress import cohort_progress
from labplatform.environments.services import cohort_provision

State = StudentEnvironment.State
BAR_WIDTH = 40


def progress_line(progress: dict) -> str:
    states, total = progress["states"], progress["total"]
    done = states[State.READY] + states[State.FAILED]
    filled = BAR_WIDTH * done // total if total else BAR_WIDTH
    return (
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {states[State.READY]}/{total} ready, "
        f"{states[State.FAILED]} failed, {states[State.PROVISIONING]} provisioning"
    )


class Command(BaseCommand):
    help = "Provision every student of a cohort (and retry failed ones), with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait at most (default 1800)")

    def handle(self, *args, slug: str, timeout: float, **options) -> None:
        cohort = Cohort.objects.filter(slug=slug).first()
        if cohort is None:
            raise CommandError(f"no cohort with slug {slug!r}")
        if not app.control.ping(timeout=2):
            raise CommandError("no Celery worker answers; start one (make up does) and run this again")
        capacity = cohort_capacity(cohort=cohort)
        if not capacity.fits:
            self.stderr.write(f"warning: {capacity.message()}")
        queued = cohort_provision(cohort=cohort)
        self.stdout.write(f"{cohort.name}: queued {queued} environment(s)")
        deadline = time.monotonic() + timeout
        while True:
            progress = cohort_progress(cohort=cohort)
            line = progress_line(progress)
            if sys.stdout.isatty():
                self.stdout.write(f"\r{line}", ending="")
            if progress["states"][State.PROVISIONING] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.stdout.write(f"\n{line}" if sys.stdout.isatty() else line)
        for environment in StudentEnvironment.objects.filter(enrollment__cohort=cohort, state=State.FAILED):
            self.stdout.write(
                f"failed: {environment.namespace} ({environment.enrollment.user.username}): {environment.last_error}"
            )
        if progress["states"][State.PROVISIONING]:
            raise CommandError(f"still provisioning after {timeout:.0f}s; the workers carry on")
