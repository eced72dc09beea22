"""A course as read from its files, validated and rendered: what `course_load` saves."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TaskData:
    slug: str
    title: str
    instructions_html: str
    hints_html: list[str]
    spec: dict[str, Any]  # setup, checks, solution, as plain JSON


@dataclass(frozen=True)
class QuestionData:
    slug: str
    kind: str
    prompt_html: str
    choices: list[dict[str, str]]  # [{"id": "a", "html": "..."}]
    correct: list[str]
    explanation_html: str


@dataclass(frozen=True)
class LessonData:
    slug: str  # the folder name
    number: str
    title: str
    body_html: str
    tasks: list[TaskData] = field(default_factory=list)
    questions: list[QuestionData] = field(default_factory=list)


@dataclass(frozen=True)
class CourseData:
    slug: str
    title: str
    description_html: str
    lessons: list[LessonData]
