"""Assertions and templates, pure: operators, paths, messages, redaction."""

import pytest

from lessons.grading.assertions import (
    REDACTED,
    InvalidAssertion,
    assertion_evaluate,
    path_search,
    value_compare,
)
from lessons.grading.templates import TemplateContext, TemplateError, template_render

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"deployment.kubernetes.io/revision": "2"}},
    "spec": {
        "replicas": 2,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "nginx:1.26",
                        "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"memory": "128Mi", "cpu": "250m"}},
                    }
                ]
            }
        },
    },
}


def check(path, op, value=None, message=None, obj=DEPLOYMENT, redact=False):
    assertion = {"path": path, "op": op, "value": value}
    if message is not None:
        assertion["message"] = message
    return assertion_evaluate(assertion, obj, redact=redact)


def test_the_default_message_names_the_object_path_expected_and_found():
    outcome = check("spec.replicas", "==", 3)
    assert not outcome.passed
    assert outcome.message == "Deployment web: expected spec.replicas == 3, found 2"
    assert outcome.actual == 2


def test_a_passing_assertion_has_no_message_and_keeps_the_value_compared():
    outcome = check("spec.replicas", "==", 2)
    assert outcome.passed
    assert outcome.message == ""
    assert (outcome.path, outcome.actual) == ("spec.replicas", 2)


def test_strings_are_quoted_in_messages():
    outcome = check("spec.template.spec.containers[0].image", "==", "nginx:1.27")
    assert outcome.message == (
        'Deployment web: expected spec.template.spec.containers[0].image == "nginx:1.27", found "nginx:1.26"'
    )


def test_a_missing_field_is_found_as_nothing():
    outcome = check("spec.strategy.type", "==", "Recreate")
    assert outcome.message == 'Deployment web: expected spec.strategy.type == "Recreate", found nothing'


@pytest.mark.parametrize(
    ("op", "actual", "expected", "holds"),
    [
        ("==", 3, 3, True),
        ("==", 3, 3.0, True),
        ("==", True, 1, False),
        ("==", [1, 2], [1, 2], True),
        ("!=", 2, 3, True),
        ("!=", "a", "a", False),
        ("<", 2, 3, True),
        ("<", 3, 3, False),
        ("<=", 3, 3, True),
        (">", 4, 3, True),
        (">", "4", 3, True),
        (">=", 2, 3, False),
        (">=", None, 3, False),
        (">=", "abc", 3, False),
        ("<=", "128Mi", "256Mi", True),
        ("<=", "512Mi", "256Mi", False),
        (">=", "1Gi", "1000Mi", True),
        ("<", "250m", 1, True),
        ("<", "250m", "0.2", False),
        ("in", "nginx", ["nginx", "httpd"], True),
        ("in", "caddy", ["nginx", "httpd"], False),
        ("in", "nginx", "nginx", False),
        ("contains", ["a", "b"], "b", True),
        ("contains", ["a", "b"], "c", False),
        ("contains", "nginx:1.27", "1.27", True),
        ("contains", {"app": "web"}, "app", True),
        ("contains", None, "x", False),
        ("matches", "nginx:1.27", r"^nginx:1\.2[0-9]$", True),
        ("matches", "httpd:2", r"^nginx", False),
        ("matches", 8080, r"^80", True),
        ("matches", None, ".*", False),
        ("exists", "x", None, True),
        ("exists", "", None, True),
        ("exists", None, None, False),
        ("exists", [], None, False),
        ("absent", None, None, True),
        ("absent", [], None, True),
        ("absent", 0, None, False),
    ],
)
def test_operators(op, actual, expected, holds):
    assert value_compare(op, actual, expected) is holds


@pytest.mark.parametrize(
    ("op", "actual", "expected", "holds"),
    [
        # The API server keeps `memory: 134217728` as written: 128Mi, in bytes.
        ("==", "134217728", "128Mi", True),
        ("==", "128Mi", "134217728", True),
        ("==", "134217728", 134217728, True),
        ("==", 134217728, "128Mi", True),
        ("==", "0.5", "500m", True),
        ("==", "500m", 0.5, True),
        ("==", "1Gi", "1024Mi", True),
        ("==", "1G", "1Gi", False),
        ("==", "128M", "128Mi", False),
        ("==", "3", 3, True),
        # Two strings without a unit are text: a ConfigMap's "5" is not "5.0".
        ("==", "5", "5.0", False),
        ("==", "05", "5", False),
        ("==", "5", "5", True),
        ("!=", "5", "5.0", True),
        ("!=", "134217728", "128Mi", False),
        ("!=", "1Gi", "1000Mi", True),
        ("in", "134217728", ["64Mi", "128Mi"], True),
        ("in", "0.5", ["250m", "1"], False),
        ("contains", ["250m", "500m"], "0.5", True),
        # Mappings and lists compare item by item, by the same rules.
        ("==", {"cpu": "500m", "memory": "134217728"}, {"cpu": "0.5", "memory": "128Mi"}, True),
        ("==", {"cpu": "500m"}, {"cpu": "500m", "memory": "128Mi"}, False),
        ("==", ["1Gi"], ["1024Mi"], True),
        ("==", ["1Gi"], ["1024Mi", "1Gi"], False),
        # Strings that are not quantities compare as strings.
        ("==", "nginx:1.27", "nginx:1.27", True),
        ("==", "nginx:1.27", "nginx:1.270", False),
        ("==", "rag-api", "rag-api", True),
        ("!=", "web", "Web", True),
        ("==", "128 Mi", "128Mi", False),
        ("==", "1.2.3", "1.2.3", True),
        # Booleans are never numbers, nor quantities written as strings.
        ("==", True, "1", False),
        ("==", "1", True, False),
        ("!=", False, "0", True),
        ("in", True, [1, "1"], False),
        ("==", [True], [1], False),
        ("==", True, True, True),
    ],
)
def test_quantities_compare_as_amounts(op, actual, expected, holds):
    assert value_compare(op, actual, expected) is holds


