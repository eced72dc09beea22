"""The check kinds a task may use (FORMAT.md, "checks"): the declarative `objects` form,
`answer`, and Python kinds for what assertions on one object cannot say."""

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from lessons.grading import deployments, service_ports
from lessons.grading.assertions import AssertionOutcome, assertion_evaluate, path_search, value_compare, value_show
from lessons.grading.derivation import (
    Derivation,
    NothingSelected,
    combined,
    derivation,
    is_derived,
    missing_derivation,
)
from lessons.grading.readiness import Broken, Waiting, rollout_state
from lessons.grading.reads import describe_target
from lessons.grading.results import CheckContext, CheckError, CheckResult
from lessons.grading.templates import template_render

MATCH_MODES = ("all", "any", "count")
NORMALIZATIONS = ("trim", "lower", "number")


@dataclass(frozen=True)
class CheckKind:
    name: str
    # The check's YAML keys besides `kind` and `title`, with their types; the content
    # loader validates tasks.yaml with these.
    required: dict[str, type]
    optional: dict[str, type]
    evaluate: Callable[[dict, CheckContext], CheckResult]
    default_title: Callable[[dict], str]


def _object_label(obj: dict) -> str:
    return f"{obj.get('kind', 'Object')} {obj['metadata']['name']}"


def _not_found(target: dict, namespace: str) -> str:
    if target.get("name"):
        return f"{target['kind']} {target['name']}: not found in namespace {namespace}"
    return f"no {describe_target(target)} found in namespace {namespace}"


def objects_evaluate(check: dict, context: CheckContext) -> CheckResult:
    """The declarative form. A check whose only wrong fields are derived (status, an
    EndpointSlice) is pending while what they derive from converges, and fails at once when
    that is broken, saying why (derivation.py); what the student declared fails as read."""
    target = template_render(check["target"], context.templates)
    title = check.get("title") or describe_target(target)
    found = context.reads.matching(target)
    assertions = template_render(check.get("assert") or [], context.templates)
    survey = _survey(found, assertions, target, context)
    passed, message, short = _match_verdict(check, target, found, assertions, survey, context)
    if short:
        # Fewer objects than wanted: they may be still to be made (an EndpointSlice, pods).
        missing = missing_derivation(target, context.reads, context.namespace)
        if missing is not None:
            survey.derivations.append(missing)
    if check.get("wait") == "rollout" and found:
        rollout = _rollout_result(title, found, passed, survey, context)
        if rollout is not None:
            return rollout
    if passed:
        return CheckResult(title, "passed", "", survey.evidence)
    return _failure_result(title, message, assertions, survey)


@dataclass
class _Survey:
    """What the assertions found on the objects the target matched."""

    evidence: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # each failing object's first message
    derivations: list[Derivation] = field(default_factory=list)  # what failing objects derive from
    only_derived_failed: bool = True
    passing: int = 0  # objects that pass every assertion


def _survey(found: list[dict], assertions: list[dict], target: dict, context: CheckContext) -> _Survey:
    redact = target["kind"] == "Secret"
    survey = _Survey()
    for obj in found:
        outcomes, source = _outcomes(obj, assertions, redact=redact, context=context)
        if source is not None:
            survey.derivations.append(source)
        survey.evidence[_object_label(obj)] = {outcome.path: outcome.actual for outcome in outcomes}
        survey.failures += [outcome.message for outcome in outcomes if not outcome.passed][:1]
        survey.only_derived_failed &= all(
            outcome.passed or is_derived(obj, target["kind"], outcome.path, context.reads) for outcome in outcomes
        )
        survey.passing += all(outcome.passed for outcome in outcomes)
    return survey


def _outcomes(
    obj: dict, assertions: list[dict], *, redact: bool, context: CheckContext
) -> tuple[list[AssertionOutcome], Derivation | None]:
    """Each assertion's outcome on `obj`; when one fails, with what the wrong fields derive
    from (returned too), for the verdict and for the message to say."""
    outcomes = [assertion_evaluate(assertion, obj, redact=redact) for assertion in assertions]
    if all(outcome.passed for outcome in outcomes):
        return outcomes, None
    source = derivation(obj, context.reads)
    if source is None:
        return outcomes, None
    observed = [assertion_evaluate(assertion, obj, redact=redact, observed=source.observed) for assertion in assertions]
    return observed, source


def _match_verdict(
    check: dict, target: dict, found: list[dict], assertions: list[dict], survey: _Survey, context: CheckContext
) -> tuple[bool, str, bool]:
    """(passed, message, short) by the check's `match`; short: fewer objects than wanted."""
    match = check.get("match", "all")
    failures = survey.failures
    if match == "count":
        return _count_verdict(check, target, assertions, survey, context)
    if not found:
        return False, _not_found(target, context.namespace), True
    if match == "any":
        message = f"none of the {len(found)} {describe_target(target)} passes: {failures[0]}" if failures else ""
        return survey.passing > 0, message, False
    return survey.passing == len(found), failures[0] if failures else "", False


