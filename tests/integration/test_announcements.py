"""Announcements: an instructor posts to a cohort, its students see a banner on every page
and, live, on pages already open; nobody else posts, and nobody else sees it."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.utils import timezone

from labplatform.asgi import application
from labplatform.cohorts.announcements import AnnouncementRefused, announcement_post
from labplatform.cohorts.models import Announcement, Cluster, Cohort, Enrollment
from labplatform.environments.models import StudentEnvironment
from lessons.models import Course, Lesson

pytestmark = pytest.mark.django_db(transaction=True)

COURSE = "module-15-kubernetes"
LESSON = f"/learn/{COURSE}/15.6-pods/"
TEXT = "The lab opens at 10:00 today; bring your questions about Services."


@pytest.fixture
def people(django_user_model):
    """Two cohorts of one course, each with an instructor and a student, and a staff user."""
    Lesson.objects.create(
        course=Course.objects.create(slug=COURSE, title="Module 15: Kubernetes"),
        slug="15.6-pods",
        number="15.6",
        title="Pods",
        order=1,
        body_html="<p>A pod is the smallest thing Kubernetes runs.</p>",
    )
    cluster = Cluster.objects.get_or_create(name="local", defaults={"is_local": True})[0]
    made = {"staff": django_user_model.objects.create_user(username="root", is_staff=True)}
    for slug in ("autumn", "winter"):
        cohort = Cohort.objects.create(name=slug.title(), slug=slug, course=COURSE, cluster=cluster)
        made[slug] = cohort
        for role in Enrollment.Role.values:
            user = django_user_model.objects.create_user(username=f"{slug}-{role}", first_name=f"{slug} {role}")
            enrollment = Enrollment.objects.create(user=user, cohort=cohort, role=role)
            made[f"{slug}-{role}"] = user
            if role == Enrollment.Role.STUDENT:
                StudentEnvironment.objects.create(
                    enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state="ready"
                )
    return made


def announce(client, user, slug: str = "autumn", text: str = TEXT, **extra):
    if user is not None:
        client.force_login(user)
    return client.post(f"/staff/cohorts/{slug}/announce/", {"text": text, **extra})


def test_posting_saves_the_announcement_for_a_week(people):
    announcement = announcement_post(cohort=people["autumn"], author=people["autumn-instructor"], text=f"  {TEXT}\n")
    row = Announcement.objects.get()
    assert row == announcement and row.text == TEXT and row.author == people["autumn-instructor"]
    assert row.cleared_at is None
    assert timedelta(days=6) < row.expires_at - timezone.now() <= timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "it is empty"), ("   \n ", "it is empty"), ("x" * 501, "at most 500 characters; this one has 501")],
)
def test_empty_or_too_long_text_is_refused_and_nothing_is_saved(client, people, text, says):
    with pytest.raises(AnnouncementRefused, match=says):
        announcement_post(cohort=people["autumn"], author=people["autumn-instructor"], text=text)
    page = announce(client, people["autumn-instructor"], text=text, next="/")
    assert page.status_code == 302
    assert says in client.get("/").content.decode()
    assert not Announcement.objects.exists()


def test_500_characters_are_enough(people):
    announcement_post(cohort=people["autumn"], author=people["autumn-instructor"], text="x" * 500)
    assert Announcement.objects.count() == 1


def test_the_cohorts_students_see_the_banner_on_the_home_and_lesson_pages(client, people):
    announce(client, people["autumn-instructor"])
    client.force_login(people["autumn-student"])
    for url in ("/", LESSON):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert TEXT in html, url
        assert 'data-banners data-events-socket="/ws/events/"' in html
        assert "/static/js/banners.js" in html
        assert "autumn instructor" in html  # who said it


def test_another_cohorts_student_sees_no_banner(client, people):
    announce(client, people["autumn-instructor"])
    client.force_login(people["winter-student"])
    for url in ("/", LESSON):
        html = client.get(url).content.decode()
        assert TEXT not in html, url
        # A student still listens: the next announcement to their own cohort comes live.
        assert "data-banners" in html


def test_pages_of_users_who_study_nothing_do_not_listen(client, people):
    announce(client, people["autumn-instructor"])
    client.force_login(people["staff"])
    html = client.get("/").content.decode()
    assert "data-banners" not in html and TEXT not in html


def test_only_the_latest_three_live_announcements_are_shown(client, people):
    cohort, author = people["autumn"], people["autumn-instructor"]
    for n in range(5):
        announcement_post(cohort=cohort, author=author, text=f"notice number {n}")
    expired = announcement_post(cohort=cohort, author=author, text="an expired notice")
    Announcement.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(people["autumn-student"])
    html = client.get("/").content.decode()
    assert [n for n in range(5) if f"notice number {n}" in html] == [2, 3, 4]
    assert "an expired notice" not in html


def test_a_cleared_announcement_leaves_students_pages(client, people):
    announce(client, people["autumn-instructor"])
    announcement = Announcement.objects.get()
    cleared = client.post(
        f"/staff/cohorts/autumn/announcements/{announcement.pk}/clear/", {"next": "/staff/cohorts/autumn/"}
    )
    assert cleared.status_code == 302
    announcement.refresh_from_db()
    assert announcement.cleared_at is not None
    client.force_login(people["autumn-student"])
    assert TEXT not in client.get("/").content.decode()


def test_another_cohorts_instructor_cannot_clear_it(client, people):
    announce(client, people["autumn-instructor"])
    announcement = Announcement.objects.get()
    client.force_login(people["winter-instructor"])
    assert client.post(f"/staff/cohorts/autumn/announcements/{announcement.pk}/clear/").status_code == 403
    assert client.post(f"/staff/cohorts/winter/announcements/{announcement.pk}/clear/").status_code == 302
    announcement.refresh_from_db()
    assert announcement.cleared_at is None


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("autumn-instructor", 302),
        ("staff", 302),
        ("winter-instructor", 403),
        ("autumn-student", 403),
        ("winter-student", 403),
    ],
)
def test_who_may_announce_to_a_cohort(client, people, who, status):
    page = announce(client, people[who], next="/somewhere/")
    assert page.status_code == status
    assert Announcement.objects.filter(cohort=people["autumn"]).exists() == (status == 302)
    if status == 302:
        assert page.url == "/somewhere/"
    else:
        assert "You do not teach this cohort" in page.content.decode()


def test_a_dropped_instructor_may_not_announce(client, people):
    Enrollment.objects.filter(user=people["autumn-instructor"]).update(dropped_at=timezone.now())
    assert announce(client, people["autumn-instructor"]).status_code == 403
    assert not Announcement.objects.exists()


def test_anonymous_visitors_are_sent_to_sign_in(client, people):
    page = announce(client, None)
    assert page.status_code == 302 and page.url.startswith("/login/?next=")
    assert not Announcement.objects.exists()


def test_announcing_needs_a_post(client, people):
    client.force_login(people["autumn-instructor"])
    assert client.get("/staff/cohorts/autumn/announce/").status_code == 405


def test_it_goes_back_to_the_cohort_page_without_a_safe_next(client, people):
    assert announce(client, people["staff"], next="https://evil.example/").url == "/staff/cohorts/autumn/"
    assert announce(client, people["autumn-instructor"]).url == "/"


def test_the_staff_cohort_page_has_the_form_and_lists_announcements(client, people):
    announce(client, people["autumn-instructor"])
    client.force_login(people["staff"])
    html = client.get("/staff/cohorts/autumn/").content.decode()
    assert 'action="/staff/cohorts/autumn/announce/"' in html
    assert 'name="text"' in html and 'maxlength="500"' in html
    assert TEXT in html and "/clear/" in html


def _session(client, user) -> str:
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def _events_socket(session: str) -> WebsocketCommunicator:
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()),
    ]
    socket = WebsocketCommunicator(application, "/ws/events/", headers=headers)
    connected, _ = await socket.connect()
    assert connected
    return socket


@pytest.mark.asyncio
async def test_the_announcement_reaches_open_pages_of_the_cohorts_students_live(client, people):
    student = await _events_socket(await database_sync_to_async(_session)(client, people["autumn-student"]))
    other = await _events_socket(await database_sync_to_async(_session)(client, people["winter-student"]))

    page = await database_sync_to_async(announce)(client, people["autumn-instructor"])
    assert page.status_code == 302

    event = await student.receive_json_from(timeout=5)
    announcement = await database_sync_to_async(Announcement.objects.get)()
    assert event == {
        "type": "announcement",
        "id": announcement.pk,
        "cohort": "Autumn",
        "author": "autumn instructor",
        "text": TEXT,
        "created_at": announcement.created_at.isoformat(),
    }
    assert await other.receive_nothing(timeout=1)
    await student.disconnect()
    await other.disconnect()
