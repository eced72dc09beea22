"""What of a graded check is stored (Attempt.results): its title, status, message and
evidence (the compared fields' values), bounded, with what was read from a Secret
redacted. Every round's results pass through `results_stored` on their way to the
database (flow.py), whichever kind made them, so no kind can store more. Pure: no models.

- A value (one compared field, or an entry such as "count") longer than VALUE_BYTES as
  JSON is cut to its first bytes and marked `… (truncated, N bytes in all)`, N being the
  size of the whole as text: a string keeps its own text, anything else its JSON.
- A message longer than MESSAGE_BYTES is cut the same way. Messages show values shortened
  already (assertions.value_show); what can grow is a list of what was read.
- An attempt's evidence stays within ATTEMPT_BYTES as JSON: the entries past it are left
  out, and one entry, "…", says how many.
- Every field of a Secret's entry ("Secret NAME") is REDACTED unless nothing was there:
  the assertions redact what they read from a Secret already; this holds whatever a
  kind puts under a Secret's name.

Sizes are of the JSON Django writes (ASCII, every other character escaped), so they bound
what PostgreSQL or SQLite keep."""

import json
from typing import Any

from lessons.grading.assertions import REDACTED

VALUE_BYTES = 2048
MESSAGE_BYTES = 2048
ATTEMPT_BYTES = 16384
LEFT_OUT_KEY = "…"
# The most a check's "left out" entry takes, kept in reserve for each check.
_LEFT_OUT_RESERVE = 120
_SECRET_LABEL = "Secret "  # noqa: S105 -- a kind's name, not a password


def json_size(value: Any) -> int:
    """Bytes of `value` as JSON, as it is stored."""
    return len(json.dumps(value, default=str))


def _escaped_size(character: str) -> int:
    return len(json.dumps(character)) - 2


def text_truncated(text: str, limit: int) -> str:
    """`text` if it takes at most `limit` bytes as a JSON string, else its start and the marker."""
    if json_size(text) <= limit:
        return text
    marker = f" … (truncated, {len(text.encode())} bytes in all)"
    room = limit - json_size(marker)
    kept = 0
    for character in text:
        room -= _escaped_size(character)
        if room < 0:
            break
        kept += 1
    return text[:kept] + marker


def value_bounded(value: Any) -> Any:
    """`value` as it is, or, over VALUE_BYTES, the start of its text with the marker."""
    if json_size(value) <= VALUE_BYTES:
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text_truncated(text, VALUE_BYTES)


def _entry_stored(label: str, value: Any) -> Any:
    secret = label.startswith(_SECRET_LABEL)
    if isinstance(value, dict):
        return {field: _redacted(item) if secret else value_bounded(item) for field, item in value.items()}
    return _redacted(value) if secret else value_bounded(value)


def _redacted(value: Any) -> Any:
    return None if value is None else REDACTED


def evidence_bounded(evidence: dict[str, Any], budget: int) -> tuple[dict[str, Any], int]:
    """A check's evidence within `budget` bytes (and the budget left): its entries in order,
    each bounded, until the next would not fit; then one entry saying how many are left out."""
    stored: dict[str, Any] = {}
    entries = list(evidence.items())
    for index, (label, value) in enumerate(entries):
        entry = _entry_stored(str(label), value)
        size = json_size({label: entry})
        if size > budget:
            left = len(entries) - index
            stored[LEFT_OUT_KEY] = (
                f"{left} more entr{'y' if left == 1 else 'ies'} left out: "
                f"this Check's evidence reached its {ATTEMPT_BYTES} bytes"
            )
            return stored, 0
        stored[label] = entry
        budget -= size
    return stored, budget


def results_stored(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each check's {"title", "status", "message", "evidence"} as it is stored: the message
    and the evidence bounded, Secrets redacted; the attempt's evidence within ATTEMPT_BYTES."""
    budget = max(ATTEMPT_BYTES - _LEFT_OUT_RESERVE * len(results), 0)
    stored = []
    for result in results:
        evidence, left = evidence_bounded(result.get("evidence") or {}, budget)
        # What a full check left unused is for the next; the reserve covers the marker.
        budget = left
        stored.append(
            {
                "title": result.get("title", ""),
                "status": result.get("status", ""),
                "message": text_truncated(result.get("message") or "", MESSAGE_BYTES),
                "evidence": evidence,
            }
        )
    return stored


def results_without_evidence(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An older attempt's results once its evidence is dropped: title, status and message kept."""
    return [{**result, "evidence": {}} for result in results]
