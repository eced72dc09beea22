"""What is wrong with a course's files, collected rather than raised: an author fixes every
mistake in one pass instead of one per run."""

from dataclasses import dataclass, field
from pathlib import Path


class CourseInvalid(Exception):
    """The course's files have errors; nothing was loaded. Each error is `file:line: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} error{'' if len(errors) == 1 else 's'} in the course")
        self.errors = errors


def display_path(path: Path) -> str:
    """The path relative to the current directory when it is under it, as an editor's
    "go to file:line" wants it; otherwise absolute."""
    absolute = path.absolute()
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)


@dataclass
class Problems:
    _found: list[tuple[str, int, str]] = field(default_factory=list)

    def add(self, path: Path, line: int | None, message: str) -> None:
        self._found.append((display_path(path), line or 0, message))

    def __bool__(self) -> bool:
        return bool(self._found)

    def messages(self) -> list[str]:
        # Sorted by file and line; the sort is stable, so errors on one line keep the order found.
        found = sorted(self._found, key=lambda problem: (problem[0], problem[1]))
        return [f"{file}:{line}: {message}" if line else f"{file}: {message}" for file, line, message in found]


@dataclass(frozen=True)
class Source:
    """One file being validated: where its errors go."""

    path: Path
    problems: Problems

    def error(self, line: int | None, message: str) -> None:
        self.problems.add(self.path, line, message)
