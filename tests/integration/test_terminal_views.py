"""The pages around the terminal: the student's own reset, the instructor's watch page,
and the terminal panel on the home page."""

import pytest

from labplatform.cohorts.models import Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(django_user_model):
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    cohort = Cohort.objects.create(name="Views", slug="views", cluster=cluster)

    def enrol(username: str, role: str, state: str | None = StudentEnvironment.State.READY) -> Enrollment:
        user = django_user_model.objects.create_user(username=username, first_name=username.title())
        enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=role)
        if role == Enrollment.Role.STUDENT and state:
            StudentEnvironment.objects.create(
                enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=state
            )
        return enrollment

    return cohort, enrol


def test_a_student_resets_their_own_environment(client, cohort):
    _, enrol = cohort
    me = enrol("ada", Enrollment.Role.STUDENT)
    client.force_login(me.user)
    answer = client.post("/terminal/reset/", headers={"Accept": "application/json"})
    assert answer.status_code == 202
    assert me.environment.namespace in answer.json()["message"]
    me.environment.refresh_from_db()
    assert me.environment.state == StudentEnvironment.State.PROVISIONING
    # Again while it is working: refused, nothing queued twice.
    busy = client.post("/terminal/reset/", headers={"Accept": "application/json"})
    assert busy.status_code == 409
    assert "provisioning" in busy.json()["message"]


def test_a_reset_without_an_environment_says_so_and_a_form_post_redirects(client, cohort):
    _, enrol = cohort
    me = enrol("bea", Enrollment.Role.STUDENT, state=None)
    client.force_login(me.user)
    assert client.post("/terminal/reset/", headers={"Accept": "application/json"}).status_code == 404
    page = client.post("/terminal/reset/", follow=True)
    assert page.redirect_chain[-1][0] == "/"
    assert "no environment to reset" in page.content.decode()


def test_reset_needs_a_signed_in_post(client):
    assert client.post("/terminal/reset/").status_code == 302  # to the login page
    assert client.get("/terminal/reset/").status_code in (302, 405)


def test_the_cohorts_instructor_may_open_the_watch_page_and_others_may_not(client, cohort, django_user_model):
    _, enrol = cohort
    student = enrol("cy", Enrollment.Role.STUDENT)
    other = enrol("dee", Enrollment.Role.STUDENT)
    teacher = enrol("eve", Enrollment.Role.INSTRUCTOR)
    stranger = django_user_model.objects.create_user(username="mallory")
    url = f"/terminal/watch/{student.student_id}/"

    client.force_login(teacher.user)
    page = client.get(url)
    assert page.status_code == 200
    assert f"/ws/terminal/watch/{student.student_id}/" in page.content.decode()
    home = client.get("/").content.decode()
    assert url in home and "Cy" in home

    for intruder in (other.user, stranger):
        client.force_login(intruder)
        refused = client.get(url)
        assert refused.status_code == 403
        assert student.student_id not in refused.content.decode().replace(url, "")
    client.force_login(teacher.user)
    assert client.get("/terminal/watch/nosuchstudent/").status_code == 403


def test_the_home_page_has_the_students_own_terminal_and_no_one_elses(client, cohort):
    _, enrol = cohort
    student = enrol("fay", Enrollment.Role.STUDENT)
    teacher = enrol("gus", Enrollment.Role.INSTRUCTOR)
    client.force_login(student.user)
    page = client.get("/").content.decode()
    assert "/ws/terminal/" in page and "Reset my environment" in page
    client.force_login(teacher.user)
    page = client.get("/").content.decode()
    assert "Reset my environment" not in page


def test_a_watch_whose_web_process_died_stops_counting(cohort):
    """A web process that dies cannot record a watch's end; the count leaves it out once
    it has not been renewed for a while, so the student is not told of a ghost."""
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.terminal.models import ShadowSession
    from labplatform.terminal.sessions import shadow_end, shadow_seen, shadow_start, watchers_count

    _, enrol = cohort
    student = enrol("hal", Enrollment.Role.STUDENT)
    teacher = enrol("ivy", Enrollment.Role.INSTRUCTOR)
    live, message = shadow_start(watcher_id=teacher.user_id, enrollment_id=student.pk)
    assert message["count"] == 1
    ghost, _ = shadow_start(watcher_id=teacher.user_id, enrollment_id=student.pk)
    ShadowSession.objects.filter(pk=ghost).update(last_seen_at=timezone.now() - timedelta(minutes=10))
    shadow_seen(session_id=live)
    assert watchers_count(enrollment_id=student.pk) == 1
    assert shadow_end(session_id=live, enrollment_id=student.pk)["count"] == 0