def test_a_memory_limit_written_in_bytes_passes_a_check_that_wants_mebibytes():
    limits = {"memory": "134217728", "cpu": "250m"}
    obj = {"kind": "Deployment", "metadata": {"name": "web"}, "spec": {"limits": limits}}
    assert check("spec.limits.memory", "==", "128Mi", obj=obj).passed
    outcome = check("spec.limits.memory", "==", "256Mi", obj=obj)
    assert outcome.message == 'Deployment web: expected spec.limits.memory == "256Mi", found "134217728"'


def test_an_unknown_operator_is_refused():
    with pytest.raises(InvalidAssertion, match="operator '~=' is not one of"):
        value_compare("~=", 1, 1)


def test_a_bad_regular_expression_is_refused():
    with pytest.raises(InvalidAssertion, match="not a regular expression"):
        check("metadata.name", "matches", "(")


def test_a_bad_path_is_refused_naming_it():
    with pytest.raises(InvalidAssertion, match=r"path 'spec\.\[' is not a JMESPath expression"):
        check("spec.[", "exists")


def test_a_function_given_the_wrong_type_finds_nothing():
    assert path_search("length(spec.replicas)", DEPLOYMENT) is None


def test_paths_reach_into_the_pod_template_with_filters_and_functions():
    assert path_search("spec.template.spec.containers[?name=='nginx'].image | [0]", DEPLOYMENT) == "nginx:1.26"
    assert path_search('metadata.annotations."deployment.kubernetes.io/revision"', DEPLOYMENT) == "2"
    assert path_search("length(spec.template.spec.containers)", DEPLOYMENT) == 1


def test_exists_and_absent_have_their_own_messages():
    assert check("spec.paused", "exists").message == "Deployment web: expected spec.paused to exist, found nothing"
    absent = check("metadata.labels.app", "absent")
    assert absent.message == 'Deployment web: expected metadata.labels.app to be absent, found "web"'


def test_an_author_message_gets_the_fields_and_keeps_other_braces():
    outcome = check(
        "spec.replicas",
        ">=",
        3,
        message="{kind} {name} runs {actual} replicas; scale it to {expected} ({path} {op}) {not_a_field}",
    )
    assert outcome.message == "Deployment web runs 2 replicas; scale it to 3 (spec.replicas >=) {not_a_field}"


def test_long_values_are_shortened_in_messages():
    outcome = check("spec.template", "==", {})
    assert outcome.message.endswith("...")
    assert len(outcome.message) < 250


def test_a_secrets_values_never_appear():
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}
    outcome = check("data.password", "==", "c2VjcmV0", obj=secret, redact=True)
    assert outcome.actual == REDACTED
    assert outcome.message == 'Secret db: expected data.password == "c2VjcmV0", found <redacted>'
    assert "aHVudGVyMg" not in outcome.message


def test_a_redacted_missing_value_still_says_nothing_was_found():
    secret = {"kind": "Secret", "metadata": {"name": "db"}, "data": {}}
    outcome = check("data.password", "exists", obj=secret, redact=True)
    assert outcome.actual is None
    assert outcome.message == "Secret db: expected data.password to exist, found nothing"


CONTEXT = TemplateContext(namespace="lab-abc", values={"code": "amber-otter"}, baseline={"uids": ["u1", "u2"]})


def test_templates_substitute_namespace_values_and_baselines_recursively():
    rendered = template_render(
        {"a": "ns {{ namespace }}", "b": ["code={{values.code}}", 3], "c": {"d": "{{ baseline.uids }}"}}, CONTEXT
    )
    assert rendered == {"a": "ns lab-abc", "b": ["code=amber-otter", 3], "c": {"d": ["u1", "u2"]}}


def test_templates_substitute_nothing_else():
    assert template_render("{{ student }} {{ values }} {{namespace}}", CONTEXT) == "{{ student }} {{ values }} lab-abc"


def test_a_template_naming_a_value_setup_did_not_make_is_an_error():
    with pytest.raises(TemplateError, match="setup made no values named 'missing'"):
        template_render("{{ values.missing }}", CONTEXT)
