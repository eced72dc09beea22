"""Creates (or refreshes) the demo logins that `make up` prints.

Every run sets new random passwords, so a printed password is never one that an
earlier run left lying around; the same accounts are reused.
"""

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from labplatform.cluster.registry import LOCAL
from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.services import cohort_provision, cohort_reconcile
from labplatform.teaching.dashboard import course_tasks
from labplatform.teaching.sample_activity import cohort_sample_activity


@dataclass(frozen=True)
class DemoLogin:
    username: str
    full_name: str
    is_staff: bool
    role: str


DEMO_LOGINS = [
    DemoLogin("admin", "Ada Admin", True, "admin (staff)"),
    DemoLogin("instructor", "Ian Instructor", False, "instructor"),
    DemoLogin("student", "Sam Student", False, "student"),
]


DEMO_COHORT_SLUG = "demo"
SAMPLE_COHORT_SLUG = "demo-sample"
SAMPLE_STUDENTS = 40


class Command(BaseCommand):
    help = (
        "Create or refresh the demo admin, instructor and student logins with new random passwords, "
        "and the demo cohort with the student's environment queued for provisioning."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--cohort-slug", default=DEMO_COHORT_SLUG, help="slug of the demo cohort (default: demo)")

    def handle(self, *args, cohort_slug: str, **options) -> None:
        rows = []
        with transaction.atomic():
            users = {}
            for login in DEMO_LOGINS:
                password = secrets.token_urlsafe(12)
                users[login.username] = self._upsert(login, password)
                rows.append((login.role, login.username, password))
            cohort = self._demo_cohort(slug=cohort_slug, instructor=users["instructor"], student=users["student"])
        # The cluster may have been re-created since the last run: repair what is ready,
        # provision what is not. Workers pick both up when they start.
        sample = self._sample_cohort(cluster=cohort.cluster, instructor=users["instructor"])
        reconciled = cohort_reconcile(cohort=cohort)
        queued = cohort_provision(cohort=cohort)
        width = max(len(role) for role, _, _ in rows)
        lines = [f"  {role.ljust(width)}  {username:<11} {password}" for role, username, password in rows]
        logins_file = settings.RUN_DIR / "demo-logins.txt"
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        logins_file.write_text("\n".join(lines) + "\n")
        logins_file.chmod(0o600)
        self.stdout.write("Demo logins (role, username, password):")
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"(also in {logins_file})")
        self.stdout.write(
            f"Demo cohort {cohort.name!r}: {queued} environment(s) to provision, {reconciled} to reconcile "
            f"(watch at /staff/cohorts/{cohort.slug}/)"
        )
        if sample is not None:
            self.stdout.write(f"Sample cohort for the instructor's dashboard: /teach/{sample.slug}/")

    def _demo_cohort(self, *, slug: str, instructor, student) -> Cohort:
        cluster, _ = Cluster.objects.get_or_create(name=LOCAL)
        # The default cluster is the local KWOK one unless LABPLATFORM_KUBECONFIG names another.
        Cluster.objects.filter(pk=cluster.pk).update(is_local=settings.LABPLATFORM_LOCAL_KWOK)
        cohort, _ = Cohort.objects.get_or_create(slug=slug, defaults={"name": "Demo cohort", "cluster": cluster})
        for user, role in [(instructor, Enrollment.Role.INSTRUCTOR), (student, Enrollment.Role.STUDENT)]:
            Enrollment.objects.update_or_create(user=user, cohort=cohort, defaults={"role": role, "dropped_at": None})
        return cohort

    def _sample_cohort(self, *, cluster: Cluster, instructor) -> Cohort | None:
        """A cohort of made-up students part of the way through the course (rows only, no
        environments), so that the instructor's dashboard has something to show. Made once."""
        tasks = course_tasks(Cohort._meta.get_field("course").get_default())
        cohort = Cohort.objects.filter(slug=SAMPLE_COHORT_SLUG).first()
        if cohort is None and tasks:
            with transaction.atomic():
                cohort = Cohort.objects.create(
                    slug=SAMPLE_COHORT_SLUG, name="Sample cohort (made-up students, no environments)", cluster=cluster
                )
                cohort_sample_activity(cohort=cohort, students=SAMPLE_STUDENTS, tasks=tasks)
        if cohort is not None:
            Enrollment.objects.update_or_create(
                user=instructor, cohort=cohort, defaults={"role": Enrollment.Role.INSTRUCTOR, "dropped_at": None}
            )
        return cohort

    def _upsert(self, login: DemoLogin, password: str):
        first, _, last = login.full_name.partition(" ")
        user, _ = get_user_model().objects.update_or_create(
            username=login.username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{login.username}@demo.labplatform.invalid",
                "is_staff": login.is_staff,
                "is_superuser": login.is_staff,
                "is_active": True,
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        return user
