"""Invite links: the services and the /invite/<token>/ page. A good link sets a password
once and signs the person in; a bad, expired, used or replaced one says what happened."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from labplatform.cohorts.invites import (
    InviteError,
    cohort_invite_links,
    invite_create,
    invite_redeem,
    invite_regenerate,
    invite_token,
    invite_url,
    open_invites,
)
from labplatform.cohorts.models import Cluster, Cohort, Enrollment, Invite

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "kube-ctl-apply-42"


@pytest.fixture
def student():
    return User.objects.create_user("sam", email="sam@example.com", first_name="Sam", last_name="Student")


@pytest.fixture
def invite(student) -> Invite:
    return invite_create(user=student, valid_days=14)


def path_of(invite: Invite) -> str:
    return f"/invite/{invite_token(invite)}/"


def test_the_token_is_the_same_each_time_so_a_link_can_be_shown_again(invite):
    assert invite_token(invite) == invite_token(Invite.objects.get(pk=invite.pk))
    assert invite_url(invite, base_url="https://labs.example/") == f"https://labs.example{path_of(invite)}"


def test_the_page_says_who_the_invite_is_for(client, invite):
    response = client.get(path_of(invite))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Sam Student" in page
    assert "sam@example.com" in page
    assert 'name="new_password1"' in page


def test_setting_a_password_signs_in_and_spends_the_invite(client, invite, student):
    response = client.post(path_of(invite), {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    student.refresh_from_db()
    assert student.check_password(PASSWORD)
    invite.refresh_from_db()
    assert invite.used_at is not None
    assert client.get("/").context["user"] == student


def test_django_password_validation_applies(client, invite, student):
    response = client.post(path_of(invite), {"new_password1": "sam", "new_password2": "sam"})
    assert response.status_code == 200
    assert "This password is too short" in response.content.decode()
    student.refresh_from_db()
    assert not student.has_usable_password()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_a_used_link_says_so_with_410(client, invite):
    client.post(path_of(invite), {"new_password1": PASSWORD, "new_password2": PASSWORD})
    response = client.get(path_of(invite))
    assert response.status_code == 410
    assert "This invite link was already used" in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_an_expired_link_says_so_and_to_ask_the_admin(client, invite):
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = client.post(path_of(invite), {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response.status_code == 410
    page = response.content.decode()
    assert "This invite link expired on" in page
    assert "Ask your course admin for a new link." in page


def test_a_regenerated_link_replaces_the_old_one(client, invite, student):
    newer = invite_regenerate(user=student, valid_days=14)
    response = client.get(path_of(invite))
    assert response.status_code == 410
    assert "replaced by a newer one" in response.content.decode()
    assert client.get(path_of(newer)).status_code == 200
    assert Invite.objects.filter(user=student, revoked_at=None).get() == newer


def test_a_tampered_link_is_a_bad_request(client, invite):
    response = client.get(path_of(invite)[:-3] + "xx/")
    assert response.status_code == 400
    assert "This invite link is not valid" in response.content.decode()


def test_a_link_to_a_deleted_invite_is_gone(client, invite):
    path = path_of(invite)
    invite.delete()
    response = client.get(path)
    assert response.status_code == 410
    assert "no longer exists" in response.content.decode()


def test_redeeming_closes_the_persons_other_open_links(invite, student):
    other = Invite.objects.create(user=student, expires_at=timezone.now() + timedelta(days=1))
    invite_redeem(token=invite_token(invite), password=PASSWORD)
    other.refresh_from_db()
    assert other.revoked_at is not None


def test_open_invites_and_invite_links_cover_the_cohorts_people_without_a_password(student, invite):
    cohort = Cohort.objects.create(name="Spring", slug="spring", cluster=Cluster.objects.get(name="local"))
    Enrollment.objects.create(user=student, cohort=cohort)
    expired_user = User.objects.create_user("exp", email="exp@example.com")
    Enrollment.objects.create(user=expired_user, cohort=cohort)
    Invite.objects.create(user=expired_user, expires_at=timezone.now() - timedelta(days=1))
    signed_in = User.objects.create_user("done", email="done@example.com", password=PASSWORD)
    Enrollment.objects.create(user=signed_in, cohort=cohort)
    dropped = User.objects.create_user("gone", email="gone@example.com")
    Enrollment.objects.create(user=dropped, cohort=cohort, dropped_at=timezone.now())
    invite_create(user=dropped, valid_days=14)

    assert list(open_invites(cohort)) == [invite]
    links = cohort_invite_links(cohort=cohort)
    assert [(link.enrollment.user.username, link.invite) for link in links] == [("exp", None), ("sam", invite)]


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_use_the_invite_only_once():
    student = User.objects.create_user("sam", email="sam@example.com")
    token = invite_token(invite_create(user=student, valid_days=14))
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def redeem(password: str) -> None:
        start.wait()
        try:
            outcomes.append(invite_redeem(token=token, password=password))
        except InviteError as exc:
            outcomes.append(exc.kind)
        finally:
            connection.close()

    threads = [threading.Thread(target=redeem, args=(f"{PASSWORD}-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes, key=str) == sorted([InviteError.USED, student], key=str)