def _count_verdict(
    check: dict, target: dict, assertions: list[dict], survey: _Survey, context: CheckContext
) -> tuple[bool, str, bool]:
    count = template_render(check["count"], context.templates)
    survey.evidence["count"] = survey.passing
    passed = value_compare(count.get("op", "=="), survey.passing, count["value"])
    noun = describe_target(target) + (" passing every assertion" if assertions else "")
    message = f"expected {count.get('op', '==')} {value_show(count['value'])} {noun}, found {survey.passing}"
    if survey.failures:
        message += f" ({survey.failures[0]})"
    return passed, message, not passed


def _rollout_result(
    title: str, found: list[dict], passed: bool, survey: _Survey, context: CheckContext
) -> CheckResult | None:
    """With `wait: rollout`: failed if the rollout is broken, pending while it goes on and
    nothing but what it will change is wrong; otherwise None, for the assertions to decide."""
    state = rollout_state(found, context.reads)
    survey.evidence["rollout"] = state.message or "ready"
    if isinstance(state, Broken):
        return CheckResult(title, "failed", state.message, survey.evidence)
    if isinstance(state, Waiting) and (passed or survey.only_derived_failed):
        return CheckResult(title, "pending", state.message, survey.evidence, progress=_progress(found, context))
    return None


def _failure_result(title: str, message: str, assertions: list[dict], survey: _Survey) -> CheckResult:
    """A check that did not pass: pending or failed as what its wrong derived fields come from
    stands, when nothing else is wrong; otherwise failed with `message`."""
    if survey.derivations and survey.only_derived_failed:
        source = combined(survey.derivations)
        if isinstance(source.state, Waiting):
            # Objects that pass count as progress too (pods of a selector turning Ready).
            progress = survey.passing + source.progress
            return CheckResult(title, "pending", source.state.message, survey.evidence, progress=progress)
        if isinstance(source.state, NothingSelected) and _own_message(assertions):
            # Settled: the check's own words, which say what was read of the selector.
            return CheckResult(title, "failed", message, survey.evidence)
        if isinstance(source.state, Broken):
            return CheckResult(title, "failed", source.state.message, survey.evidence)
    return CheckResult(title, "failed", message, survey.evidence)


def _own_message(assertions: list[dict]) -> bool:
    return any("message" in assertion for assertion in assertions)


def _progress(found: list[dict], context: CheckContext) -> int:
    return sum(source.progress for obj in found if (source := derivation(obj, context.reads)))


def _normalized(value: Any, how: str) -> Any:
    text = str(value).strip()
    if how == "lower":
        return text.lower()
    if how == "number":
        try:
            return Decimal(text)
        except InvalidOperation:
            return None
    return text


def answer_evaluate(check: dict, context: CheckContext) -> CheckResult:
    title = check.get("title") or check["prompt"]
    given = (context.answer or "").strip()
    if not given:
        return CheckResult(title, "failed", "no answer given", {"answer": ""})
    if "expected_from" in check:
        source = template_render(check["expected_from"], context.templates)
        expected = path_search(source["select"], context.reads.matching(source["target"]))
        if expected is None:
            raise CheckError(f"expected_from {source['select']!r} found nothing in namespace {context.namespace}")
    elif "expected" in check:
        expected = template_render(check["expected"], context.templates)
    else:
        raise CheckError("an answer check needs expected or expected_from")
    how = check.get("normalize", "trim")
    answer, wanted = _normalized(given, how), _normalized(expected, how)
    # The evidence keeps what the student typed, never the expected answer.
    evidence = {"answer": given}
    if how == "number" and answer is None:
        return CheckResult(title, "failed", f"{given!r} is not a number", evidence)
    if answer != wanted:
        # The task's own words say where to look; the default only that it is wrong.
        wrong = (
            check["message"].replace("{answer}", given) if "message" in check else f"{given!r} is not the right answer"
        )
        return CheckResult(title, "failed", wrong, evidence)
    return CheckResult(title, "passed", "", evidence)


KINDS: dict[str, CheckKind] = {
    kind.name: kind
    for kind in [
        CheckKind(
            name="objects",
            required={"target": dict},
            optional={"match": str, "count": dict, "wait": str, "assert": list},
            evaluate=objects_evaluate,
            default_title=lambda check: describe_target(check["target"]),
        ),
        CheckKind(
            name="answer",
            required={"prompt": str},
            optional={"expected": str, "expected_from": dict, "normalize": str, "message": str},
            evaluate=answer_evaluate,
            default_title=lambda check: check["prompt"],
        ),
        CheckKind(
            name="pod_replaced",
            required={"deployment": str, "baseline": str},
            optional={},
            evaluate=deployments.pod_replaced_evaluate,
            default_title=lambda check: f"A pod of Deployment {check['deployment']} was replaced",
        ),
        CheckKind(
            name="rollout_to_image",
            required={"deployment": str, "image": str},
            optional={},
            evaluate=deployments.rollout_to_image_evaluate,
            default_title=lambda check: f"Deployment {check['deployment']} rolled out to {check['image']}",
        ),
        CheckKind(
            name="rolled_back",
            required={"deployment": str, "image": str},
            optional={},
            evaluate=deployments.rolled_back_evaluate,
            default_title=lambda check: f"Deployment {check['deployment']} rolled back to {check['image']}",
        ),
        CheckKind(
            name="service_port",
            required={"service": str, "port": int, "reaches": int},
            optional={"hint": str},
            evaluate=service_ports.service_port_evaluate,
            default_title=service_ports.service_port_title,
        ),
    ]
}
