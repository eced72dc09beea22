"""What of a graded check is stored, pure: values and messages truncated with a marker that
says how big they were, an attempt's evidence within its cap, Secrets redacted whatever a
kind put under their name."""

import json
import re

from lessons.grading.assertions import REDACTED
from lessons.grading.evidence import (
    ATTEMPT_BYTES,
    LEFT_OUT_KEY,
    MESSAGE_BYTES,
    VALUE_BYTES,
    json_size,
    results_stored,
    results_without_evidence,
    text_truncated,
    value_bounded,
)

MARKER = re.compile(r" … \(truncated, (\d+) bytes in all\)$")


def result(evidence, message="", status="failed", title="check"):
    return {"title": title, "status": status, "message": message, "evidence": evidence}


def evidence_bytes(results) -> int:
    return sum(json_size(r["evidence"]) for r in results)


def test_small_values_are_kept_as_they_are():
    evidence = {"ConfigMap app": {"data": {"MODEL_NAME": "gpt-4o-mini"}, "spec.replicas": 3, "x": None}, "count": 2}
    assert results_stored([result(evidence, "ConfigMap app: wrong")]) == [result(evidence, "ConfigMap app: wrong")]


def test_a_long_string_keeps_its_start_and_says_how_long_it_was():
    value = "0123456789" * 90_000  # 900,000 bytes
    stored = value_bounded(value)
    assert json_size(stored) <= VALUE_BYTES
    assert MARKER.search(stored).group(1) == "900000"
    assert stored.startswith("0123456789" * 100)


def test_a_large_mapping_is_kept_as_the_start_of_its_json():
    data = {"MODEL_NAME": "gpt-4o-mini", "blob": "x" * 900_000}
    stored = value_bounded(data)
    assert isinstance(stored, str) and json_size(stored) <= VALUE_BYTES
    assert stored.startswith('{"MODEL_NAME": "gpt-4o-mini", "blob": "xxx')
    assert int(MARKER.search(stored).group(1)) == len(json.dumps(data, sort_keys=True).encode())


def test_truncation_counts_escapes_and_never_splits_a_character():
    # Each of these takes 6 bytes as stored JSON (\u00e9) and 2 as UTF-8.
    text = "é" * 5000
    stored = text_truncated(text, 2048)
    assert json_size(stored) <= 2048
    assert MARKER.search(stored).group(1) == "10000"
    assert set(MARKER.sub("", stored)) == {"é"}
    # Quotes and newlines escape to two bytes.
    stored = text_truncated('"\n' * 3000, 2048)
    assert json_size(stored) <= 2048 and MARKER.search(stored)


def test_a_long_message_is_truncated_and_marked():
    message = "Service web: " + ", ".join(f"pod p{i} declares port {i}" for i in range(2000))
    (stored,) = results_stored([result({}, message)])
    assert json_size(stored["message"]) <= MESSAGE_BYTES
    assert stored["message"].startswith("Service web: pod p0 declares port 0, ")
    assert MARKER.search(stored["message"]).group(1) == str(len(message.encode()))


def test_an_attempts_evidence_stays_within_its_cap_and_says_what_was_left_out():
    # A selector that matched 1,000 ConfigMaps, each with a large value, in two checks.
    many = {f"ConfigMap cm-{i:04}": {"data": "y" * 5000} for i in range(1000)}
    results = [result(many, title="first"), result(many, title="second"), result({"count": 1000}, title="third")]
    stored = results_stored(results)
    assert evidence_bytes(stored) <= ATTEMPT_BYTES
    first = stored[0]["evidence"]
    kept = [label for label in first if label != LEFT_OUT_KEY]
    assert kept == [f"ConfigMap cm-{i:04}" for i in range(len(kept))] and len(kept) >= 5
    reached = f"left out: this Check's evidence reached its {ATTEMPT_BYTES} bytes"
    assert first[LEFT_OUT_KEY] == f"{1000 - len(kept)} more entries {reached}"
    # Later checks have no room left, and say so.
    assert stored[1]["evidence"] == {LEFT_OUT_KEY: f"1000 more entries {reached}"}
    assert stored[2]["evidence"] == {LEFT_OUT_KEY: f"1 more entry {reached}"}
    # Titles, statuses and messages are all there.
    assert [r["title"] for r in stored] == ["first", "second", "third"]


def test_a_secrets_fields_are_redacted_whatever_a_kind_put_there():
    evidence = {
        "Secret db": {"data.password": "aHVudGVyMg==", "data": {"password": "aHVudGVyMg=="}, "data.user": None},
        "Secret tls": "LS0tLS1CRUdJTi",
        "ConfigMap db": {"data.host": "db.local"},
    }
    (stored,) = results_stored([result(evidence)])
    assert stored["evidence"] == {
        "Secret db": {"data.password": REDACTED, "data": REDACTED, "data.user": None},
        "Secret tls": REDACTED,
        "ConfigMap db": {"data.host": "db.local"},
    }
    assert "aHVudGVy" not in json.dumps(stored) and "LS0t" not in json.dumps(stored)


def test_results_without_evidence_keep_the_verdicts_and_messages():
    results = results_stored([result({"Deployment web": {"spec.replicas": 2}}, "expected 3, found 2")])
    assert results_without_evidence(results) == [
        {"title": "check", "status": "failed", "message": "expected 3, found 2", "evidence": {}}
    ]


def test_results_stored_before_evidence_was_bounded_are_read_as_they_are():
    # Rows made before (the demo's sample activity, old attempts) may lack an evidence key.
    assert results_stored([{"title": "c", "status": "passed", "message": "ok"}]) == [
        {"title": "c", "status": "passed", "message": "ok", "evidence": {}}
    ]
