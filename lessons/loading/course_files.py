"""Reads a course folder (FORMAT.md): validates every file, collecting every error, and only
then renders it into CourseData."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from lessons.loading.data import CourseData, LessonData
from lessons.loading.fields import check_id, check_keys, check_title, is_mapping
from lessons.loading.markdown import markdown_render, markdown_render_tokens, markdown_tokens
from lessons.loading.problems import CourseInvalid, Problems, Source
from lessons.loading.quiz_file import check_quiz_file, question_data
from lessons.loading.tasks_file import check_tasks_file, task_data
from lessons.loading.yamlfile import YamlList, YamlUnreadable, yaml_load

LESSON_FOLDER_RE = re.compile(r"(\d+(?:\.\d+)*)-[a-z0-9-]+")
LESSON_FOLDER_MAX_LENGTH = 100  # Lesson.slug
HEADING_NUMBER_RE = re.compile(r"(\d+(?:\.\d+)*)\s+(.*)")


@dataclass
class _LessonFiles:
    folder: str
    number: str
    title: str
    body_html: str
    tasks: Any
    quiz: Any


def _read(source: Source) -> str | None:
    try:
        return source.path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        source.error(1, f"not UTF-8 text: {exc.reason} at byte {exc.start}")
    except OSError as exc:
        source.error(None, f"cannot be read: {exc.strerror or exc}")
    return None


def _read_yaml(source: Source) -> Any:
    """The file's document; YamlUnreadable when it cannot be read or parsed (reported)."""
    text = _read(source)
    if text is None:
        raise YamlUnreadable
    return yaml_load(source, text)


def _read_lesson_yaml(source: Source, check: Callable[[Source, Any], None]) -> Any:
    """The optional file's document, checked; None when there is no such file."""
    if not source.path.exists():
        return None
    try:
        document = _read_yaml(source)
    except YamlUnreadable:
        return None
    check(source, document)
    return document


def _heading(source: Source, tokens: list[Token], number: str) -> str | None:
    """The lesson's title, from its first line's `# NUMBER Title` heading."""
    if not tokens or tokens[0].type != "heading_open" or tokens[0].tag != "h1":
        line = tokens[0].map[0] + 1 if tokens and tokens[0].map else 1
        source.error(line, f"lesson.md must start with a '# {number} Title' heading")
        return None
    heading, line = tokens[1].content.strip(), (tokens[0].map or [0])[0] + 1
    numbered = HEADING_NUMBER_RE.fullmatch(heading)
    if numbered and numbered.group(1) != number:
        source.error(line, f"heading number {numbered.group(1)} does not match the folder's {number}")
    title = numbered.group(2).strip() if numbered else heading
    if not title:
        source.error(line, "the heading has no title")
    check_title(source, title, line)
    return title


def _read_lesson(problems: Problems, folder: Path, number: str) -> _LessonFiles:
    source = Source(folder / "lesson.md", problems)
    text = _read(source)
    tokens = markdown_tokens(text or "")
    title = _heading(source, tokens, number) if text is not None else None
    tasks = _read_lesson_yaml(Source(folder / "tasks.yaml", problems), check_tasks_file)
    quiz = _read_lesson_yaml(Source(folder / "quiz.yaml", problems), check_quiz_file)
    # The page shows the number and title from the catalogue, so the body starts after the heading.
    body_html = markdown_render_tokens(tokens[3:])
    return _LessonFiles(folder.name, number, title or "", body_html, tasks, quiz)


def _check_lesson_folder(source: Source, folder: Any, line: int, seen: dict[str, int]) -> str | None:
    """The lesson's number, when `folder` names a lesson folder that can be read."""
    if not isinstance(folder, str):
        source.error(line, "a lesson must be a folder name")
        return None
    if folder in seen:
        source.error(line, f"lesson '{folder}' is listed twice (first at line {seen[folder]})")
        return None
    seen[folder] = line
    named = LESSON_FOLDER_RE.fullmatch(folder)
    if not named or len(folder) > LESSON_FOLDER_MAX_LENGTH:
        source.error(line, f"lesson folder '{folder}' must be named NUMBER-name, like 15.7-deployments")
        return None
    path = source.path.parent / folder
    if not path.is_dir():
        source.error(line, f"lesson folder '{folder}' not found")
        return None
    if not (path / "lesson.md").is_file():
        source.error(line, f"lesson '{folder}' has no lesson.md")
        return None
    return named.group(1)


def _check_course(source: Source, course: Any) -> list[_LessonFiles]:
    if not is_mapping(source, course, 1, "course.yaml"):
        return []
    check_keys(
        source, course, "course", required={"slug": str, "title": str, "lessons": list}, optional={"description": str}
    )
    check_id(source, course.get("slug"), course.line_of("slug"), "course", noun="slug")
    check_title(source, course.get("title"), course.line_of("title"))
    folders = course.get("lessons")
    if not isinstance(folders, YamlList):
        return []
    if not folders:
        source.error(course.line_of("lessons"), "the course has no lessons")
    lessons, seen = [], {}
    for index, folder in enumerate(folders):
        number = _check_lesson_folder(source, folder, folders.line_of(index), seen)
        if number is not None:
            lessons.append(_read_lesson(source.problems, source.path.parent / folder, number))
    return lessons


def course_read(*, path: Path) -> CourseData:
    """The course in the folder `path`, validated and rendered; CourseInvalid lists every
    error found in its files."""
    problems = Problems()
    source = Source(path / "course.yaml", problems)
    if not source.path.is_file():
        source.error(None, "not found (a course folder holds course.yaml and its lessons' folders)")
        raise CourseInvalid(problems.messages())
    try:
        course = _read_yaml(source)
    except YamlUnreadable:
        raise CourseInvalid(problems.messages()) from None
    lessons = _check_course(source, course)
    if problems:
        raise CourseInvalid(problems.messages())
    return CourseData(
        slug=course["slug"],
        title=course["title"],
        description_html=markdown_render(course.get("description", "")),
        lessons=[
            LessonData(
                slug=lesson.folder,
                number=lesson.number,
                title=lesson.title,
                body_html=lesson.body_html,
                tasks=task_data(lesson.tasks) if lesson.tasks is not None else [],
                questions=question_data(lesson.quiz) if lesson.quiz is not None else [],
            )
            for lesson in lessons
        ],
    )
