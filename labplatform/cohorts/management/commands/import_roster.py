"""Imports a roster CSV into a cohort from the command line, like the admin's Import roster."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from labplatform.cohorts.invites import invite_url
from labplatform.cohorts.models import Cohort, Enrollment
from labplatform.cohorts.roster import parse_roster, roster_import


class Command(BaseCommand):
    help = (
        "Enrol the people in a roster CSV (email, full name, optional username) in a cohort, creating the "
        "accounts that are new and printing their invite links. Bad rows are reported and skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("cohort_slug", metavar="COHORT_SLUG")
        parser.add_argument("file", metavar="FILE", type=Path)
        parser.add_argument("--role", choices=Enrollment.Role.values, default=Enrollment.Role.STUDENT)
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Where people reach the platform; invite links start with it (default: %(default)s).",
        )

    def handle(self, *args, cohort_slug: str, file: Path, role: str, base_url: str, **options) -> None:
        cohort = Cohort.objects.filter(slug=cohort_slug).first()
        if cohort is None:
            known = ", ".join(Cohort.objects.order_by("slug").values_list("slug", flat=True)) or "none yet"
            raise CommandError(f'There is no cohort with the slug "{cohort_slug}" (the cohorts are: {known}).')
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror or exc}.") from None
        parse = parse_roster(data, filename=str(file))
        if parse.file_error:
            raise CommandError(parse.file_error)
        result = roster_import(cohort=cohort, rows=parse.rows, role=role, valid_days=settings.INVITE_VALID_DAYS)
        errors = sorted(parse.errors + result.errors, key=lambda error: error.line)
        for error in errors:
            self.stderr.write(f"{file}:{error.line}: {error.reason}")
        self.stdout.write(
            f"{file} into {cohort.slug} as {role}s: {_count(result.created, 'account')} created, "
            f"{len(result.enrolled)} newly enrolled, {len(result.already_enrolled)} already enrolled, "
            f"{_count(errors, 'row')} skipped."
        )
        if result.invites:
            self.stdout.write("Invite links (each sets a password once):")
            for invite in result.invites:
                expires = timezone.localtime(invite.expires_at).strftime("%Y-%m-%d %H:%M %Z")
                self.stdout.write(
                    f"  {invite.user.username}  {invite.user.email}  {invite_url(invite, base_url=base_url)}"
                    f"  (until {expires})"
                )


def _count(items: list, noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"
