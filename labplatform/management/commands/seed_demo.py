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


class Command(BaseCommand):
    help = "Create or refresh the demo admin, instructor and student logins with new random passwords."

    def handle(self, *args, **options) -> None:
        rows = []
        with transaction.atomic():
            for login in DEMO_LOGINS:
                password = secrets.token_urlsafe(12)
                user = self._upsert(login, password)
                rows.append((login.role, user.username, password))
        width = max(len(role) for role, _, _ in rows)
        lines = [f"  {role.ljust(width)}  {username:<11} {password}" for role, username, password in rows]
        logins_file = settings.RUN_DIR / "demo-logins.txt"
        logins_file.parent.mkdir(parents=True, exist_ok=True)
        logins_file.write_text("\n".join(lines) + "\n")
        logins_file.chmod(0o600)
        self.stdout.write("Demo logins (role, username, password):")
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"(also in {logins_file})")

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
