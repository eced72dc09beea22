"""What `make up` does before it starts the servers, in one process (each Django start is a
second or two): the database migrated, every course in lessons/content loaded (an
unchanged course changes nothing, and students' progress on unchanged task ids is kept),
and the demo logins seeded and printed."""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrates, loads every course in lessons/content and seeds the demo (make up)."

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        for course in sorted((Path(settings.BASE_DIR) / "lessons" / "content").glob("*/course.yaml")):
            call_command("load_course", str(course.parent))
        call_command("seed_demo")
