"""What an evaluation returns, and what each check is evaluated with."""

import datetime
from dataclasses import dataclass, field
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
    # While pending: how far what it waits for has got (pods Ready, endpoints listed); grading
    # keeps waiting while this grows (flow.py). Not stored.
    progress: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "status": self.status, "message": self.message, "evidence": self.evidence}


@dataclass(frozen=True)
class Evaluation:
    status: Status
    results: list[CheckResult]

    @property
    def progress(self) -> int:
        """How far the cluster has got with what the pending checks wait for."""
        return sum(result.progress for result in self.results if result.status == "pending")

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
