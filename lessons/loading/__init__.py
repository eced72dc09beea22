"""Loading a course from its files (lessons/content/FORMAT.md) into the catalogue."""

from lessons.loading.course_files import course_read
from lessons.loading.problems import CourseInvalid
from lessons.loading.service import LoadReport, course_load

__all__ = ["CourseInvalid", "LoadReport", "course_load", "course_read"]
