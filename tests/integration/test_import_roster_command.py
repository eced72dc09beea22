"""manage.py import_roster COHORT_SLUG FILE: bad rows are printed as FILE:ROW: reason and
skipped (exit 0); a file or cohort that cannot be used stops it, named."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labplatform.cohorts.invites import invite_token
from labplatform.cohorts.models import Cluster, Cohort, Enrollment, Invite

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def cohort() -> Cohort:
    return Cohort.objects.create(name="Spring", slug="spring", cluster=Cluster.objects.get(name="local"))


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_roster", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_prints_bad_rows_a_summary_and_the_new_peoples_links(cohort, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"email,full name\nada@example.com,Ada Lovelace\nbroken,Broken\n,Nobody\n")
    out, err = run("spring", str(roster), "--base-url", "https://labs.example")
    assert err.splitlines() == [
        f'{roster}:3: "broken" is not a valid email address',
        f"{roster}:4: the email is empty",
    ]
    assert "1 account created, 1 newly enrolled, 0 already enrolled, 2 rows skipped." in out
    invite = Invite.objects.get(user__email="ada@example.com")
    assert f"ada  ada@example.com  https://labs.example/invite/{invite_token(invite)}/" in out


def test_running_it_again_changes_nothing(cohort, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"email,full name\nada@example.com,Ada Lovelace\n")
    run("spring", str(roster))
    out, _ = run("spring", str(roster))
    assert "0 accounts created, 0 newly enrolled, 1 already enrolled, 0 rows skipped." in out
    assert "Invite links" not in out
    assert (User.objects.count(), Invite.objects.count()) == (1, 1)


def test_it_enrols_instructors_with_role_instructor(cohort, tmp_path):
    roster = tmp_path / "staff.csv"
    roster.write_bytes(b"email,name\nian@example.com,Ian Instructor\n")
    run("spring", str(roster), "--role", "instructor")
    assert Enrollment.objects.get(user__email="ian@example.com").role == "instructor"


def test_an_unknown_cohort_is_named(cohort, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes(b"email,full name\n")
    with pytest.raises(CommandError, match=r'There is no cohort with the slug "autumn" \(the cohorts are: spring\)'):
        run("autumn", str(roster))


def test_an_unreadable_file_is_named(cohort, tmp_path):
    missing = tmp_path / "missing.csv"
    with pytest.raises(CommandError, match=f"Cannot read {missing}: No such file or directory"):
        run("spring", str(missing))


def test_a_file_that_is_not_utf_8_stops_it_and_writes_nothing(cohort, tmp_path):
    roster = tmp_path / "latin1.csv"
    roster.write_bytes(b"email,full name\nrene@example.com,Ren\xe9\n")
    with pytest.raises(CommandError, match=r"latin1.csv is not UTF-8 text \(byte 0xe9 at position 36\)"):
        run("spring", str(roster))
    assert not User.objects.exists()
