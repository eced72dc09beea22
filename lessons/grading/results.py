"""What an evaluation returns, and what each check is evaluated with."""

import datetime
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lessons.grading.reads import ClusterReads
from lessons.grading.templates import TemplateContext

Status = Literal["passed", "failed", "pending"]


@dataclass(frozen=True)
class CheckResult:
    title: str
    status: Status
    message: str = ""
    # Only the fields compared: {"Deployment web": {"spec.replicas": 2}}; never whole objects.
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    status: Status
    results: list[CheckResult]

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "results": [result.as_dict() for result in self.results]}


@dataclass(frozen=True)
class CheckContext:
    reads: ClusterReads
    templates: TemplateContext
    opened_at: datetime.datetime
    answer: str | None = None  # the student's typed value, for an answer check

    @property
    def namespace(self) -> str:
        return self.reads.namespace


class CheckError(Exception):
    """A check that cannot be evaluated as written, or without what its task's setup made."""
