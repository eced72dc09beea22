"""course_load: a course folder into the catalogue, all or nothing, keeping students' work."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from lessons.loading.course_files import course_read
from lessons.loading.data import LessonData
from lessons.models import Course, Lesson, QuizQuestion, Task


@dataclass
class LoadReport:
    """What a load changed, as "lesson 15.7-deployments", "task 15.7-deployments/scale"..."""

    course: str
    lessons: int = 0
    tasks: int = 0
    questions: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # retired before, back in the files now
    retired: list[str] = field(default_factory=list)
    unchanged: int = 0


def _sync(
    report: LoadReport,
    existing: dict[str, models.Model],
    wanted: dict[str, dict[str, Any]],
    make: Callable[[str, dict[str, Any]], models.Model],
    label: Callable[[str], str],
) -> dict[str, models.Model]:
    """Upserts rows by slug and retires the ones no longer wanted; rows are never deleted, so
    progress and attempts that point at them survive. Returns the current rows by slug."""
    now = timezone.now()
    rows = {}
    for slug, fields in wanted.items():
        row = existing.get(slug)
        if row is None:
            rows[slug] = make(slug, fields)
            report.created.append(label(slug))
            continue
        changed = [name for name, value in fields.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, fields[name])
        if row.retired_at is not None:
            row.retired_at = None
            changed.append("retired_at")
            report.restored.append(label(slug))
        elif changed:
            report.updated.append(label(slug))
        else:
            report.unchanged += 1
        if changed:
            row.save(update_fields=changed)
        rows[slug] = row
    for slug, row in existing.items():
        if slug not in wanted and row.retired_at is None:
            row.retired_at = now
            row.save(update_fields=["retired_at"])
            report.retired.append(label(slug))
    return rows


def _sync_lesson_contents(report: LoadReport, lesson: Lesson, data: LessonData) -> None:
    _sync(
        report,
        {task.slug: task for task in lesson.tasks.all()},
        {
            task.slug: {
                "order": order,
                "title": task.title,
                "instructions_html": task.instructions_html,
                "hints_html": task.hints_html,
                "spec": task.spec,
            }
            for order, task in enumerate(data.tasks, start=1)
        },
        lambda slug, fields: Task.objects.create(lesson=lesson, slug=slug, **fields),
        lambda slug: f"task {lesson.slug}/{slug}",
    )
    _sync(
        report,
        {question.slug: question for question in lesson.questions.all()},
        {
            question.slug: {
                "order": order,
                "kind": question.kind,
                "prompt_html": question.prompt_html,
                "choices": question.choices,
                "correct": question.correct,
                "explanation_html": question.explanation_html,
            }
            for order, question in enumerate(data.questions, start=1)
        },
        lambda slug, fields: QuizQuestion.objects.create(lesson=lesson, slug=slug, **fields),
        lambda slug: f"question {lesson.slug}/{slug}",
    )


def course_load(*, path: Path) -> LoadReport:
    """Validates the course folder `path` and loads it in one transaction. Raises
    CourseInvalid, having changed nothing, when any file has an error."""
    data = course_read(path=path)
    report = LoadReport(
        course=data.slug,
        lessons=len(data.lessons),
        tasks=sum(len(lesson.tasks) for lesson in data.lessons),
        questions=sum(len(lesson.questions) for lesson in data.lessons),
    )
    with transaction.atomic():
        # The course row is locked so that two loads of one course run one after the other.
        course, created = Course.objects.select_for_update().get_or_create(
            slug=data.slug, defaults={"title": data.title, "description_html": data.description_html}
        )
        if created:
            report.created.append(f"course {data.slug}")
        elif (course.title, course.description_html) != (data.title, data.description_html):
            course.title, course.description_html = data.title, data.description_html
            report.updated.append(f"course {data.slug}")
        course.loaded_at = timezone.now()
        course.save()
        by_slug = {lesson.slug: lesson for lesson in data.lessons}
        lessons = _sync(
            report,
            {lesson.slug: lesson for lesson in course.lessons.all()},
            {
                lesson.slug: {
                    "order": order,
                    "number": lesson.number,
                    "title": lesson.title,
                    "body_html": lesson.body_html,
                }
                for order, lesson in enumerate(data.lessons, start=1)
            },
            lambda slug, fields: Lesson.objects.create(course=course, slug=slug, **fields),
            lambda slug: f"lesson {slug}",
        )
        for slug, lesson_data in by_slug.items():
            _sync_lesson_contents(report, lessons[slug], lesson_data)
    return report
