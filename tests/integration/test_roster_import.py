"""roster_import: creates the people who are new, enrols everyone, gives each person
without a password an invite; importing the same rows again changes nothing."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from labplatform.cohorts.models import Cluster, Cohort, Enrollment, Invite
from labplatform.cohorts.roster import RosterError, parse_roster, roster_import

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def cohort() -> Cohort:
    return Cohort.objects.create(name="Spring", slug="spring", cluster=Cluster.objects.get(name="local"))


def rows_of(data: bytes):
    parse = parse_roster(data, filename="roster.csv")
    assert parse.file_error is None
    return parse.rows


def fifty_person_roster() -> bytes:
    lines = ["email,full name,username"]
    lines += [f"Student{n}@Example.com,Student Number{n},{f'student-{n}' if n % 2 else ''}" for n in range(50)]
    return ("\n".join(lines) + "\n").encode()


def test_it_creates_enrols_and_invites_fifty_new_people(cohort):
    result = roster_import(cohort=cohort, rows=rows_of(fifty_person_roster()), valid_days=14)
    assert (len(result.created), len(result.enrolled), len(result.already_enrolled)) == (50, 50, 0)
    assert result.errors == []
    assert len(result.invites) == 50
    assert Enrollment.objects.filter(cohort=cohort, role="student", dropped_at=None).count() == 50
    given = User.objects.get(email="student1@example.com")
    assert (given.username, given.first_name, given.last_name) == ("student-1", "Student", "Number1")
    assert not given.has_usable_password()
    assert User.objects.get(email="student2@example.com").username == "student2"
    invite = Invite.objects.get(user=given)
    assert invite.used_at is None and invite.revoked_at is None
    assert invite.expires_at - timezone.now() > timedelta(days=13)


def test_importing_the_same_rows_again_changes_nothing(cohort):
    rows = rows_of(fifty_person_roster())
    roster_import(cohort=cohort, rows=rows, valid_days=14)
    counts = (User.objects.count(), Enrollment.objects.count(), Invite.objects.count())
    again = roster_import(cohort=cohort, rows=rows, valid_days=14)
    assert (again.created, again.enrolled, again.invites, again.errors) == ([], [], [], [])
    assert len(again.already_enrolled) == 50
    assert (User.objects.count(), Enrollment.objects.count(), Invite.objects.count()) == counts


def test_it_matches_existing_users_by_email_whatever_the_case(cohort):
    existing = User.objects.create_user("ada", email="Ada@Example.com", password="a-real-password-1")
    result = roster_import(cohort=cohort, rows=rows_of(b"email,full name\nada@example.COM,Ada L\n"), valid_days=14)
    assert result.created == []
    assert result.enrolled == [existing]
    assert result.invites == [], "a user who has a password needs no invite"
    assert User.objects.count() == 1


def test_an_existing_user_without_a_password_keeps_their_open_invite(cohort):
    existing = User.objects.create_user("ada", email="ada@example.com")
    kept = Invite.objects.create(user=existing, expires_at=timezone.now() + timedelta(days=3))
    result = roster_import(cohort=cohort, rows=rows_of(b"email,full name\nada@example.com,Ada\n"), valid_days=14)
    assert result.invites == []
    assert list(Invite.objects.filter(user=existing)) == [kept]


def test_an_existing_user_whose_invite_expired_gets_a_new_one(cohort):
    existing = User.objects.create_user("ada", email="ada@example.com")
    Invite.objects.create(user=existing, expires_at=timezone.now() - timedelta(days=1))
    result = roster_import(cohort=cohort, rows=rows_of(b"email,full name\nada@example.com,Ada\n"), valid_days=14)
    assert [invite.user for invite in result.invites] == [existing]


def test_a_username_that_belongs_to_someone_else_is_a_row_error_not_an_exception(cohort):
    User.objects.create_user("ada", email="someone-else@example.com")
    result = roster_import(
        cohort=cohort,
        rows=rows_of(b"email,full name,username\nada@example.com,Ada,ADA\ngrace@example.com,Grace Hopper,\n"),
        valid_days=14,
    )
    assert result.errors == [
        RosterError(2, 'the username "ADA" belongs to another user, with the email someone-else@example.com')
    ]
    assert [user.email for user in result.created] == ["grace@example.com"]
    assert not User.objects.filter(email="ada@example.com").exists()


def test_derived_usernames_are_made_unique_and_keep_clear_of_usernames_the_file_asks_for(cohort):
    User.objects.create_user("ada", email="ada@elsewhere.example")
    result = roster_import(
        cohort=cohort,
        rows=rows_of(
            b"email,full name,username\n"
            b"ada@example.com,Ada One,\n"
            b"ada@example.org,Ada Two,\n"
            b"someone@example.com,Someone,ada3\n"
        ),
        valid_days=14,
    )
    assert result.errors == []
    assert [user.username for user in result.created] == ["ada2", "ada4", "ada3"]


def test_re_enrolling_a_dropped_person_clears_dropped_at(cohort):
    user = User.objects.create_user("ada", email="ada@example.com", password="a-real-password-1")
    enrollment = Enrollment.objects.create(user=user, cohort=cohort, dropped_at=timezone.now())
    student_id = enrollment.student_id
    result = roster_import(cohort=cohort, rows=rows_of(b"email,full name\nada@example.com,Ada\n"), valid_days=14)
    assert result.enrolled == [user]
    enrollment.refresh_from_db()
    assert enrollment.dropped_at is None
    assert enrollment.student_id == student_id, "the same person keeps the same namespace"


def test_it_enrols_instructors_when_asked(cohort):
    roster_import(
        cohort=cohort, rows=rows_of(b"email,full name\nian@example.com,Ian\n"), role="instructor", valid_days=14
    )
    assert Enrollment.objects.get(user__email="ian@example.com").role == "instructor"


def test_a_person_enrolled_with_another_role_is_reported_and_left_as_they_are(cohort):
    rows = rows_of(b"email,full name\nian@example.com,Ian\n")
    roster_import(cohort=cohort, rows=rows, role="instructor", valid_days=14)
    result = roster_import(cohort=cohort, rows=rows, role="student", valid_days=14)
    assert result.errors == [
        RosterError(
            2,
            'ian@example.com ("ian") is already enrolled as instructor: '
            "change the role on their enrollment in the admin if that is intended",
        )
    ]
    assert Enrollment.objects.get(user__email="ian@example.com").role == "instructor"


def test_two_users_with_one_email_are_a_row_error(cohort):
    User.objects.create_user("ada1", email="ada@example.com")
    User.objects.create_user("ada2", email="ADA@example.com")
    result = roster_import(cohort=cohort, rows=rows_of(b"email,full name\nada@example.com,Ada\n"), valid_days=14)
    assert result.errors == [
        RosterError(2, 'several users have the email ada@example.com ("ada1", "ada2"): merge them in the admin first')
    ]
    assert not Enrollment.objects.exists()
