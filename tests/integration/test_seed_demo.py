"""`manage.py seed_demo`, which `make up` runs: demo logins that work, and a demo cohort
whose student gets an environment."""

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

from labplatform.cohorts.models import Cohort
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import delete_labelled, wait_for_environments
from tests.kube import unique_name

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_worker_process")]


@pytest.fixture
def demo_slug(kube):
    slug = unique_name("demo")
    yield slug
    delete_labelled(kube, slug)


def signs_in(username: str, password: str) -> bool:
    """Signs in through the sign-in page, as a person would (django-axes watches it)."""
    client = Client()
    client.post("/login/", {"username": username, "password": password})
    return client.get("/").status_code == 200


def seed(slug: str) -> dict[str, str]:
    out = io.StringIO()
    call_command("seed_demo", "--cohort-slug", slug, stdout=out)
    return dict(re.findall(r"^\s+\S.*?\s{2,}(admin|instructor|student)\s+(\S+)$", out.getvalue(), re.MULTILINE))


def test_seeding_makes_logins_and_a_demo_cohort_whose_student_is_provisioned(demo_slug):
    passwords = seed(demo_slug)
    assert set(passwords) == {"admin", "instructor", "student"}
    for username, password in passwords.items():
        assert signs_in(username, password), username

    cohort = Cohort.objects.get(slug=demo_slug)
    roles = dict(cohort.enrollments.values_list("user__username", "role"))
    assert roles == {"instructor": "instructor", "student": "student"}
    wait_for_environments(cohort, StudentEnvironment.State.READY, 1)


def test_seeding_again_reuses_everything_with_new_passwords(demo_slug):
    first = seed(demo_slug)
    cohort = Cohort.objects.get(slug=demo_slug)
    wait_for_environments(cohort, StudentEnvironment.State.READY, 1)
    second = seed(demo_slug)

    assert first["student"] != second["student"]
    assert not signs_in("student", first["student"])
    assert signs_in("student", second["student"])
    assert Cohort.objects.filter(slug=demo_slug).count() == 1
    assert cohort.enrollments.count() == 2
    wait_for_environments(cohort, StudentEnvironment.State.READY, 1)
