"""Evaluates a task's checks against a student's namespace.

Holds nothing between calls: every evaluation reads the cluster afresh, each kind of the
namespace at most once. ClusterUnavailable (the API server is unreachable) propagates, so
the caller can retry rather than record a failure the student did not cause."""

import datetime

from labplatform.tracing import traced
from lessons.grading.kinds import KINDS
from lessons.grading.reads import ClusterReads
from lessons.grading.results import CheckContext, CheckError, CheckResult, Evaluation, Status
from lessons.grading.templates import TemplateContext


def evaluation_status(results: list[CheckResult]) -> Status:
    statuses = {result.status for result in results}
    if "failed" in statuses:
        return "failed"
    if "pending" in statuses:
        return "pending"
    return "passed"


@traced("grading.checks_evaluate")
def checks_evaluate(
    *,
    checks: list[dict],
    cluster: str,
    namespace: str,
    setup_data: dict,
    answers: list[str],
    opened_at: datetime.datetime,
) -> Evaluation:
    """`setup_data` is what task_setup_run returned; `answers` are the student's typed
    values, one per answer check, in order."""
    reads = ClusterReads(cluster=cluster, namespace=namespace)
    templates = TemplateContext(
        namespace=namespace, values=setup_data.get("values") or {}, baseline=setup_data.get("baseline") or {}
    )
    remaining_answers = iter(answers)
    results = []
    for check in checks:
        kind_name = check.get("kind", "objects")
        kind = KINDS.get(kind_name)
        if kind is None:
            raise CheckError(f"check kind {kind_name!r} is not one of {', '.join(KINDS)}")
        answer = next(remaining_answers, None) if kind_name == "answer" else None
        context = CheckContext(reads=reads, templates=templates, opened_at=opened_at, answer=answer)
        results.append(kind.evaluate(check, context))
    return Evaluation(status=evaluation_status(results), results=results)
