"""Every URL pattern and socket route of the project, classified by who may use it.

`test_cross_tenant.py` and `test_web.py` enumerate the project's resolver
(labplatform/urls.py with every include, and labplatform/routing.py) and fail on any
pattern missing here: a new URL or socket is classified by whoever adds it.

Each route says how to call it on the victim's data in a `World` (tests/security/world.py)
and what its rightful user gets, so a refusal is proven against a URL that works."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.urls import URLPattern, URLResolver, get_resolver

from tests.security.world import World

# Who may use a route.
PUBLIC = "public"  # anyone, no one's data (health, sign-in)
INVITE = "invite"  # whoever holds a signed invite link
OWN = "own"  # the signed-in user's own data only; the URL names catalogue rows (course, lesson, task) at most
OWN_ATTEMPT = "own attempt"  # one of the signed-in student's own attempts, by id
TEACHES = "teaches"  # the cohort's instructors and staff
WATCHES = "watches"  # the instructors of the student's cohort
STAFF = "staff"  # staff only

ANONYMOUS = "anonymous"
# The attackers each class is tried against: every signed-in one has a session of their own.
ATTACKERS = {
    OWN: [ANONYMOUS, "classmate", "outsider", "instructor_b"],
    OWN_ATTEMPT: [ANONYMOUS, "classmate", "outsider", "instructor_a", "instructor_b"],
    TEACHES: [ANONYMOUS, "victim", "classmate", "outsider", "instructor_b"],
    WATCHES: [ANONYMOUS, "victim", "classmate", "outsider", "instructor_b"],
    STAFF: [ANONYMOUS, "victim", "classmate", "outsider", "instructor_a", "instructor_b"],
}
# Attackers outside cohort A, who must not see even what the whole of cohort A sees.
OUTSIDE_COHORT_A = {ANONYMOUS, "outsider", "instructor_b"}


@dataclass(frozen=True)
class Route:
    access: str
    method: str  # GET or POST
    path: Callable[[World], str]
    rightful: str  # the World attribute of the user it is for ("staff", "victim", ...)
    rightful_status: int  # what the rightful user gets: 200, or 302 to somewhere other than sign-in
    data: Callable[[World], dict] = field(default=lambda w: {})


def _task(action: str) -> Callable[[World], str]:
    return lambda w: f"/learn/{w.task.lesson.course.slug}/{w.lesson.slug}/tasks/{w.task.slug}/{action}"


def _drill(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/teach/{w.cohort_a.slug}/students/{w.victim.student_id}/{suffix}"


def _staff_cohort(suffix: str = "") -> Callable[[World], str]:
    return lambda w: f"/staff/cohorts/{w.cohort_a.slug}/{suffix}"


# Pages of the project, by URL name. The Django admin (namespace "admin") is one entry:
# every one of its patterns is staff only, and test_cross_tenant walks them all.
ROUTES: dict[str, Route | str] = {
    "livez": PUBLIC,
    "healthz": PUBLIC,
    "login": PUBLIC,
    "logout": PUBLIC,
    "invite-redeem": INVITE,
    "home": Route(OWN, "GET", lambda w: "/", "victim", 200),
    "course-outline": Route(OWN, "GET", lambda w: f"/learn/{w.task.lesson.course.slug}/", "victim", 200),
    "lesson-detail": Route(OWN, "GET", lambda w: f"/learn/{w.task.lesson.course.slug}/{w.lesson.slug}/", "victim", 200),
    "quiz-submit": Route(
        OWN,
        "POST",
        lambda w: f"/learn/{w.open_quiz_lesson.course.slug}/{w.open_quiz_lesson.slug}/quiz",
        "victim",
        302,
        data=lambda w: {"q-q1": "b"},
    ),
    "task-open": Route(OWN, "POST", _task("open"), "victim", 302),
    "task-hint": Route(OWN, "POST", _task("hint"), "victim", 302),
    "task-check": Route(OWN, "POST", _task("check"), "victim", 302, data=lambda w: {"answer": "42"}),
    "attempt-detail": Route(OWN_ATTEMPT, "GET", lambda w: f"/learn/attempts/{w.attempt.pk}", "victim", 200),
    # The student's own reset; an attacker names the victim's cohort, to no effect.
    "terminal-reset": Route(
        OWN, "POST", lambda w: "/terminal/reset/", "victim", 302, data=lambda w: {"cohort": w.cohort_a.slug}
    ),
    "terminal-watch": Route(WATCHES, "GET", lambda w: f"/terminal/watch/{w.victim.student_id}/", "instructor_a", 200),
    # Lists only the cohorts the user teaches.
    "teaching-list": Route(OWN, "GET", lambda w: "/teach/", "instructor_a", 200),
    "teaching-dashboard": Route(TEACHES, "GET", lambda w: f"/teach/{w.cohort_a.slug}/", "instructor_a", 200),
    "teaching-grades": Route(TEACHES, "GET", lambda w: f"/teach/{w.cohort_a.slug}/grades.csv", "instructor_a", 200),
    "teaching-cells": Route(TEACHES, "GET", lambda w: f"/teach/{w.cohort_a.slug}/cells.json", "instructor_a", 200),
    "teaching-student": Route(TEACHES, "GET", _drill(), "instructor_a", 200),
    "teaching-reset": Route(TEACHES, "POST", _drill("reset/"), "instructor_a", 302),
    "teaching-regrade": Route(
        TEACHES, "POST", lambda w: _drill(f"attempts/{w.attempt.pk}/regrade/")(w), "instructor_a", 302
    ),
    "teaching-pass": Route(
        TEACHES,
        "POST",
        lambda w: _drill(f"tasks/{w.task.pk}/pass/")(w),
        "instructor_a",
        302,
        data=lambda w: {"reason": "attacker says so"},
    ),
    "cohort-announce": Route(
        TEACHES, "POST", _staff_cohort("announce/"), "instructor_a", 302, data=lambda w: {"text": "attacker speaking"}
    ),
    "announcement-clear": Route(
        TEACHES, "POST", lambda w: _staff_cohort(f"announcements/{w.announcement.pk}/clear/")(w), "instructor_a", 302
    ),
    "cohort-list": Route(STAFF, "GET", lambda w: "/staff/cohorts/", "staff", 200),
    "cluster-health": Route(STAFF, "GET", lambda w: "/staff/cluster/", "staff", 200),
    "cohort-detail": Route(STAFF, "GET", _staff_cohort(), "staff", 200),
    "cohort-extend": Route(
        STAFF, "POST", _staff_cohort("extend/"), "staff", 302, data=lambda w: {"ends_on": "2099-01-31"}
    ),
    "cohort-end": Route(STAFF, "POST", _staff_cohort("end/"), "staff", 302),
    "cohort-action": Route(STAFF, "POST", _staff_cohort("teardown/"), "staff", 302),
    "environment-reset": Route(
        STAFF, "POST", lambda w: _staff_cohort(f"environments/{w.victim.environment.pk}/reset/")(w), "staff", 302
    ),
    "enrollment-drop": Route(
        STAFF, "POST", lambda w: _staff_cohort(f"enrollments/{w.victim.pk}/drop/")(w), "staff", 302
    ),
    # The admin's own sign-in and sign-out; every other admin pattern is staff only.
    "admin:login": PUBLIC,
    "admin:logout": PUBLIC,
    "admin:*": STAFF,
}


@dataclass(frozen=True)
class Socket:
    access: str
    path: Callable[[World], str]
    rightful: str
    # The close code the rightful user gets where a refusal would come: None when they are
    # accepted; 4409 for a terminal whose environment is not ready (allowed, nothing to open).
    rightful_close: int | None
    attackers: tuple[str, ...]


SOCKETS: dict[str, Socket] = {
    # Joins only the signed-in user's own group: no id to name.
    "ws/events/": Socket(OWN, lambda w: "/ws/events/", "victim", None, (ANONYMOUS,)),
    "ws/cohorts/<slug:slug>/progress/": Socket(
        STAFF, lambda w: f"/ws/cohorts/{w.cohort_a.slug}/progress/", "staff", None, tuple(ATTACKERS[STAFF])
    ),
    "ws/teach/<slug:slug>/": Socket(
        TEACHES, lambda w: f"/ws/teach/{w.cohort_a.slug}/", "instructor_a", None, tuple(ATTACKERS[TEACHES])
    ),
    # The user's own terminal; `?cohort=` picks among their own enrollments only.
    "ws/terminal/": Socket(
        OWN, lambda w: f"/ws/terminal/?cohort={w.cohort_a.slug}", "victim", 4409, tuple(ATTACKERS[OWN])
    ),
    "ws/terminal/watch/<slug:student>/": Socket(
        WATCHES, lambda w: f"/ws/terminal/watch/{w.victim.student_id}/", "instructor_a", 4409, tuple(ATTACKERS[WATCHES])
    ),
}


def url_patterns() -> dict[str, tuple[str, URLPattern]]:
    """Every named pattern the project serves, as {name: (route, pattern)}; the admin's
    under "admin:<name>". A pattern without a name is returned under its route."""
    found: dict[str, tuple[str, URLPattern]] = {}

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else entry.namespace or ""
                walk(entry.url_patterns, prefix + str(entry.pattern), inner or namespace)
            else:
                route = prefix + str(entry.pattern)
                name = entry.name or route
                found[f"{namespace}:{name}" if namespace else name] = (route, entry)

    walk(get_resolver().url_patterns, "", "")
    return found


def socket_routes() -> list[str]:
    from labplatform.routing import websocket_urlpatterns

    return [str(pattern.pattern) for pattern in websocket_urlpatterns]


def classified(name: str) -> Route | str | None:
    if name.startswith("admin:") and name not in ROUTES:
        return ROUTES["admin:*"]
    return ROUTES.get(name)
