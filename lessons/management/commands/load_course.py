"""manage.py load_course PATH: validates a course folder and loads it in one transaction;
on any error prints every `file:line: message` and loads nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lessons.loading import CourseInvalid, LoadReport, course_load
from lessons.loading.problems import display_path


class Command(BaseCommand):
    help = (
        "Load a course folder (lessons/content/FORMAT.md) into the catalogue: all of it or, if any file has "
        "an error, none of it. Tasks, lessons and questions left out of the files are retired, never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="PATH", type=Path, help="The course folder, holding course.yaml.")

    def handle(self, *args, path: Path, verbosity: int, **options) -> None:
        try:
            report = course_load(path=path)
        except CourseInvalid as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{display_path(path)}: {exc}; nothing was loaded.") from None
        self.stdout.write(_summary(report, path))
        listed = [("retired", report.retired), ("restored", report.restored)]
        if verbosity > 1:
            listed = [("created", report.created), ("updated", report.updated), *listed]
        for verb, items in listed:
            for item in items:
                self.stdout.write(f"  {verb} {item}")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _summary(report: LoadReport, path: Path) -> str:
    return (
        f"Loaded {report.course} from {display_path(path)}: {_count(report.lessons, 'lesson')}, "
        f"{_count(report.tasks, 'task')}, {_count(report.questions, 'question')}. "
        f"{len(report.created)} created, {len(report.updated)} updated, {report.unchanged} unchanged, "
        f"{len(report.retired)} retired, {len(report.restored)} restored."
    )
