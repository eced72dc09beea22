"""The Cohort admin's Import roster and Invite links pages, through the Django test client
as a staff user: upload, preview (nothing written), confirm; links, regenerate, export."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from labplatform.cohorts.invites import invite_token
from labplatform.cohorts.models import Cluster, Cohort, Enrollment, Invite

pytestmark = pytest.mark.django_db

User = get_user_model()

ROSTER = (
    b"email,full name,username\n"
    b"ada@example.com,Ada Lovelace,ada\n"
    b"not-an-email,Broken Row,\n"
    b"grace@example.com,Grace Hopper,\n"
    b"ada@example.com,Ada Twice,\n"
)


@pytest.fixture
def cohort() -> Cohort:
    return Cohort.objects.create(name="Spring", slug="spring", cluster=Cluster.objects.get(name="local"))


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", email="admin@example.com", password="x"))
    return client


def import_url(cohort: Cohort) -> str:
    return f"/admin/cohorts/cohort/{cohort.pk}/roster/"


def upload(client, cohort: Cohort, data: bytes, *, name: str = "roster.csv", role: str = "student"):
    return client.post(import_url(cohort), {"roster": SimpleUploadedFile(name, data, "text/csv"), "role": role})


def confirm(client, cohort: Cohort):
    return client.post(import_url(cohort), {"action": "confirm"})


def test_the_cohort_page_links_to_import_roster_and_invite_links(admin_client, cohort):
    page = admin_client.get(f"/admin/cohorts/cohort/{cohort.pk}/change/").content.decode()
    assert f'href="{import_url(cohort)}"' in page
    assert f'href="/admin/cohorts/cohort/{cohort.pk}/invites/"' in page
    assert "History" in page, "the default object tools stay"


def test_the_preview_shows_row_errors_by_line_and_writes_nothing(admin_client, cohort):
    response = upload(admin_client, cohort, ROSTER)
    assert response.status_code == 200
    page = response.content.decode()
    assert "<td>3</td><td>&quot;not-an-email&quot; is not a valid email address</td>" in page
    assert "<td>5</td><td>The email ada@example.com is already on line 2</td>" in page
    assert 'value="Import 2 people"' in page
    assert not User.objects.exclude(username="admin").exists()
    assert not Enrollment.objects.exists()


def test_confirming_imports_what_was_previewed(admin_client, cohort):
    upload(admin_client, cohort, ROSTER)
    response = confirm(admin_client, cohort)
    assert response.status_code == 200
    page = response.content.decode()
    assert '<td id="count-created">2</td>' in page
    assert '<td id="count-errors">2</td>' in page
    assert "is not a valid email address" in page
    assert set(Enrollment.objects.filter(cohort=cohort).values_list("user__username", flat=True)) == {"ada", "grace"}
    assert Invite.objects.count() == 2


def test_importing_the_same_file_twice_changes_nothing(admin_client, cohort):
    upload(admin_client, cohort, ROSTER)
    confirm(admin_client, cohort)
    counts = (User.objects.count(), Enrollment.objects.count(), Invite.objects.count())
    upload(admin_client, cohort, ROSTER)
    page = confirm(admin_client, cohort).content.decode()
    assert '<td id="count-created">0</td>' in page
    assert '<td id="count-already-enrolled">2</td>' in page
    assert (User.objects.count(), Enrollment.objects.count(), Invite.objects.count()) == counts


def test_confirming_twice_imports_once_and_then_says_there_is_nothing_to_confirm(admin_client, cohort):
    upload(admin_client, cohort, ROSTER)
    confirm(admin_client, cohort)
    response = confirm(admin_client, cohort)
    assert response.status_code == 302
    assert response["Location"] == import_url(cohort)
    assert "There is no previewed roster to import" in admin_client.get(import_url(cohort)).content.decode()


def test_a_file_that_is_not_utf_8_is_named_and_nothing_is_written(admin_client, cohort):
    response = upload(admin_client, cohort, b"email,full name\nrene@example.com,Ren\xe9\n", name="latin1.csv")
    assert response.status_code == 200
    assert "latin1.csv is not UTF-8 text (byte 0xe9 at position 36)" in response.content.decode()
    assert 'value="confirm"' not in response.content.decode()
    assert confirm(admin_client, cohort).status_code == 302
    assert not Enrollment.objects.exists()


def test_a_file_over_one_megabyte_is_refused_with_its_size(admin_client, cohort):
    big = b"email,full name\n" + b"x" * (1024 * 1024)
    response = upload(admin_client, cohort, big, name="big.csv")
    assert "big.csv is 1,048,592 bytes; a roster can be at most 1 MB (1,048,576 bytes)" in response.content.decode()
    assert f"cohorts.roster_upload.{cohort.pk}" not in admin_client.session


def test_a_fifty_person_roster_imports_as_instructors_when_asked(admin_client, cohort):
    data = "email,full name\n" + "".join(f"person{n}@example.com,Person {n}\n" for n in range(50))
    upload(admin_client, cohort, data.encode(), role="instructor")
    page = confirm(admin_client, cohort).content.decode()
    assert '<td id="count-enrolled">50</td>' in page
    assert Enrollment.objects.filter(cohort=cohort, role="instructor").count() == 50


def test_non_staff_are_refused_and_nothing_is_written(client, cohort):
    client.force_login(User.objects.create_user("sam", email="sam@example.com", password="x"))
    response = upload(client, cohort, ROSTER)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(f"/admin/cohorts/cohort/{cohort.pk}/invites/").status_code == 302
    assert not Enrollment.objects.exists()


def test_staff_without_change_permission_are_refused(client, cohort):
    client.force_login(User.objects.create_user("viewer", email="v@example.com", password="x", is_staff=True))
    assert upload(client, cohort, ROSTER).status_code == 403
    assert not Enrollment.objects.exists()


def test_invite_links_lists_absolute_links_and_exports_them(admin_client, cohort):
    upload(admin_client, cohort, ROSTER)
    confirm(admin_client, cohort)
    ada_invite = Invite.objects.get(user__username="ada")
    link = f"http://testserver/invite/{invite_token(ada_invite)}/"

    page = admin_client.get(f"/admin/cohorts/cohort/{cohort.pk}/invites/").content.decode()
    assert f'value="{link}"' in page

    response = admin_client.get(f"/admin/cohorts/cohort/{cohort.pk}/invites/export.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="spring-invite-links.csv"' in response["Content-Disposition"]
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["username", "email", "full name", "link", "expires_at"]
    assert table[1][:4] == ["ada", "ada@example.com", "Ada Lovelace", link]
    assert [row[0] for row in table[1:]] == ["ada", "grace"]


def test_regenerate_replaces_a_persons_link(admin_client, cohort):
    upload(admin_client, cohort, ROSTER)
    confirm(admin_client, cohort)
    ada = User.objects.get(username="ada")
    old = Invite.objects.get(user=ada)
    response = admin_client.post(f"/admin/cohorts/cohort/{cohort.pk}/invites/{ada.pk}/regenerate/")
    assert response.status_code == 302
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert Invite.objects.filter(user=ada, revoked_at=None).count() == 1
    assert admin_client.get(f"/admin/cohorts/cohort/{cohort.pk}/invites/{ada.pk}/regenerate/").status_code == 405


def test_regenerate_refuses_someone_not_in_the_cohort(admin_client, cohort):
    outsider = User.objects.create_user("out", email="out@example.com")
    response = admin_client.post(f"/admin/cohorts/cohort/{cohort.pk}/invites/{outsider.pk}/regenerate/")
    assert response.status_code == 404
    assert not Invite.objects.exists()
