"""Every message in the course says only what the grader read (FORMAT.md, "checks"): a
count or a state of the cluster comes from {actual}, {expected} or an observed value
({pods}, {ready}, {selector}, {pod_labels}), never from text written when the task was,
which would steer a student wrong whenever their namespace differs ("Deployment frontend
has 2 Ready pods" when it has 3, or none). What the task asks ("this task wants 2") is
text."""

import re
from pathlib import Path

import pytest

from lessons.grading.kinds import KINDS
from lessons.loading import course_read

# The course as the loader reads it (tests/lessons.py reads the same folder, but needs the
# local cluster's tooling to import).
COURSE = Path(__file__).resolve().parents[2] / "lessons" / "content" / "module-15-kubernetes"
_NUMBER = re.compile(r"\d+|two|three|four|five|six|seven|eight|nine|ten", re.IGNORECASE)
# What a number counts when it is a fact about the cluster: its objects, or their states.
_CLUSTER_WORDS = {
    "pod", "pods", "replica", "replicas", "replicaset", "replicasets", "endpoint", "endpoints",
    "node", "nodes", "container", "containers",
    "ready", "running", "available", "unavailable", "pending", "healthy", "terminating", "crashing",
    "restart", "restarts", "restarted", "up-to-date",
}  # fmt: skip
# How far after a number its noun may come: "2 pods", "2 Ready pods", "2 of them running".
_WINDOW = 2
# A word ending a clause ends the window: "expected 3. Pods ..." counts nothing.
_CLAUSE_END = (".", ";", ":", "!", "?", ")")
_PUNCTUATION = "\"'`()[],.;:!?"
# Present labels or selection asserted as text rather than read: "the pods are labelled
# app=web", "has 2 ...", "selects app=web" (but "are labelled {pod_labels}" or "selects
# {selector}" say what was read).
_FACT_PHRASES = [
    re.compile(r"\b(?:is|are)\s+label(?:l)?ed\s+(?!\{)\S+", re.IGNORECASE),
    re.compile(rf"\b(?:has|have)\s+(?:only\s+)?(?:{_NUMBER.pattern})\b", re.IGNORECASE),
    re.compile(r"\bselects\s+(?!\{)[\w./-]+=(?!\{)\S*", re.IGNORECASE),
]


def _word(token: str) -> str:
    """A token as a word: no punctuation around it, no "(s)" or possessive after it."""
    word = token.strip(_PUNCTUATION).removesuffix("(s").removesuffix("(s)")
    return word.removesuffix("'s").removesuffix("'").lower()


def literal_facts(message: str) -> list[str]:
    """The parts of `message` that state a count or a state of the cluster as text."""
    found = [match.group(0).rstrip(_PUNCTUATION) for pattern in _FACT_PHRASES for match in pattern.finditer(message)]
    tokens = message.split()
    for index, token in enumerate(tokens):
        if "{" in token or not _NUMBER.fullmatch(token.strip(_PUNCTUATION)):
            continue
        following = []
        if not token.endswith(_CLAUSE_END):
            for later in tokens[index + 1 : index + 1 + _WINDOW]:
                following.append(later)
                if later.endswith(_CLAUSE_END):
                    break
        for position, later in enumerate(following):
            # A placeholder ("2 of {pods}") is read, not written.
            if "{" not in later and _word(later) in _CLUSTER_WORDS:
                found.append(" ".join([token, *following[: position + 1]]).rstrip(_PUNCTUATION))
                break
    return found


def course_messages() -> list[tuple[str, str, str, str]]:
    """(file, task id, check title, message) for every message a check of the course carries."""
    messages = []
    for lesson in course_read(path=COURSE).lessons:
        file = f"lessons/content/{COURSE.name}/{lesson.slug}/tasks.yaml"
        for task in lesson.tasks:
            for check in task.spec["checks"]:
                title = check.get("title") or KINDS[check.get("kind", "objects")].default_title(check)
                owners = [check, *(check.get("assert") or [])]
                messages += [(file, task.slug, title, owner["message"]) for owner in owners if "message" in owner]
    return messages


def test_no_message_in_the_course_states_a_count_or_state_of_the_cluster_as_text():
    messages = course_messages()
    assert len(messages) > 50  # the course was read
    offences = [
        f"{file}: task {task}, check {title!r}: {fact!r} in {message!r}"
        for file, task, title, message in messages
        for fact in literal_facts(message)
    ]
    assert not offences, "state what was read ({actual}, {ready}, {pods}, {selector}, {pod_labels}):\n" + "\n".join(
        offences
    )


@pytest.mark.parametrize(
    ("message", "facts"),
    [
        # Messages the course carried before it used observed values.
        (
            "Service frontend has {actual} ready endpoint(s); Deployment frontend has 2 Ready pods. If the "
            "Service's selector does not match the pods' labels, it finds none.",
            ["has 2", "2 Ready"],
        ),
        (
            "Service frontend selects app={actual}; the pods of Deployment frontend are labelled app=frontend.",
            ["are labelled app=frontend"],
        ),
        ("Service rag-api-public selects app={actual}; the RAG API's pods are labelled app=rag-api.", None),
        (
            "HPA rag-api's minReplicas is {actual}; expected 3, so the API never drops below today's 3 pods.",
            ["3 pods"],
        ),
        (
            "{actual} of the 2 containers mount the volume logs; each needs a volumeMounts entry with name: logs.",
            ["2 containers"],
        ),
        (
            "Deployment rag-api's pods are labelled app={actual}; the Service finds them by app=rag-api.",
            ["are labelled app={actual}"],
        ),
        ("The Service selects app=rag-api, and two pods are running.", ["selects app=rag-api", "two pods"]),
        ("web has three pods Running", ["has three", "three pods"]),
    ],
)
def test_a_count_or_a_state_written_as_text_is_found(message, facts):
    found = literal_facts(message)
    assert found if facts is None else found == facts


@pytest.mark.parametrize(
    "message",
    [
        "Deployment frontend asks for {actual} replicas; this task wants 2.",
        "Deployment rag-api asks for {actual} replicas; leave it at 2 and fix the Service instead.",
        "Pod sidecar-demo has {actual} container(s); it needs 2, both listed under spec.containers.",
        "Service rag-api has {actual} ready endpoint(s): its selector {selector} matches {pods} pod(s), "
        "{ready} of them Ready; the pods here are labelled {pod_labels}.",
        "Service rag-api selects {selector}, but the pods here are labelled {pod_labels}.",
        "Service rag-api forwards to the pods' port {actual}, but rag-api listens on 8000: set targetPort: 8000.",
        "Ingress rag-api sends /api to port {actual}; use the Service's port, 80, not the container's 8000.",
        "HPA rag-api wants {actual} replicas so far, not 10. It re-checks every 15 seconds once the metrics server "
        "has read the pods: wait a minute.",
        "Pod embedder requests {actual} CPU; expected {expected}. (50m is the namespace's default.)",
        "Deployment rag-api asks for {actual} replicas; scale it to 5 with kubectl scale deployment rag-api "
        "--replicas=5.",
        "{answer} is not the node count. Count the nodes' rows in kubectl get nodes.",
    ],
)
def test_what_was_read_or_what_the_task_asks_is_allowed(message):
    assert literal_facts(message) == []
